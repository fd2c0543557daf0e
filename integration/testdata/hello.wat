;; hello: the smallest WASI command. _start writes one line to stdout through
;; fd_write and returns, so the exit status is 0.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  ;; iovec at 0: {buf = 16, len = 16}; the text at 16; nwritten at 8.
  (data (i32.const 0) "\10\00\00\00\10\00\00\00")
  (data (i32.const 16) "hello from wasm\n")

  (func (export "_start")
    (drop (call $fd_write
      (i32.const 1)   ;; stdout
      (i32.const 0)   ;; iovs
      (i32.const 1)   ;; iovs_len
      (i32.const 8))))) ;; nwritten

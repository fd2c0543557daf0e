;; reactor: a WASI reactor with a command entry too, for entrypoint selection
;; tests. "greet" reports whether _initialize ran first, which is how a runtime
;; must call a reactor (WasmEdge: `module.wasm#greet`).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  (global $initialized (mut i32) (i32.const 0))

  ;; Three texts, each with its iovec {buf, len} in front of it.
  (data (i32.const 16) "\20\00\00\00\11\00\00\00")      ;; iovec -> 32, 17 bytes
  (data (i32.const 32) "hello from greet\n")
  (data (i32.const 64) "\50\00\00\00\10\00\00\00")      ;; iovec -> 80, 16 bytes
  (data (i32.const 80) "not initialized\n")
  (data (i32.const 112) "\80\00\00\00\11\00\00\00")     ;; iovec -> 128, 17 bytes
  (data (i32.const 128) "hello from start\n")

  (func $print (param $iovec i32)
    (drop (call $fd_write (i32.const 1) (local.get $iovec) (i32.const 1) (i32.const 8))))

  (func (export "_initialize")
    (global.set $initialized (i32.const 1)))

  (func (export "greet")
    (if (global.get $initialized)
      (then (call $print (i32.const 16)))
      (else (call $print (i32.const 64)))))

  (func (export "_start")
    (call $print (i32.const 112))))

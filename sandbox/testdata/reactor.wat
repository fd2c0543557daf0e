;; reactor is a WASI reactor: no _start; _initialize sets a flag that the
;; exported "greet" checks, so a test sees whether _initialize ran first.
;; "add" takes parameters and so cannot be an entry point.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (global $initialized (mut i32) (i32.const 0))
  (data (i32.const 64) "greetings from a reactor\n")
  (func (export "_initialize") (global.set $initialized (i32.const 1)))
  (func (export "greet")
    (if (i32.eqz (global.get $initialized))
      (then (call $proc_exit (i32.const 3))))
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 25))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1))))

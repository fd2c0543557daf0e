;; grow.wat: a WASI command that grows its linear memory 1 MiB (16 pages) at
;; a time, touching every 4 KiB page of each new MiB so that the memory is
;; really committed, until it has 512 MiB. It exits with status 3 when
;; memory.grow fails (what `wasitool alloc` reports as "alloc failed") and 0
;; when it got everything.
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory 1)
  (export "memory" (memory 0))
  (func (export "_start")
    (local $at i32)
    (local $end i32)
    (loop $grow
      (if (i32.eq (memory.grow (i32.const 16)) (i32.const -1))
        (then (call $proc_exit (i32.const 3))))
      (local.set $at (i32.mul (i32.sub (memory.size) (i32.const 16)) (i32.const 65536)))
      (local.set $end (i32.mul (memory.size) (i32.const 65536)))
      (loop $touch
        (i32.store8 (local.get $at) (i32.const 1))
        (local.set $at (i32.add (local.get $at) (i32.const 4096)))
        (br_if $touch (i32.lt_u (local.get $at) (local.get $end))))
      (br_if $grow (i32.lt_u (memory.size) (i32.const 8192))))
    (call $proc_exit (i32.const 0))))

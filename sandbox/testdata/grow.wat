;; grow grows its memory from 1 to 5 pages, sleeps 1.2 s, tries to grow it
;; by 3 more pages and says on stdout whether that worked ("grown" or
;; "refused"), then sleeps for ten minutes: long enough for the memory
;; reports, until a signal stops it.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "grown\n")
  (data (i32.const 272) "refused\n")

  ;; sleep waits ns nanoseconds on a relative monotonic clock subscription
  ;; (48 bytes at 0; the event is written at 64, its count at 128).
  (func $sleep (param $ns i64)
    (i64.store (i32.const 0) (i64.const 0))      ;; userdata
    (i32.store8 (i32.const 8) (i32.const 0))     ;; tag: clock
    (i32.store (i32.const 16) (i32.const 1))     ;; clock id: monotonic
    (i64.store (i32.const 24) (local.get $ns))   ;; timeout
    (i64.store (i32.const 32) (i64.const 0))     ;; precision
    (i32.store16 (i32.const 40) (i32.const 0))   ;; flags: relative
    (drop (call $poll_oneoff (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128))))

  ;; say writes len bytes at ptr to stdout (the iovec at 192).
  (func $say (param $ptr i32) (param $len i32)
    (i32.store (i32.const 192) (local.get $ptr))
    (i32.store (i32.const 196) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 192) (i32.const 1) (i32.const 200))))

  (func (export "_start")
    (drop (memory.grow (i32.const 4)))
    (call $sleep (i64.const 1200000000))
    (if (i32.eq (memory.grow (i32.const 3)) (i32.const -1))
      (then (call $say (i32.const 272) (i32.const 8)))
      (else (call $say (i32.const 256) (i32.const 6))))
    (call $sleep (i64.const 600000000000))))

;; fileio is a tiny WASI tool that lets tests look at the guest's view of the
;; world. args[1] picks the command:
;;   cat PATH       copy PATH (relative to the preopened "/", or "-" for
;;                  stdin) to stdout
;;   write PATH TXT create or truncate PATH and write TXT into it
;;   env            print the environment, one entry a line
;; Any WASI error ends the program with proc_exit(errno), so a test can tell
;; EROFS (69) from ENOENT (44); a usage error exits with 2.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get"
    (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get"
    (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  ;; Layout: 0 iovec, 8 byte count, 16 argc, 20 argv size, 24 opened fd,
  ;; 32 environ count, 36 environ size, 40 "\n", 256 argv pointers,
  ;; 4096 argv strings, 8192 environ pointers, 12288 environ strings,
  ;; 32768 copy buffer (32 KiB).
  (memory (export "memory") 2)
  (data (i32.const 40) "\n")

  (func $check (param $errno i32)
    (if (local.get $errno) (then (call $proc_exit (local.get $errno)))))

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  (func $write_all (param $fd i32) (param $p i32) (param $len i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $len)))
        (i32.store (i32.const 0) (local.get $p))
        (i32.store (i32.const 4) (local.get $len))
        (call $check (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
        (local.set $p (i32.add (local.get $p) (i32.load (i32.const 8))))
        (local.set $len (i32.sub (local.get $len) (i32.load (i32.const 8))))
        (br $more))))

  (func $arg (param $i i32) (result i32)
    (if (i32.ge_u (local.get $i) (i32.load (i32.const 16)))
      (then (call $proc_exit (i32.const 2))))
    (i32.load (i32.add (i32.const 256) (i32.shl (local.get $i) (i32.const 2)))))

  ;; open PATH under the preopen (fd 3) with the given oflags and rights.
  (func $open (param $path i32) (param $oflags i32) (param $rights i64) (result i32)
    (call $check
      (call $path_open (i32.const 3) (i32.const 1)
        (local.get $path) (call $strlen (local.get $path))
        (local.get $oflags) (local.get $rights) (i64.const 0) (i32.const 0)
        (i32.const 24)))
    (i32.load (i32.const 24)))

  (func $cat (param $path i32)
    (local $fd i32)
    (local $n i32)
    (if (i32.and
          (i32.eq (i32.load8_u (local.get $path)) (i32.const 45))
          (i32.eqz (i32.load8_u offset=1 (local.get $path))))
      (then (local.set $fd (i32.const 0)))
      (else (local.set $fd (call $open (local.get $path) (i32.const 0) (i64.const 2)))))
    (block $eof
      (loop $more
        (i32.store (i32.const 0) (i32.const 32768))
        (i32.store (i32.const 4) (i32.const 32768))
        (call $check (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
        (local.set $n (i32.load (i32.const 8)))
        (br_if $eof (i32.eqz (local.get $n)))
        (call $write_all (i32.const 1) (i32.const 32768) (local.get $n))
        (br $more))))

  (func $write (param $path i32) (param $text i32)
    ;; oflags 9 = O_CREAT|O_TRUNC; rights 64 = fd_write
    (call $write_all
      (call $open (local.get $path) (i32.const 9) (i64.const 64))
      (local.get $text) (call $strlen (local.get $text))))

  (func $env
    (local $i i32)
    (local $s i32)
    (call $check (call $environ_sizes_get (i32.const 32) (i32.const 36)))
    (call $check (call $environ_get (i32.const 8192) (i32.const 12288)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.load (i32.const 32))))
        (local.set $s (i32.load (i32.add (i32.const 8192) (i32.shl (local.get $i) (i32.const 2)))))
        (call $write_all (i32.const 1) (local.get $s) (call $strlen (local.get $s)))
        (call $write_all (i32.const 1) (i32.const 40) (i32.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  (func (export "_start")
    (local $cmd i32)
    (call $check (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (call $check (call $args_get (i32.const 256) (i32.const 4096)))
    (local.set $cmd (i32.load8_u (call $arg (i32.const 1))))
    (if (i32.eq (local.get $cmd) (i32.const 99)) ;; 'c'
      (then (call $cat (call $arg (i32.const 2))) (return)))
    (if (i32.eq (local.get $cmd) (i32.const 119)) ;; 'w'
      (then (call $write (call $arg (i32.const 2)) (call $arg (i32.const 3))) (return)))
    (if (i32.eq (local.get $cmd) (i32.const 101)) ;; 'e'
      (then (call $env) (return)))
    (call $proc_exit (i32.const 2))))

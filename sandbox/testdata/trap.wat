;; trap reaches an unreachable instruction inside a named function, so the
;; trap message carries a stack trace.
(module
  (memory (export "memory") 1)
  (func $crash unreachable)
  (func (export "_start") (call $crash)))

//! Lock-free SPSC message ring in POSIX shared memory (work in progress).
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

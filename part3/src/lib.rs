//! Part 3's library: what more than one step of part 3 runs.
//!
//! - [`arbiter`]: the parent of a pre-fork server (webserver3i and
//!   webserver3m), which forks the workers, watches over them and stops
//!   them; and the handle a worker uses to hear from it.
//! - [`thread_pool`]: the Rust Book's thread pool, bounded (webserver3k,
//!   and webserver3m's `--threads`).
//! - [`event_loop`]: one thread serving every connection through the OS's
//!   readiness API (webserver3l, and each worker of webserver3m).
//!
//! Each step itself stays a whole program in `src/bin/`.

#[cfg(unix)]
pub mod arbiter;
#[cfg(unix)]
pub mod event_loop;
pub mod thread_pool;

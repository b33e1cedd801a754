//! Part 3's library: what more than one step of part 3 runs.
//!
//! - [`arbiter`]: the parent of a pre-fork server (webserver3i, and the
//!   pre-fork event-loop step to come), which forks the workers, watches
//!   over them and stops them; and the handle a worker uses to hear from it.
//!
//! Each step itself stays a whole program in `src/bin/`.

#[cfg(unix)]
pub mod arbiter;

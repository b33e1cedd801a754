//! Part 1's library: the plumbing of a server that speaks HTTP/1.1 on a
//! raw socket, which part 1's `main` and part 3's steps share.
//!
//! `cli` turns `--host` and `--port` into a listening socket; `http` reads
//! a request's head from one connection, answers it, refuses one it could
//! not read, and ends the conversation without losing the reply. Neither
//! uses the other. Part 3's steps use both, the way its WSGI steps use
//! part 2's library, so that each step's file holds its lesson.

pub mod cli;
pub mod http;

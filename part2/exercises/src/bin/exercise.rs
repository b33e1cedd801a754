//! Serves your work on a part 2 exercise: the module is found in
//! `part2/exercises/` first.
//!
//! Part 2's server (`part2/src/main.rs`, which ports `part2/webserver2.py`
//! of https://github.com/rspivak/lsbaws). Run exercise 1 with
//! `cargo run -p part2-exercises --bin exercise -- ex1_hello_name:app`,
//! check it with
//! `cargo exercises check part2-ex1-hello-name`.

use std::process::ExitCode;

fn main() -> ExitCode {
    part2_exercises::serve(part2_exercises::EXERCISES)
}

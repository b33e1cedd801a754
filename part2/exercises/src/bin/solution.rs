//! Serves the reference solution of a part 2 exercise: the module is found
//! in `part2/exercises/solutions/` first.
//!
//! Part 2's server (`part2/src/main.rs`, which ports `part2/webserver2.py`
//! of https://github.com/rspivak/lsbaws). Run the solution of exercise 1
//! with `cargo run -p part2-exercises --bin solution -- ex1_hello_name:app`.

use std::process::ExitCode;

fn main() -> ExitCode {
    part2_exercises::serve(part2_exercises::SOLUTIONS)
}

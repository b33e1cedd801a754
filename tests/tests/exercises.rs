//! The exercises of every part, checked over real sockets.
//!
//! The exercises are listed once, in `partN/exercises/exercises.toml`
//! (read by `wire_tests::exercises`, which the `cargo exercises` runner
//! uses too). For every part, the ordinary run (CI's included) proves two
//! things: each reference solution gives exactly the expected replies, and
//! each untouched starter does not, or it would be no exercise.
//! "Untouched" is the starter as git has it, built in a pristine copy of
//! the repository (`target/pristine/`): a student solves an exercise in
//! place, and the project's tests must stay green. A student checks their
//! own work with `cargo exercises check NAME`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::Command;

use wire_tests::exercises::{
    Exercise, Pristine, parts, pristine_source, snapshot_path,
};
use wire_tests::{Server, assert_wire, binary, workspace_root};

// ANCHOR: solution_passes
/// The reference solution gives every expected reply. This goes through
/// `assert_wire`, so under `CI=true` insta fails on any change and writes
/// nothing: the expected snapshots can't change silently.
fn solutions_pass(part: &str) {
    for exercise in wire_tests::exercises::part(part).exercises {
        let args: Vec<&str> =
            exercise.args.iter().map(String::as_str).collect();
        let server =
            Server::start(&exercise.package, &exercise.solution, &args);
        for check in &exercise.checks {
            let reply = check.exchange(&server);
            assert_wire(&check.snapshot, check.request.as_bytes(), &reply);
        }
    }
}
// ANCHOR_END: solution_passes

// ANCHOR: starters_fail
/// Each pristine starter fails at least one of its checks.
fn pristine_starters_fail(part: &str) {
    let pristine = Pristine::get();
    for exercise in wire_tests::exercises::part(part).exercises {
        let starter = pristine.build(&exercise.package, &exercise.starter);
        let outcomes = exercise.run(&starter);
        assert!(
            !outcomes.iter().all(|outcome| outcome.passed()),
            "{}, as git has it ({} in {}), gives every expected reply \
             already, so it is no exercise",
            exercise.name,
            exercise.file,
            pristine.root().display(),
        );
    }
}
// ANCHOR_END: starters_fail

#[test]
fn part1_solutions_pass() {
    solutions_pass("part1");
}

#[test]
fn part1_pristine_starters_fail() {
    pristine_starters_fail("part1");
}

#[test]
fn part2_solutions_pass() {
    solutions_pass("part2");
}

#[test]
fn part2_pristine_starters_fail() {
    pristine_starters_fail("part2");
}

#[cfg(unix)]
#[test]
fn part3_solutions_pass() {
    solutions_pass("part3");
}

#[cfg(unix)]
#[test]
fn part3_pristine_starters_fail() {
    pristine_starters_fail("part3");
}

/// The lists are whole: every starter on disk is an exercise, every
/// exercise's files, binaries and snapshots exist, and no name is taken
/// twice. So an exercise can't be added and forgotten by the tests.
#[test]
fn every_exercise_is_listed_and_whole() {
    let all: Vec<Exercise> = parts()
        .into_iter()
        .flat_map(|part| part.exercises)
        .collect();
    let names: BTreeSet<&str> = all.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.len(), all.len(), "two exercises share a name");
    let root = workspace_root();
    for exercise in &all {
        for file in [&exercise.file, &exercise.hint] {
            assert!(root.join(file).is_file(), "{}: no {file}", exercise.name);
        }
        for check in &exercise.checks {
            let snapshot = snapshot_path(&check.snapshot);
            assert!(snapshot.is_file(), "no {}", snapshot.display());
        }
        assert!(
            !exercise.checks.is_empty(),
            "{} checks nothing",
            exercise.name
        );
        // Builds both: a typo in a binary's name fails here.
        binary(&exercise.package, &exercise.starter);
        binary(&exercise.package, &exercise.solution);
    }
    let listed: BTreeSet<&str> = all.iter().map(|e| e.file.as_str()).collect();
    for part in ["part1", "part2", "part3"] {
        for dir in [
            format!("{part}/exercises/src/bin"),
            format!("{part}/exercises"),
        ] {
            for file in starters_in(&root, &dir) {
                assert!(
                    listed.contains(file.as_str()),
                    "{file} is not in {part}/exercises/exercises.toml"
                );
            }
        }
    }
}

/// The starters in `dir`, named `exN...`: Rust programs in a `src/bin`,
/// Python modules in part 2's folder.
fn starters_in(root: &Path, dir: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(root.join(dir)) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| name.ends_with(".rs") || name.ends_with(".py"))
        // `ex1-...`, `ex1_...`: part 2's `exercise.rs` is its server.
        .filter(|name| {
            name.strip_prefix("ex").is_some_and(|rest| {
                rest.starts_with(|c: char| c.is_ascii_digit())
            })
        })
        .map(|name| format!("{dir}/{name}"))
        .collect()
}

// ANCHOR: solved_starter
/// A student's solved exercise stays out of the pristine copy, in the two
/// ways a student keeps it: left uncommitted in a clone, and committed on
/// top of the branch they cloned (whose upstream still has the starter).
/// Each case is a small git repository of its own, holding exercise 1's
/// starter, so that the test does not depend on this clone's state.
#[test]
fn a_solved_starter_stays_out_of_the_pristine_copy() {
    let part = wire_tests::exercises::part("part1");
    let exercise = &part.exercises[0];
    let root = workspace_root();
    let starter = fs::read(root.join(&exercise.file)).expect("the starter");
    let solution = fs::read(root.join(solution_source(exercise)))
        .expect("read the solution");
    assert_ne!(starter, solution, "the solution is the starter");
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("students");
    let _ = fs::remove_dir_all(&scratch);
    let (upstream, clone) = (scratch.join("upstream"), scratch.join("clone"));
    fs::create_dir_all(&upstream).expect("make the scratch folder");
    git(&upstream, &["init", "--quiet"]);
    write(&upstream.join(&exercise.file), &starter);
    git(&upstream, &["add", "."]);
    git(&upstream, &["commit", "--quiet", "-m", "the starter"]);
    git(&scratch, &["clone", "--quiet", "upstream", "clone"]);

    // Solved, not committed.
    write(&clone.join(&exercise.file), &solution);
    assert_eq!(
        pristine_source(&clone, &exercise.file),
        Some(starter.clone())
    );
    // Solved and committed: the upstream branch still has the starter.
    git(&clone, &["commit", "--quiet", "-am", "my solution"]);
    assert_eq!(pristine_source(&clone, &exercise.file), Some(starter));
}

/// Runs git in `dir`, as a user of its own; panics if it fails.
fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args([
            "-c",
            "user.name=student",
            "-c",
            "user.email=student@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?} failed");
}

/// Writes `contents` to `path`, making its folder.
fn write(path: &Path, contents: &[u8]) {
    fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
    fs::write(path, contents).expect("write");
}
// ANCHOR_END: solved_starter

/// Where a part 1 exercise's solution is: `solutions/`, beside `src/bin/`.
fn solution_source(exercise: &Exercise) -> String {
    exercise.file.replace("/src/bin/", "/solutions/")
}

// ANCHOR: runner
/// `cargo exercises check` on the untouched exercise 1: the diff of the
/// first wrong reply, and the hint, as a student sees them (the book shows
/// this snapshot). The runner is the pristine copy's, run on the pristine
/// copy, so that the output does not depend on the student's work.
#[test]
fn the_runner_shows_the_diff_and_the_hint() {
    let pristine = Pristine::get();
    let runner = pristine.build("exercises-runner", "exercises");
    let out = wire_tests::output_within(
        Command::new(runner)
            .args(["check", "part1-ex1"])
            // Its builds go where the copy's went, not to a new target.
            .env("CARGO_TARGET_DIR", pristine.target()),
        std::time::Duration::from_secs(600),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    wire_tests::assert_text("runner-check-part1-ex1", &stdout);
}
// ANCHOR_END: runner

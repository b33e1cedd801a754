//! `cargo exercises`: lists and checks the exercises of every part.
//!
//! The exercises are listed once, in `partN/exercises/exercises.toml`; the
//! wire-test kit reads the lists (`wire_tests::exercises`) and starts the
//! servers, for this runner as for the tests. Each check builds the
//! student's starter, starts it on a free port, sends the requests of the
//! exercise's checks, and compares every reply, byte for byte, with its
//! expected snapshot in `tests/snapshots/`. Rustlings' `list` and
//! codecrafters' staged test runner are the models.
//!
//! ```sh
//! cargo exercises list                          # every exercise, done or not yet
//! cargo exercises check part1-ex1-server-header # one: the diff and the hint
//! cargo exercises check --all                   # all, then a summary line
//! ```
//!
//! (`cargo exercises` is an alias, in `.cargo/config.toml`, for
//! `cargo run --quiet -p exercises-runner --bin exercises --`.)

use std::panic::{self, AssertUnwindSafe};
use std::process::{ExitCode, Stdio};
use std::sync::Mutex;

use clap::{Parser, Subcommand};
use similar::TextDiff;
use wire_tests::exercises::{Exercise, Outcome, cargo, parts, snapshot_path};
use wire_tests::{binary, workspace_root};

/// List and check the exercises of Let's Build A Web Server.
#[derive(Parser)]
#[command(name = "cargo exercises")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show every exercise of every part, done or not yet
    List,
    /// Check one exercise (the diff of the first wrong reply, and the
    /// hint), or every exercise with --all (one line each, and a summary)
    Check {
        /// The exercise, or the start of its name (part1-ex1)
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Check every exercise
        #[arg(long)]
        all: bool,
    },
    /// Show an exercise's hint
    Hint {
        /// The exercise, or the start of its name (part1-ex1)
        name: String,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    quiet_panics();
    match args.command {
        Command::List => list(),
        Command::Check { all: true, .. } => check_all(),
        Command::Check { name, .. } => {
            let name = name.expect("clap requires NAME without --all");
            find(&name).map_or(ExitCode::from(2), check_one)
        }
        Command::Hint { name } => find(&name).map_or(ExitCode::from(2), |e| {
            print!("{}", e.hint_text());
            ExitCode::SUCCESS
        }),
    }
}

/// Where an exercise stands.
enum Status {
    Done,
    /// The first check whose reply differs.
    NotYet(Outcome),
    /// cargo's messages.
    DoesNotCompile(String),
    /// The server did not start, or broke off a reply: what the kit said.
    Broken(String),
}

impl Status {
    fn label(&self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::NotYet(_) => "not yet",
            Status::DoesNotCompile(_) => "does not compile",
            Status::Broken(_) => "broken",
        }
    }
}

// ANCHOR: list
fn list() -> ExitCode {
    let mut done = 0;
    let mut total = 0;
    for part in parts() {
        println!("{}", part.title);
        for exercise in &part.exercises {
            let status = status(exercise, Build::Quiet);
            done += usize::from(matches!(status, Status::Done));
            total += 1;
            println!(
                "  {:<18} {:<30} {}",
                format!("[{}]", status.label()),
                exercise.name,
                exercise.title
            );
        }
    }
    println!(
        "{done} of {total} exercises done. \
         `cargo exercises check NAME` shows what is missing."
    );
    ExitCode::SUCCESS
}
// ANCHOR_END: list

// ANCHOR: check_one
fn check_one(exercise: Exercise) -> ExitCode {
    println!("Checking {} ({})", exercise.name, exercise.file);
    match status(&exercise, Build::Loud) {
        Status::Done => {
            println!(
                "{} is done: every reply is the expected one, byte for byte.",
                exercise.name
            );
            return ExitCode::SUCCESS;
        }
        Status::NotYet(outcome) => {
            println!(
                "\nTo {:?}, your server does not give the expected reply \
                 yet.\n`-` lines are in the expected reply ({}), \
                 `+` lines in yours:\n",
                outcome.asked,
                relative(&snapshot_path(&outcome.snapshot)),
            );
            print!("{}", diff(&outcome));
        }
        Status::DoesNotCompile(_) => {
            println!(
                "\n{} does not compile: cargo says why, above.",
                exercise.file
            );
        }
        Status::Broken(why) => println!("\nThe server failed: {why}"),
    }
    println!("\nHint:\n\n{}", exercise.hint_text());
    println!("Change {}, then check again.", exercise.file);
    ExitCode::FAILURE
}
// ANCHOR_END: check_one

// ANCHOR: check_all
fn check_all() -> ExitCode {
    let mut counts = [0; 4];
    for part in parts() {
        println!("{}", part.title);
        for exercise in &part.exercises {
            let status = status(exercise, Build::Quiet);
            let detail = match &status {
                Status::NotYet(outcome) => format!(
                    "  ({:?}: not the reply of {})",
                    outcome.asked, outcome.snapshot
                ),
                Status::DoesNotCompile(messages) => messages
                    .lines()
                    .find(|line| line.starts_with("error"))
                    .map(|line| format!("  ({line})"))
                    .unwrap_or_default(),
                // The kit's message says what failed, say `exercise
                // printed no first line; it said:`, then the server's
                // output, whose last line is its own reason.
                Status::Broken(why) => {
                    let mut lines =
                        why.lines().filter(|l| !l.trim().is_empty());
                    let first = lines.next().unwrap_or_default();
                    match lines.next_back() {
                        Some(last) => {
                            format!("  ({first} ... {})", last.trim())
                        }
                        None => format!("  ({first})"),
                    }
                }
                _ => String::new(),
            };
            let index = match status {
                Status::Done => 0,
                Status::NotYet(_) => 1,
                Status::DoesNotCompile(_) => 2,
                Status::Broken(_) => 3,
            };
            counts[index] += 1;
            println!(
                "  {:<18} {}{detail}",
                format!("[{}]", status.label()),
                exercise.name
            );
        }
    }
    let [done, not_yet, no_compile, broken] = counts;
    let total: usize = counts.iter().sum();
    println!(
        "summary: {done} of {total} exercises done, {not_yet} not yet, \
         {no_compile} do not compile, {broken} broken"
    );
    if done == total {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
// ANCHOR_END: check_all

/// Whether cargo's messages reach the student (one exercise) or are kept
/// (a list, where a line says it does not compile).
#[derive(Clone, Copy)]
enum Build {
    Loud,
    Quiet,
}

/// Builds the exercise's starter, runs its checks, and says where it is.
fn status(exercise: &Exercise, build: Build) -> Status {
    let mut command = cargo();
    command
        .args(["build", "--quiet", "-p", &exercise.package])
        .args(["--bin", &exercise.starter])
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"));
    // `output` keeps cargo's messages; `status` lets them through.
    let built = match build {
        Build::Quiet => command.stdin(Stdio::null()).output().map(|out| {
            let why = String::from_utf8_lossy(&out.stderr).into_owned();
            (out.status, why)
        }),
        Build::Loud => command.status().map(|status| (status, String::new())),
    };
    match built {
        Ok((status, _)) if status.success() => {}
        Ok((_, why)) => return Status::DoesNotCompile(why),
        Err(err) => return Status::Broken(format!("cannot run cargo: {err}")),
    }
    // The kit's build is up to date now: it only finds the binary.
    let outcomes = attempt(|| {
        let program = binary(&exercise.package, &exercise.starter);
        exercise.run(&program)
    });
    match outcomes {
        Err(why) => Status::Broken(why),
        Ok(outcomes) => outcomes
            .into_iter()
            .find(|outcome| !outcome.passed())
            .map_or(Status::Done, Status::NotYet),
    }
}

/// The diff of the expected transcript and the student's, line by line.
fn diff(outcome: &Outcome) -> String {
    let normal = |s: &str| s.trim_end().replace("\r\n", "\n") + "\n";
    let (expected, yours) = (normal(&outcome.expected), normal(&outcome.yours));
    TextDiff::from_lines(&expected, &yours)
        .unified_diff()
        .context_radius(3)
        .header("expected", "yours")
        .to_string()
}

/// The exercise named `name`, or the only one whose name starts with it.
fn find(name: &str) -> Option<Exercise> {
    let all: Vec<Exercise> = parts()
        .into_iter()
        .flat_map(|part| part.exercises)
        .collect();
    if let Some(exercise) = all.iter().find(|e| e.name == name) {
        return Some(exercise.clone());
    }
    let matching: Vec<&Exercise> =
        all.iter().filter(|e| e.name.starts_with(name)).collect();
    match matching[..] {
        [exercise] => Some(exercise.clone()),
        [] => {
            eprintln!(
                "cargo exercises: no exercise {name:?}; \
                 `cargo exercises list` shows them all"
            );
            None
        }
        _ => {
            let names: Vec<&str> =
                matching.iter().map(|e| e.name.as_str()).collect();
            eprintln!(
                "cargo exercises: {name:?} could be {}",
                names.join(", ")
            );
            None
        }
    }
}

/// A path from the repository root, as the student sees it.
fn relative(path: &std::path::Path) -> String {
    let root = workspace_root();
    path.strip_prefix(&root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The message of the last panic, kept by the hook of [`quiet_panics`].
static PANIC_MESSAGE: Mutex<String> = Mutex::new(String::new());

/// The kit reports a server that does not start by panicking, as a test
/// wants it to; here that is a status, so keep the message, don't print.
fn quiet_panics() {
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| {
                info.payload().downcast_ref::<&str>().map(|s| s.to_string())
            })
            .unwrap_or_else(|| info.to_string());
        *PANIC_MESSAGE.lock().unwrap_or_else(|e| e.into_inner()) = message;
    }));
}

/// Runs `work`; a panic in it becomes its message.
fn attempt<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    panic::catch_unwind(AssertUnwindSafe(work)).map_err(|_| {
        PANIC_MESSAGE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    })
}

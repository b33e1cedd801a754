//! The exercises of every part, as data, and how to check one.
//!
//! Each part lists its exercises in one file, `partN/exercises/exercises.toml`
//! (see [`LISTS`]): for each, the file a student changes, the binaries of
//! the starter and of the reference solution, the hint, and the checks, each
//! a request and the snapshot in `tests/snapshots/` that its reply must
//! match. The `cargo exercises` runner (`runner/`) checks a student's work
//! against that list; the tests (`tests/tests/exercises.rs`) read the same
//! list to prove that every reference solution passes and that every
//! untouched starter fails.
//!
//! "Untouched" means as git has it, not as the working tree has it: a
//! student who solves an exercise changes the starter in place, and the
//! project's tests must stay green. So the proof runs on a pristine copy
//! ([`Pristine`]): the working tree copied into `target/pristine/`, with
//! every exercise's file put back as the upstream branch (or, without one,
//! `HEAD`) has it, and built there.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use std::{env, fs};

use serde::Deserialize;

use crate::{Server, transcript, workspace_root};

// ANCHOR: lists
/// The lists of exercises, one a part, from the repository root, in the
/// order the runner shows them.
pub const LISTS: &[&str] = &[
    "part1/exercises/exercises.toml",
    "part2/exercises/exercises.toml",
    "part3/exercises/exercises.toml",
];
// ANCHOR_END: lists

/// One part's list, as its `exercises.toml` has it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// Short, for the tests: `part1`.
    pub id: String,
    /// What `cargo exercises list` heads the part's exercises with.
    pub title: String,
    /// Part 3's servers fork: elsewhere than Linux and macOS, skip them.
    #[serde(default)]
    pub unix_only: bool,
    #[serde(rename = "exercise")]
    pub exercises: Vec<Exercise>,
}

/// One exercise: the file a student changes, the starter and the reference
/// solution built from it, and the checks that tell whether it is done.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// What a student types: `cargo exercises check part1-ex1-server-header`.
    pub name: String,
    /// One line on what to do, for `cargo exercises list`.
    pub title: String,
    /// The file a student changes, from the repository root.
    pub file: String,
    /// The hint, a Markdown file that the book includes too.
    pub hint: String,
    /// The workspace package that holds both binaries.
    pub package: String,
    /// The binary built from `file` (for part 2, the server that imports it).
    pub starter: String,
    /// The reference solution's binary.
    pub solution: String,
    /// Arguments after `--port 0` (part 2's servers take `module:callable`).
    #[serde(default)]
    pub args: Vec<String>,
    /// The first check is the exercise's own; the others guard what the
    /// change must not break. The untouched starter must fail at least one,
    /// and the solution must pass them all. All go to one server, in order.
    #[serde(rename = "check")]
    pub checks: Vec<Check>,
}

/// One request, and the snapshot in `tests/snapshots/` its reply must match.
#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub snapshot: String,
    pub request: String,
    /// If set, the request goes line by line, this many milliseconds
    /// apart, as a slow client sends it; else in one write.
    #[serde(default)]
    pub pause_ms: Option<u64>,
}

impl Check {
    /// Sends the request to `server` and returns the whole reply.
    pub fn exchange(&self, server: &Server) -> Vec<u8> {
        let Some(pause) = self.pause_ms else {
            return server.exchange(self.request.as_bytes());
        };
        let lines: Vec<&[u8]> = self
            .request
            .as_bytes()
            .split_inclusive(|&b| b == b'\n')
            .collect();
        server.exchange_in_parts(&lines, Duration::from_millis(pause))
    }
}

/// Every part's list, in the order of [`LISTS`], without the parts this
/// system cannot run.
pub fn parts() -> Vec<Part> {
    LISTS
        .iter()
        .map(|list| {
            let path = workspace_root().join(list);
            let text = fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!("cannot read {}: {e}", path.display())
            });
            toml::from_str::<Part>(&text).unwrap_or_else(|e| {
                panic!("{} is not a list of exercises: {e}", path.display())
            })
        })
        .filter(|part| cfg!(unix) || !part.unix_only)
        .collect()
}

/// The part whose `id` is given.
pub fn part(id: &str) -> Part {
    parts()
        .into_iter()
        .find(|part| part.id == id)
        .unwrap_or_else(|| panic!("no part {id:?} in {LISTS:?}"))
}

/// What one check found: the expected transcript and the program's.
pub struct Outcome {
    pub snapshot: String,
    /// The request's first line, to name the check in messages.
    pub asked: String,
    pub expected: String,
    pub yours: String,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        same(&self.expected, &self.yours)
    }
}

impl Exercise {
    /// Starts `program` (the starter or the solution, built) from the
    /// repository root and sends it every check's request, in order, each on
    /// a connection of its own.
    pub fn run(&self, program: &Path) -> Vec<Outcome> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let server =
            Server::start_binary(program, &workspace_root(), &args, &[]);
        self.checks
            .iter()
            .map(|check| {
                let request = check.request.as_bytes();
                let reply = check.exchange(&server);
                Outcome {
                    snapshot: check.snapshot.clone(),
                    asked: check
                        .request
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .into(),
                    expected: expected(&check.snapshot),
                    yours: transcript(request, &reply),
                }
            })
            .collect()
    }

    /// The hint, as its Markdown file has it.
    pub fn hint_text(&self) -> String {
        let path = workspace_root().join(&self.hint);
        fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }
}

/// The body of an expected snapshot: what follows insta's header.
pub fn expected(snapshot: &str) -> String {
    let path = snapshot_path(snapshot);
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    // The header is `---`, its fields, then `---` again.
    let body = text
        .strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map(|(_, body)| body);
    body.unwrap_or_else(|| panic!("{} has no insta header", path.display()))
        .to_string()
}

/// Where the snapshot `name` is.
pub fn snapshot_path(name: &str) -> PathBuf {
    workspace_root()
        .join("tests/snapshots")
        .join(format!("{name}.snap"))
}

/// Compares two snapshot texts as insta does: line ends folded to `\n`,
/// trailing whitespace at the end ignored.
pub fn same(a: &str, b: &str) -> bool {
    let normal = |s: &str| s.trim_end().replace("\r\n", "\n");
    normal(a) == normal(b)
}

/// The cargo that runs us (`cargo test`, `cargo run` set `CARGO`).
pub fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The workspace's target folder.
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| workspace_root().join(dir))
        .unwrap_or_else(|| workspace_root().join("target"))
}

// ANCHOR: pristine
/// A pristine copy of the repository: the working tree, with each
/// exercise's file as git has it, in `target/pristine/src/`, built into
/// `target/pristine/target/`. It is kept between runs and only the files
/// that differ are rewritten, so cargo rebuilds only what changed.
pub struct Pristine {
    root: PathBuf,
    target: PathBuf,
}

impl Pristine {
    /// The copy, made (or brought up to date) once per process.
    pub fn get() -> &'static Pristine {
        static PRISTINE: OnceLock<Pristine> = OnceLock::new();
        PRISTINE.get_or_init(|| {
            let pristine = target_dir().join("pristine");
            let copy = Pristine {
                root: pristine.join("src"),
                target: pristine.join("target"),
            };
            copy.refresh(&workspace_root());
            copy
        })
    }

    /// Copies the working tree of `from`, then puts back the pristine
    /// version of every exercise's file.
    fn refresh(&self, from: &Path) {
        let files = working_files(from);
        for file in &files {
            let contents = fs::read(from.join(file)).unwrap_or_else(|e| {
                panic!("cannot read {}: {e}", from.join(file).display())
            });
            self.write(file, &contents);
        }
        remove_others(&self.root, &self.root, &files);
        for exercise in parts().iter().flat_map(|part| &part.exercises) {
            if let Some(contents) = pristine_source(from, &exercise.file) {
                self.write(&exercise.file, &contents);
            }
        }
    }

    /// Writes `contents` to `file` in the copy, unless it holds them
    /// already (an unchanged file keeps its time, and cargo its build).
    fn write(&self, file: &str, contents: &[u8]) {
        let path = self.root.join(file);
        if fs::read(&path).is_ok_and(|old| old == contents) {
            return;
        }
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).expect("create a folder of the copy");
        }
        fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Builds `bin` of `package` in the copy and returns its path. The
    /// copy has a target folder of its own, so that its binaries, which
    /// have the same names as the working tree's, never take their place.
    pub fn build(&self, package: &str, bin: &str) -> PathBuf {
        // One build at a time: tests of several parts run in parallel.
        static BUILDING: Mutex<()> = Mutex::new(());
        let _one = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
        // A first build compiles pyo3 and part2 again: minutes, but it ends.
        let out = crate::output_within(
            cargo()
                .args(["build", "--quiet", "-p", package, "--bin", bin])
                .arg("--manifest-path")
                .arg(self.root.join("Cargo.toml"))
                .arg("--target-dir")
                .arg(&self.target),
            std::time::Duration::from_secs(1200),
        );
        assert!(
            out.status.success(),
            "the pristine {bin} of {package} does not build:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let name = format!("{bin}{}", env::consts::EXE_SUFFIX);
        self.target.join("debug").join(name)
    }

    /// Where the copy is, for the messages of a test.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the copy is built.
    pub fn target(&self) -> &Path {
        &self.target
    }
}
// ANCHOR_END: pristine

/// The git revision whose exercises are pristine: the branch's upstream
/// (a student's clone of the project: their own commits stay out), else
/// `HEAD`.
fn pristine_revision(root: &Path) -> String {
    git(
        root,
        &["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"],
    )
    .and_then(|out| String::from_utf8(out).ok())
    .map(|name| name.trim().to_string())
    .filter(|name| !name.is_empty())
    .unwrap_or_else(|| "HEAD".into())
}

// ANCHOR: pristine_source
/// The file `file` (from the root) as the pristine revision has it; `None`
/// when git does not have it there (a new exercise, not committed yet: its
/// working copy is then the pristine one).
pub fn pristine_source(root: &Path, file: &str) -> Option<Vec<u8>> {
    let revision = pristine_revision(root);
    git(root, &["show", &format!("{revision}:{file}")])
}
// ANCHOR_END: pristine_source

/// What `git -C root ARGS` prints, if it succeeds.
fn git(root: &Path, args: &[&str]) -> Option<Vec<u8>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// The files of the working tree that git knows or would (tracked, and
/// new but not ignored), from the root. Outside a git clone, the copy could
/// not be told from the student's work: that fails, with a reason.
fn working_files(root: &Path) -> BTreeSet<String> {
    let listed = git(
        root,
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    )
    .unwrap_or_else(|| {
        panic!(
            "{} is not a git clone: the pristine exercises come from git",
            root.display()
        )
    });
    listed
        .split(|&b| b == 0)
        .filter_map(|name| std::str::from_utf8(name).ok())
        .filter(|name| !name.is_empty())
        // A tracked file the working tree has deleted is not copied.
        .filter(|name| root.join(name).is_file())
        .map(String::from)
        .collect()
}

/// Removes from the copy each file that the working tree no longer has
/// (an old starter would still be found by cargo).
fn remove_others(root: &Path, dir: &Path, keep: &BTreeSet<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            remove_others(root, &path, keep);
            continue;
        }
        let Ok(relative) = path.strip_prefix(root) else {
            continue;
        };
        if !keep.iter().any(|name| Path::new(name) == relative) {
            let _ = fs::remove_file(&path);
        }
    }
}

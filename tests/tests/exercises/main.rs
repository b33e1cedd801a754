//! The exercises of every part, checked over real sockets.
//!
//! An exercise is a starter (a whole server with a TODO, for a student to
//! change), the expected snapshot of the reply it gives once done, and a
//! reference solution. For each exercise the ordinary run (CI's included)
//! proves that the solution gives exactly the expected reply and that the
//! untouched starter does not. A student checks their starter with the
//! ignored test of their exercise, which fails with insta's diff of the
//! bytes until the reply is right:
//!
//! ```sh
//! cargo test -p wire-tests --test exercises part1::ex1 -- --ignored
//! ```
//!
//! Each part lists its exercises in its own module here (`part1.rs`,
//! `part2.rs`, ...).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

use wire_tests::{Server, assert_wire, transcript, workspace_root};

mod part1;
mod part2;
mod part3;

// ANCHOR: exercise
/// One exercise: a starter, its reference solution, and what both face.
pub struct Exercise {
    /// The workspace package that holds both binaries.
    pub package: &'static str,
    /// The binary a student edits (its source is `src/bin/<starter>.rs`).
    pub starter: &'static str,
    /// The reference solution's binary.
    pub solution: &'static str,
    /// Arguments after `--port 0` (part 2's servers take `module:callable`).
    pub args: &'static [&'static str],
    /// The first check is the exercise's own expected snapshot; the others
    /// guard what the change must not break. The untouched starter must
    /// fail at least one of them, and the solution must pass them all.
    pub checks: &'static [Check],
}

/// One request, and the snapshot in `tests/snapshots/` its reply must match.
pub struct Check {
    pub snapshot: &'static str,
    pub request: &'static [u8],
}
// ANCHOR_END: exercise

impl Exercise {
    /// CI: the reference solution gives every expected reply. This goes
    /// through `assert_wire`, so under `CI=true` insta fails on any change
    /// and writes nothing: the expected snapshots can't change silently.
    pub fn solution_passes(&self) {
        let server = Server::start(self.package, self.solution, self.args);
        for check in self.checks {
            let reply = server.exchange(check.request);
            assert_wire(check.snapshot, check.request, &reply);
        }
    }

    /// CI: the untouched starter does not, or it would be no exercise.
    pub fn starter_fails(&self) {
        let server = Server::start(self.package, self.starter, self.args);
        let passes = self.checks.iter().all(|check| {
            let reply = server.exchange(check.request);
            same(&transcript(check.request, &reply), &expected(check))
        });
        assert!(
            !passes,
            "{} gives every expected reply already, so it is no exercise. \
             If you solved it: well done! This test guards the untouched \
             starter; `git checkout -- {}` brings it back.",
            self.name(),
            self.source().display(),
        );
    }

    // ANCHOR: student_check
    /// A student's check: the starter, as the student has changed it, must
    /// give every expected reply. On the first that differs, insta shows
    /// the diff, and the test fails.
    ///
    /// Insta would write the student's reply as a `.snap.new` beside the
    /// expected snapshot (or, with `INSTA_UPDATE=always`, over it), where a
    /// `cargo insta accept` could turn a wrong answer into the expected
    /// one. So insta compares against a copy of the snapshot in cargo's
    /// scratch folder, and whatever it writes stays there; the test then
    /// compares by itself, so nothing insta is told can make it pass.
    pub fn student_check(&self) {
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("exercises")
            .join(self.name());
        fs::create_dir_all(&scratch).expect("create the scratch folder");
        self.build_for_student();
        let server = Server::start(self.package, self.starter, self.args);
        for check in self.checks {
            let reply = server.exchange(check.request);
            let yours = transcript(check.request, &reply);
            let asked = String::from_utf8_lossy(check.request);
            let asked = asked.lines().next().unwrap_or_default();
            if same(&yours, &expected(check)) {
                println!("{asked:?}: the expected reply ({})", check.snapshot);
                continue;
            }
            println!(
                "\nTo {asked:?}, {} does not give the expected reply yet. \
                 Below, insta compares the two:\n\
                 `-old snapshot` is the expected reply \
                 (tests/snapshots/{}.snap),\n\
                 `+new results` is what your program sent.\n\
                 Change {} until they agree\n\
                 (insta's advice to update the snapshot does not apply \
                 to an exercise).\n",
                self.name(),
                check.snapshot,
                self.source().display(),
            );
            let file = format!("{}.snap", check.snapshot);
            fs::copy(snapshots().join(&file), scratch.join(&file))
                .expect("copy the expected snapshot");
            insta::with_settings!({
                snapshot_path => &scratch,
                prepend_module_to_snapshot => false,
                omit_expression => true,
            }, {
                insta::assert_snapshot!(check.snapshot, yours);
            });
            panic!("{} differs from {file}: see the diff above", self.name());
        }
    }
    // ANCHOR_END: student_check

    /// Builds the starter where the student sees cargo's own messages: the
    /// kit's build (`Server::start`) would only say that it failed.
    fn build_for_student(&self) {
        let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", self.package])
            .args(["--bin", self.starter])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "{} does not compile: cargo's messages are above the test's",
            self.source().display()
        );
    }

    /// What the messages call the exercise: the starter binary, or, for a
    /// WSGI app that part 2's server runs, the app's module.
    fn name(&self) -> &'static str {
        self.app_module().unwrap_or(self.starter)
    }

    /// The module of a `module:callable` argument, if the server takes one
    /// and the exercise is that module (part 2's WSGI apps): a server that
    /// only serves an example app (part 3's 3j and 3k) is the exercise.
    fn app_module(&self) -> Option<&'static str> {
        self.args
            .iter()
            .find_map(|arg| arg.split_once(':'))
            .map(|(module, _)| module)
            .filter(|module| {
                let file = self.exercises_dir().join(format!("{module}.py"));
                workspace_root().join(file).exists()
            })
    }

    /// The file a student changes, from the repository root: the
    /// starter's source, or, when the server takes a `module:callable`
    /// (part 2's WSGI apps), that module, in the part's exercises folder.
    fn source(&self) -> PathBuf {
        let dir = self.exercises_dir();
        if let Some(module) = self.app_module() {
            return dir.join(format!("{module}.py"));
        }
        dir.join("src/bin").join(format!("{}.rs", self.starter))
    }

    /// The part's exercises folder, from the repository root.
    fn exercises_dir(&self) -> PathBuf {
        self.package.strip_suffix("-exercises").map_or_else(
            || panic!("{} is not named PART-exercises", self.package),
            |part| Path::new(part).join("exercises"),
        )
    }
}

fn snapshots() -> PathBuf {
    workspace_root().join("tests/snapshots")
}

/// The body of an expected snapshot: what follows insta's header.
fn expected(check: &Check) -> String {
    let path = snapshots().join(format!("{}.snap", check.snapshot));
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

/// Compares two snapshot texts as insta does: line ends folded to `\n`,
/// trailing whitespace at the end ignored.
fn same(a: &str, b: &str) -> bool {
    let normal = |s: &str| s.trim_end().replace("\r\n", "\n");
    normal(a) == normal(b)
}

/// Every starter in `dir` (a part's `exercises/src/bin/`) is in `list`,
/// so an exercise can't be added and forgotten by the tests.
pub fn all_listed(dir: &str, list: &[Exercise]) {
    let dir = workspace_root().join(dir);
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        assert!(
            list.iter().any(|exercise| exercise.starter == stem),
            "{} is not in the list of exercises",
            path.display()
        );
    }
}

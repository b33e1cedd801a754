//! The arbiter of a pre-fork server: the parent process that forks the
//! workers, replaces those that die, kills those that hang, recycles them,
//! and stops them when it is told to. Modelled on gunicorn's arbiter
//! (`gunicorn/arbiter.py`); webserver3i runs under it, and so does
//! webserver3m, whose workers each run an event loop.
//!
//! A step hands [`run`] two functions: how to fork (3i forks through
//! Python) and what a worker runs, given a [`Worker`]: the worker's side
//! of the conversation ("should I stop?", "busy with a request", "idle").
//!
//! The arbiter takes its signals with sigwait(), one at a time, in plain
//! code; a timer's SIGALRM, five times a second, is its clock.

use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::process::{self, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use std::{io, thread};

use nix::libc;
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::time::{ClockId, clock_gettime};
use nix::unistd::{Pid, getppid};
use pyo3::prelude::*;

// ANCHOR: args
/// The arbiter's options, for a step to flatten into its own.
#[derive(clap::Args)]
pub struct ArbiterArgs {
    /// How many worker processes serve clients at once
    #[arg(long, short, default_value_t = 2,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,
    /// Kill and replace a worker that is busy with one request for longer
    /// than this many seconds (0: never)
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// On SIGTERM, how many seconds the workers have to finish their
    /// requests before they are killed
    #[arg(long, default_value_t = 30)]
    pub graceful_timeout: u64,
    /// Replace a worker after it has served this many requests (0: never)
    #[arg(long, default_value_t = 0)]
    pub max_requests: u64,
    /// Add a random 0 to this many requests to each worker's
    /// --max-requests, so that the workers are not all replaced at once
    #[arg(long, default_value_t = 0)]
    pub max_requests_jitter: u64,
}
// ANCHOR_END: args

/// How often the arbiter looks at its workers' clocks.
const TICK_MICROSECONDS: i32 = 200_000;
/// How long a timed-out worker has to die of SIGABRT (printing where it was
/// stuck) before it gets SIGKILL.
const ABORT_GRACE: Duration = Duration::from_secs(1);
/// The first wait after a worker dies while booting; each death in a row
/// doubles it, up to BOOT_BACKOFF_MAX.
const BOOT_BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BOOT_BACKOFF_MAX: Duration = Duration::from_secs(30);

// ANCHOR: scoreboard
/// What a worker tells the arbiter, in memory that both processes see
/// (Apache calls its table of these the scoreboard).
// Every field is an atomic: a worker writes them while the arbiter, or
// another worker, reads.
#[repr(C)]
struct Slot {
    /// The worker has booted: dying now is not a boot failure.
    booted: AtomicBool,
    /// When the worker began its current request, in milliseconds of the
    /// monotonic clock (which every process reads alike); IDLE between
    /// requests.
    busy_since: AtomicU64,
    /// How many connections a worker that accepts clients holds (3m's
    /// workers say so); NOT_ACCEPTING otherwise.
    connections: AtomicU64,
}

const IDLE: u64 = 0;
const NOT_ACCEPTING: u64 = u64::MAX;
/// Every load and store of the scoreboard and the stop flag: the plainest
/// ordering, sequentially consistent.
const SEQ: Ordering = Ordering::SeqCst;

impl Slot {
    /// Made ready for a new worker.
    fn reset(&self) {
        self.booted.store(false, SEQ);
        self.busy_since.store(IDLE, SEQ);
        self.connections.store(NOT_ACCEPTING, SEQ);
    }
}

/// Maps `slots` slots of memory shared with every process forked later.
fn scoreboard(slots: usize) -> io::Result<&'static [Slot]> {
    let length = NonZeroUsize::new(slots * size_of::<Slot>())
        .ok_or_else(|| io::Error::other("no slots"))?;
    let shared = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    // SAFETY: a new anonymous mapping; it aliases no Rust object.
    let memory =
        unsafe { mmap_anonymous(None, length, shared, MapFlags::MAP_SHARED) }?;
    // SAFETY: the mapping is `length` bytes, page-aligned (more than Slot
    // needs), zero-filled (a valid Slot: false, IDLE, 0), and never unmapped,
    // so 'static holds. A fork shares it instead of copying it; atomics
    // are sound across processes, since Rust's atomics never use a lock.
    let scoreboard = unsafe {
        std::slice::from_raw_parts(memory.as_ptr().cast::<Slot>(), slots)
    };
    scoreboard.iter().for_each(Slot::reset);
    Ok(scoreboard)
}

/// Milliseconds on the monotonic clock: never jumps, unlike the time of day.
fn now_ms() -> u64 {
    let now = clock_gettime(ClockId::CLOCK_MONOTONIC)
        .expect("every Unix has a monotonic clock");
    let ms = now.tv_sec() as u64 * 1000 + now.tv_nsec() as u64 / 1_000_000;
    // The clock starts at boot, so 0 has passed long ago: IDLE is free.
    ms.max(IDLE + 1)
}
// ANCHOR_END: scoreboard

// ANCHOR: worker
/// A worker's side of the arbiter: made in the worker just after the fork,
/// and handed to the step's function that runs the worker.
pub struct Worker {
    /// Set when the worker must stop gracefully: finish the request it
    /// serves, accept no more.
    stop: Arc<AtomicBool>,
    /// Readable once SIGTERM has come: poll it with your sockets, and the
    /// word to stop wakes you (std's accept() and read() would sleep on).
    stop_readable: UnixStream,
    /// This worker's slot on the arbiter's scoreboard.
    slot: &'static Slot,
    /// Every slot: the other workers' too, to compare loads with.
    scoreboard: &'static [Slot],
    /// Requests served so far, and after how many to exit (0: never).
    requests: u64,
    max_requests: u64,
}

impl Worker {
    /// Tells the arbiter that this worker has booted.
    pub fn ready(&self) {
        self.slot.booted.store(true, SEQ);
    }

    /// Whether to stop: the arbiter said so (SIGTERM), or the worker has
    /// served its --max-requests.
    pub fn should_stop(&self) -> bool {
        let spent = self.max_requests > 0 && self.requests >= self.max_requests;
        spent || self.stop.load(SEQ)
    }

    /// Whether the worker will serve a request after the next one: if
    /// not, the next response must close its connection.
    pub fn may_keep_alive(&self) -> bool {
        let last =
            self.max_requests > 0 && self.requests + 1 >= self.max_requests;
        !last && !self.should_stop()
    }

    /// A descriptor that becomes readable when the worker must stop.
    pub fn stop_fd(&self) -> BorrowedFd<'_> {
        self.stop_readable.as_fd()
    }

    /// Says how many connections this worker holds, while it accepts
    /// clients (`None`: it accepts no more).
    pub fn hold_connections(&self, connections: Option<usize>) {
        let count = connections.map_or(NOT_ACCEPTING, |count| count as u64);
        self.slot.connections.store(count, SEQ);
    }

    /// Whether another worker that accepts clients holds at least two
    /// connections fewer than this one: then the next client is for it.
    /// (One fewer is no reason: while clients come and go, the counts
    /// differ by one all the time.)
    pub fn another_holds_fewer_connections(&self) -> bool {
        let mine = self.slot.connections.load(SEQ);
        self.scoreboard
            .iter()
            .any(|slot| slot.connections.load(SEQ).saturating_add(1) < mine)
    }

    /// Says "busy since now": call it when a request begins.
    pub fn start_request(&self) {
        self.slot.busy_since.store(now_ms(), SEQ);
    }

    /// Says "idle", and counts the request: call it when a request is done.
    pub fn finish_request(&mut self) {
        self.slot.busy_since.store(IDLE, SEQ);
        self.requests += 1;
        if self.max_requests > 0 && self.requests == self.max_requests {
            println!(
                "Worker {}: {} requests served, making way for a new one",
                process::id(),
                self.requests
            );
        }
    }
}
// ANCHOR_END: worker

// ANCHOR: become_worker
/// Turns the new child into a worker: its signals, its parent, its handle.
fn become_worker(
    parent: Pid,
    scoreboard: &'static [Slot],
    slot: usize,
    max_requests: u64,
) -> io::Result<Worker> {
    // The arbiter's blocked signals came with the fork. A worker wants
    // SIGINT and SIGQUIT to kill it at once (their default), SIGCHLD for
    // an app's subprocess, SIGALRM for an app's alarm(); SIGTERM stays
    // blocked, for the thread below to wait for.
    let mut unblocked = SigSet::empty();
    for signal in [
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGCHLD,
        Signal::SIGALRM,
    ] {
        unblocked.add(signal);
    }
    unblocked.thread_unblock()?;
    // A worker must not outlive the arbiter: it would hold the port and
    // serve on, unwatched. Linux sends this SIGTERM when the parent dies.
    #[cfg(target_os = "linux")]
    nix::sys::prctl::set_pdeathsig(Signal::SIGTERM)?;
    // SIMPLIFICATION: macOS has no parent-death signal; there a worker
    // whose parent was killed alone serves on until it is killed too.
    // The parent may have died before we asked: then nobody will tell us.
    if getppid() != parent {
        process::exit(0);
    }
    // SIGTERM, the word to stop, is taken by a thread of its own with
    // sigwait(): it sets the flag and wakes the worker's poll().
    let stop = Arc::new(AtomicBool::new(false));
    let (stop_readable, stop_writer) = UnixStream::pair()?;
    let flag = Arc::clone(&stop);
    let mut sigterm = SigSet::empty();
    sigterm.add(Signal::SIGTERM);
    thread::spawn(move || {
        // Returns when SIGTERM comes (it fails only for a bad signal set).
        let _ = sigterm.wait();
        flag.store(true, SEQ);
        // Hang up: the reading end now reads end-of-file, which poll()
        // reports as readable, for good.
        drop(stop_writer);
    });
    Ok(Worker {
        stop,
        stop_readable,
        slot: &scoreboard[slot],
        scoreboard,
        requests: 0,
        max_requests,
    })
}
// ANCHOR_END: become_worker

// ANCHOR: state
/// What the arbiter is doing.
#[derive(Clone, Copy, PartialEq)]
enum State {
    /// Keeping --workers workers running (a SIGHUP starts a new set).
    Running,
    /// SIGTERM: the workers finish their requests; at the deadline, the
    /// ones left are killed.
    Draining { deadline: Instant },
    /// SIGINT, SIGQUIT, or the graceful timeout is over: every worker has
    /// been sent SIGKILL; collect them and exit.
    Stopping,
}

/// The arbiter's record of one worker.
struct WorkerRecord {
    pid: Pid,
    /// Its slot on the scoreboard.
    slot: usize,
    /// The set it belongs to: each SIGHUP starts a new one.
    generation: u32,
    /// It has been sent SIGTERM.
    told_to_stop: bool,
    /// When it was sent SIGABRT for hanging.
    aborted_at: Option<Instant>,
}
// ANCHOR_END: state

// ANCHOR: fork
/// How 3i and 3m fork: as 3h does, through the interpreter, with
/// os.fork(). `None` in the child, the child's PID in the parent.
pub fn python_fork() -> std::io::Result<Option<Pid>> {
    let forked = Python::attach(|py| -> PyResult<i32> {
        py.import("os")?.call_method0("fork")?.extract()
    })?;
    Ok((forked != 0).then(|| Pid::from_raw(forked)))
}

/// Python's faulthandler: on SIGABRT (and on a crash), it prints every
/// thread's Python traceback on stderr, then lets the signal kill us.
pub fn enable_faulthandler() {
    let enabled = Python::attach(|py| -> PyResult<()> {
        py.import("faulthandler")?.call_method0("enable")?;
        Ok(())
    });
    if let Err(err) = enabled {
        eprintln!("arbiter: cannot enable faulthandler: {err}");
    }
}
// ANCHOR_END: fork

/// The signals the arbiter waits for.
fn arbiter_signals() -> SigSet {
    let mut signals = SigSet::empty();
    for signal in [
        Signal::SIGCHLD, // a worker ended
        Signal::SIGHUP,  // start new workers, stop the old ones
        Signal::SIGTERM, // stop gracefully
        Signal::SIGINT,  // stop now
        Signal::SIGQUIT, // stop now
        Signal::SIGALRM, // the clock ticked
    ] {
        signals.add(signal);
    }
    signals
}

/// Asks the kernel for a SIGALRM every tick, for ever.
fn start_ticking() {
    let tick = libc::timeval {
        tv_sec: 0,
        tv_usec: TICK_MICROSECONDS.into(),
    };
    let timer = libc::itimerval {
        it_interval: tick,
        it_value: tick,
    };
    // SAFETY: setitimer reads `timer`, which outlives the call, and writes
    // nothing (no pointer for the old value).
    unsafe { libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut()) };
}

// ANCHOR: run
/// Runs the arbiter: forks the workers with `fork` (which returns `None` in
/// the child and the child's PID in the parent), runs `run_worker` in each,
/// and watches over them until told to stop. Returns the exit code.
pub fn run<F, W>(args: &ArbiterArgs, fork: F, run_worker: W) -> ExitCode
where
    F: Fn() -> io::Result<Option<Pid>>,
    W: Fn(&mut Worker),
{
    // Blocked before the first fork, so that no signal is lost: each one
    // waits until the loop below asks for it.
    let signals = arbiter_signals();
    if let Err(err) = signals.thread_block() {
        eprintln!("arbiter: cannot block signals: {err}");
        return ExitCode::FAILURE;
    }
    // A SIGHUP runs two sets of workers for a while, and more if it comes
    // again: room for four.
    let scoreboard = match scoreboard(usize::from(args.workers) * 4) {
        Ok(scoreboard) => scoreboard,
        Err(err) => {
            eprintln!("arbiter: cannot share memory with workers: {err}");
            return ExitCode::FAILURE;
        }
    };
    start_ticking();
    let mut arbiter = Arbiter {
        args,
        fork,
        run_worker,
        scoreboard,
        workers: Vec::new(),
        generation: 0,
        state: State::Running,
        boot_failures: 0,
        next_boot: Instant::now(),
    };
    loop {
        match arbiter.state {
            State::Running => arbiter.manage_workers(),
            State::Draining { deadline } if Instant::now() >= deadline => {
                println!(
                    "Graceful timeout: killing {} workers",
                    arbiter.workers.len()
                );
                arbiter.stop_now();
            }
            State::Draining { .. } | State::Stopping => {}
        }
        arbiter.murder_workers();
        if arbiter.state != State::Running && arbiter.workers.is_empty() {
            println!("Shutting down: every worker has exited");
            return ExitCode::SUCCESS;
        }
        match signals.wait() {
            Ok(Signal::SIGCHLD) => arbiter.reap_workers(),
            Ok(Signal::SIGHUP) => arbiter.reload(),
            Ok(Signal::SIGTERM) => arbiter.stop_gracefully(),
            Ok(Signal::SIGINT | Signal::SIGQUIT) => {
                if arbiter.state != State::Stopping {
                    println!("Stopping {} workers now", arbiter.workers.len());
                    arbiter.stop_now();
                }
            }
            // SIGALRM: a tick of the clock, to look at the workers again.
            Ok(_) => {}
            Err(err) => {
                eprintln!("arbiter: sigwait failed: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
}
// ANCHOR_END: run

/// The arbiter's state, and the step's two functions.
struct Arbiter<'a, F, W> {
    args: &'a ArbiterArgs,
    fork: F,
    run_worker: W,
    scoreboard: &'static [Slot],
    workers: Vec<WorkerRecord>,
    /// The current set of workers; older sets are on their way out.
    generation: u32,
    state: State,
    /// Workers that died while booting, in a row, and when to try again.
    boot_failures: u32,
    next_boot: Instant,
}

impl<F, W> Arbiter<'_, F, W>
where
    F: Fn() -> io::Result<Option<Pid>>,
    W: Fn(&mut Worker),
{
    // ANCHOR: manage_workers
    /// Starts workers until the current set is whole (unless a worker died
    /// while booting and we are waiting), and stops the older sets once
    /// the current one has booted: until then, they go on serving.
    fn manage_workers(&mut self) {
        let wanted = usize::from(self.args.workers);
        while self.current().count() < wanted
            && Instant::now() >= self.next_boot
        {
            if !self.spawn_worker() {
                break;
            }
        }
        let booted = self
            .current()
            .filter(|worker| self.scoreboard[worker.slot].booted.load(SEQ))
            .count();
        if booted == wanted {
            let generation = self.generation;
            for worker in &mut self.workers {
                if worker.generation != generation && !worker.told_to_stop {
                    let _ = kill(worker.pid, Signal::SIGTERM);
                    worker.told_to_stop = true;
                }
            }
        }
    }

    /// The workers of the current set.
    fn current(&self) -> impl Iterator<Item = &WorkerRecord> {
        self.workers
            .iter()
            .filter(move |worker| worker.generation == self.generation)
    }
    // ANCHOR_END: manage_workers

    // ANCHOR: spawn_worker
    /// Forks one worker into a free slot; false if none could be started.
    fn spawn_worker(&mut self) -> bool {
        let taken = |slot| self.workers.iter().any(|w| w.slot == slot);
        let Some(slot) = (0..self.scoreboard.len()).find(|&s| !taken(s)) else {
            return false; // wait until an old worker exits
        };
        self.scoreboard[slot].reset();
        let max_requests = match self.args.max_requests {
            0 => 0,
            n => n + fastrand::u64(0..=self.args.max_requests_jitter),
        };
        let parent = Pid::this();
        match (self.fork)() {
            Ok(None) => {
                // The worker: it never returns into the arbiter's loop.
                match become_worker(parent, self.scoreboard, slot, max_requests)
                {
                    Ok(mut worker) => (self.run_worker)(&mut worker),
                    Err(err) => eprintln!("arbiter: worker set-up: {err}"),
                }
                process::exit(0);
            }
            Ok(Some(pid)) => {
                self.workers.push(WorkerRecord {
                    pid,
                    slot,
                    generation: self.generation,
                    told_to_stop: false,
                    aborted_at: None,
                });
                true
            }
            Err(err) => {
                eprintln!("arbiter: fork failed: {err}");
                self.next_boot = Instant::now() + BOOT_BACKOFF_FIRST;
                false
            }
        }
    }
    // ANCHOR_END: spawn_worker

    // ANCHOR: reap_workers
    /// Collects every worker that has ended (signals merge, as 3f showed:
    /// one SIGCHLD may stand for several). A worker that died before it
    /// booted makes the next start wait, twice as long each time in a row.
    fn reap_workers(&mut self) {
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            let Some(pid) = status.pid() else { break };
            let how = match status {
                WaitStatus::Exited(_, code) => {
                    format!("exited with status {code}")
                }
                WaitStatus::Signaled(_, signal, _) => {
                    format!("was killed by {signal}")
                }
                // Stopped or continued (a debugger): still a worker.
                _ => continue,
            };
            let Some(index) = self.workers.iter().position(|w| w.pid == pid)
            else {
                continue;
            };
            let worker = self.workers.remove(index);
            let booted = self.scoreboard[worker.slot].booted.load(SEQ);
            // A dead worker accepts no clients: the others must not wait
            // for it to take the next one.
            self.scoreboard[worker.slot]
                .connections
                .store(NOT_ACCEPTING, SEQ);
            if booted {
                self.boot_failures = 0; // booting works again
            }
            if booted || worker.told_to_stop || self.state != State::Running {
                println!("Worker {pid} {how}");
                continue;
            }
            self.boot_failures += 1;
            let doubled = 2u32.saturating_pow(self.boot_failures - 1);
            let delay = BOOT_BACKOFF_FIRST
                .saturating_mul(doubled)
                .min(BOOT_BACKOFF_MAX);
            self.next_boot = Instant::now() + delay;
            println!(
                "Worker {pid} {how} while booting; next try in {:.1} s",
                delay.as_secs_f64()
            );
        }
    }
    // ANCHOR_END: reap_workers

    // ANCHOR: murder_workers
    /// Kills each worker that has been busy with one request for longer
    /// than --timeout: first with SIGABRT, which Python's faulthandler
    /// catches to print where the worker was stuck, then, if it still
    /// lives a second later, with SIGKILL. reap_workers replaces it.
    fn murder_workers(&mut self) {
        if self.args.timeout == 0 {
            return;
        }
        let now = now_ms();
        for worker in &mut self.workers {
            let since = self.scoreboard[worker.slot].busy_since.load(SEQ);
            let busy_for = Duration::from_millis(now.saturating_sub(since));
            if since == IDLE || busy_for.as_secs() < self.args.timeout {
                continue;
            }
            match worker.aborted_at {
                None => {
                    println!(
                        "Worker {} timed out: busy with one request for \
                         {:.1} s; sending SIGABRT",
                        worker.pid,
                        busy_for.as_secs_f64()
                    );
                    let _ = kill(worker.pid, Signal::SIGABRT);
                    worker.aborted_at = Some(Instant::now());
                }
                Some(aborted) if aborted.elapsed() > ABORT_GRACE => {
                    let _ = kill(worker.pid, Signal::SIGKILL);
                }
                Some(_) => {}
            }
        }
    }
    // ANCHOR_END: murder_workers

    // ANCHOR: signals
    /// SIGHUP: a new set of workers; manage_workers stops the old set once
    /// the new one has booted.
    fn reload(&mut self) {
        if self.state == State::Running {
            println!(
                "Reloading: starting {} new workers, then stopping the old",
                self.args.workers
            );
            self.generation += 1;
        }
    }

    /// SIGTERM: every worker finishes what it serves, and exits.
    fn stop_gracefully(&mut self) {
        if self.state != State::Running {
            return;
        }
        println!(
            "Stopping {} workers gracefully (at most {} s)",
            self.workers.len(),
            self.args.graceful_timeout
        );
        for worker in &mut self.workers {
            let _ = kill(worker.pid, Signal::SIGTERM);
            worker.told_to_stop = true;
        }
        let patience = Duration::from_secs(self.args.graceful_timeout);
        self.state = State::Draining {
            deadline: Instant::now() + patience,
        };
    }

    /// SIGINT, SIGQUIT, or the graceful timeout is over: kill them all.
    fn stop_now(&mut self) {
        for worker in &self.workers {
            let _ = kill(worker.pid, Signal::SIGKILL);
        }
        self.state = State::Stopping;
    }
    // ANCHOR_END: signals
}

//! The thread pool of the Rust Book's last chapter ("Building a
//! Multithreaded Web Server", chapter 21), with its `Worker`, its `Job` and
//! its `Drop`: webserver3k serves connections on it, and webserver3m, with
//! `--threads`, runs its apps on it beside each worker's event loop.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use part2::python::as_a_python_thread;

// ANCHOR: thread_pool
/// A fixed number of threads, and the queue that feeds them jobs.
// The Rust Book's ThreadPool, with four changes: the queue has a bound
// (a `sync_channel`), the pool counts the jobs that wait in it, a job
// that panics does not take its thread down with it, and each thread is
// made known to Python once, for its whole life (see Worker::new).
pub struct ThreadPool {
    workers: Vec<Worker>,
    /// `None` once the pool shuts down (see `drop`).
    sender: Option<mpsc::SyncSender<Job>>,
    /// How many jobs wait in the queue for a thread.
    queued: Arc<AtomicUsize>,
}

/// What a thread of the pool runs: in 3k, serving one connection; in 3m,
/// calling the app on one request.
type Job = Box<dyn FnOnce() + Send + 'static>;

impl ThreadPool {
    /// Starts `size` threads, fed by a queue that holds `queue_size` jobs.
    pub fn new(size: usize, queue_size: usize) -> ThreadPool {
        assert!(size > 0, "a pool needs a thread");
        let (sender, receiver) = mpsc::sync_channel(queue_size);
        // One receiver, shared by every worker: whichever takes the lock
        // first takes the next job.
        let receiver = Arc::new(Mutex::new(receiver));
        let queued = Arc::new(AtomicUsize::new(0));
        let workers = (0..size)
            .map(|id| {
                Worker::new(id, Arc::clone(&receiver), Arc::clone(&queued))
            })
            .collect();
        ThreadPool {
            workers,
            sender: Some(sender),
            queued,
        }
    }

    /// Queues `f` for the next free thread. When the queue is full, waits
    /// until a thread takes a job from it.
    pub fn execute<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let Some(sender) = &self.sender else { return };
        self.queued.fetch_add(1, Ordering::SeqCst);
        // The receiver lives as long as a worker does, and the workers
        // live as long as the pool: the send can't fail while we run.
        if sender.send(Box::new(f)).is_err() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The count of jobs waiting for a thread, for a job to look at.
    pub fn queued(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.queued)
    }
}
// ANCHOR_END: thread_pool

// ANCHOR: drop
impl Drop for ThreadPool {
    /// Shuts the pool down: no more jobs, then wait for every thread to
    /// finish the jobs it has and those still in the queue.
    fn drop(&mut self) {
        // Each worker's recv() fails once the queue is empty and nobody
        // can send any more: that ends its loop.
        drop(self.sender.take());
        for worker in self.workers.drain(..) {
            println!("Shutting down worker {}", worker.id);
            if worker.thread.join().is_err() {
                eprintln!("thread pool: worker {} panicked", worker.id);
            }
        }
    }
}
// ANCHOR_END: drop

// ANCHOR: worker
/// One thread of the pool, and the number it is known by.
struct Worker {
    id: usize,
    thread: thread::JoinHandle<()>,
}

impl Worker {
    /// Starts a thread that runs jobs from the queue until it is closed.
    fn new(
        id: usize,
        receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
        queued: Arc<AtomicUsize>,
    ) -> Worker {
        let run_jobs = move || {
            loop {
                // The lock is held only while waiting for a job: the guard
                // is a temporary, dropped at the end of this statement. A
                // poisoned lock (a worker panicked holding it) still holds
                // a working receiver: take it.
                let message = receiver
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .recv();
                let Ok(job) = message else {
                    break; // the pool is shutting down
                };
                queued.fetch_sub(1, Ordering::SeqCst);
                // A bug of ours that panics ends this job, not the thread:
                // the pool keeps its size. (An app's exception is no
                // panic: the core answers it with a 500.)
                if panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
                    eprintln!("thread pool: worker {id}: a job panicked");
                }
            }
        };
        // The thread runs Python (the app, in every job) for its whole
        // life: it is made known to Python once, not once a job.
        let thread = thread::spawn(move || as_a_python_thread(run_jobs));
        Worker { id, thread }
    }
}
// ANCHOR_END: worker

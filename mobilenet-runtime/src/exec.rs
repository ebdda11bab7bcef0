//! Who runs a kernel: the calling thread alone ([`Serial`]), or a [`Pool`]
//! of threads created once and reused for every call.
//!
//! A kernel splits its output into `threads()` disjoint parts and hands
//! [`Exec::run`] a function of the part index; `run` returns when every part
//! is done. Publishing a job is a pointer store and a counter bump, so
//! running on the pool allocates nothing.

/// Runs the parts of a kernel.
pub trait Exec: Sync {
    /// How many parts kernels should split their work into.
    fn threads(&self) -> usize;

    /// Calls `f(0)`, ..., `f(threads() - 1)`, possibly in parallel, and
    /// returns when all have returned.
    fn run(&self, f: &(dyn Fn(usize) + Sync));
}

/// Everything on the calling thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Serial;

impl Exec for Serial {
    fn threads(&self) -> usize {
        1
    }

    fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        f(0)
    }
}

#[cfg(feature = "std")]
pub use pool::Pool;

#[cfg(feature = "std")]
mod pool {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
    use std::thread::JoinHandle;
    use std::time::{Duration, Instant};

    use super::Exec;

    /// How long an idle worker spins for the next job before it parks.
    /// Jobs of one `forward` come microseconds apart; spinning keeps the
    /// handoff to well under a microsecond, parking keeps an idle pool off
    /// the cores.
    const SPIN: Duration = Duration::from_millis(2);

    type Job = dyn Fn(usize) + Sync;

    struct Shared {
        /// The current job: a `*const &Job` (a thin pointer to a fat one).
        job: AtomicPtr<&'static Job>,
        /// Bumped to publish a job.
        epoch: AtomicUsize,
        /// Workers that finished the current job.
        done: AtomicUsize,
        /// A worker's part panicked.
        poisoned: AtomicBool,
        stop: AtomicBool,
    }

    /// Threads that run kernel parts, created once (`Pool::new`) and reused by
    /// every `forward_on`. The calling thread takes part 0, so a pool of `n`
    /// threads starts `n - 1`.
    pub struct Pool {
        shared: Arc<Shared>,
        workers: Vec<JoinHandle<()>>,
        threads: usize,
    }

    impl std::fmt::Debug for Pool {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Pool").field("threads", &self.threads).finish()
        }
    }

    impl Pool {
        /// A pool running kernels on `threads` threads (the caller's included).
        ///
        /// # Panics
        /// If `threads` is 0 or a thread cannot be spawned.
        pub fn new(threads: usize) -> Pool {
            assert!(threads > 0, "a pool needs at least one thread");
            let shared = Arc::new(Shared {
                job: AtomicPtr::new(std::ptr::null_mut()),
                epoch: AtomicUsize::new(0),
                done: AtomicUsize::new(0),
                poisoned: AtomicBool::new(false),
                stop: AtomicBool::new(false),
            });
            let workers = (1..threads)
                .map(|part| {
                    let shared = Arc::clone(&shared);
                    std::thread::Builder::new()
                        .name(format!("mobilenet-{part}"))
                        .spawn(move || worker(&shared, part))
                        .expect("spawn a pool thread")
                })
                .collect();
            Pool { shared, workers, threads }
        }
    }

    fn worker(shared: &Shared, part: usize) {
        let mut seen = 0;
        loop {
            // Wait for a new epoch: spin, then sleep briefly.
            let started = Instant::now();
            loop {
                if shared.stop.load(Ordering::Acquire) {
                    return;
                }
                let epoch = shared.epoch.load(Ordering::Acquire);
                if epoch != seen {
                    seen = epoch;
                    break;
                }
                if started.elapsed() < SPIN {
                    std::hint::spin_loop();
                } else {
                    // `Pool::run` unparks every worker after publishing a job.
                    std::thread::park_timeout(Duration::from_millis(50));
                }
            }
            let job = shared.job.load(Ordering::Acquire);
            // SAFETY: `Pool::run` published a pointer to a `&Job` that stays
            // valid until every worker has counted itself done.
            let f: &Job = unsafe { *job };
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(part))).is_err() {
                shared.poisoned.store(true, Ordering::Release);
            }
            shared.done.fetch_add(1, Ordering::AcqRel);
        }
    }

    impl Exec for Pool {
        fn threads(&self) -> usize {
            self.threads
        }

        fn run(&self, f: &(dyn Fn(usize) + Sync)) {
            if self.threads == 1 {
                return f(0);
            }
            let s = &*self.shared;
            // SAFETY: only the lifetime is erased; the pointer is withdrawn
            // (by waiting for every worker) before `f` goes out of scope.
            let f_static: &'static Job =
                unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync + '_), &'static Job>(f) };
            let slot: *const &'static Job = &f_static;
            s.done.store(0, Ordering::Relaxed);
            s.job.store(slot as *mut _, Ordering::Release);
            s.epoch.fetch_add(1, Ordering::AcqRel);
            for w in &self.workers {
                w.thread().unpark();
            }
            let ours = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(0)));
            while s.done.load(Ordering::Acquire) < self.threads - 1 {
                std::hint::spin_loop();
            }
            if let Err(e) = ours {
                std::panic::resume_unwind(e);
            }
            if s.poisoned.swap(false, Ordering::AcqRel) {
                panic!("a kernel part panicked on a pool thread");
            }
        }
    }

    impl Drop for Pool {
        fn drop(&mut self) {
            self.shared.stop.store(true, Ordering::Release);
            for w in self.workers.drain(..) {
                let _ = w.join();
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use super::*;

        #[test]
        fn every_part_runs_once_per_call() {
            let pool = Pool::new(3);
            let counts: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
            for _ in 0..1000 {
                pool.run(&|part| {
                    counts[part].fetch_add(1, Ordering::Relaxed);
                });
            }
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1000));
        }

        #[test]
        fn a_panicking_part_panics_the_caller_and_the_pool_survives() {
            let pool = Pool::new(2);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pool.run(&|part| assert!(part != 1, "part 1 fails"));
            }));
            assert!(r.is_err());
            let ran = AtomicUsize::new(0);
            pool.run(&|_| {
                ran.fetch_add(1, Ordering::Relaxed);
            });
            assert_eq!(ran.load(Ordering::Relaxed), 2);
        }
    }
}

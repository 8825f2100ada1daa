//! The threads that carry the connections.
//!
//! Each thread runs its own current-thread tokio runtime, like wrk's event loops: its share of
//! the connections are tasks on one `LocalSet`, sharing the thread's [`Stats`] without locks
//! or atomics. A `-n` budget is split among the threads up front, so no request crosses
//! threads to claim its ticket. Live totals for the progress line are per-thread atomics that
//! only their own thread writes.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{Plan, Stop};
use crate::stats::{ErrorKind, Stats};

/// Live totals of a run, for a progress line drawn by another thread; and the switch that
/// ends a run early (Ctrl-C), with the report of what was done so far.
#[derive(Debug, Default)]
pub struct Progress {
    threads: Mutex<Vec<Arc<Live>>>,
    stop: Arc<AtomicBool>,
}

impl Progress {
    /// Nothing counted yet.
    pub fn new() -> Progress {
        Progress::default()
    }

    /// Requests completed and errors so far.
    pub fn totals(&self) -> (u64, u64) {
        let threads = self.threads.lock().expect("not poisoned");
        threads.iter().fold((0, 0), |(r, e), live| {
            (
                r + live.requests.load(Ordering::Relaxed),
                e + live.errors.load(Ordering::Relaxed),
            )
        })
    }

    /// Ends the run within a moment; requests in flight are abandoned.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    fn register(&self) -> Arc<Live> {
        let live = Arc::new(Live::default());
        self.threads
            .lock()
            .expect("not poisoned")
            .push(live.clone());
        live
    }
}

/// One thread's live totals, on a cache line of its own so that the threads do not slow each
/// other down.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Live {
    requests: AtomicU64,
    errors: AtomicU64,
}

/// What a connection task gets: its thread's stats, budget and clock.
pub(crate) struct Ctx {
    stats: Rc<RefCell<Stats>>,
    budget: Rc<Cell<Option<u64>>>,
    deadline: Option<Instant>,
    live: Arc<Live>,
    /// With a rate: when this connection's next request is due, and the gap between requests.
    schedule: Option<(Instant, Duration)>,
}

impl Ctx {
    /// Claims the next request: when its latency starts (now, without a rate), or `None` when
    /// the run is over for this connection (the budget is spent or the deadline has passed).
    /// With a rate, waits until the request is due; a request already late is not delayed
    /// further, and its latency still counts from when it was due.
    pub async fn next(&mut self) -> Option<Instant> {
        let due = match &mut self.schedule {
            Some((next, gap)) => {
                let due = *next;
                *next += *gap;
                due
            }
            None => Instant::now(),
        };
        if self.deadline.is_some_and(|d| due >= d) {
            return None;
        }
        if let Some(left) = self.budget.get() {
            if left == 0 {
                return None;
            }
            self.budget.set(Some(left - 1));
        }
        if self.schedule.is_some() && due > Instant::now() {
            // Early: the connection is idle until the request is due. tokio's timer fires on
            // the millisecond tick after `due`; that lateness is the instrument's, not the
            // server's, so the latency counts from the wake-up. A request that is late
            // because the server kept the connection busy counts from `due`.
            tokio::time::sleep_until(due).await;
            return Some(Instant::now());
        }
        Some(due)
    }

    /// Whether more requests may be claimed (without claiming one).
    pub fn more(&self) -> bool {
        self.budget.get() != Some(0) && self.deadline.is_none_or(|d| Instant::now() < d)
    }

    /// A completed request, due at `due`.
    pub fn done(&self, due: Instant, status: Option<u16>) {
        self.done_at(due, Instant::now(), status);
    }

    /// A completed request, due at `due`, completed at `now`.
    pub fn done_at(&self, due: Instant, now: Instant, status: Option<u16>) {
        self.stats
            .borrow_mut()
            .record(now.saturating_duration_since(due), status);
        self.live.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// A failure.
    pub fn error(&self, kind: ErrorKind) {
        self.stats.borrow_mut().error(kind);
        self.live.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A failed connect; the first is kept as a message.
    pub fn connect_error(&self, e: &std::io::Error) {
        self.error(ErrorKind::Connect);
        let mut stats = self.stats.borrow_mut();
        if stats.first_connect_error.is_none() {
            stats.first_connect_error = Some(crate::stats::describe_connect_error(e));
        }
    }

    /// A connection opened.
    pub fn connected(&self) {
        self.stats.borrow_mut().connected += 1;
    }

    /// Bytes received.
    pub fn bytes(&self, n: u64) {
        self.stats.borrow_mut().bytes += n;
    }
}

/// Runs `connection` once per connection, spread over the plan's threads, until the plan's
/// stop; returns the merged stats and how long the run took.
pub(crate) fn run<F, Fut>(
    plan: &Plan,
    progress: &Progress,
    connection: F,
) -> std::io::Result<(Stats, Duration)>
where
    F: Fn(Ctx) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let threads = plan.threads.clamp(1, plan.connections.max(1));
    let start = Instant::now() + Duration::from_millis(5);
    let deadline = match plan.stop {
        Stop::Duration(d) => Some(start + d),
        Stop::Requests(_) => None,
    };
    let mut handles = Vec::with_capacity(threads);
    let mut first_conn = 0;
    for t in 0..threads {
        let conns = share(plan.connections as u64, threads, t) as usize;
        let budget = match plan.stop {
            Stop::Requests(n) => Some(share(n, threads, t)),
            Stop::Duration(_) => None,
        };
        let live = progress.register();
        let stop = progress.stop.clone();
        let connection = connection.clone();
        let rate = plan.rate;
        let total_conns = plan.connections;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = std::thread::Builder::new()
            .name(format!("bench-{t}"))
            .spawn(move || {
                let stats = Rc::new(RefCell::new(Stats::new()));
                let budget = Rc::new(Cell::new(budget));
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async {
                    tokio::time::sleep_until(start).await;
                    let mut tasks = Vec::with_capacity(conns);
                    for i in first_conn..first_conn + conns {
                        let schedule = rate.map(|r| {
                            // Connection i of C sends at i/R, then every C/R: R in all,
                            // evenly spaced.
                            let offset = Duration::from_secs_f64(i as f64 / r);
                            let gap = Duration::from_secs_f64(total_conns as f64 / r);
                            (start + offset, gap)
                        });
                        let ctx = Ctx {
                            stats: stats.clone(),
                            budget: budget.clone(),
                            deadline,
                            live: live.clone(),
                            schedule,
                        };
                        tasks.push(tokio::task::spawn_local(connection(ctx)));
                    }
                    let all = async {
                        for task in tasks {
                            let _ = task.await;
                        }
                    };
                    let stopped = async {
                        while !stop.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    };
                    let deadline = async {
                        match deadline {
                            Some(deadline) => tokio::time::sleep_until(deadline).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        () = deadline => {}
                        () = all => {}
                        () = stopped => {}
                    }
                });
                // Requests still in flight are abandoned with their tasks.
                drop(local);
                let stats = stats.borrow().clone();
                stats
            })?;
        handles.push(handle);
        first_conn += conns;
    }
    let mut total = Stats::new();
    for handle in handles {
        let stats = handle
            .join()
            .map_err(|_| std::io::Error::other("a load thread panicked"))?;
        total.merge(&stats);
    }
    let elapsed = Instant::now().saturating_duration_since(start);
    let elapsed = match deadline {
        Some(deadline) if Instant::now() >= deadline => deadline - start,
        _ => elapsed,
    };
    Ok((total, elapsed))
}

/// Thread `t`'s share of `n` among `threads`: as even as can be.
fn share(n: u64, threads: usize, t: usize) -> u64 {
    let threads = threads as u64;
    n / threads + u64::from((t as u64) < n % threads)
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn shares_add_up() {
        for n in [0, 1, 7, 1000] {
            for threads in 1..5 {
                let sum: u64 = (0..threads).map(|t| share(n, threads, t)).sum();
                assert_eq!(sum, n);
            }
        }
    }
}

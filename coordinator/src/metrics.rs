//! The coordinator's Prometheus metrics, named `fathom_coordinator_<what>_<unit>`, served at
//! `/metrics` by [`crate::http`]. Counters are process-wide atomics: cheap to bump anywhere.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

pub static JOBS_SUBMITTED: AtomicU64 = AtomicU64::new(0);
pub static JOBS_SUCCEEDED: AtomicU64 = AtomicU64::new(0);
pub static JOBS_FAILED: AtomicU64 = AtomicU64::new(0);
pub static JOBS_CANCELLED: AtomicU64 = AtomicU64::new(0);
pub static TASKS_LAUNCHED: AtomicU64 = AtomicU64::new(0);
pub static TASK_FAILURES: AtomicU64 = AtomicU64::new(0);
pub static WORKERS_LOST: AtomicU64 = AtomicU64::new(0);
pub static ALERTS_DELIVERED: AtomicU64 = AtomicU64::new(0);

pub fn increment(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub fn add(counter: &AtomicU64, amount: u64) {
    counter.fetch_add(amount, Ordering::Relaxed);
}

/// Renders every metric in the Prometheus text format; gauges are passed in by the caller.
pub fn render(workers: usize, active_jobs: usize) -> String {
    let mut out = String::new();
    let counters = [
        ("fathom_coordinator_jobs_submitted_total", "Jobs accepted.", &JOBS_SUBMITTED),
        ("fathom_coordinator_jobs_succeeded_total", "Jobs that committed their results.", &JOBS_SUCCEEDED),
        ("fathom_coordinator_jobs_failed_total", "Jobs that failed.", &JOBS_FAILED),
        ("fathom_coordinator_jobs_cancelled_total", "Jobs cancelled on request.", &JOBS_CANCELLED),
        ("fathom_coordinator_tasks_launched_total", "Task attempts launched on workers.", &TASKS_LAUNCHED),
        ("fathom_coordinator_task_failures_total", "Task attempts that failed.", &TASK_FAILURES),
        ("fathom_coordinator_workers_lost_total", "Workers removed after missing heartbeats.", &WORKERS_LOST),
        ("fathom_coordinator_alerts_delivered_total", "Alerts accepted by their sink.", &ALERTS_DELIVERED),
    ];
    for (name, help, counter) in counters {
        let _ =
            writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", counter.load(Ordering::Relaxed));
    }
    let gauges = [
        ("fathom_coordinator_workers", "Registered live workers.", workers),
        ("fathom_coordinator_active_jobs", "Jobs planning, running or committing.", active_jobs),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
    }
    out
}

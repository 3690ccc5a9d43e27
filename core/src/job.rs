//! A job's externally visible state: what `fathom run` and `fathom status` show.

use crate::ids::JobId;
use crate::task::{TaskMetrics, TopAnomaly};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Planning,
    Running,
    Committing,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed | JobState::Cancelled)
    }

    pub fn name(self) -> &'static str {
        match self {
            JobState::Planning => "planning",
            JobState::Running => "running",
            JobState::Committing => "committing",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The inverse of [`JobState::name`].
    pub fn from_name(name: &str) -> Option<JobState> {
        [
            JobState::Planning,
            JobState::Running,
            JobState::Committing,
            JobState::Succeeded,
            JobState::Failed,
            JobState::Cancelled,
        ]
        .into_iter()
        .find(|state| state.name() == name)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageProgress {
    pub name: String,
    pub tasks_total: u32,
    pub tasks_done: u32,
    pub tasks_running: u32,
    pub task_failures: u32,
    pub elapsed_ms: u64,
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobStatus {
    pub job_id: JobId,
    pub name: String,
    pub state: JobState,
    pub error: Option<String>,
    pub stages: Vec<StageProgress>,
    pub metrics: TaskMetrics,
    pub top_anomalies: Vec<TopAnomaly>,
    pub tables: Vec<String>,
    pub skipped_stages: Vec<String>,
    pub elapsed_ms: u64,
    /// Input files left out under `on_bad_file = "skip"` (`uri: reason`; the first few).
    pub skipped_files: Vec<String>,
    /// Alerts accepted by their sinks so far, and alerts still waiting in the outbox.
    pub alerts_delivered: u64,
    pub alerts_pending: u64,
}

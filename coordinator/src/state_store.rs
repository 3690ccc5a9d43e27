//! Where the coordinator keeps what must survive it: job records, and who the leader is.
//!
//! Only the leader acts. It wins an [`Epoch`] with [`StateStore::campaign`], and every write
//! carries that epoch: once another coordinator has taken over, a deposed leader's writes fail
//! with [`StoreError::Fenced`] instead of overwriting the new leader's state. Writes happen per
//! job transition and per completed stage, never per task, so the store sees little traffic.
//!
//! Two implementations pass one conformance suite (`state_store/conformance.rs`):
//! [`InMemoryStore`] for the embedded mode and a single coordinator, and
//! [`crate::etcd_store::EtcdStore`] for a replicated control plane.

use std::collections::BTreeMap;

use async_trait::async_trait;
use fathom_core::task::{AlertEvent, TaskOutput};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, Notify};

/// A leader's term. Epochs only grow; a write is accepted only under the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Epoch(pub i64);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("write refused: leadership (epoch {epoch}) has passed to another coordinator")]
    Fenced { epoch: i64 },

    #[error("state store {doing} failed: {reason}")]
    Backend { doing: &'static str, reason: String },

    #[error("job record {job_id} is corrupt: {reason}")]
    Corrupt { job_id: String, reason: String },
}

/// The durable part of a job: enough for a new leader to resume it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    /// The spec as submitted, and its locations resolved to absolute URLs at submission.
    pub spec_toml: String,
    pub source_uri: String,
    pub sink_uris: Vec<String>,
    /// `planning`, `running`, `committing`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    pub error: Option<String>,
    /// Fixed at planning so that a resumed job plans exactly as before.
    pub partitions: Option<u32>,
    /// Per completed stage (by index), every task's (worker id, output): completed stages
    /// are not run again after a failover.
    pub completed_stages: BTreeMap<u32, Vec<(String, TaskOutput)>>,
    /// The alert outbox: alerts of this job not yet accepted by their sink. Filled once, when
    /// the job's results are committed, and emptied as deliveries succeed.
    #[serde(default)]
    pub pending_alerts: Vec<AlertEvent>,
    /// Whether the outbox was filled (so that a re-run commit never fills it twice).
    #[serde(default)]
    pub alerts_enqueued: bool,
}

#[async_trait]
pub trait StateStore: Send + Sync {
    /// Waits until `candidate` is the leader; returns its epoch.
    async fn campaign(&self, candidate: &str) -> Result<Epoch, StoreError>;

    /// Resolves when the leadership of `epoch` is lost (lease expired, key taken).
    async fn lost(&self, epoch: Epoch);

    /// Gives leadership up (a graceful shutdown; lets a standby take over at once).
    async fn resign(&self, epoch: Epoch) -> Result<(), StoreError>;

    /// The current leader's id, if any.
    async fn leader(&self) -> Result<Option<String>, StoreError>;

    /// Writes a job record if `epoch` is still the current leadership.
    async fn put_job(&self, epoch: Epoch, record: &JobRecord) -> Result<(), StoreError>;

    async fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError>;
}

/// In-process state: the embedded mode and a lone coordinator. Survives nothing, which is
/// exactly what those modes promise.
#[derive(Default)]
pub struct InMemoryStore {
    state: Mutex<MemoryState>,
    changed: Notify,
}

#[derive(Default)]
struct MemoryState {
    leader: Option<(String, Epoch)>,
    next_epoch: i64,
    jobs: BTreeMap<String, JobRecord>,
}

#[async_trait]
impl StateStore for InMemoryStore {
    async fn campaign(&self, candidate: &str) -> Result<Epoch, StoreError> {
        loop {
            let notified = self.changed.notified();
            {
                let mut state = self.state.lock().await;
                if state.leader.is_none() {
                    state.next_epoch += 1;
                    let epoch = Epoch(state.next_epoch);
                    state.leader = Some((candidate.to_string(), epoch));
                    return Ok(epoch);
                }
            }
            notified.await;
        }
    }

    async fn lost(&self, epoch: Epoch) {
        loop {
            let notified = self.changed.notified();
            if self.state.lock().await.leader.as_ref().map(|(_, current)| *current) != Some(epoch) {
                return;
            }
            notified.await;
        }
    }

    async fn resign(&self, epoch: Epoch) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        if state.leader.as_ref().map(|(_, current)| *current) == Some(epoch) {
            state.leader = None;
            self.changed.notify_waiters();
        }
        Ok(())
    }

    async fn leader(&self) -> Result<Option<String>, StoreError> {
        Ok(self.state.lock().await.leader.as_ref().map(|(id, _)| id.clone()))
    }

    async fn put_job(&self, epoch: Epoch, record: &JobRecord) -> Result<(), StoreError> {
        let mut state = self.state.lock().await;
        if state.leader.as_ref().map(|(_, current)| *current) != Some(epoch) {
            return Err(StoreError::Fenced { epoch: epoch.0 });
        }
        state.jobs.insert(record.job_id.clone(), record.clone());
        Ok(())
    }

    async fn list_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        Ok(self.state.lock().await.jobs.values().cloned().collect())
    }
}

/// The suite every implementation must pass; public so that tests with a real etcd can run it.
pub mod conformance;

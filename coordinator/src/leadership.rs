//! Leadership and durability for the [`JobManager`]: campaign in the state store, restore the
//! jobs a previous leader left, write job records as they change, and step down when the
//! leadership is lost.
//!
//! Records are written by one loop, in order, under the epoch won in the campaign: a write
//! after a takeover is fenced and makes this coordinator step down. Records change per job
//! transition and per completed stage, so the store sees a handful of writes per job.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fathom_core::ids::JobId;
use fathom_core::job::JobState;
use fathom_core::spec::{JobSpec, SinkSpec};
use tracing::{info, warn};

use crate::error::CoordinatorError;
use crate::job_manager::{Job, JobManager, State};
use crate::state_store::{Epoch, JobRecord, StoreError};
use crate::worker_registry::WorkerRegistry;

/// How often changed job records are written.
const PERSIST_INTERVAL: Duration = Duration::from_millis(200);

impl JobManager {
    /// Campaigns for leadership, leads until the leadership is lost, and campaigns again.
    pub async fn run_leadership(self: Arc<Self>) {
        loop {
            let epoch = match self.store().campaign(self.id()).await {
                Ok(epoch) => epoch,
                Err(error) => {
                    warn!(%error, "campaign failed, retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            match self.store().list_jobs().await {
                Ok(records) => self.clone().restore(records),
                Err(error) => {
                    warn!(%error, "cannot read job records; giving leadership up");
                    let _ = self.store().resign(epoch).await;
                    continue;
                }
            }
            self.lock().epoch = Some(epoch);
            self.wake();
            info!(coordinator = self.id(), epoch = epoch.0, "leading");
            tokio::select! {
                () = self.store().lost(epoch) => warn!(epoch = epoch.0, "leadership lost"),
                error = self.persist_loop(epoch) => warn!(%error, "job records can no longer be written"),
            }
            // Whatever we held is the new leader's now: drop it and stand by.
            let mut state = self.lock();
            *state = State::default();
            state.registry = WorkerRegistry::default();
        }
    }

    /// Writes every job whose record changed; returns only when a write is refused.
    async fn persist_loop(&self, epoch: Epoch) -> StoreError {
        loop {
            let changed: Vec<JobRecord> = {
                let state = self.lock();
                state
                    .jobs
                    .iter()
                    .filter_map(|(job_id, job)| {
                        // A finished job whose end is recorded changes only as its alerts go out.
                        let recorded = job.persisted.as_ref().is_some_and(|record| {
                            record.state == job.state.name() && record.pending_alerts.len() == job.pending_alerts.len()
                        });
                        if job.state.is_terminal() && recorded {
                            return None;
                        }
                        let record = record_of(job_id, job);
                        (job.persisted.as_ref() != Some(&record)).then_some(record)
                    })
                    .collect()
            };
            for record in changed {
                match self.store().put_job(epoch, &record).await {
                    Ok(()) => {
                        if let Some(job) = self.lock().jobs.get_mut(&JobId::new(record.job_id.clone())) {
                            job.persisted = Some(record);
                        }
                    }
                    Err(error @ StoreError::Fenced { .. }) => return error,
                    Err(error) => warn!(%error, "cannot write a job record, retrying"),
                }
            }
            tokio::time::sleep(PERSIST_INTERVAL).await;
        }
    }

    /// Takes over the jobs of a previous leader: finished ones are listed as they ended;
    /// unfinished ones are planned again (with the same partitions) and resume after their
    /// last completed stage.
    fn restore(self: Arc<Self>, records: Vec<JobRecord>) {
        for record in records {
            let job_id = JobId::new(record.job_id.clone());
            // An unknown name is from a newer build; planning it again is the safe reading.
            let state = JobState::from_name(&record.state).unwrap_or(JobState::Planning);
            let spec = JobSpec::from_toml(&record.spec_toml).map(|mut spec| {
                spec.source.uri = record.source_uri.clone();
                let lakes = spec.sinks.iter_mut().filter_map(|sink| match sink {
                    SinkSpec::Lake(sink) => Some(sink),
                    SinkSpec::Alerts(_) => None,
                });
                for (sink, uri) in lakes.zip(&record.sink_uris) {
                    sink.uri = uri.clone();
                }
                spec
            });
            let mut job = Job::restored(&record, state);
            let resume = match (&spec, state.is_terminal()) {
                (Ok(spec), false) => Some(spec.clone()),
                (Err(error), false) => {
                    job.fail(format!("cannot resume: the recorded spec no longer parses: {error}"));
                    None
                }
                _ => None,
            };
            job.persisted = if resume.is_some() { None } else { Some(record.clone()) };
            {
                let mut guard = self.lock();
                if !guard.order.contains(&job_id) {
                    guard.order.push(job_id.clone());
                }
                guard.jobs.insert(job_id.clone(), job);
            }
            if let Some(spec) = resume {
                info!(%job_id, completed_stages = record.completed_stages.len(), "resuming job of a previous leader");
                let manager = self.clone();
                tokio::spawn(async move { manager.plan_job(job_id, spec, record.partitions).await });
            }
        }
    }

    /// Submits a job and writes its record before returning, so that a job id handed to a
    /// client survives the leader dying right after.
    pub async fn submit_durably(self: &Arc<Self>, spec_toml: &str) -> Result<JobId, CoordinatorError> {
        let job_id = self.submit(spec_toml)?;
        let pending = {
            let state = self.lock();
            state.epoch.zip(state.jobs.get(&job_id).map(|job| record_of(&job_id, job)))
        };
        if let Some((epoch, record)) = pending {
            if let Err(error) = self.store().put_job(epoch, &record).await {
                // The client is told the submission failed, so the job must not run behind its back.
                if let Some(job) = self.lock().jobs.get_mut(&job_id) {
                    job.fail(format!("cannot record the job in the state store: {error}"));
                }
                return Err(CoordinatorError::Persist { reason: error.to_string() });
            }
            if let Some(job) = self.lock().jobs.get_mut(&job_id)
                && job.persisted.is_none()
            {
                job.persisted = Some(record);
            }
        }
        Ok(job_id)
    }

    /// Refuses to act unless this coordinator leads.
    pub fn require_leader(&self) -> Result<(), CoordinatorError> {
        if self.lock().epoch.is_some() { Ok(()) } else { Err(CoordinatorError::NotLeader) }
    }

    pub fn is_leader(&self) -> bool {
        self.lock().epoch.is_some()
    }

    /// Who leads, for a standby's error messages.
    pub async fn leader_hint(&self) -> String {
        match self.store().leader().await {
            Ok(Some(leader)) => leader,
            Ok(None) => "not elected yet".to_string(),
            Err(error) => format!("unknown ({error})"),
        }
    }
}

/// What the state store should hold for a job now.
fn record_of(job_id: &JobId, job: &Job) -> JobRecord {
    let completed_stages =
        job.graph.as_ref().map(|graph| graph.completed_stages()).unwrap_or_else(|| job.restored_stages.clone());
    JobRecord {
        job_id: job_id.to_string(),
        spec_toml: job.spec_toml.clone(),
        source_uri: job.source_uri.clone(),
        sink_uris: job.sink_uris.clone(),
        state: job.state.name().to_string(),
        error: job.error.clone(),
        partitions: job.graph.as_ref().map(|graph| graph.plan.shuffles.first().map_or(1, |shuffle| shuffle.partitions)),
        completed_stages,
        pending_alerts: job.pending_alerts.clone(),
        alerts_enqueued: job.alerts_enqueued,
    }
}

impl Job {
    fn restored(record: &JobRecord, state: JobState) -> Job {
        let name =
            JobSpec::from_toml(&record.spec_toml).map(|spec| spec.name).unwrap_or_else(|_| record.job_id.clone());
        let terminal = state.is_terminal();
        let mut job = Job::new(
            name,
            record.spec_toml.clone(),
            record.source_uri.clone(),
            record.sink_uris.clone(),
            if terminal { state } else { JobState::Planning },
            record.error.clone(),
            if terminal { BTreeMap::new() } else { record.completed_stages.clone() },
            Instant::now(),
        );
        job.pending_alerts = record.pending_alerts.clone();
        job.alerts_enqueued = record.alerts_enqueued;
        job
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::job_manager::JobManager;
    use crate::scheduler::SchedulerConfig;
    use crate::state_store::{InMemoryStore, StateStore};
    use crate::test_support::SPEC;

    #[tokio::test]
    async fn a_submitted_job_is_recorded_before_its_id_is_returned() {
        let store = Arc::new(InMemoryStore::default());
        let manager = JobManager::new(SchedulerConfig::default(), store.clone(), "me".to_string());
        tokio::spawn(manager.clone().run_leadership());
        tokio::time::timeout(Duration::from_secs(5), async {
            while !manager.is_leader() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("leads");
        let job_id = manager.submit_durably(SPEC).await.expect("submitted");
        let records = store.list_jobs().await.expect("list");
        assert!(records.iter().any(|record| record.job_id == job_id.as_str()), "{records:?}");
    }
}

//! One suite every [`StateStore`] must pass: election, fencing, records. It panics on the
//! first violation, like a test.

use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;

use fathom_core::task::TaskOutput;

#[cfg(test)]
use crate::state_store::InMemoryStore;
use crate::state_store::{JobRecord, StateStore, StoreError};

fn record(job_id: &str, state: &str) -> JobRecord {
    JobRecord {
        job_id: job_id.to_string(),
        spec_toml: "version = 1".to_string(),
        source_uri: "file:///raw".to_string(),
        sink_uris: vec!["file:///lake".to_string()],
        state: state.to_string(),
        error: None,
        partitions: Some(4),
        completed_stages: BTreeMap::from([(0, vec![("w1".to_string(), TaskOutput::default())])]),
        // The alert outbox travels in the record: it must come back exactly.
        pending_alerts: vec![fathom_core::task::AlertEvent {
            sink: 1,
            key: format!("{job_id}/found/pump-7/1767614400000000"),
            labels: BTreeMap::from([("alertname".to_string(), "FathomAnomaly".to_string())]),
            annotations: BTreeMap::from([("score".to_string(), "7.5".to_string())]),
            starts_at_micros: 1_767_614_400_000_000,
            ends_at_micros: Some(1_767_618_000_000_000),
            score: 7.5,
        }],
        alerts_enqueued: true,
    }
}

/// `first` and `second` are two handles on the same backing state (two coordinators).
pub async fn run(first: Arc<dyn StateStore>, second: Arc<dyn StateStore>) {
    let epoch_a = first.campaign("a").await.expect("a campaigns");
    assert_eq!(first.leader().await.expect("leader"), Some("a".to_string()));
    assert_eq!(second.leader().await.expect("leader"), Some("a".to_string()));

    // b waits while a leads.
    let contender = {
        let second = second.clone();
        tokio::spawn(async move { second.campaign("b").await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!contender.is_finished(), "b must not lead while a does");

    first.put_job(epoch_a, &record("job-1", "running")).await.expect("the leader writes");
    let listed = second.list_jobs().await.expect("list");
    assert_eq!(listed, vec![record("job-1", "running")]);

    // a steps down; b takes over with a later epoch, and a's writes are now refused.
    first.resign(epoch_a).await.expect("resign");
    let epoch_b = tokio::time::timeout(Duration::from_secs(10), contender)
        .await
        .expect("b wins in time")
        .expect("join")
        .expect("campaign");
    assert!(epoch_b > epoch_a);
    tokio::time::timeout(Duration::from_secs(5), first.lost(epoch_a)).await.expect("a learns it lost");
    match first.put_job(epoch_a, &record("job-1", "failed")).await {
        Err(StoreError::Fenced { .. }) => {}
        other => panic!("a deposed leader's write must be fenced, got {other:?}"),
    }
    second.put_job(epoch_b, &record("job-1", "succeeded")).await.expect("the new leader writes");
    second.put_job(epoch_b, &record("job-2", "planning")).await.expect("the new leader writes");
    let listed = first.list_jobs().await.expect("list");
    assert_eq!(listed, vec![record("job-1", "succeeded"), record("job-2", "planning")]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_memory_store_conforms() {
        let store: Arc<dyn StateStore> = Arc::new(InMemoryStore::default());
        run(store.clone(), store).await;
    }
}

//! Alert sinks end to end, with the real binaries: anomalies reach a real Alertmanager (and
//! through it a webhook receiver), and a signed webhook gets every alert exactly once although
//! it was down while the job ran and the coordinator that queued the alerts was killed.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use fathom_core::job::JobState;
use fathom_tests::alerts::{Alertmanager, WebhookReceiver};
use fathom_tests::cluster::Cluster;
use fathom_tests::etcd::EtcdServer;
use fathom_tests::generated_job;

fn dataset(dir: &Path, series: usize) -> anyhow::Result<String> {
    generated_job(dir, series, 7, 11, 0.5)
}

async fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !done() {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomalies_reach_alertmanager_with_their_labels_and_annotations() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let receiver = WebhookReceiver::start()?;
    let alertmanager = Alertmanager::start(&receiver.url)?;
    let spec = dataset(data.path(), 40)?
        + &format!(
            "\n[[sink]]\nkind = \"alerts\"\ninput = [\"anomalies\"]\ntarget = \"alertmanager\"\nurl = \"{}\"\n\
             max_per_run = 1000\nmax_per_series = 1000\nlink = \"http://dashboards/pumps?series={{series}}&time={{time}}\"\n",
            alertmanager.url
        );
    let cluster = Cluster::builder().workers(1).start()?;
    let job = cluster.submit(&spec).await?;
    let status = cluster.wait_for_end(&job, Duration::from_secs(60)).await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);

    // Alertmanager notifies for the firing alerts: anomalies still going on at the window's
    // end (the persistent changes); the others arrive already resolved.
    let notified =
        wait_for("alertmanager to notify", Duration::from_secs(30), || !receiver.received().is_empty()).await;
    if let Err(error) = notified {
        let log = std::fs::read_to_string(cluster.coordinator_log(0)).unwrap_or_default();
        anyhow::bail!(
            "{error}; coordinator log:\n{}",
            log.lines().filter(|line| line.contains("alert")).collect::<Vec<_>>().join("\n")
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut notified = Vec::new();
    for request in receiver.received() {
        for alert in request.json()?["alerts"].as_array().cloned().unwrap_or_default() {
            notified.push(alert);
        }
    }
    assert!(!notified.is_empty());
    let mut identities = BTreeSet::new();
    for alert in &notified {
        let labels = &alert["labels"];
        assert_eq!(labels["alertname"], "FathomAnomaly", "{alert}");
        assert_eq!(labels["job"], "pump-health", "{alert}");
        assert_eq!(labels["stage"], "anomalies", "{alert}");
        assert_eq!(labels["detector"], "ensemble", "{alert}");
        let kind = labels["kind"].as_str().unwrap_or_default();
        assert!(["spike", "dip", "level_shift", "trend_change", "variance_change"].contains(&kind), "{alert}");
        let series = labels["series"].as_str().unwrap_or_default();
        assert!(series.starts_with("pump-"), "{alert}");
        assert_eq!(labels["series_id"], series, "{alert}");
        for tag in ["region", "device_type", "site"] {
            assert!(labels[tag].is_string(), "tag {tag} is a label: {alert}");
        }
        let annotations = &alert["annotations"];
        for field in ["value", "baseline", "score", "time", "summary"] {
            assert!(annotations[field].is_string(), "annotation {field}: {alert}");
        }
        let link = annotations["link"].as_str().unwrap_or_default();
        assert!(link.starts_with(&format!("http://dashboards/pumps?series={series}&time=2026-01-")), "{alert}");
        assert!(alert["startsAt"].as_str().is_some_and(|time| time.starts_with("2026-01-")), "{alert}");
        assert!(identities.insert((series.to_string(), alert["startsAt"].to_string())), "notified twice: {alert}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_down_during_the_job_and_a_coordinator_failover_gets_every_alert_once() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let receiver = WebhookReceiver::start()?;
    receiver.set_status(503);
    let spec = dataset(data.path(), 60)?
        + &format!(
            "\n[[sink]]\nkind = \"alerts\"\ninput = [\"anomalies\"]\ntarget = \"webhook\"\nurl = \"{}\"\n\
             secret_env = \"FATHOM_TEST_WEBHOOK_SECRET\"\nmax_per_run = 3\nmax_per_series = 1\n\
             retry_max = \"1s\"\ntimeout = \"2s\"\n",
            receiver.url
        );
    let etcd = EtcdServer::start()?;
    let mut cluster = Cluster::builder()
        .coordinators_with_etcd(2, &etcd.endpoint)
        .workers(1)
        .env(vec![("FATHOM_TEST_WEBHOOK_SECRET".into(), "s3cret".into())])
        .start()?;
    let job = cluster.submit(&spec).await?;
    let status = cluster.wait_for_end(&job, Duration::from_secs(60)).await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);

    // The sink refuses for a while; then the coordinator holding the outbox dies.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(receiver.received().is_empty());
    let waiting = cluster.status(&job).await?;
    assert_eq!((waiting.alerts_delivered, waiting.alerts_pending), (0, 4), "the status shows the outbox");
    let leader = cluster.leader().await.expect("a leader");
    let leader_log = std::fs::read_to_string(cluster.coordinator_log(leader))?;
    assert!(leader_log.contains("alert not delivered, retrying"), "the down sink was tried");
    cluster.kill_coordinator(leader)?;
    let standby = 1 - leader;
    let killed_at = Instant::now();
    while cluster.leader().await != Some(standby) {
        anyhow::ensure!(killed_at.elapsed() < Duration::from_secs(20), "the standby did not take over within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    receiver.set_status(200);

    // Three anomaly alerts (storm control: max_per_run = 3) and the summary of the rest.
    wait_for("four alerts", Duration::from_secs(30), || receiver.received().len() >= 4).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let received = receiver.received();
    assert_eq!(received.len(), 4, "every alert once: {received:#?}");
    let keys: BTreeSet<&str> = received.iter().filter_map(|request| request.header("idempotency-key")).collect();
    assert_eq!(keys.len(), 4, "distinct idempotency keys: {keys:?}");
    let mut summaries = 0;
    for request in &received {
        let signature = request.header("x-fathom-signature").unwrap_or_default();
        assert_eq!(signature, fathom_coordinator::alert_delivery::signature("s3cret", request.body.as_bytes()));
        let alert = request.json()?;
        assert_eq!(alert["key"].as_str(), request.header("idempotency-key"));
        if alert["labels"]["alertname"] == "FathomAlertsHeldBack" {
            summaries += 1;
            let held: u64 = alert["annotations"]["held_back"].as_str().unwrap_or("0").parse()?;
            assert!(held > 0, "{alert}");
        } else {
            assert_eq!(alert["labels"]["alertname"], "FathomAnomaly", "{alert}");
        }
    }
    assert_eq!(summaries, 1);
    let done = cluster.status(&job).await?;
    assert_eq!((done.alerts_delivered, done.alerts_pending), (4, 0));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_run_returns_only_once_its_alerts_are_delivered() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let receiver = WebhookReceiver::start()?;
    let spec = dataset(data.path(), 20)?
        + &format!(
            "\n[[sink]]\nkind = \"alerts\"\ninput = [\"anomalies\"]\ntarget = \"webhook\"\nurl = \"{}\"\nmax_per_run = 5\n",
            receiver.url
        );
    let status = fathom_client::run_embedded(&spec, fathom_client::EmbeddedOptions::default()).await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);
    let received = receiver.received();
    assert!(!received.is_empty() && received.len() <= 6, "at most 5 alerts and a summary: {}", received.len());
    for request in &received {
        assert!(request.header("x-fathom-signature").is_none(), "no secret, no signature");
        assert!(request.header("idempotency-key").is_some());
    }
    Ok(())
}

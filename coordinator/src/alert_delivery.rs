//! The alert outbox and its delivery to Alertmanager and webhooks.
//!
//! When a job's results are committed, its alert events (found by the reduce tasks, see
//! `fathom_core::alert`) pass the run-wide storm cap and go into the job's outbox, which is
//! part of the job record in the state store: with etcd, the outbox survives the coordinator.
//! The leader delivers an alert only once the record holding it has been written, and removes it
//! once its sink accepted it (2xx), which is written in turn. A sink that is down gets the alert
//! again and again, with the wait doubling from one second up to the sink's `retry_max`.
//!
//! Delivery is at least once: a coordinator that dies after a sink accepted an alert but before
//! recording it sends it again after the takeover. Both targets absorb that: Alertmanager merges
//! alerts with the same labels into one notification, and every webhook request carries the
//! alert's idempotency key (`Idempotency-Key`; job, stage, series and start).
//!
//! Alertmanager (`POST {url}/api/v2/alerts`) gets each job's alerts for it in one request. A
//! webhook gets one JSON object per request, signed when the sink names a secret:
//! `X-Fathom-Signature: sha256=<hex HMAC-SHA256 of the body>`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fathom_core::alert::{HELD_BACK_ALERT_NAME, keep_strongest, rfc3339};
use fathom_core::ids::JobId;
use fathom_core::spec::{AlertSink, AlertTarget, JobSpec, SinkSpec};
use fathom_core::task::AlertEvent;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::job_manager::{Job, JobManager};

/// How often the outbox is looked at.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// The first wait after a failed delivery; it doubles per failure up to the sink's `retry_max`.
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The job's alert sinks by sink index.
pub(crate) fn alert_sinks(spec_toml: &str) -> BTreeMap<u32, AlertSink> {
    let Ok(spec) = JobSpec::from_toml(spec_toml) else {
        return BTreeMap::new();
    };
    spec.sinks
        .into_iter()
        .enumerate()
        .filter_map(|(index, sink)| match sink {
            SinkSpec::Alerts(sink) => Some((index as u32, sink)),
            SinkSpec::Lake(_) => None,
        })
        .collect()
}

/// Fills the outbox of a job whose results were just committed: its tasks' events, at most
/// `max_per_run` per sink, plus one summary per sink when storm control held any back.
pub(crate) fn fill_outbox(job_id: &JobId, job: &mut Job) {
    if job.alerts_enqueued {
        return;
    }
    job.alerts_enqueued = true;
    let sinks = &job.alert_sinks;
    let Some(graph) = job.graph.as_ref().filter(|_| !sinks.is_empty()) else {
        return;
    };
    let (events, mut held_back) = graph.alert_events();
    let mut by_sink: BTreeMap<u32, Vec<AlertEvent>> = BTreeMap::new();
    for event in events {
        by_sink.entry(event.sink).or_default().push(event);
    }
    let mut outbox = Vec::new();
    for (&index, sink) in sinks {
        let mut events = by_sink.remove(&index).unwrap_or_default();
        held_back += keep_strongest(&mut events, sink.max_per_run as usize);
        outbox.extend(events);
    }
    if held_back > 0 {
        for (&index, sink) in sinks {
            outbox.push(held_back_summary(job_id, job, index, sink, held_back));
        }
    }
    info!(%job_id, alerts = outbox.len(), held_back, "alerts queued for delivery");
    job.pending_alerts = outbox;
}

fn held_back_summary(job_id: &JobId, job: &Job, sink: u32, spec: &AlertSink, held_back: u64) -> AlertEvent {
    let now = chrono::Utc::now().timestamp_micros();
    let labels = BTreeMap::from([
        ("alertname".to_string(), HELD_BACK_ALERT_NAME.to_string()),
        ("job".to_string(), job.name.clone()),
    ]);
    let annotations = BTreeMap::from([
        ("held_back".to_string(), held_back.to_string()),
        (
            "summary".to_string(),
            format!(
                "{held_back} anomaly alert(s) of run {job_id} held back by storm control (at most {} per run, {} per series); \
                 every anomaly is in the job's lake table",
                spec.max_per_run, spec.max_per_series
            ),
        ),
    ]);
    AlertEvent {
        sink,
        key: format!("{job_id}/held-back/{sink}"),
        labels,
        annotations,
        starts_at_micros: now,
        ends_at_micros: None,
        score: 0.0,
    }
}

/// Alerts due for delivery to one sink.
struct Due {
    job_id: JobId,
    sink: AlertSink,
    events: Vec<AlertEvent>,
}

/// Delivery attempts of one alert so far, and when the next is due.
struct Backoff {
    failures: u32,
    next: Instant,
}

impl JobManager {
    /// Alerts of `job_id` not yet accepted by their sink.
    pub fn pending_alerts(&self, job_id: &JobId) -> usize {
        self.lock().jobs.get(job_id).map_or(0, |job| job.pending_alerts.len())
    }

    /// Delivers outbox alerts while this coordinator leads; never returns.
    pub async fn run_alert_delivery(self: Arc<Self>) {
        let client = reqwest::Client::new();
        let mut backoff: HashMap<String, Backoff> = HashMap::new();
        loop {
            tokio::time::sleep(POLL_INTERVAL).await;
            for due in self.due_alerts(&backoff) {
                let delivered = deliver(&client, &due).await;
                let now = Instant::now();
                let mut accepted = Vec::new();
                for (event, outcome) in due.events.iter().zip(delivered) {
                    match outcome {
                        Ok(()) => {
                            backoff.remove(&event.key);
                            accepted.push(event.key.clone());
                        }
                        Err(reason) => {
                            let entry = backoff.entry(event.key.clone()).or_insert(Backoff { failures: 0, next: now });
                            entry.failures += 1;
                            let wait = FIRST_RETRY
                                .saturating_mul(1 << entry.failures.min(20))
                                .min(Duration::from_micros(due.sink.retry_max_micros.max(1) as u64));
                            entry.next = now + wait;
                            warn!(job_id = %due.job_id, alert = %event.key, failures = entry.failures, retry_in = ?wait, %reason, "alert not delivered, retrying");
                        }
                    }
                }
                if !accepted.is_empty() {
                    info!(job_id = %due.job_id, alerts = accepted.len(), url = %due.sink.url, "alerts delivered");
                    crate::metrics::add(&crate::metrics::ALERTS_DELIVERED, accepted.len() as u64);
                    if let Some(job) = self.lock().jobs.get_mut(&due.job_id) {
                        job.pending_alerts.retain(|event| !accepted.contains(&event.key));
                        job.alerts_delivered += accepted.len() as u64;
                    }
                }
            }
        }
    }

    /// The outbox alerts that are recorded in the state store and not waiting out a backoff,
    /// grouped by job and sink; nothing unless this coordinator leads.
    fn due_alerts(&self, backoff: &HashMap<String, Backoff>) -> Vec<Due> {
        let state = self.lock();
        if state.epoch.is_none() {
            return Vec::new();
        }
        let now = Instant::now();
        let mut due = Vec::new();
        for (job_id, job) in &state.jobs {
            let Some(recorded) = job.persisted.as_ref().filter(|_| !job.pending_alerts.is_empty()) else {
                continue;
            };
            let mut by_sink: BTreeMap<u32, Vec<AlertEvent>> = BTreeMap::new();
            for event in &job.pending_alerts {
                let durable = recorded.pending_alerts.iter().any(|stored| stored.key == event.key);
                let waiting = backoff.get(&event.key).is_some_and(|entry| entry.next > now);
                if durable && !waiting {
                    by_sink.entry(event.sink).or_default().push(event.clone());
                }
            }
            for (index, events) in by_sink {
                if let Some(sink) = job.alert_sinks.get(&index) {
                    due.push(Due { job_id: job_id.clone(), sink: sink.clone(), events });
                }
            }
        }
        due
    }
}

/// Sends `due.events` to their sink; one outcome per event.
async fn deliver(client: &reqwest::Client, due: &Due) -> Vec<Result<(), String>> {
    let timeout = Duration::from_micros(due.sink.timeout_micros.max(1) as u64);
    match due.sink.target {
        AlertTarget::Alertmanager => {
            let body: Vec<Value> = due.events.iter().map(alertmanager_alert).collect();
            let url = format!("{}/api/v2/alerts", due.sink.url.trim_end_matches('/'));
            let outcome = post(client, &url, serde_json::to_vec(&body).unwrap_or_default(), &[], timeout).await;
            vec![outcome; due.events.len()]
        }
        AlertTarget::Webhook => {
            let secret = due.sink.secret_env.as_ref().map(|variable| std::env::var(variable).unwrap_or_default());
            let mut outcomes = Vec::with_capacity(due.events.len());
            for event in &due.events {
                let body = serde_json::to_vec(&webhook_alert(&due.job_id, event)).unwrap_or_default();
                let mut headers = vec![("Idempotency-Key", event.key.clone())];
                if let Some(secret) = &secret {
                    headers.push(("X-Fathom-Signature", signature(secret, &body)));
                }
                outcomes.push(post(client, &due.sink.url, body, &headers, timeout).await);
            }
            outcomes
        }
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
    timeout: Duration,
) -> Result<(), String> {
    let mut request = client.post(url).timeout(timeout).header("Content-Type", "application/json").body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.map_err(|error| format!("POST {url}: {error}"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    Err(format!("POST {url}: {status}: {}", text.chars().take(200).collect::<String>()))
}

/// `sha256=<hex>` of the HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256={hex}")
}

fn alertmanager_alert(event: &AlertEvent) -> Value {
    let mut alert = json!({
        "labels": event.labels,
        "annotations": event.annotations,
        "startsAt": rfc3339(event.starts_at_micros),
    });
    if let Some(ends_at) = event.ends_at_micros {
        alert["endsAt"] = json!(rfc3339(ends_at));
    }
    if let Some(link) = event.annotations.get("link") {
        alert["generatorURL"] = json!(link);
    }
    alert
}

fn webhook_alert(job_id: &JobId, event: &AlertEvent) -> Value {
    json!({
        "key": event.key,
        "job_id": job_id.to_string(),
        "status": if event.ends_at_micros.is_some() { "resolved" } else { "firing" },
        "labels": event.labels,
        "annotations": event.annotations,
        "startsAt": rfc3339(event.starts_at_micros),
        "endsAt": event.ends_at_micros.map(rfc3339),
        "score": event.score,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

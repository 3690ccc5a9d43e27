//! Anomaly events for alert sinks, as a reduce task finds them.
//!
//! An event is a run of consecutive flagged points of one series in one detect stage: a
//! one-hour spike is one event, and so is a level shift flagged over three points. Events below
//! the sink's `min_score` are dropped; of the rest, each series keeps its `max_per_series`
//! strongest and the task its `max_per_run` strongest (the coordinator applies `max_per_run`
//! again over all tasks). What the caps hold back is counted, so that the run's summary alert
//! can say how much was not sent.
//!
//! Labels follow Prometheus conventions: `alertname`, `job`, `stage`, `detector`, `kind`,
//! `series`, and the series' key and tag columns (names outside `[a-zA-Z_][a-zA-Z0-9_]*` get
//! `_` for the odd characters). The idempotency key is `job/stage/series/start`: the same event
//! of the same job always gets the same key, however often it is computed.

use std::collections::BTreeMap;

use fathom_detect::detector::AnomalyKind;

use crate::series::{AnomalyRow, RunInfo, SeriesSet};
use crate::task::{AlertEvent, AlertOutput, ChainOp, ChainOpKind};

/// The `alertname` of anomaly alerts.
pub const ALERT_NAME: &str = "FathomAnomaly";
/// The `alertname` of a run's summary of what storm control held back.
pub const HELD_BACK_ALERT_NAME: &str = "FathomAlertsHeldBack";

/// The events of `output`'s detect ops, within its caps, and how many the caps held back.
pub fn alert_events(
    set: &SeriesSet,
    chain: &[ChainOp],
    results: &[Option<Vec<AnomalyRow>>],
    output: &AlertOutput,
    run: &RunInfo,
) -> (Vec<AlertEvent>, u64) {
    let mut events = Vec::new();
    let mut held_back = 0_u64;
    for &op in &output.detect_ops {
        let Some(rows) = results.get(op).and_then(Option::as_ref) else {
            continue;
        };
        let mut rows: Vec<&AnomalyRow> = rows.iter().collect();
        rows.sort_by_key(|row| (row.series, row.bucket));
        let mut per_series: Vec<AlertEvent> = Vec::new();
        let mut start = 0;
        while start < rows.len() {
            let mut end = start + 1;
            while end < rows.len()
                && rows[end].series == rows[start].series
                && rows[end].bucket == rows[end - 1].bucket + 1
            {
                end += 1;
            }
            let run_rows = &rows[start..end];
            let last_of_series = end == rows.len() || rows[end].series != rows[start].series;
            if let Some(event) = event_of(set, chain, op, run_rows, output, run) {
                per_series.push(event);
            }
            if last_of_series {
                held_back += keep_strongest(&mut per_series, output.max_per_series as usize);
                events.append(&mut per_series);
            }
            start = end;
        }
    }
    held_back += keep_strongest(&mut events, output.max_per_run as usize);
    (events, held_back)
}

/// Keeps the `limit` highest-scoring events (ties by key, so the choice is deterministic);
/// returns how many it dropped.
pub fn keep_strongest(events: &mut Vec<AlertEvent>, limit: usize) -> u64 {
    events.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
    let dropped = events.len().saturating_sub(limit) as u64;
    events.truncate(limit);
    dropped
}

fn event_of(
    set: &SeriesSet,
    chain: &[ChainOp],
    op: usize,
    rows: &[&AnomalyRow],
    output: &AlertOutput,
    run: &RunInfo,
) -> Option<AlertEvent> {
    let peak = rows.iter().max_by(|a, b| a.score.abs().total_cmp(&b.score.abs()))?;
    let (first, last) = (rows.first()?, rows.last()?);
    if peak.score.abs() < output.min_score {
        return None;
    }
    let series = peak.series as usize;
    let time_of = |bucket: u32| set.start_micros + i64::from(bucket) * set.step_micros;
    let stage = &chain[op].stage_id;
    let detector = match &chain[op].kind {
        ChainOpKind::Detect(detect) => detect.detector.name(),
        ChainOpKind::Sample(_) => "sample",
    };
    let key_text = &set.keys[series];
    let starts_at = time_of(first.bucket);
    let mut labels = BTreeMap::new();
    for (index, column) in set.key_columns.iter().enumerate() {
        labels.insert(label_name(column), set.key_values[series][index].clone());
    }
    for column in &set.tag_columns {
        if let Some(value) = set.column_value(series, column) {
            labels.insert(label_name(column), value.to_string());
        }
    }
    for (name, value) in [
        ("alertname", ALERT_NAME),
        ("job", run.job_name.as_str()),
        ("stage", stage.as_str()),
        ("detector", detector),
        ("kind", peak.kind.name()),
        ("series", key_text.as_str()),
    ] {
        labels.insert(name.to_string(), value.to_string());
    }
    let time = rfc3339(time_of(peak.bucket));
    let mut annotations = BTreeMap::new();
    annotations.insert("value".to_string(), format_number(peak.value));
    annotations.insert("baseline".to_string(), format_number(peak.baseline));
    annotations.insert("score".to_string(), format_number(peak.score));
    annotations.insert("time".to_string(), time.clone());
    annotations.insert(
        "summary".to_string(),
        format!("{} in {key_text} at {time} (score {:.1}, stage {stage})", peak.kind.name(), peak.score),
    );
    if let Some(template) = &output.link {
        let link = template
            .replace("{series}", key_text)
            .replace("{time}", &time)
            .replace("{stage}", stage)
            .replace("{job}", &run.job_name);
        annotations.insert("link".to_string(), link);
    }
    // A spike or dip is over after its last flagged point; a level shift, trend change or
    // variance change is flagged where it starts, but the series stays changed: it is not over
    // within the window, so it gets no end and the alert keeps firing.
    let persistent =
        matches!(peak.kind, AnomalyKind::LevelShift | AnomalyKind::TrendChange | AnomalyKind::VarianceChange);
    let over = !persistent && (last.bucket as usize) + 1 < set.buckets;
    Some(AlertEvent {
        sink: output.sink,
        key: format!("{}/{stage}/{key_text}/{starts_at}", run.job_name),
        labels,
        annotations,
        starts_at_micros: starts_at,
        ends_at_micros: over.then(|| time_of(last.bucket + 1)),
        score: peak.score.abs(),
    })
}

/// A Prometheus-valid label name.
fn label_name(column: &str) -> String {
    let mut name: String =
        column.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

fn format_number(value: f64) -> String {
    if value.is_finite() {
        format!("{value:.6}").trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        value.to_string()
    }
}

/// `2026-01-05T12:00:00Z`.
pub fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|time| time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| micros.to_string())
}

#[cfg(test)]
mod tests {
    use fathom_detect::detector::DetectorConfig;

    use super::*;
    use crate::spec::{DetectOp, TimeWindow};

    const HOUR: i64 = 3_600_000_000;

    fn set() -> SeriesSet {
        SeriesSet {
            start_micros: 0,
            step_micros: HOUR,
            buckets: 24,
            key_columns: vec!["series_id".into()],
            tag_columns: vec!["site-name".into()],
            keys: vec!["a".into(), "b".into()],
            key_values: vec![vec!["a".into()], vec!["b".into()]],
            tags: vec![vec![Some("north".into())], vec![None]],
            values: vec![0.0; 48],
        }
    }

    fn row(series: u32, bucket: u32, score: f64, kind: AnomalyKind) -> AnomalyRow {
        AnomalyRow { series, bucket, value: 10.0, baseline: 5.0, score, flag: 1, kind }
    }

    fn chain() -> Vec<ChainOp> {
        let detector = DetectorConfig::from_params("ensemble", &[]).expect("default ensemble");
        vec![ChainOp { stage_id: "found".into(), input: None, kind: ChainOpKind::Detect(DetectOp { detector }) }]
    }

    fn output(max_per_series: u32, max_per_run: u32) -> AlertOutput {
        AlertOutput { sink: 2, detect_ops: vec![0], min_score: 4.0, max_per_series, max_per_run, link: None }
    }

    #[test]
    fn runs_of_flagged_points_are_events_with_labels_and_an_end_when_over() {
        let rows = vec![
            row(0, 5, 6.0, AnomalyKind::Spike),
            row(0, 6, 9.0, AnomalyKind::Spike),
            row(0, 12, 3.0, AnomalyKind::Dip), // below min_score
            row(1, 20, 7.0, AnomalyKind::LevelShift),
        ];
        let run = RunInfo { job_name: "pumps".into(), window: TimeWindow { start_micros: 0, end_micros: 24 * HOUR } };
        let (events, held_back) = alert_events(&set(), &chain(), &[Some(rows)], &output(5, 10), &run);
        assert_eq!(held_back, 0);
        assert_eq!(events.len(), 2, "{events:#?}");
        let spike = events.iter().find(|event| event.labels["series"] == "a").expect("series a");
        assert_eq!(spike.key, format!("pumps/found/a/{}", 5 * HOUR));
        assert_eq!((spike.starts_at_micros, spike.ends_at_micros, spike.score), (5 * HOUR, Some(7 * HOUR), 9.0));
        assert_eq!(spike.labels["kind"], "spike");
        assert_eq!(spike.labels["site_name"], "north", "label names are made Prometheus-valid");
        assert_eq!(spike.labels["detector"], "ensemble");
        assert_eq!(spike.annotations["time"], "1970-01-01T06:00:00Z", "the time of the peak");
        let shift = events.iter().find(|event| event.labels["series"] == "b").expect("series b");
        assert_eq!(shift.ends_at_micros, None, "a level shift persists: no end");
        assert!(!shift.labels.contains_key("site_name"), "no label for a missing tag");
    }

    #[test]
    fn caps_keep_the_strongest_and_count_the_rest() {
        let rows = vec![
            row(0, 1, 5.0, AnomalyKind::Spike),
            row(0, 10, 8.0, AnomalyKind::Spike),
            row(0, 20, 6.0, AnomalyKind::Dip),
            row(1, 3, 4.5, AnomalyKind::Spike),
            row(1, 9, 7.0, AnomalyKind::Spike),
        ];
        let run = RunInfo { job_name: "pumps".into(), window: TimeWindow { start_micros: 0, end_micros: 24 * HOUR } };
        let (events, held_back) = alert_events(&set(), &chain(), &[Some(rows)], &output(1, 1), &run);
        // One per series (8.0 for a, 7.0 for b), then one per run: a's 8.0.
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].score, 8.0);
        assert_eq!(held_back, 4);
    }
}

//! Raw spec -> checked spec. Every check pushes a [`SpecIssue`] and carries on, so the user sees
//! all problems at once; the spec is only returned when there are none.

use chrono::DateTime;
use fathom_detect::detector::DetectorConfig;
use fathom_detect::fill::Fill;

use super::raw::{RawJobSpec, RawSeasonality, RawSink, RawSource, RawStage, RawWindow};
use super::*;
use crate::duration::parse_duration_micros;
use crate::error::SpecIssue;

/// More points per series than this in one window is almost surely a wrong `step`.
pub const MAX_POINTS_PER_SERIES: i64 = 1_000_000;

const MAKE_SERIES_FIELDS: &[&str] = &["step", "agg", "fill", "group_by"];
const SAMPLE_FIELDS: &[&str] = &["fraction", "seed"];
const DETECT_FIELDS: &[&str] = &["detector", "seasonality", "trend", "threshold", "test", "test_points", "params"];

/// The detector used when a detect stage names none: the calibrated ensemble.
pub const DEFAULT_DETECTOR: &str = "ensemble";

#[derive(Default)]
struct Issues(Vec<SpecIssue>);

impl Issues {
    fn push(&mut self, path: impl ToString, reason: impl Into<String>) {
        self.0.push(SpecIssue { path: path.to_string(), reason: reason.into() });
    }

    fn required<T>(&mut self, value: Option<T>, path: &str) -> Option<T> {
        if value.is_none() {
            self.push(path, "required");
        }
        value
    }
}

pub fn validate(raw: RawJobSpec) -> Result<JobSpec> {
    let mut issues = Issues::default();

    match raw.version {
        Some(SPEC_VERSION) => {}
        Some(other) => {
            issues.push("version", format!("unsupported version {other}; this build reads version {SPEC_VERSION}"))
        }
        None => issues.push("version", format!("required (write `version = {SPEC_VERSION}`)")),
    }
    let name = issues.required(raw.name, "name").unwrap_or_default();
    if !name.is_empty() && !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        issues.push("name", format!("{name:?} may only contain letters, digits, '-' and '_'"));
    }
    let source = issues.required(raw.source, "source").and_then(|source| validate_source(source, &mut issues));
    let window = raw.window.and_then(|window| validate_window(window, &mut issues));
    let stages = validate_stages(&raw.stages, source.as_ref(), window, &mut issues);
    let sinks = validate_sinks(&raw.sinks, &stages, &mut issues);

    match (source, issues.0.is_empty()) {
        (Some(source), true) => Ok(JobSpec { name, source, window, stages, sinks }),
        _ => Err(CoreError::InvalidSpec { issues: issues.0 }),
    }
}

fn validate_source(raw: RawSource, issues: &mut Issues) -> Option<SourceSpec> {
    let uri = issues.required(raw.uri, "source.uri");
    let format = match raw.format.as_deref() {
        None | Some("parquet") => Some(SourceFormat::Parquet),
        Some("csv") => Some(SourceFormat::Csv),
        Some(other) => {
            issues.push("source.format", format!("{other:?} is not a format (expected parquet or csv)"));
            None
        }
    };
    let series_key = issues.required(raw.series_key, "source.series_key");
    if series_key.as_ref().is_some_and(Vec::is_empty) {
        issues.push("source.series_key", "must name at least one column");
    }
    let timestamp = issues.required(raw.timestamp, "source.timestamp");
    let value = issues.required(raw.value, "source.value");

    let (uri, format, series_key, timestamp, value) = (uri?, format?, series_key?, timestamp?, value?);
    let mut seen = std::collections::HashSet::new();
    for column in series_key.iter().chain([&timestamp, &value]).chain(&raw.tags) {
        if !seen.insert(column.as_str()) {
            issues.push("source", format!("column {column:?} is named more than once"));
        }
    }
    let skip_bad_files = match raw.on_bad_file.as_deref() {
        None | Some("fail") => false,
        Some("skip") => true,
        Some(other) => {
            issues.push("source.on_bad_file", format!("{other:?} is not a choice (expected fail or skip)"));
            false
        }
    };
    Some(SourceSpec { uri, format, series_key, timestamp, value, tags: raw.tags, skip_bad_files })
}

fn parse_time(text: Option<String>, path: &str, issues: &mut Issues) -> Option<i64> {
    let text = issues.required(text, path)?;
    match DateTime::parse_from_rfc3339(&text) {
        Ok(time) => Some(time.timestamp_micros()),
        Err(_) => {
            issues.push(path, format!("{text:?} is not an RFC 3339 time such as \"2026-01-05T00:00:00Z\""));
            None
        }
    }
}

fn validate_window(raw: RawWindow, issues: &mut Issues) -> Option<TimeWindow> {
    let start = parse_time(raw.start, "window.start", issues);
    let end = parse_time(raw.end, "window.end", issues);
    let (start_micros, end_micros) = (start?, end?);
    if end_micros <= start_micros {
        issues.push("window.end", "must be after window.start");
        return None;
    }
    Some(TimeWindow { start_micros, end_micros })
}

fn validate_stages(
    raw: &[RawStage],
    source: Option<&SourceSpec>,
    window: Option<TimeWindow>,
    issues: &mut Issues,
) -> Vec<StageSpec> {
    if raw.is_empty() {
        issues.push("stage", "a job needs at least one [[stage]]");
    }
    let ids: Vec<Option<&str>> = raw.iter().map(|stage| stage.id.as_deref()).collect();
    for (index, id) in ids.iter().enumerate() {
        let path = format!("stage[{index}].id");
        match id {
            None => issues.push(path, "required"),
            Some(SOURCE_INPUT) => issues.push(path, "\"source\" is reserved for the raw input"),
            Some(id) if ids[..index].contains(&Some(id)) => issues.push(path, format!("duplicate stage id {id:?}")),
            Some(_) => {}
        }
    }

    let mut stages = Vec::new();
    for (index, stage) in raw.iter().enumerate() {
        let path = format!("stage[{index}]");
        let input = match stage.input.as_deref() {
            None => {
                issues.push(format!("{path}.input"), "required");
                None
            }
            Some(SOURCE_INPUT) => Some(StageInput::Source),
            Some(name) => match ids.iter().position(|id| *id == Some(name)) {
                Some(parent) => Some(StageInput::Stage(parent)),
                None => {
                    issues.push(format!("{path}.input"), format!("unknown stage {name:?}"));
                    None
                }
            },
        };
        let op = validate_op(stage, &path, source, window, issues);
        if let (Some(id), Some(input), Some(op)) = (stage.id.clone(), input, op) {
            stages.push(StageSpec { id, input, op });
        }
    }
    if stages.len() != raw.len() {
        // Indices would no longer line up with the file; the issues already say why.
        return Vec::new();
    }
    check_inputs(&stages, issues);
    stages
}

/// Input kinds and cycles: make_series reads the source; sample and detect read series.
fn check_inputs(stages: &[StageSpec], issues: &mut Issues) {
    for (index, stage) in stages.iter().enumerate() {
        let path = format!("stage[{index}].input");
        match (&stage.op, stage.input) {
            (StageOp::MakeSeries(_), StageInput::Source) => {}
            (StageOp::MakeSeries(_), StageInput::Stage(_)) => {
                issues.push(path, "make_series reads the raw points: set input = \"source\"")
            }
            (_, StageInput::Source) => {
                issues.push(path, format!("{} needs series: name a make_series or sample stage", stage.op.name()))
            }
            (_, StageInput::Stage(parent)) => {
                if let StageOp::Detect(_) = stages[parent].op {
                    issues.push(
                        &path,
                        format!(
                            "{:?} is a detect stage; {} needs series from make_series or sample",
                            stages[parent].id,
                            stage.op.name()
                        ),
                    );
                }
                let mut chain = vec![stage.id.as_str()];
                let mut current = parent;
                loop {
                    chain.push(stages[current].id.as_str());
                    if current == index || chain.len() > stages.len() + 1 {
                        issues.push(&path, format!("cycle: {}", chain.join(" -> ")));
                        break;
                    }
                    match stages[current].input {
                        StageInput::Stage(next) => current = next,
                        StageInput::Source => break,
                    }
                }
            }
        }
    }
}

fn validate_op(
    stage: &RawStage,
    path: &str,
    source: Option<&SourceSpec>,
    window: Option<TimeWindow>,
    issues: &mut Issues,
) -> Option<StageOp> {
    let op = issues.required(stage.op.as_deref(), &format!("{path}.op"))?;
    let allowed = match op {
        "make_series" => MAKE_SERIES_FIELDS,
        "sample" => SAMPLE_FIELDS,
        "detect" => DETECT_FIELDS,
        other => {
            issues
                .push(format!("{path}.op"), format!("{other:?} is not an op (expected make_series, sample or detect)"));
            return None;
        }
    };
    for field in stage.set_fields() {
        if !allowed.contains(&field) {
            issues.push(format!("{path}.{field}"), format!("not a field of op {op:?}"));
        }
    }
    match op {
        "make_series" => validate_make_series(stage, path, source, window, issues).map(StageOp::MakeSeries),
        "sample" => validate_sample(stage, path, issues).map(StageOp::Sample),
        _ => validate_detect(stage, path, issues).map(StageOp::Detect),
    }
}

fn validate_make_series(
    stage: &RawStage,
    path: &str,
    source: Option<&SourceSpec>,
    window: Option<TimeWindow>,
    issues: &mut Issues,
) -> Option<MakeSeriesOp> {
    let step_text = issues.required(stage.step.as_deref(), &format!("{path}.step"))?;
    let Some(step_micros) = parse_duration_micros(step_text) else {
        issues.push(
            format!("{path}.step"),
            format!("{step_text:?} is not a duration (examples: \"10m\", \"1h\", \"1d\")"),
        );
        return None;
    };
    if let Some(window) = window {
        let points = ((window.end_micros - window.start_micros) as u64).div_ceil(step_micros as u64) as i64;
        if points > MAX_POINTS_PER_SERIES {
            issues.push(
                format!("{path}.step"),
                format!(
                    "{step_text} makes {points} points per series over the window; at most {MAX_POINTS_PER_SERIES}"
                ),
            );
        }
    }
    let agg = match stage.agg.as_deref() {
        None => Agg::Avg,
        Some(name) => match Agg::from_name(name) {
            Some(agg) => agg,
            None => {
                let names: Vec<&str> = Agg::ALL.iter().map(|agg| agg.name()).collect();
                issues.push(
                    format!("{path}.agg"),
                    format!("{name:?} is not an aggregation (expected one of {})", names.join(", ")),
                );
                return None;
            }
        },
    };
    let fill = match stage.fill.as_deref() {
        None => Fill::Linear,
        Some(text) => match parse_fill(text) {
            Some(fill) => fill,
            None => {
                issues.push(
                    format!("{path}.fill"),
                    format!("{text:?} is not a fill (expected const(N), null, linear, forward or backward)"),
                );
                return None;
            }
        },
    };
    if let (Some(group_by), Some(source)) = (&stage.group_by, source) {
        if group_by.is_empty() {
            issues.push(format!("{path}.group_by"), "must name at least one column");
        }
        for column in group_by {
            if !source.series_key.contains(column) && !source.tags.contains(column) {
                issues.push(
                    format!("{path}.group_by"),
                    format!("{column:?} is neither in source.series_key nor in source.tags"),
                );
            }
        }
    }
    Some(MakeSeriesOp { step_micros, agg, fill, group_by: stage.group_by.clone() })
}

/// `const(0)`, `const(-1.5)`, `const` (= 0, as in ADX), `null`, `linear`, `forward`, `backward`.
fn parse_fill(text: &str) -> Option<Fill> {
    match text {
        "null" => Some(Fill::Null),
        "linear" => Some(Fill::Linear),
        "forward" => Some(Fill::Forward),
        "backward" => Some(Fill::Backward),
        "const" => Some(Fill::Const(0.0)),
        _ => {
            let inner = text.strip_prefix("const(")?.strip_suffix(')')?;
            let value: f64 = inner.trim().parse().ok()?;
            value.is_finite().then_some(Fill::Const(value))
        }
    }
}

fn validate_sample(stage: &RawStage, path: &str, issues: &mut Issues) -> Option<SampleOp> {
    let fraction = issues.required(stage.fraction, &format!("{path}.fraction"))?;
    if !(fraction > 0.0 && fraction <= 1.0) {
        issues.push(format!("{path}.fraction"), format!("{fraction} is not in (0, 1]"));
        return None;
    }
    let seed = match stage.seed {
        None => 0,
        Some(seed) if seed >= 0 => seed as u64,
        Some(seed) => {
            issues.push(format!("{path}.seed"), format!("{seed} is negative"));
            return None;
        }
    };
    Some(SampleOp { fraction, seed })
}

/// Detector parameters may be written as stage fields (`threshold = 3.0`) or in a `params`
/// table (`params = { confidence = 99 }`); both are handed to the detector library, which
/// knows each detector's parameters and checks them.
fn validate_detect(stage: &RawStage, path: &str, issues: &mut Issues) -> Option<DetectOp> {
    let detector = stage.detector.as_deref().unwrap_or(DEFAULT_DETECTOR);
    let mut fields: Vec<(String, String)> = Vec::new();
    if let Some(seasonality) = &stage.seasonality {
        let text = match seasonality {
            RawSeasonality::Name(name) => name.clone(),
            RawSeasonality::Bins(bins) => bins.to_string(),
        };
        fields.push(("seasonality".to_string(), text));
    }
    if let Some(trend) = &stage.trend {
        fields.push(("trend".to_string(), trend.clone()));
    }
    if let Some(threshold) = stage.threshold {
        fields.push(("threshold".to_string(), threshold.to_string()));
    }
    if let Some(test) = &stage.test {
        fields.push(("test".to_string(), test.clone()));
    }
    if let Some(test_points) = stage.test_points {
        fields.push(("test_points".to_string(), test_points.to_string()));
    }
    let top_level = fields.len();
    for (name, value) in stage.params.iter().flatten() {
        let text = match value {
            toml::Value::String(text) => text.clone(),
            toml::Value::Integer(number) => number.to_string(),
            toml::Value::Float(number) => number.to_string(),
            toml::Value::Boolean(flag) => flag.to_string(),
            other => {
                issues.push(
                    format!("{path}.params.{name}"),
                    format!("must be a string or a number, not a {}", other.type_str()),
                );
                return None;
            }
        };
        fields.push((name.clone(), text));
    }
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    match DetectorConfig::from_params(detector, &pairs) {
        Ok(detector) => Some(DetectOp { detector }),
        Err(error) => {
            let field = if error.param == "detector" {
                "detector".to_string()
            } else if fields[..top_level].iter().any(|(name, _)| *name == error.param) {
                error.param.clone()
            } else {
                format!("params.{}", error.param)
            };
            issues.push(format!("{path}.{field}"), error.reason);
            None
        }
    }
}

fn validate_sinks(raw: &[RawSink], stages: &[StageSpec], issues: &mut Issues) -> Vec<SinkSpec> {
    if raw.is_empty() {
        issues.push("sink", "a job needs at least one [[sink]]; results would go nowhere");
    }
    let mut sinks = Vec::new();
    for (index, sink) in raw.iter().enumerate() {
        let path = format!("sink[{index}]");
        let kind = match sink.kind.as_deref() {
            Some(kind @ ("lake" | "alerts")) => kind,
            Some(other) => {
                issues.push(format!("{path}.kind"), format!("{other:?} is not a sink kind (expected lake or alerts)"));
                continue;
            }
            None => {
                issues.push(format!("{path}.kind"), "required");
                continue;
            }
        };
        let Some(names) = issues.required(sink.input.as_ref(), &format!("{path}.input")) else {
            continue;
        };
        if names.is_empty() {
            issues.push(format!("{path}.input"), "must name at least one detect stage");
        }
        let mut inputs = Vec::new();
        for name in names {
            match stages.iter().position(|stage| &stage.id == name) {
                Some(stage) if matches!(stages[stage].op, StageOp::Detect(_)) => inputs.push(stage),
                Some(_) => issues.push(
                    format!("{path}.input"),
                    format!(
                        "{name:?} is not a detect stage; a {kind} sink {}",
                        if kind == "lake" { "stores anomalies" } else { "sends anomalies" }
                    ),
                ),
                None if stages.is_empty() => {}
                None => issues.push(format!("{path}.input"), format!("unknown stage {name:?}")),
            }
        }
        let sink = if kind == "lake" {
            for (field, set) in [
                ("target", sink.target.is_some()),
                ("url", sink.url.is_some()),
                ("min_score", sink.min_score.is_some()),
                ("max_per_run", sink.max_per_run.is_some()),
                ("max_per_series", sink.max_per_series.is_some()),
                ("secret_env", sink.secret_env.is_some()),
                ("timeout", sink.timeout.is_some()),
                ("retry_max", sink.retry_max.is_some()),
                ("link", sink.link.is_some()),
            ] {
                if set {
                    issues.push(format!("{path}.{field}"), "applies to alert sinks only");
                }
            }
            let Some(uri) = issues.required(sink.uri.clone(), &format!("{path}.uri")) else {
                continue;
            };
            SinkSpec::Lake(LakeSink { inputs, uri })
        } else {
            let Some(alerts) = validate_alert_sink(sink, &path, inputs, issues) else {
                continue;
            };
            SinkSpec::Alerts(alerts)
        };
        sinks.push(sink);
    }
    sinks
}

/// The largest `max_per_run` / `max_per_series` of an alert sink.
const MAX_ALERTS_PER_RUN: i64 = 1000;

fn validate_alert_sink(sink: &RawSink, path: &str, inputs: Vec<usize>, issues: &mut Issues) -> Option<AlertSink> {
    if sink.uri.is_some() {
        issues.push(format!("{path}.uri"), "alert sinks take `url` (where to send), not `uri`");
    }
    let target = match issues.required(sink.target.as_deref(), &format!("{path}.target"))? {
        "alertmanager" => AlertTarget::Alertmanager,
        "webhook" => AlertTarget::Webhook,
        other => {
            issues
                .push(format!("{path}.target"), format!("{other:?} is not an alert target (alertmanager or webhook)"));
            return None;
        }
    };
    let url = issues.required(sink.url.clone(), &format!("{path}.url"))?;
    if !(url.starts_with("http://") || url.starts_with("https://")) || url::Url::parse(&url).is_err() {
        issues.push(format!("{path}.url"), format!("{url:?} is not an http(s) URL"));
    }
    let min_score = sink.min_score.unwrap_or(0.0);
    if min_score.is_nan() || min_score < 0.0 || min_score.is_infinite() {
        issues.push(format!("{path}.min_score"), "must be a finite number >= 0");
    }
    let mut count = |value: Option<i64>, field: &str, default: u32| match value {
        None => default,
        // The outbox lives in the job's record in the state store (etcd keeps values under
        // 1.5 MB): a thousand alerts of under a kilobyte each fit; more would not.
        Some(value) if (1..=MAX_ALERTS_PER_RUN).contains(&value) => value as u32,
        Some(value) => {
            issues.push(format!("{path}.{field}"), format!("{value} is not between 1 and {MAX_ALERTS_PER_RUN}"));
            default
        }
    };
    let max_per_run = count(sink.max_per_run, "max_per_run", 100);
    let max_per_series = count(sink.max_per_series, "max_per_series", 1);
    let mut duration = |text: Option<&str>, field: &str, default: i64| match text {
        None => default,
        Some(text) => match parse_duration_micros(text) {
            Some(micros) if micros > 0 => micros,
            _ => {
                issues.push(format!("{path}.{field}"), format!("{text:?} is not a duration (e.g. \"10s\", \"5m\")"));
                default
            }
        },
    };
    let timeout_micros = duration(sink.timeout.as_deref(), "timeout", 10_000_000);
    let retry_max_micros = duration(sink.retry_max.as_deref(), "retry_max", 300_000_000);
    if sink.secret_env.is_some() && target == AlertTarget::Alertmanager {
        issues.push(format!("{path}.secret_env"), "signing applies to webhook targets only");
    }
    Some(AlertSink {
        inputs,
        target,
        url,
        min_score,
        max_per_run,
        max_per_series,
        secret_env: sink.secret_env.clone(),
        timeout_micros,
        retry_max_micros,
        link: sink.link.clone(),
    })
}

//! Job spec v1: the TOML a user submits, parsed and validated into the types the planner uses.
//!
//! Validation collects every problem it finds, each named by its field path
//! (`stage[1].input: unknown stage "hourlyy"`), so a user fixes a spec in one round.

mod raw;
mod validate;

use fathom_detect::detector::DetectorConfig;
use fathom_detect::fill::Fill;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};

/// The only spec version this build understands.
pub const SPEC_VERSION: i64 = 1;

/// Reserved input name: the raw points of `[source]`.
pub const SOURCE_INPUT: &str = "source";

#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    pub name: String,
    pub source: SourceSpec,
    /// Half-open `[start, end)`. Optional in the file because schedules and backfills set it per run.
    pub window: Option<TimeWindow>,
    pub stages: Vec<StageSpec>,
    pub sinks: Vec<SinkSpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    pub uri: String,
    pub format: SourceFormat,
    pub series_key: Vec<String>,
    pub timestamp: String,
    pub value: String,
    pub tags: Vec<String>,
    /// `on_bad_file = "skip"`: a file that is not readable Parquet, or lacks a needed column,
    /// is left out and reported instead of failing the job.
    pub skip_bad_files: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Parquet,
    /// Comma-separated with a header row; timestamps in RFC 3339 (`2026-01-05T00:00:00Z`).
    Csv,
}

impl SourceFormat {
    /// The file extension of source files in this format.
    pub fn extension(self) -> &'static str {
        match self {
            SourceFormat::Parquet => ".parquet",
            SourceFormat::Csv => ".csv",
        }
    }
}

/// Microseconds since the Unix epoch, UTC, half-open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub start_micros: i64,
    pub end_micros: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageSpec {
    pub id: String,
    pub input: StageInput,
    pub op: StageOp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageInput {
    Source,
    /// Index into [`JobSpec::stages`].
    Stage(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum StageOp {
    MakeSeries(MakeSeriesOp),
    Sample(SampleOp),
    Detect(DetectOp),
}

impl StageOp {
    pub fn name(&self) -> &'static str {
        match self {
            StageOp::MakeSeries(_) => "make_series",
            StageOp::Sample(_) => "sample",
            StageOp::Detect(_) => "detect",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MakeSeriesOp {
    pub step_micros: i64,
    pub agg: Agg,
    pub fill: Fill,
    /// `None`: one series per `source.series_key`; `Some`: a roll-up over these columns.
    pub group_by: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Agg {
    Avg,
    Sum,
    Min,
    Max,
    Count,
    First,
    Last,
}

impl Agg {
    pub const ALL: [Agg; 7] = [Agg::Avg, Agg::Sum, Agg::Min, Agg::Max, Agg::Count, Agg::First, Agg::Last];

    pub fn name(self) -> &'static str {
        match self {
            Agg::Avg => "avg",
            Agg::Sum => "sum",
            Agg::Min => "min",
            Agg::Max => "max",
            Agg::Count => "count",
            Agg::First => "first",
            Agg::Last => "last",
        }
    }

    pub fn from_name(name: &str) -> Option<Agg> {
        Agg::ALL.into_iter().find(|agg| agg.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleOp {
    /// Share of series kept, in (0, 1].
    pub fraction: f64,
    pub seed: u64,
}

/// A detect stage: which detector, with all its parameters resolved (defaults filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectOp {
    pub detector: DetectorConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SinkSpec {
    Lake(LakeSink),
    Alerts(AlertSink),
}

impl SinkSpec {
    /// Indices of the detect stages this sink reads.
    pub fn inputs(&self) -> &[usize] {
        match self {
            SinkSpec::Lake(sink) => &sink.inputs,
            SinkSpec::Alerts(sink) => &sink.inputs,
        }
    }
}

/// Where alerts go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertTarget {
    /// Prometheus Alertmanager, API v2 (`POST {url}/api/v2/alerts`).
    Alertmanager,
    /// Any HTTP endpoint: one JSON alert per POST, signed when a secret is configured.
    Webhook,
}

/// An alert sink: every anomaly event of its inputs with |score| >= `min_score`, at most
/// `max_per_series` per series and `max_per_run` per run (the rest summarised in one alert).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertSink {
    /// Indices of detect stages whose anomalies are alerted.
    pub inputs: Vec<usize>,
    pub target: AlertTarget,
    pub url: String,
    pub min_score: f64,
    pub max_per_run: u32,
    pub max_per_series: u32,
    /// Environment variable (on the coordinator) holding the webhook's HMAC-SHA256 secret.
    pub secret_env: Option<String>,
    pub timeout_micros: i64,
    /// Longest wait between two delivery attempts (the backoff doubles up to it).
    pub retry_max_micros: i64,
    /// Template of the `link` annotation: `{series}`, `{time}`, `{stage}` and `{job}` replaced.
    pub link: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LakeSink {
    /// Indices of detect stages whose anomalies go to this table.
    pub inputs: Vec<usize>,
    pub uri: String,
}

impl JobSpec {
    /// Parses and validates a TOML job spec.
    pub fn from_toml(text: &str) -> Result<JobSpec> {
        let raw: raw::RawJobSpec = toml::from_str(text)
            .map_err(|error| CoreError::ParseSpec { message: error.to_string().trim_end().to_string() })?;
        validate::validate(raw)
    }

    pub fn stage_index(&self, id: &str) -> Option<usize> {
        self.stages.iter().position(|stage| stage.id == id)
    }

    /// The make_series stage at the root of `stage`'s input chain.
    pub fn root_of(&self, mut stage: usize) -> usize {
        // Validation guarantees chains are acyclic and end at a make_series on the source.
        while let StageInput::Stage(parent) = self.stages[stage].input {
            stage = parent;
        }
        stage
    }

    /// The columns that name one series of a make_series stage (its roll-up or the series key).
    pub fn key_columns(&self, make_series: &MakeSeriesOp) -> Vec<String> {
        make_series.group_by.clone().unwrap_or_else(|| self.source.series_key.clone())
    }

    /// Tag columns carried along with each series: none for a roll-up, whose series
    /// have no single value of a tag that is not in the grouping.
    pub fn tag_columns(&self, make_series: &MakeSeriesOp) -> Vec<String> {
        match make_series.group_by {
            Some(_) => Vec::new(),
            None => self.source.tags.clone(),
        }
    }
}

#[cfg(test)]
mod tests;

//! What one task does: the domain form of the `TaskDefinition` the coordinator sends a worker.

use fathom_detect::fill::Fill;
use serde::{Deserialize, Serialize};

use crate::ids::TaskId;
use crate::spec::{Agg, DetectOp, SampleOp, TimeWindow};

/// One hash shuffle: the raw points regrouped by a key into `partitions`, pre-aggregated into
/// `step` buckets on the map side so the shuffle moves buckets, not points.
#[derive(Debug, Clone, PartialEq)]
pub struct ShuffleSpec {
    /// Index of the make_series stage in the job spec; names the shuffle in file paths.
    pub shuffle_id: u32,
    pub key_columns: Vec<String>,
    pub tag_columns: Vec<String>,
    pub step_micros: i64,
    pub agg: Agg,
    pub partitions: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScanTask {
    /// URIs of the files this task reads, whole.
    pub files: Vec<String>,
    /// Leave out (and report) files that are not readable Parquet or lack a needed column.
    pub skip_bad_files: bool,
    pub format: crate::spec::SourceFormat,
    pub timestamp_column: String,
    pub value_column: String,
    pub window: TimeWindow,
    /// One per make_series stage that reads the source: each file is read once for all of them.
    pub shuffles: Vec<ShuffleSpec>,
}

/// Where one map task left one partition of its shuffle output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShuffleLocation {
    pub worker_id: String,
    /// `host:port` of the producing worker's Flight (gRPC) endpoint.
    pub address: String,
    /// Path prefix of the map task's shuffle files, relative to the producing worker's shuffle
    /// root (`<job>/s<stage>-t<task>-a<attempt>`; see the worker's `shuffle` module).
    pub prefix: String,
    pub map_task: u32,
}

/// A stage applied to series inside a reduce task, after make_series.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainOp {
    pub stage_id: String,
    /// `None`: the make_series output; `Some(i)`: the output of `chain[i]` (always `i` < own index).
    pub input: Option<usize>,
    pub kind: ChainOpKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChainOpKind {
    Sample(SampleOp),
    Detect(DetectOp),
}

/// Anomalies of some detect ops written to one lake table.
#[derive(Debug, Clone, PartialEq)]
pub struct LakeOutput {
    pub table_uri: String,
    /// Key and tag columns of the table, in order (the union over every stage it stores).
    pub columns: Vec<String>,
    /// Indices into the chain of the detect ops stored in this table.
    pub detect_ops: Vec<usize>,
}

/// An alert sink as a reduce task sees it: the detect ops it takes and the caps that bound
/// what one task reports (the coordinator applies the run-wide cap over all tasks).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertOutput {
    /// Index of the sink in the job spec.
    pub sink: u32,
    /// Indices into the chain of the detect ops alerted on.
    pub detect_ops: Vec<usize>,
    pub min_score: f64,
    pub max_per_series: u32,
    pub max_per_run: u32,
    pub link: Option<String>,
}

/// One anomaly event to alert on: a run of consecutive flagged points of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Index of the sink in the job spec.
    pub sink: u32,
    /// Idempotency key: job, stage, series and start; the same event always has the same key.
    pub key: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub annotations: std::collections::BTreeMap<String, String>,
    pub starts_at_micros: i64,
    /// When the event ended (one step after its last point); none while it lasts to the
    /// window's end, and none for level shifts, trend changes and variance changes, which
    /// persist.
    pub ends_at_micros: Option<i64>,
    /// The largest |score| of the event's points.
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReduceTask {
    pub job_name: String,
    pub make_series_stage: String,
    pub shuffle: ShuffleSpec,
    pub partition: u32,
    pub fill: Fill,
    pub window: TimeWindow,
    pub inputs: Vec<ShuffleLocation>,
    pub chain: Vec<ChainOp>,
    pub outputs: Vec<LakeOutput>,
    pub alerts: Vec<AlertOutput>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TaskKind {
    Scan(ScanTask),
    Reduce(ReduceTask),
}

/// A task attempt as launched on a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDefinition {
    pub task_id: TaskId,
    pub attempt: u32,
    pub kind: TaskKind,
}

/// A file a reduce task wrote into a lake table, committed by the coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Eq)]
pub struct LakeFile {
    pub table_uri: String,
    /// Relative to the table root, e.g. `date=2026-01-07/part-...parquet`.
    pub path: String,
    pub size_bytes: u64,
    pub rows: u64,
    pub date: String,
}

/// One flagged point, as reported for the job summary's top-N.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopAnomaly {
    pub stage: String,
    pub series: String,
    pub ts_micros: i64,
    pub value: f64,
    pub baseline: f64,
    pub score: f64,
    /// `spike`, `dip`, `level_shift`, `trend_change` or `variance_change`.
    pub kind: String,
}

/// Counters a task reports; the coordinator sums them per stage and job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskMetrics {
    pub files_read: u64,
    pub bytes_read: u64,
    pub rows_read: u64,
    /// Rows outside the window, or with a null, NaN or infinite value: documented as dropped.
    pub rows_dropped: u64,
    pub series: u64,
    pub points: u64,
    pub anomalies: u64,
    /// Files left out under `on_bad_file = "skip"`.
    #[serde(default)]
    pub files_skipped: u64,
}

impl TaskMetrics {
    pub fn add(&mut self, other: &TaskMetrics) {
        self.files_read += other.files_read;
        self.bytes_read += other.bytes_read;
        self.rows_read += other.rows_read;
        self.rows_dropped += other.rows_dropped;
        self.series += other.series;
        self.points += other.points;
        self.anomalies += other.anomalies;
        self.files_skipped += other.files_skipped;
    }
}

/// What a successful attempt produced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskOutput {
    /// Scan tasks: the path prefix of their shuffle files, relative to the worker's shuffle root.
    pub shuffle_prefix: Option<String>,
    /// Scan tasks: `host:port` where the worker serves them.
    pub shuffle_address: Option<String>,
    pub lake_files: Vec<LakeFile>,
    pub top_anomalies: Vec<TopAnomaly>,
    pub metrics: TaskMetrics,
    /// Reduce tasks: anomaly events for the alert sinks, within the task's caps.
    #[serde(default)]
    pub alerts: Vec<AlertEvent>,
    /// Reduce tasks: events over the caps, counted for the run's summary alert.
    #[serde(default)]
    pub alerts_held_back: u64,
    /// Scan tasks: the files left out under `on_bad_file = "skip"`, as `uri: reason`.
    #[serde(default)]
    pub skipped_files: Vec<String>,
}

/// The file-name prefix of every lake file that a run of job `job_name` over `window` writes.
/// A rerun of the same window finds its predecessors' files by it, and its commit replaces them.
/// The name enters as a hash so that one job's prefix is never the start of another's.
pub fn lake_file_prefix(job_name: &str, window: TimeWindow) -> String {
    // FNV-1a: the same on every build and platform, unlike the standard library's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in job_name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("part-w{}-{}-n{hash:016x}-", window.start_micros, window.end_micros)
}

/// Keeps the `limit` highest-|score| anomalies; used by tasks and by the coordinator's summary.
pub fn keep_top(anomalies: &mut Vec<TopAnomaly>, limit: usize) {
    anomalies.sort_by(|a, b| {
        b.score
            .abs()
            .total_cmp(&a.score.abs())
            .then_with(|| a.series.cmp(&b.series))
            .then_with(|| a.ts_micros.cmp(&b.ts_micros))
    });
    anomalies.truncate(limit);
}

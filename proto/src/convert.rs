//! Wire <-> domain conversions. Outgoing conversions are total; incoming ones check that every
//! required field is present and every enum value known.

use fathom_core::ids::{JobId, TaskId};
use fathom_core::job::{JobState, JobStatus, StageProgress};
use fathom_core::spec::{Agg, DetectOp, SampleOp, SourceFormat, TimeWindow};
use fathom_core::task::{
    AlertEvent, AlertOutput, ChainOp, ChainOpKind, LakeFile, LakeOutput, ReduceTask, ScanTask, ShuffleLocation,
    ShuffleSpec, TaskDefinition, TaskKind, TaskMetrics, TaskOutput, TopAnomaly,
};
use fathom_detect::detector::DetectorConfig;
use fathom_detect::fill::Fill;

use crate::pb;

#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("{message} is missing required field {field}")]
    MissingField { message: &'static str, field: &'static str },

    #[error("{field} has unknown value {value}")]
    UnknownEnum { field: &'static str, value: i32 },

    #[error("{field} is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
}

type Result<T> = std::result::Result<T, ProtoError>;

fn required<T>(value: Option<T>, message: &'static str, field: &'static str) -> Result<T> {
    value.ok_or(ProtoError::MissingField { message, field })
}

impl From<TimeWindow> for pb::TimeWindow {
    fn from(window: TimeWindow) -> Self {
        Self { start_micros: window.start_micros, end_micros: window.end_micros }
    }
}

impl From<pb::TimeWindow> for TimeWindow {
    fn from(window: pb::TimeWindow) -> Self {
        Self { start_micros: window.start_micros, end_micros: window.end_micros }
    }
}

fn agg_to_wire(agg: Agg) -> pb::Agg {
    match agg {
        Agg::Avg => pb::Agg::Avg,
        Agg::Sum => pb::Agg::Sum,
        Agg::Min => pb::Agg::Min,
        Agg::Max => pb::Agg::Max,
        Agg::Count => pb::Agg::Count,
        Agg::First => pb::Agg::First,
        Agg::Last => pb::Agg::Last,
    }
}

fn agg_from_wire(value: i32) -> Result<Agg> {
    match pb::Agg::try_from(value) {
        Ok(pb::Agg::Avg) => Ok(Agg::Avg),
        Ok(pb::Agg::Sum) => Ok(Agg::Sum),
        Ok(pb::Agg::Min) => Ok(Agg::Min),
        Ok(pb::Agg::Max) => Ok(Agg::Max),
        Ok(pb::Agg::Count) => Ok(Agg::Count),
        Ok(pb::Agg::First) => Ok(Agg::First),
        Ok(pb::Agg::Last) => Ok(Agg::Last),
        _ => Err(ProtoError::UnknownEnum { field: "ShuffleSpec.agg", value }),
    }
}

impl From<&ShuffleSpec> for pb::ShuffleSpec {
    fn from(shuffle: &ShuffleSpec) -> Self {
        Self {
            shuffle_id: shuffle.shuffle_id,
            key_columns: shuffle.key_columns.clone(),
            tag_columns: shuffle.tag_columns.clone(),
            step_micros: shuffle.step_micros,
            agg: agg_to_wire(shuffle.agg) as i32,
            partitions: shuffle.partitions,
        }
    }
}

impl TryFrom<pb::ShuffleSpec> for ShuffleSpec {
    type Error = ProtoError;
    fn try_from(shuffle: pb::ShuffleSpec) -> Result<Self> {
        if shuffle.step_micros <= 0 || shuffle.partitions == 0 || shuffle.key_columns.is_empty() {
            return Err(ProtoError::InvalidField {
                field: "ShuffleSpec",
                reason: "step, partitions and key columns must be set".to_string(),
            });
        }
        Ok(Self {
            shuffle_id: shuffle.shuffle_id,
            key_columns: shuffle.key_columns,
            tag_columns: shuffle.tag_columns,
            step_micros: shuffle.step_micros,
            agg: agg_from_wire(shuffle.agg)?,
            partitions: shuffle.partitions,
        })
    }
}

fn fill_to_wire(fill: Fill) -> pb::Fill {
    let (kind, constant) = match fill {
        Fill::Const(value) => (pb::FillKind::Const, value),
        Fill::Null => (pb::FillKind::Null, 0.0),
        Fill::Linear => (pb::FillKind::Linear, 0.0),
        Fill::Forward => (pb::FillKind::Forward, 0.0),
        Fill::Backward => (pb::FillKind::Backward, 0.0),
    };
    pb::Fill { kind: kind as i32, constant }
}

fn fill_from_wire(fill: pb::Fill) -> Result<Fill> {
    match pb::FillKind::try_from(fill.kind) {
        Ok(pb::FillKind::Const) => Ok(Fill::Const(fill.constant)),
        Ok(pb::FillKind::Null) => Ok(Fill::Null),
        Ok(pb::FillKind::Linear) => Ok(Fill::Linear),
        Ok(pb::FillKind::Forward) => Ok(Fill::Forward),
        Ok(pb::FillKind::Backward) => Ok(Fill::Backward),
        _ => Err(ProtoError::UnknownEnum { field: "Fill.kind", value: fill.kind }),
    }
}

fn detect_to_wire(detect: &DetectOp) -> pb::DetectOp {
    pb::DetectOp {
        detector: detect.detector.name().to_string(),
        params: detect.detector.to_params().into_iter().collect(),
    }
}

fn detect_from_wire(detect: pb::DetectOp) -> Result<DetectOp> {
    let params: Vec<(&str, &str)> = detect.params.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    let detector = DetectorConfig::from_params(&detect.detector, &params)
        .map_err(|error| ProtoError::InvalidField { field: "DetectOp", reason: error.to_string() })?;
    Ok(DetectOp { detector })
}

impl From<&ChainOp> for pb::ChainOp {
    fn from(op: &ChainOp) -> Self {
        let kind = match &op.kind {
            ChainOpKind::Sample(sample) => {
                pb::chain_op::Kind::Sample(pb::SampleOp { fraction: sample.fraction, seed: sample.seed })
            }
            ChainOpKind::Detect(detect) => pb::chain_op::Kind::Detect(detect_to_wire(detect)),
        };
        Self { stage_id: op.stage_id.clone(), input: op.input.map(|input| input as u32), kind: Some(kind) }
    }
}

impl TryFrom<pb::ChainOp> for ChainOp {
    type Error = ProtoError;
    fn try_from(op: pb::ChainOp) -> Result<Self> {
        let kind = match required(op.kind, "ChainOp", "kind")? {
            pb::chain_op::Kind::Sample(sample) => {
                ChainOpKind::Sample(SampleOp { fraction: sample.fraction, seed: sample.seed })
            }
            pb::chain_op::Kind::Detect(detect) => ChainOpKind::Detect(detect_from_wire(detect)?),
        };
        Ok(Self { stage_id: op.stage_id, input: op.input.map(|input| input as usize), kind })
    }
}

impl From<&TaskDefinition> for pb::TaskDefinition {
    fn from(task: &TaskDefinition) -> Self {
        let kind = match &task.kind {
            TaskKind::Scan(scan) => pb::task_definition::Kind::Scan(pb::ScanTask {
                files: scan.files.clone(),
                skip_bad_files: scan.skip_bad_files,
                format: match scan.format {
                    SourceFormat::Parquet => pb::SourceFormat::Parquet as i32,
                    SourceFormat::Csv => pb::SourceFormat::Csv as i32,
                },
                timestamp_column: scan.timestamp_column.clone(),
                value_column: scan.value_column.clone(),
                window: Some(scan.window.into()),
                shuffles: scan.shuffles.iter().map(Into::into).collect(),
            }),
            TaskKind::Reduce(reduce) => pb::task_definition::Kind::Reduce(pb::ReduceTask {
                job_name: reduce.job_name.clone(),
                make_series_stage: reduce.make_series_stage.clone(),
                shuffle: Some((&reduce.shuffle).into()),
                partition: reduce.partition,
                fill: Some(fill_to_wire(reduce.fill)),
                window: Some(reduce.window.into()),
                inputs: reduce
                    .inputs
                    .iter()
                    .map(|input| pb::ShuffleLocation {
                        worker_id: input.worker_id.clone(),
                        prefix: input.prefix.clone(),
                        map_task: input.map_task,
                        address: input.address.clone(),
                    })
                    .collect(),
                chain: reduce.chain.iter().map(Into::into).collect(),
                outputs: reduce
                    .outputs
                    .iter()
                    .map(|output| pb::LakeOutput {
                        table_uri: output.table_uri.clone(),
                        columns: output.columns.clone(),
                        detect_ops: output.detect_ops.iter().map(|op| *op as u32).collect(),
                    })
                    .collect(),
                alerts: reduce
                    .alerts
                    .iter()
                    .map(|alert| pb::AlertOutput {
                        sink: alert.sink,
                        detect_ops: alert.detect_ops.iter().map(|op| *op as u32).collect(),
                        min_score: alert.min_score,
                        max_per_series: alert.max_per_series,
                        max_per_run: alert.max_per_run,
                        link: alert.link.clone(),
                    })
                    .collect(),
            }),
        };
        Self { task_id: Some((&task.task_id).into()), attempt: task.attempt, kind: Some(kind) }
    }
}

impl From<&TaskId> for pb::TaskId {
    fn from(id: &TaskId) -> Self {
        Self { job_id: id.job_id.to_string(), stage: id.stage, index: id.index }
    }
}

impl From<pb::TaskId> for TaskId {
    fn from(id: pb::TaskId) -> Self {
        Self { job_id: JobId::new(id.job_id), stage: id.stage, index: id.index }
    }
}

impl TryFrom<pb::TaskDefinition> for TaskDefinition {
    type Error = ProtoError;
    fn try_from(task: pb::TaskDefinition) -> Result<Self> {
        let task_id = required(task.task_id, "TaskDefinition", "task_id")?.into();
        let kind = match required(task.kind, "TaskDefinition", "kind")? {
            pb::task_definition::Kind::Scan(scan) => TaskKind::Scan(ScanTask {
                files: scan.files,
                skip_bad_files: scan.skip_bad_files,
                format: match pb::SourceFormat::try_from(scan.format) {
                    Ok(pb::SourceFormat::Parquet) => SourceFormat::Parquet,
                    Ok(pb::SourceFormat::Csv) => SourceFormat::Csv,
                    Err(_) => {
                        return Err(ProtoError::InvalidField {
                            field: "ScanTask.format",
                            reason: format!("unknown source format {}", scan.format),
                        });
                    }
                },
                timestamp_column: scan.timestamp_column,
                value_column: scan.value_column,
                window: required(scan.window, "ScanTask", "window")?.into(),
                shuffles: scan.shuffles.into_iter().map(TryInto::try_into).collect::<Result<_>>()?,
            }),
            pb::task_definition::Kind::Reduce(reduce) => {
                let chain: Vec<ChainOp> = reduce.chain.into_iter().map(TryInto::try_into).collect::<Result<_>>()?;
                let outputs = reduce
                    .outputs
                    .into_iter()
                    .map(|output| {
                        let detect_ops: Vec<usize> = output.detect_ops.iter().map(|op| *op as usize).collect();
                        if detect_ops.iter().any(|op| *op >= chain.len()) {
                            return Err(ProtoError::InvalidField {
                                field: "LakeOutput.detect_ops",
                                reason: "refers past the end of the chain".to_string(),
                            });
                        }
                        Ok(LakeOutput { table_uri: output.table_uri, columns: output.columns, detect_ops })
                    })
                    .collect::<Result<_>>()?;
                let alerts = reduce
                    .alerts
                    .into_iter()
                    .map(|alert| {
                        let detect_ops: Vec<usize> = alert.detect_ops.iter().map(|op| *op as usize).collect();
                        if detect_ops.iter().any(|op| *op >= chain.len()) {
                            return Err(ProtoError::InvalidField {
                                field: "AlertOutput.detect_ops",
                                reason: "refers past the end of the chain".to_string(),
                            });
                        }
                        Ok(AlertOutput {
                            sink: alert.sink,
                            detect_ops,
                            min_score: alert.min_score,
                            max_per_series: alert.max_per_series,
                            max_per_run: alert.max_per_run,
                            link: alert.link,
                        })
                    })
                    .collect::<Result<_>>()?;
                TaskKind::Reduce(ReduceTask {
                    job_name: reduce.job_name,
                    make_series_stage: reduce.make_series_stage,
                    shuffle: required(reduce.shuffle, "ReduceTask", "shuffle")?.try_into()?,
                    partition: reduce.partition,
                    fill: fill_from_wire(required(reduce.fill, "ReduceTask", "fill")?)?,
                    window: required(reduce.window, "ReduceTask", "window")?.into(),
                    inputs: reduce
                        .inputs
                        .into_iter()
                        .map(|input| ShuffleLocation {
                            worker_id: input.worker_id,
                            address: input.address,
                            prefix: input.prefix,
                            map_task: input.map_task,
                        })
                        .collect(),
                    chain,
                    outputs,
                    alerts,
                })
            }
        };
        Ok(Self { task_id, attempt: task.attempt, kind })
    }
}

impl From<&TaskMetrics> for pb::TaskMetrics {
    fn from(metrics: &TaskMetrics) -> Self {
        Self {
            files_read: metrics.files_read,
            bytes_read: metrics.bytes_read,
            rows_read: metrics.rows_read,
            rows_dropped: metrics.rows_dropped,
            series: metrics.series,
            points: metrics.points,
            anomalies: metrics.anomalies,
            files_skipped: metrics.files_skipped,
        }
    }
}

impl From<pb::TaskMetrics> for TaskMetrics {
    fn from(metrics: pb::TaskMetrics) -> Self {
        Self {
            files_read: metrics.files_read,
            bytes_read: metrics.bytes_read,
            rows_read: metrics.rows_read,
            rows_dropped: metrics.rows_dropped,
            series: metrics.series,
            points: metrics.points,
            anomalies: metrics.anomalies,
            files_skipped: metrics.files_skipped,
        }
    }
}

impl From<&TopAnomaly> for pb::TopAnomaly {
    fn from(top: &TopAnomaly) -> Self {
        Self {
            stage: top.stage.clone(),
            series: top.series.clone(),
            ts_micros: top.ts_micros,
            value: top.value,
            baseline: top.baseline,
            score: top.score,
            kind: top.kind.clone(),
        }
    }
}

impl From<pb::TopAnomaly> for TopAnomaly {
    fn from(top: pb::TopAnomaly) -> Self {
        Self {
            stage: top.stage,
            series: top.series,
            ts_micros: top.ts_micros,
            value: top.value,
            baseline: top.baseline,
            score: top.score,
            kind: top.kind,
        }
    }
}

impl From<&TaskOutput> for pb::TaskOutput {
    fn from(output: &TaskOutput) -> Self {
        Self {
            shuffle_prefix: output.shuffle_prefix.clone(),
            shuffle_address: output.shuffle_address.clone(),
            lake_files: output
                .lake_files
                .iter()
                .map(|file| pb::LakeFile {
                    table_uri: file.table_uri.clone(),
                    path: file.path.clone(),
                    size_bytes: file.size_bytes,
                    rows: file.rows,
                    date: file.date.clone(),
                })
                .collect(),
            top_anomalies: output.top_anomalies.iter().map(Into::into).collect(),
            metrics: Some((&output.metrics).into()),
            alerts: output
                .alerts
                .iter()
                .map(|event| pb::AlertEvent {
                    sink: event.sink,
                    key: event.key.clone(),
                    labels: event.labels.iter().map(|(name, value)| (name.clone(), value.clone())).collect(),
                    annotations: event.annotations.iter().map(|(name, value)| (name.clone(), value.clone())).collect(),
                    starts_at_micros: event.starts_at_micros,
                    ends_at_micros: event.ends_at_micros,
                    score: event.score,
                })
                .collect(),
            alerts_held_back: output.alerts_held_back,
            skipped_files: output.skipped_files.clone(),
        }
    }
}

impl From<pb::TaskOutput> for TaskOutput {
    fn from(output: pb::TaskOutput) -> Self {
        Self {
            shuffle_prefix: output.shuffle_prefix,
            shuffle_address: output.shuffle_address,
            lake_files: output
                .lake_files
                .into_iter()
                .map(|file| LakeFile {
                    table_uri: file.table_uri,
                    path: file.path,
                    size_bytes: file.size_bytes,
                    rows: file.rows,
                    date: file.date,
                })
                .collect(),
            top_anomalies: output.top_anomalies.into_iter().map(Into::into).collect(),
            metrics: output.metrics.map(Into::into).unwrap_or_default(),
            alerts: output
                .alerts
                .into_iter()
                .map(|event| AlertEvent {
                    sink: event.sink,
                    key: event.key,
                    labels: event.labels.into_iter().collect(),
                    annotations: event.annotations.into_iter().collect(),
                    starts_at_micros: event.starts_at_micros,
                    ends_at_micros: event.ends_at_micros,
                    score: event.score,
                })
                .collect(),
            alerts_held_back: output.alerts_held_back,
            skipped_files: output.skipped_files,
        }
    }
}

pub fn state_to_wire(state: JobState) -> pb::JobState {
    match state {
        JobState::Planning => pb::JobState::Planning,
        JobState::Running => pb::JobState::Running,
        JobState::Committing => pb::JobState::Committing,
        JobState::Succeeded => pb::JobState::Succeeded,
        JobState::Failed => pb::JobState::Failed,
        JobState::Cancelled => pb::JobState::Cancelled,
    }
}

impl From<&JobStatus> for pb::JobStatus {
    fn from(status: &JobStatus) -> Self {
        Self {
            job_id: status.job_id.to_string(),
            name: status.name.clone(),
            state: state_to_wire(status.state) as i32,
            error: status.error.clone().unwrap_or_default(),
            stages: status
                .stages
                .iter()
                .map(|stage| pb::StageStatus {
                    name: stage.name.clone(),
                    tasks_total: stage.tasks_total,
                    tasks_done: stage.tasks_done,
                    tasks_running: stage.tasks_running,
                    task_failures: stage.task_failures,
                    elapsed_ms: stage.elapsed_ms,
                    done: stage.done,
                })
                .collect(),
            metrics: Some((&status.metrics).into()),
            top_anomalies: status.top_anomalies.iter().map(Into::into).collect(),
            tables: status.tables.clone(),
            skipped_stages: status.skipped_stages.clone(),
            elapsed_ms: status.elapsed_ms,
            skipped_files: status.skipped_files.clone(),
            alerts_delivered: status.alerts_delivered,
            alerts_pending: status.alerts_pending,
        }
    }
}

pub fn state_from_wire(value: i32) -> Result<JobState> {
    match pb::JobState::try_from(value) {
        Ok(pb::JobState::Planning) => Ok(JobState::Planning),
        Ok(pb::JobState::Running) => Ok(JobState::Running),
        Ok(pb::JobState::Committing) => Ok(JobState::Committing),
        Ok(pb::JobState::Succeeded) => Ok(JobState::Succeeded),
        Ok(pb::JobState::Failed) => Ok(JobState::Failed),
        Ok(pb::JobState::Cancelled) => Ok(JobState::Cancelled),
        _ => Err(ProtoError::UnknownEnum { field: "JobState", value }),
    }
}

impl TryFrom<pb::JobStatus> for JobStatus {
    type Error = ProtoError;
    fn try_from(status: pb::JobStatus) -> Result<Self> {
        let state = state_from_wire(status.state)?;
        Ok(Self {
            job_id: JobId::new(status.job_id),
            name: status.name,
            state,
            error: (!status.error.is_empty()).then_some(status.error),
            stages: status
                .stages
                .into_iter()
                .map(|stage| StageProgress {
                    name: stage.name,
                    tasks_total: stage.tasks_total,
                    tasks_done: stage.tasks_done,
                    tasks_running: stage.tasks_running,
                    task_failures: stage.task_failures,
                    elapsed_ms: stage.elapsed_ms,
                    done: stage.done,
                })
                .collect(),
            metrics: status.metrics.map(Into::into).unwrap_or_default(),
            top_anomalies: status.top_anomalies.into_iter().map(Into::into).collect(),
            tables: status.tables,
            skipped_stages: status.skipped_stages,
            elapsed_ms: status.elapsed_ms,
            skipped_files: status.skipped_files,
            alerts_delivered: status.alerts_delivered,
            alerts_pending: status.alerts_pending,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_definitions_round_trip() {
        let shuffle = ShuffleSpec {
            shuffle_id: 2,
            key_columns: vec!["id".into()],
            tag_columns: vec!["region".into()],
            step_micros: 3_600_000_000,
            agg: Agg::Last,
            partitions: 7,
        };
        let window = TimeWindow { start_micros: 10, end_micros: 20 };
        let reduce = TaskDefinition {
            task_id: TaskId { job_id: JobId::new("j"), stage: 1, index: 3 },
            attempt: 2,
            kind: TaskKind::Reduce(ReduceTask {
                job_name: "j".into(),
                make_series_stage: "hourly".into(),
                shuffle: shuffle.clone(),
                partition: 3,
                fill: Fill::Const(-1.0),
                window,
                inputs: vec![ShuffleLocation {
                    worker_id: "w".into(),
                    address: "127.0.0.1:1".into(),
                    prefix: "j/d".into(),
                    map_task: 4,
                }],
                chain: vec![
                    ChainOp {
                        stage_id: "s".into(),
                        input: None,
                        kind: ChainOpKind::Sample(SampleOp { fraction: 0.5, seed: 9 }),
                    },
                    ChainOp {
                        stage_id: "d".into(),
                        input: Some(0),
                        kind: ChainOpKind::Detect(DetectOp {
                            detector: DetectorConfig::from_params(
                                "decompose",
                                &[("seasonality", "24"), ("trend", "linefit"), ("test_points", "5"), ("test", "tukey")],
                            )
                            .expect("valid decompose"),
                        }),
                    },
                ],
                outputs: vec![LakeOutput {
                    table_uri: "file:///t".into(),
                    columns: vec!["id".into()],
                    detect_ops: vec![1],
                }],
                alerts: vec![AlertOutput {
                    sink: 1,
                    detect_ops: vec![1],
                    min_score: 4.5,
                    max_per_series: 2,
                    max_per_run: 50,
                    link: Some("http://dash/{series}".into()),
                }],
            }),
        };
        let scan = TaskDefinition {
            task_id: TaskId { job_id: JobId::new("j"), stage: 0, index: 0 },
            attempt: 0,
            kind: TaskKind::Scan(ScanTask {
                skip_bad_files: true,
                format: SourceFormat::Csv,
                files: vec!["file:///a".into()],
                timestamp_column: "ts".into(),
                value_column: "v".into(),
                window,
                shuffles: vec![shuffle],
            }),
        };
        for task in [reduce, scan] {
            let wire = pb::TaskDefinition::from(&task);
            assert_eq!(TaskDefinition::try_from(wire).expect("round trip"), task);
        }
    }

    #[test]
    fn missing_fields_are_named() {
        let error = TaskDefinition::try_from(pb::TaskDefinition::default()).expect_err("empty");
        assert_eq!(error.to_string(), "TaskDefinition is missing required field task_id");
    }
}

//! Logical DAG -> physical plan.
//!
//! A job becomes: one scan stage (tasks over groups of files, each task pre-aggregating its
//! points into buckets for every make_series stage and hash-partitioning them), then one reduce
//! stage per make_series stage that some sink needs (P tasks, each merging its partition from all
//! scan tasks and running the sample/detect chain below it without materialising between ops),
//! then one Delta commit per table, done by the coordinator.
//!
//! Planning is pure and deterministic: the same spec, files and options give the same plan.

use crate::error::{CoreError, Result};
use crate::spec::{JobSpec, SinkSpec, StageInput, StageOp, TimeWindow};
use crate::task::{AlertOutput, ChainOp, ChainOpKind, LakeOutput, ShuffleSpec};

/// One input object, as listed from the source URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    pub uri: String,
    pub size_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// Hash partitions per shuffle (reduce tasks per make_series stage).
    pub partitions: u32,
    /// Scan tasks aim to read about this many bytes; small files are packed together.
    pub target_scan_bytes: u64,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self { partitions: 4, target_scan_bytes: 32 << 20 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PhysicalPlan {
    pub job_name: String,
    pub window: TimeWindow,
    /// Files of each scan task, in path order.
    pub scan_tasks: Vec<Vec<String>>,
    pub shuffles: Vec<ShuffleSpec>,
    pub reduces: Vec<ReduceStage>,
    /// Stages that feed no sink: not run, and reported so the user knows.
    pub skipped_stages: Vec<String>,
    /// `on_bad_file = "skip"` on the source.
    pub skip_bad_files: bool,
    pub format: crate::spec::SourceFormat,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReduceStage {
    /// The make_series stage id, used as the stage's display name.
    pub name: String,
    pub shuffle: ShuffleSpec,
    pub fill: fathom_detect::fill::Fill,
    pub chain: Vec<ChainOp>,
    pub outputs: Vec<LakeOutput>,
    pub alerts: Vec<AlertOutput>,
}

impl PhysicalPlan {
    /// Distinct lake tables, in sink order.
    pub fn tables(&self) -> Vec<(String, Vec<String>)> {
        let mut tables: Vec<(String, Vec<String>)> = Vec::new();
        for output in self.reduces.iter().flat_map(|reduce| &reduce.outputs) {
            if !tables.iter().any(|(uri, _)| uri == &output.table_uri) {
                tables.push((output.table_uri.clone(), output.columns.clone()));
            }
        }
        tables
    }
}

/// True when a path's `date=YYYY-MM-DD` segment (if any) says it holds no point in the window.
pub fn pruned_by_date(path: &str, window: TimeWindow) -> bool {
    const DAY_MICROS: i64 = 86_400_000_000;
    let Some(date) = path
        .split('/')
        .find_map(|segment| segment.strip_prefix("date="))
        .and_then(|text| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
    else {
        return false;
    };
    let day_start = date.and_hms_opt(0, 0, 0).map(|time| time.and_utc().timestamp_micros()).unwrap_or(i64::MIN);
    day_start >= window.end_micros || day_start.saturating_add(DAY_MICROS) <= window.start_micros
}

pub fn plan(spec: &JobSpec, files: &[SourceFile], options: PlanOptions) -> Result<PhysicalPlan> {
    let window = spec.window.ok_or_else(|| CoreError::Plan {
        reason: "the spec has no [window]; set one or pass --start and --end".to_string(),
    })?;
    let mut files: Vec<&SourceFile> = files.iter().filter(|file| !pruned_by_date(&file.uri, window)).collect();
    if files.is_empty() {
        return Err(CoreError::Plan {
            reason: format!("no input files under {} for the window (after date= pruning)", spec.source.uri),
        });
    }
    files.sort_by(|a, b| a.uri.cmp(&b.uri));
    let partitions = options.partitions.max(1);

    // Stages a sink needs, by walking up from each sink's detect stages.
    let mut needed = vec![false; spec.stages.len()];
    for sink in &spec.sinks {
        for &stage in sink.inputs() {
            let mut current = stage;
            loop {
                needed[current] = true;
                match spec.stages[current].input {
                    StageInput::Stage(parent) => current = parent,
                    StageInput::Source => break,
                }
            }
        }
    }

    let mut shuffles = Vec::new();
    let mut reduces = Vec::new();
    for (root, stage) in spec.stages.iter().enumerate() {
        let StageOp::MakeSeries(make_series) = &stage.op else {
            continue;
        };
        if !needed[root] {
            continue;
        }
        let shuffle = ShuffleSpec {
            shuffle_id: root as u32,
            key_columns: spec.key_columns(make_series),
            tag_columns: spec.tag_columns(make_series),
            step_micros: make_series.step_micros,
            agg: make_series.agg,
            partitions,
        };
        let (chain, chain_index) = chain_below(spec, root, &needed);
        let outputs = lake_outputs(spec, &chain_index);
        let alerts = alert_outputs(spec, &chain_index);
        shuffles.push(shuffle.clone());
        reduces.push(ReduceStage { name: stage.id.clone(), shuffle, fill: make_series.fill, chain, outputs, alerts });
    }

    let skipped_stages =
        spec.stages.iter().zip(&needed).filter(|(_, needed)| !**needed).map(|(stage, _)| stage.id.clone()).collect();

    Ok(PhysicalPlan {
        job_name: spec.name.clone(),
        window,
        scan_tasks: pack_files(&files, options.target_scan_bytes),
        shuffles,
        reduces,
        skipped_stages,
        skip_bad_files: spec.source.skip_bad_files,
        format: spec.source.format,
    })
}

/// The needed stages below `root`, parents before children; also maps spec index -> chain index.
fn chain_below(spec: &JobSpec, root: usize, needed: &[bool]) -> (Vec<ChainOp>, Vec<Option<usize>>) {
    let mut chain = Vec::new();
    let mut chain_index: Vec<Option<usize>> = vec![None; spec.stages.len()];
    // Repeated passes settle any order of declaration; the chain depth is bounded by the stage count.
    let mut progressed = true;
    while progressed {
        progressed = false;
        for (index, stage) in spec.stages.iter().enumerate() {
            if chain_index[index].is_some() || !needed[index] {
                continue;
            }
            let StageInput::Stage(parent) = stage.input else {
                continue;
            };
            let input = if parent == root {
                None
            } else if let Some(parent_index) = chain_index[parent] {
                Some(parent_index)
            } else {
                continue;
            };
            let kind = match &stage.op {
                StageOp::Sample(sample) => ChainOpKind::Sample(*sample),
                StageOp::Detect(detect) => ChainOpKind::Detect(detect.clone()),
                StageOp::MakeSeries(_) => continue,
            };
            chain_index[index] = Some(chain.len());
            chain.push(ChainOp { stage_id: stage.id.clone(), input, kind });
            progressed = true;
        }
    }
    (chain, chain_index)
}

fn lake_outputs(spec: &JobSpec, chain_index: &[Option<usize>]) -> Vec<LakeOutput> {
    let mut outputs = Vec::new();
    for sink in &spec.sinks {
        let SinkSpec::Lake(sink) = sink else {
            continue;
        };
        let detect_ops: Vec<usize> = sink.inputs.iter().filter_map(|&stage| chain_index[stage]).collect();
        if detect_ops.is_empty() {
            continue;
        }
        outputs.push(LakeOutput {
            table_uri: sink.uri.clone(),
            columns: table_columns(spec, &sink.inputs),
            detect_ops,
        });
    }
    outputs
}

fn alert_outputs(spec: &JobSpec, chain_index: &[Option<usize>]) -> Vec<AlertOutput> {
    let mut outputs = Vec::new();
    for (index, sink) in spec.sinks.iter().enumerate() {
        let SinkSpec::Alerts(sink) = sink else {
            continue;
        };
        let detect_ops: Vec<usize> = sink.inputs.iter().filter_map(|&stage| chain_index[stage]).collect();
        if detect_ops.is_empty() {
            continue;
        }
        outputs.push(AlertOutput {
            sink: index as u32,
            detect_ops,
            min_score: sink.min_score,
            max_per_series: sink.max_per_series,
            max_per_run: sink.max_per_run,
            link: sink.link.clone(),
        });
    }
    outputs
}

/// Key and tag columns of a table: the union over the stages stored in it, in first-seen order.
fn table_columns(spec: &JobSpec, inputs: &[usize]) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for &stage in inputs {
        let StageOp::MakeSeries(make_series) = &spec.stages[spec.root_of(stage)].op else {
            continue;
        };
        for column in spec.key_columns(make_series).into_iter().chain(spec.tag_columns(make_series)) {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
    }
    columns
}

/// Consecutive files packed until a task reaches `target_bytes`; a big file is a task alone.
fn pack_files(files: &[&SourceFile], target_bytes: u64) -> Vec<Vec<String>> {
    let mut tasks = Vec::new();
    let mut current = Vec::new();
    let mut current_bytes = 0;
    for file in files {
        current.push(file.uri.clone());
        current_bytes += file.size_bytes;
        if current_bytes >= target_bytes {
            tasks.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
    }
    if !current.is_empty() {
        tasks.push(current);
    }
    tasks
}

#[cfg(test)]
mod tests;

//! Reduce side: merge a partition's shuffle files into regular series (make_series), then run
//! the chain of sample and detect ops over them and shape the anomalies into table rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int8Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{Float64Type, Int64Type, UInt32Type, UInt64Type};
use chrono::DateTime;
use fathom_detect::detector::{AnomalyKind, DetectorOutput, DetectorScratch, Mode, run_detector};
use fathom_detect::fill::{Fill, fill_gaps};
use rustc_hash::FxHashMap;

use crate::aggregate::{BucketState, bucket_count};
use crate::error::{CoreError, Result};
use crate::partition::sample_keeps;
use crate::schema::{
    BUCKET_COLUMN, COUNT_COLUMN, SERIES_INDEX_COLUMN, TS_COLUMN, VALUE_COLUMN, anomalies_schema, state_columns,
};
use crate::spec::{Agg, TimeWindow};
use crate::task::{ChainOp, ChainOpKind, LakeOutput, ShuffleSpec, TopAnomaly};

/// Merges the shuffle files of one partition into one state per (series, bucket).
pub struct SeriesMerger {
    agg: Agg,
    buckets: usize,
    window: TimeWindow,
    step_micros: i64,
    key_columns: Vec<String>,
    tag_columns: Vec<String>,
    index: FxHashMap<String, u32>,
    keys: Vec<String>,
    key_values: Vec<Vec<String>>,
    tags: Vec<Vec<Option<String>>>,
    states: Vec<BucketState>,
}

/// Regular series on one grid: `values[s * buckets + b]` is series `s` at bucket `b`.
#[derive(Debug)]
pub struct SeriesSet {
    pub start_micros: i64,
    pub step_micros: i64,
    pub buckets: usize,
    pub key_columns: Vec<String>,
    pub tag_columns: Vec<String>,
    pub keys: Vec<String>,
    pub key_values: Vec<Vec<String>>,
    pub tags: Vec<Vec<Option<String>>>,
    pub values: Vec<f64>,
}

impl SeriesSet {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn series(&self, index: usize) -> &[f64] {
        &self.values[index * self.buckets..(index + 1) * self.buckets]
    }

    /// The value of a key or tag column for a series, if the series has that column.
    pub(crate) fn column_value(&self, series: usize, column: &str) -> Option<&str> {
        if let Some(position) = self.key_columns.iter().position(|name| name == column) {
            return Some(self.key_values[series][position].as_str());
        }
        let position = self.tag_columns.iter().position(|name| name == column)?;
        self.tags[series][position].as_deref()
    }
}

fn shuffle_error(reason: impl Into<String>) -> CoreError {
    CoreError::ShuffleInput { reason: reason.into() }
}

impl SeriesMerger {
    pub fn new(shuffle: &ShuffleSpec, window: TimeWindow) -> Self {
        Self {
            agg: shuffle.agg,
            buckets: bucket_count(window, shuffle.step_micros),
            window,
            step_micros: shuffle.step_micros,
            key_columns: shuffle.key_columns.clone(),
            tag_columns: shuffle.tag_columns.clone(),
            index: FxHashMap::default(),
            keys: Vec::new(),
            key_values: Vec::new(),
            tags: Vec::new(),
            states: Vec::new(),
        }
    }

    /// Folds in one map task's output for this partition.
    pub fn add(&mut self, series: &RecordBatch, points: &RecordBatch) -> Result<()> {
        let expected_columns = 1 + self.key_columns.len() + self.tag_columns.len();
        if series.num_columns() != expected_columns {
            return Err(shuffle_error(format!(
                "series file has {} columns, expected {expected_columns}",
                series.num_columns()
            )));
        }
        let text = |column: usize| {
            series.column(column).as_string_opt::<i32>().ok_or_else(|| shuffle_error("series columns must be utf8"))
        };
        let names = text(0)?;
        let key_arrays = (1..=self.key_columns.len()).map(text).collect::<Result<Vec<_>>>()?;
        let tag_arrays = (1 + self.key_columns.len()..expected_columns).map(text).collect::<Result<Vec<_>>>()?;
        let mut local_to_global = Vec::with_capacity(series.num_rows());
        for row in 0..series.num_rows() {
            let key = names.value(row);
            let global = match self.index.get(key) {
                Some(global) => *global,
                None => {
                    let global = self.keys.len() as u32;
                    self.index.insert(key.to_string(), global);
                    self.keys.push(key.to_string());
                    self.key_values.push(key_arrays.iter().map(|array| array.value(row).to_string()).collect());
                    self.tags.push(
                        tag_arrays
                            .iter()
                            .map(|array| (!array.is_null(row)).then(|| array.value(row).to_string()))
                            .collect(),
                    );
                    self.states.resize(self.states.len() + self.buckets, BucketState::EMPTY);
                    global
                }
            };
            local_to_global.push(global);
        }

        let column = |name: &str| {
            points.column_by_name(name).ok_or_else(|| shuffle_error(format!("points file has no {name:?} column")))
        };
        let series_index = column(SERIES_INDEX_COLUMN)?
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| shuffle_error("series_index must be u32"))?;
        let bucket = column(BUCKET_COLUMN)?
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| shuffle_error("bucket must be u32"))?;
        let wanted = state_columns(self.agg);
        let count = if wanted.count {
            Some(
                column(COUNT_COLUMN)?
                    .as_primitive_opt::<UInt64Type>()
                    .ok_or_else(|| shuffle_error("count must be u64"))?,
            )
        } else {
            None
        };
        let value = if wanted.value {
            Some(
                column(VALUE_COLUMN)?
                    .as_primitive_opt::<Float64Type>()
                    .ok_or_else(|| shuffle_error("value must be f64"))?,
            )
        } else {
            None
        };
        let ts = if wanted.ts {
            Some(column(TS_COLUMN)?.as_primitive_opt::<Int64Type>().ok_or_else(|| shuffle_error("ts must be i64"))?)
        } else {
            None
        };
        for row in 0..points.num_rows() {
            let local = series_index.value(row) as usize;
            let bucket = bucket.value(row) as usize;
            let Some(&global) = local_to_global.get(local) else {
                return Err(shuffle_error(format!("point refers to series {local} of {}", local_to_global.len())));
            };
            if bucket >= self.buckets {
                return Err(shuffle_error(format!("bucket {bucket} is outside the window's {} buckets", self.buckets)));
            }
            let state = BucketState {
                count: count.map_or(1, |count| count.value(row)),
                value: value.map_or(0.0, |value| value.value(row)),
                ts: ts.map_or(0, |ts| ts.value(row)),
            };
            self.states[global as usize * self.buckets + bucket].merge(self.agg, state);
        }
        Ok(())
    }

    /// Finishes every bucket and fills the gaps: the make_series output.
    pub fn finish(self, fill: Fill) -> SeriesSet {
        let mut values: Vec<f64> = self.states.iter().map(|state| state.finish(self.agg)).collect();
        if self.buckets > 0 {
            for series in values.chunks_mut(self.buckets) {
                fill_gaps(series, fill);
            }
        }
        SeriesSet {
            start_micros: self.window.start_micros,
            step_micros: self.step_micros,
            buckets: self.buckets,
            key_columns: self.key_columns,
            tag_columns: self.tag_columns,
            keys: self.keys,
            key_values: self.key_values,
            tags: self.tags,
            values,
        }
    }
}

/// One flagged point of one detect op.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnomalyRow {
    pub series: u32,
    pub bucket: u32,
    pub value: f64,
    pub baseline: f64,
    pub score: f64,
    pub flag: i8,
    pub kind: AnomalyKind,
}

/// Runs the chain over a series set. Returns, per chain op, the anomalies of detect ops
/// (`None` for sample ops). Buffers are reused across series: no allocation per series.
pub fn run_chain(set: &SeriesSet, chain: &[ChainOp]) -> Vec<Option<Vec<AnomalyRow>>> {
    let all: Vec<u32> = (0..set.len() as u32).collect();
    let mut selections: Vec<Vec<u32>> = Vec::with_capacity(chain.len());
    let mut results = Vec::with_capacity(chain.len());
    let mut scratch = DetectorScratch::default();
    let mut output = DetectorOutput::default();
    for op in chain {
        let input: &[u32] = match op.input {
            None => &all,
            Some(parent) => &selections[parent],
        };
        match &op.kind {
            ChainOpKind::Sample(sample) => {
                let kept = input
                    .iter()
                    .copied()
                    .filter(|series| sample_keeps(&set.keys[*series as usize], sample.fraction, sample.seed))
                    .collect();
                selections.push(kept);
                results.push(None);
            }
            ChainOpKind::Detect(detect) => {
                let mut rows = Vec::new();
                for &series in input {
                    let values = set.series(series as usize);
                    run_detector(&detect.detector, values, Mode::Batch, &mut output, &mut scratch);
                    for (bucket, flag) in output.flag.iter().enumerate() {
                        if *flag != 0 {
                            rows.push(AnomalyRow {
                                series,
                                bucket: bucket as u32,
                                value: values[bucket],
                                baseline: output.baseline[bucket],
                                score: output.score[bucket],
                                flag: *flag,
                                kind: output.kind[bucket],
                            });
                        }
                    }
                }
                // Validation keeps detect ops at the leaves; their selection is only a placeholder
                // that keeps `selections` indexed like `chain`.
                selections.push(Vec::new());
                results.push(Some(rows));
            }
        }
    }
    results
}

/// Identifies the job run on every row it writes.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub job_name: String,
    pub window: TimeWindow,
}

const DAY_MICROS: i64 = 86_400_000_000;

fn date_of(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros.div_euclid(DAY_MICROS) * DAY_MICROS)
        .map(|time| time.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".to_string())
}

/// The rows of one lake output, split by the `date` partition of their timestamp.
pub fn anomaly_batches(
    set: &SeriesSet,
    chain: &[ChainOp],
    results: &[Option<Vec<AnomalyRow>>],
    output: &LakeOutput,
    run: &RunInfo,
) -> Result<Vec<(String, RecordBatch)>> {
    let mut by_date: BTreeMap<String, Vec<(usize, AnomalyRow)>> = BTreeMap::new();
    for &op in &output.detect_ops {
        for row in results.get(op).and_then(Option::as_ref).into_iter().flatten() {
            let ts = set.start_micros + i64::from(row.bucket) * set.step_micros;
            by_date.entry(date_of(ts)).or_default().push((op, *row));
        }
    }
    let schema = anomalies_schema(&output.columns);
    let mut batches = Vec::with_capacity(by_date.len());
    for (date, rows) in by_date {
        let length = rows.len();
        let constant =
            |text: &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(std::iter::repeat_n(text, length))) };
        let constant_time = |micros: i64| -> ArrayRef {
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(std::iter::repeat_n(micros, length)).with_timezone("UTC"),
            )
        };
        let mut columns: Vec<ArrayRef> = vec![
            constant(&run.job_name),
            constant_time(run.window.start_micros),
            constant_time(run.window.end_micros),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|(op, _)| chain[*op].stage_id.as_str()))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, row)| set.keys[row.series as usize].as_str()))),
        ];
        for column in &output.columns {
            columns.push(Arc::new(StringArray::from_iter(
                rows.iter().map(|(_, row)| set.column_value(row.series as usize, column)),
            )));
        }
        let finite = |value: f64| value.is_finite().then_some(value);
        columns.extend([
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(
                    rows.iter().map(|(_, row)| set.start_micros + i64::from(row.bucket) * set.step_micros),
                )
                .with_timezone("UTC"),
            ) as ArrayRef,
            Arc::new(Float64Array::from_iter(rows.iter().map(|(_, row)| finite(row.value)))),
            Arc::new(Float64Array::from_iter(rows.iter().map(|(_, row)| finite(row.baseline)))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|(_, row)| row.score))),
            Arc::new(Int8Array::from_iter_values(rows.iter().map(|(_, row)| row.flag))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|(_, row)| row.kind.name()))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|(op, _)| match &chain[*op].kind {
                ChainOpKind::Detect(detect) => detect.detector.name(),
                ChainOpKind::Sample(_) => "sample",
            }))),
        ]);
        let batch =
            RecordBatch::try_new(schema.clone(), columns).map_err(CoreError::arrow("building anomalies batch"))?;
        batches.push((date, batch));
    }
    Ok(batches)
}

/// The `limit` strongest anomalies of a chain's results, for the job summary.
pub fn top_anomalies(
    set: &SeriesSet,
    chain: &[ChainOp],
    results: &[Option<Vec<AnomalyRow>>],
    limit: usize,
) -> Vec<TopAnomaly> {
    let mut top = Vec::new();
    for (op, rows) in results.iter().enumerate() {
        for row in rows.iter().flatten() {
            top.push(TopAnomaly {
                stage: chain[op].stage_id.clone(),
                series: set.keys[row.series as usize].clone(),
                ts_micros: set.start_micros + i64::from(row.bucket) * set.step_micros,
                value: row.value,
                baseline: row.baseline,
                score: row.score,
                kind: row.kind.name().to_string(),
            });
        }
        // Bound memory on anomaly-heavy data: keep the running best only.
        if top.len() > limit * 4 {
            crate::task::keep_top(&mut top, limit);
        }
    }
    crate::task::keep_top(&mut top, limit);
    top
}

#[cfg(test)]
mod tests;

//! Map-side partial aggregation: raw points -> one state per (series, bucket), hash-partitioned.
//!
//! This is Spark's partial aggregate before a shuffle. A scan task keeps a state per bucket
//! that the reduce side can merge with states from other files, so a 10-minute series bucketed
//! hourly moves one sixth of its points through the shuffle. Series keys arrive dictionary
//! encoded; each distinct dictionary value is hashed once per batch, not once per row.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array,
    UInt64Array,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int32Type, TimeUnit, TimestampMicrosecondType};
use rustc_hash::FxHashMap;

use crate::error::{CoreError, Result};
use crate::partition::{KEY_SEPARATOR, partition_of};
use crate::schema::{shuffle_points_schema, shuffle_series_schema, state_columns};
use crate::spec::{Agg, TimeWindow};
use crate::task::{ShuffleSpec, TaskMetrics};

/// The mergeable state of one bucket. `count` is always kept in memory (0 = empty bucket); what
/// `value` and `ts` mean depends on the aggregation (sum, min, max, or the first/last point).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketState {
    pub count: u64,
    pub value: f64,
    pub ts: i64,
}

impl BucketState {
    pub const EMPTY: BucketState = BucketState { count: 0, value: 0.0, ts: 0 };

    /// Folds another state into this one. Ties between points at the same timestamp are broken
    /// by value, so `first`/`last` do not depend on the order files were read in.
    #[inline]
    pub fn merge(&mut self, agg: Agg, other: BucketState) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other;
            return;
        }
        match agg {
            Agg::Avg | Agg::Sum => self.value += other.value,
            Agg::Count => {}
            Agg::Min => self.value = self.value.min(other.value),
            Agg::Max => self.value = self.value.max(other.value),
            Agg::First => {
                if other.ts < self.ts || (other.ts == self.ts && other.value < self.value) {
                    self.ts = other.ts;
                    self.value = other.value;
                }
            }
            Agg::Last => {
                if other.ts > self.ts || (other.ts == self.ts && other.value > self.value) {
                    self.ts = other.ts;
                    self.value = other.value;
                }
            }
        }
        self.count += other.count;
    }

    /// The bucket's value on the series grid; NaN for an empty bucket (filled later).
    #[inline]
    pub fn finish(&self, agg: Agg) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        match agg {
            Agg::Avg => self.value / self.count as f64,
            Agg::Count => self.count as f64,
            _ => self.value,
        }
    }
}

/// Number of buckets of `step` in a window (the last one may be partial).
pub fn bucket_count(window: TimeWindow, step_micros: i64) -> usize {
    ((window.end_micros - window.start_micros) as u64).div_ceil(step_micros as u64) as usize
}

/// Interns the distinct strings of one key or tag column.
#[derive(Default)]
struct Interner {
    ids: FxHashMap<String, u32>,
    values: Vec<String>,
}

impl Interner {
    fn intern(&mut self, value: &str) -> u32 {
        if let Some(id) = self.ids.get(value) {
            return *id;
        }
        let id = self.values.len() as u32;
        self.ids.insert(value.to_string(), id);
        self.values.push(value.to_string());
        id
    }
}

struct Group {
    key: String,
    key_values: Vec<u32>,
    tags: Vec<Option<String>>,
}

/// Shuffle output of one partition: one row per series, one row per (series, bucket).
#[derive(Debug)]
pub struct PartitionOutput {
    pub series: RecordBatch,
    pub points: RecordBatch,
}

pub struct PartialAggregator {
    shuffle: ShuffleSpec,
    window: TimeWindow,
    key_interners: Vec<Interner>,
    /// Single-column keys: interned value id -> group id (u32::MAX = none yet).
    single_key_groups: Vec<u32>,
    multi_key_groups: FxHashMap<Vec<u32>, u32>,
    groups: Vec<Group>,
    slots: FxHashMap<u64, u32>,
    states: Vec<BucketState>,
    slot_keys: Vec<(u32, u32)>,
}

/// The columns of a scan batch, normalised: keys and tags as string dictionaries, time in
/// microseconds, values as f64.
pub struct ScanColumns {
    keys: Vec<DictionaryArray<Int32Type>>,
    tags: Vec<DictionaryArray<Int32Type>>,
    ts: arrow::array::TimestampMicrosecondArray,
    values: Float64Array,
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| CoreError::MissingColumn {
        column: name.to_string(),
        found: batch.schema().fields().iter().map(|field| field.name().as_str()).collect::<Vec<_>>().join(", "),
    })
}

fn as_string_dictionary(array: &ArrayRef, name: &str) -> Result<DictionaryArray<Int32Type>> {
    let target = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    if array.data_type() == &target {
        return Ok(array.as_dictionary::<Int32Type>().clone());
    }
    let as_text = match array.data_type() {
        DataType::Dictionary(_, _) | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => array.clone(),
        data_type if data_type.is_integer() => {
            cast(array, &DataType::Utf8).map_err(CoreError::arrow("casting a key column to text"))?
        }
        data_type => {
            return Err(CoreError::ColumnType {
                column: name.to_string(),
                data_type: data_type.to_string(),
                expected: "a string or integer",
            });
        }
    };
    let cast_array = cast(&as_text, &target).map_err(CoreError::arrow("dictionary-encoding a key column"))?;
    Ok(cast_array.as_dictionary::<Int32Type>().clone())
}

impl ScanColumns {
    pub fn from_batch(batch: &RecordBatch, shuffle: &ShuffleSpec, timestamp: &str, value: &str) -> Result<ScanColumns> {
        let keys = shuffle
            .key_columns
            .iter()
            .map(|name| as_string_dictionary(column(batch, name)?, name))
            .collect::<Result<Vec<_>>>()?;
        let tags = shuffle
            .tag_columns
            .iter()
            .map(|name| as_string_dictionary(column(batch, name)?, name))
            .collect::<Result<Vec<_>>>()?;
        let ts_array = column(batch, timestamp)?;
        let ts = match ts_array.data_type() {
            DataType::Timestamp(_, _) => cast(ts_array, &DataType::Timestamp(TimeUnit::Microsecond, None))
                .map_err(CoreError::arrow("converting timestamps to microseconds"))?
                .as_primitive::<TimestampMicrosecondType>()
                .clone(),
            other => {
                return Err(CoreError::ColumnType {
                    column: timestamp.to_string(),
                    data_type: other.to_string(),
                    expected: "a timestamp",
                });
            }
        };
        let value_array = column(batch, value)?;
        if !value_array.data_type().is_numeric() {
            return Err(CoreError::ColumnType {
                column: value.to_string(),
                data_type: value_array.data_type().to_string(),
                expected: "a number",
            });
        }
        let values = cast(value_array, &DataType::Float64)
            .map_err(CoreError::arrow("converting values to f64"))?
            .as_primitive::<Float64Type>()
            .clone();
        Ok(ScanColumns { keys, tags, ts, values })
    }
}

impl PartialAggregator {
    pub fn new(shuffle: ShuffleSpec, window: TimeWindow) -> Self {
        let key_interners = shuffle.key_columns.iter().map(|_| Interner::default()).collect();
        Self {
            shuffle,
            window,
            key_interners,
            single_key_groups: Vec::new(),
            multi_key_groups: FxHashMap::default(),
            groups: Vec::new(),
            slots: FxHashMap::default(),
            states: Vec::new(),
            slot_keys: Vec::new(),
        }
    }

    pub fn shuffle(&self) -> &ShuffleSpec {
        &self.shuffle
    }

    /// Folds one batch in. Rows outside the window, with a null time, or with a null, NaN or
    /// infinite value are dropped and counted in `metrics.rows_dropped`.
    pub fn add(&mut self, columns: &ScanColumns, metrics: &mut TaskMetrics) {
        let rows = columns.ts.len();
        // Per key column: dictionary index -> interned id, computed once per batch.
        let key_maps: Vec<Vec<u32>> = columns
            .keys
            .iter()
            .zip(self.key_interners.iter_mut())
            .map(|(dictionary, interner)| {
                let values = dictionary.values().as_string::<i32>();
                (0..values.len()).map(|index| interner.intern(values.value(index))).collect()
            })
            .collect();
        let step = self.shuffle.step_micros;
        let (start, end) = (self.window.start_micros, self.window.end_micros);
        let mut scratch_key: Vec<u32> = Vec::with_capacity(key_maps.len());
        for row in 0..rows {
            if columns.ts.is_null(row) || columns.values.is_null(row) {
                metrics.rows_dropped += 1;
                continue;
            }
            let ts = columns.ts.value(row);
            let value = columns.values.value(row);
            if ts < start || ts >= end || !value.is_finite() {
                metrics.rows_dropped += 1;
                continue;
            }
            scratch_key.clear();
            let mut null_key = false;
            for (dictionary, map) in columns.keys.iter().zip(&key_maps) {
                if dictionary.is_null(row) {
                    null_key = true;
                    break;
                }
                scratch_key.push(map[dictionary.keys().value(row) as usize]);
            }
            if null_key {
                metrics.rows_dropped += 1;
                continue;
            }
            let group = self.group_of(&scratch_key, columns, row);
            let bucket = ((ts - start) / step) as u32;
            let slot_key = (u64::from(group) << 32) | u64::from(bucket);
            let state = BucketState { count: 1, value, ts };
            match self.slots.get(&slot_key) {
                Some(&slot) => self.states[slot as usize].merge(self.shuffle.agg, state),
                None => {
                    self.slots.insert(slot_key, self.states.len() as u32);
                    self.states.push(state);
                    self.slot_keys.push((group, bucket));
                }
            }
        }
    }

    fn group_of(&mut self, key: &[u32], columns: &ScanColumns, row: usize) -> u32 {
        let existing = if key.len() == 1 {
            self.single_key_groups.get(key[0] as usize).copied().filter(|group| *group != u32::MAX)
        } else {
            self.multi_key_groups.get(key).copied()
        };
        if let Some(group) = existing {
            return group;
        }
        let group = self.groups.len() as u32;
        let values: Vec<&str> =
            key.iter().zip(&self.key_interners).map(|(id, interner)| interner.values[*id as usize].as_str()).collect();
        let tags = columns
            .tags
            .iter()
            .map(|dictionary| {
                (!dictionary.is_null(row)).then(|| {
                    let values = dictionary.values().as_string::<i32>();
                    values.value(dictionary.keys().value(row) as usize).to_string()
                })
            })
            .collect();
        self.groups.push(Group { key: values.join(KEY_SEPARATOR), key_values: key.to_vec(), tags });
        if key.len() == 1 {
            let index = key[0] as usize;
            if self.single_key_groups.len() <= index {
                self.single_key_groups.resize(index + 1, u32::MAX);
            }
            self.single_key_groups[index] = group;
        } else {
            self.multi_key_groups.insert(key.to_vec(), group);
        }
        group
    }

    /// The shuffle output, one entry per partition (empty partitions have zero rows).
    pub fn finish(self) -> Result<Vec<PartitionOutput>> {
        let partitions = self.shuffle.partitions as usize;
        let mut local_index = vec![(0_u32, 0_u32); self.groups.len()];
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); partitions];
        for (group, entry) in self.groups.iter().enumerate() {
            let partition = partition_of(&entry.key, self.shuffle.partitions) as usize;
            local_index[group] = (partition as u32, members[partition].len() as u32);
            members[partition].push(group as u32);
        }
        let mut slots_by_partition: Vec<Vec<u32>> = vec![Vec::new(); partitions];
        for (slot, (group, _)) in self.slot_keys.iter().enumerate() {
            slots_by_partition[local_index[*group as usize].0 as usize].push(slot as u32);
        }

        let series_schema = shuffle_series_schema(&self.shuffle.key_columns, &self.shuffle.tag_columns);
        let points_schema = shuffle_points_schema(self.shuffle.agg);
        let wanted = state_columns(self.shuffle.agg);
        let mut outputs = Vec::with_capacity(partitions);
        for partition in 0..partitions {
            let groups = &members[partition];
            let mut series_columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from_iter_values(
                groups.iter().map(|group| self.groups[*group as usize].key.as_str()),
            ))];
            for (column, interner) in self.key_interners.iter().enumerate() {
                series_columns.push(Arc::new(StringArray::from_iter_values(
                    groups.iter().map(|group| {
                        interner.values[self.groups[*group as usize].key_values[column] as usize].as_str()
                    }),
                )));
            }
            for column in 0..self.shuffle.tag_columns.len() {
                series_columns.push(Arc::new(StringArray::from_iter(
                    groups.iter().map(|group| self.groups[*group as usize].tags[column].as_deref()),
                )));
            }
            let series = RecordBatch::try_new(series_schema.clone(), series_columns)
                .map_err(CoreError::arrow("building shuffle series batch"))?;

            let slots = &slots_by_partition[partition];
            let mut point_columns: Vec<ArrayRef> = vec![
                Arc::new(UInt32Array::from_iter_values(
                    slots.iter().map(|slot| local_index[self.slot_keys[*slot as usize].0 as usize].1),
                )),
                Arc::new(UInt32Array::from_iter_values(slots.iter().map(|slot| self.slot_keys[*slot as usize].1))),
            ];
            if wanted.count {
                point_columns.push(Arc::new(UInt64Array::from_iter_values(
                    slots.iter().map(|slot| self.states[*slot as usize].count),
                )));
            }
            if wanted.value {
                point_columns.push(Arc::new(Float64Array::from_iter_values(
                    slots.iter().map(|slot| self.states[*slot as usize].value),
                )));
            }
            if wanted.ts {
                point_columns.push(Arc::new(Int64Array::from_iter_values(
                    slots.iter().map(|slot| self.states[*slot as usize].ts),
                )));
            }
            let points = RecordBatch::try_new(points_schema.clone(), point_columns)
                .map_err(CoreError::arrow("building shuffle points batch"))?;
            outputs.push(PartitionOutput { series, points });
        }
        Ok(outputs)
    }
}

#[cfg(test)]
mod tests;

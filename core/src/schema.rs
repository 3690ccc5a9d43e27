//! Arrow schemas at the engine's boundaries: the two shuffle files a map task writes per
//! partition, and the anomalies table.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::spec::Agg;

pub const SERIES_COLUMN: &str = "series";
pub const SERIES_INDEX_COLUMN: &str = "series_index";
pub const BUCKET_COLUMN: &str = "bucket";
pub const COUNT_COLUMN: &str = "count";
pub const VALUE_COLUMN: &str = "value";
pub const TS_COLUMN: &str = "ts";

/// Partition column of the anomalies table (not stored in the data files, as Delta requires).
pub const DATE_COLUMN: &str = "date";

/// Timestamps everywhere in Fathom's outputs: microseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// One row per series in a shuffle partition: its key, key column values and tags.
pub fn shuffle_series_schema(key_columns: &[String], tag_columns: &[String]) -> SchemaRef {
    let mut fields = vec![Field::new(SERIES_COLUMN, DataType::Utf8, false)];
    fields.extend(key_columns.iter().map(|name| Field::new(name, DataType::Utf8, false)));
    fields.extend(tag_columns.iter().map(|name| Field::new(name, DataType::Utf8, true)));
    Arc::new(Schema::new(fields))
}

/// Which parts of a bucket's state an aggregation needs on the wire.
pub struct StateColumns {
    pub count: bool,
    pub value: bool,
    pub ts: bool,
}

pub fn state_columns(agg: Agg) -> StateColumns {
    StateColumns {
        count: matches!(agg, Agg::Avg | Agg::Count),
        value: !matches!(agg, Agg::Count),
        ts: matches!(agg, Agg::First | Agg::Last),
    }
}

/// One row per (series, bucket) in a shuffle partition: the partial aggregate.
pub fn shuffle_points_schema(agg: Agg) -> SchemaRef {
    let wanted = state_columns(agg);
    let mut fields = vec![
        Field::new(SERIES_INDEX_COLUMN, DataType::UInt32, false),
        Field::new(BUCKET_COLUMN, DataType::UInt32, false),
    ];
    if wanted.count {
        fields.push(Field::new(COUNT_COLUMN, DataType::UInt64, false));
    }
    if wanted.value {
        fields.push(Field::new(VALUE_COLUMN, DataType::Float64, false));
    }
    if wanted.ts {
        fields.push(Field::new(TS_COLUMN, DataType::Int64, false));
    }
    Arc::new(Schema::new(fields))
}

/// The anomalies table as stored in Parquet data files; `columns` are the table's key and tag
/// columns. The Delta table adds the `date` partition column.
pub fn anomalies_schema(columns: &[String]) -> SchemaRef {
    let mut fields = vec![
        Field::new("job", DataType::Utf8, false),
        Field::new("window_start", timestamp_type(), false),
        Field::new("window_end", timestamp_type(), false),
        Field::new("stage", DataType::Utf8, false),
        Field::new(SERIES_COLUMN, DataType::Utf8, false),
    ];
    fields.extend(columns.iter().map(|name| Field::new(name, DataType::Utf8, true)));
    fields.extend([
        Field::new(TS_COLUMN, timestamp_type(), false),
        Field::new(VALUE_COLUMN, DataType::Float64, true),
        Field::new("baseline", DataType::Float64, true),
        Field::new("score", DataType::Float64, false),
        Field::new("flag", DataType::Int8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("detector", DataType::Utf8, false),
    ]);
    Arc::new(Schema::new(fields))
}

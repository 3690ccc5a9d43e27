use std::sync::Arc;

use arrow::array::{ArrayRef, DictionaryArray, Float64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::Int32Type;
use fathom_detect::fill::Fill;

use super::*;
use crate::series::SeriesMerger;

const HOUR: i64 = 3_600_000_000;

fn shuffle(agg: Agg, partitions: u32) -> ShuffleSpec {
    ShuffleSpec {
        shuffle_id: 0,
        key_columns: vec!["id".to_string()],
        tag_columns: vec!["region".to_string()],
        step_micros: HOUR,
        agg,
        partitions,
    }
}

fn window() -> TimeWindow {
    TimeWindow { start_micros: 0, end_micros: 4 * HOUR }
}

/// Rows of (id, region, time in minutes, value); ids dictionary-encoded, regions plain text,
/// times in milliseconds: the scan must normalise all of it.
fn batch(rows: &[(&str, &str, i64, f64)]) -> RecordBatch {
    let ids: DictionaryArray<Int32Type> = rows.iter().map(|row| row.0).collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ids),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|row| row.1))),
        Arc::new(TimestampMillisecondArray::from_iter_values(rows.iter().map(|row| row.2 * 60_000))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|row| row.3))),
    ];
    RecordBatch::try_from_iter(["id", "region", "ts", "value"].into_iter().zip(columns)).expect("batch")
}

fn aggregate(
    agg: Agg,
    partitions: u32,
    files: &[Vec<(&str, &str, i64, f64)>],
) -> (Vec<Vec<PartitionOutput>>, TaskMetrics) {
    let mut metrics = TaskMetrics::default();
    let outputs = files
        .iter()
        .map(|rows| {
            let mut aggregator = PartialAggregator::new(shuffle(agg, partitions), window());
            let columns = ScanColumns::from_batch(&batch(rows), aggregator.shuffle(), "ts", "value").expect("columns");
            aggregator.add(&columns, &mut metrics);
            aggregator.finish().expect("finish")
        })
        .collect();
    (outputs, metrics)
}

fn merged(agg: Agg, files: &[Vec<(&str, &str, i64, f64)>]) -> Vec<(String, Vec<f64>)> {
    let (outputs, _) = aggregate(agg, 1, files);
    let mut merger = SeriesMerger::new(&shuffle(agg, 1), window());
    for output in &outputs {
        merger.add(&output[0].series, &output[0].points).expect("merge");
    }
    let set = merger.finish(Fill::Null);
    let mut series: Vec<(String, Vec<f64>)> =
        (0..set.len()).map(|index| (set.keys[index].clone(), set.series(index).to_vec())).collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    series
}

fn files() -> Vec<Vec<(&'static str, &'static str, i64, f64)>> {
    // Series "a" is spread over two files, out of order, with a duplicate timestamp at minute 10.
    vec![
        vec![("a", "eu", 70, 4.0), ("a", "eu", 10, 1.0), ("b", "us", 0, 10.0)],
        vec![("a", "eu", 10, 3.0), ("a", "eu", 20, 2.0), ("b", "us", 200, 7.0)],
    ]
}

fn same(actual: &[f64], expected: &[f64]) -> bool {
    actual.len() == expected.len()
        && actual.iter().zip(expected).all(|(a, e)| (a.is_nan() && e.is_nan()) || (a - e).abs() < 1e-12)
}

#[test]
fn partial_aggregates_merge_to_the_exact_answer() {
    let nan = f64::NAN;
    let expectations = [
        (Agg::Avg, [2.0, 4.0, nan, nan], [10.0, nan, nan, 7.0]),
        (Agg::Sum, [6.0, 4.0, nan, nan], [10.0, nan, nan, 7.0]),
        (Agg::Count, [3.0, 1.0, nan, nan], [1.0, nan, nan, 1.0]),
        (Agg::Min, [1.0, 4.0, nan, nan], [10.0, nan, nan, 7.0]),
        (Agg::Max, [3.0, 4.0, nan, nan], [10.0, nan, nan, 7.0]),
        // Duplicate timestamp 10 holds 1.0 and 3.0: first takes the smaller, whatever the file order.
        (Agg::First, [1.0, 4.0, nan, nan], [10.0, nan, nan, 7.0]),
        (Agg::Last, [2.0, 4.0, nan, nan], [10.0, nan, nan, 7.0]),
    ];
    for (agg, a, b) in expectations {
        let series = merged(agg, &files());
        assert_eq!(series.len(), 2);
        assert!(same(&series[0].1, &a), "{agg:?} a: {:?}", series[0].1);
        assert!(same(&series[1].1, &b), "{agg:?} b: {:?}", series[1].1);
        let mut reversed = files();
        reversed.reverse();
        let again = merged(agg, &reversed);
        assert!(same(&again[0].1, &a) && same(&again[1].1, &b), "{agg:?} depends on file order");
    }
}

#[test]
fn bad_values_and_rows_outside_the_window_are_dropped_and_counted() {
    let rows = vec![
        ("a", "eu", 0, f64::NAN),
        ("a", "eu", 1, f64::INFINITY),
        ("a", "eu", 2, 5.0),
        ("a", "eu", -1, 5.0),
        ("a", "eu", 240, 5.0),
    ];
    let (outputs, metrics) = aggregate(Agg::Avg, 1, &[rows]);
    assert_eq!(metrics.rows_dropped, 4);
    assert_eq!(outputs[0][0].points.num_rows(), 1);
}

#[test]
fn every_series_goes_to_exactly_one_partition() {
    let rows: Vec<(String, i64)> = (0..200).map(|index| (format!("s{index}"), index % 240)).collect();
    let borrowed: Vec<(&str, &str, i64, f64)> =
        rows.iter().map(|(id, minute)| (id.as_str(), "eu", *minute, 1.0)).collect();
    let (outputs, _) = aggregate(Agg::Sum, 5, &[borrowed]);
    let mut seen: Vec<String> = Vec::new();
    for (partition, output) in outputs[0].iter().enumerate() {
        let names = output.series.column(0).as_string::<i32>();
        for row in 0..names.len() {
            assert_eq!(crate::partition::partition_of(names.value(row), 5) as usize, partition);
            seen.push(names.value(row).to_string());
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 200);
}

#[test]
fn missing_and_mistyped_columns_are_named() {
    let error = ScanColumns::from_batch(&batch(&[("a", "eu", 0, 1.0)]), &shuffle(Agg::Avg, 1), "time", "value")
        .err()
        .expect("missing column");
    assert_eq!(error.to_string(), "source data is missing column \"time\" (found: id, region, ts, value)");
    let error = ScanColumns::from_batch(&batch(&[("a", "eu", 0, 1.0)]), &shuffle(Agg::Avg, 1), "ts", "region")
        .err()
        .expect("text values");
    assert_eq!(error.to_string(), "column \"region\" has type Utf8, expected a number");
}

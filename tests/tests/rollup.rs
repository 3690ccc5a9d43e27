//! A `group_by` roll-up is a second shuffle over the same scan: its series are sums over the
//! grouped source series, and its anomalies land in their own table with the group columns.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use fathom_client::{EmbeddedOptions, run_embedded};
use fathom_core::job::JobState;
use fathom_tests::read_delta;

const START: i64 = 1_767_571_200_000_000; // 2026-01-05T00:00:00Z
const HOUR: i64 = 3_600_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_roll_up_sums_series_per_group_and_flags_the_group() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // 14 days of hourly points: six series in two regions, each a daily sine. Series "eu-2" has a
    // spike at hour 200, which must show in the eu roll-up (sum of three series) at that hour.
    let series = [("eu-1", "eu"), ("eu-2", "eu"), ("eu-3", "eu"), ("us-1", "us"), ("us-2", "us"), ("us-3", "us")];
    for day in 0..14 {
        let mut rows: Vec<(&str, &str, i64, f64)> = Vec::new();
        for (index, (id, region)) in series.iter().enumerate() {
            for hour in day * 24..(day + 1) * 24 {
                let phase = std::f64::consts::TAU * hour as f64 / 24.0;
                let wiggle = ((hour * 31 + index as i64 * 7) % 11) as f64 * 0.05;
                let spike = if *id == "eu-2" && hour == 200 { 50.0 } else { 0.0 };
                rows.push((id, region, START + hour * HOUR, 10.0 + 3.0 * phase.sin() + wiggle + spike));
            }
        }
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("series_id", Arc::new(StringArray::from_iter_values(rows.iter().map(|row| row.0)))),
            ("region", Arc::new(StringArray::from_iter_values(rows.iter().map(|row| row.1)))),
            (
                "ts",
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(rows.iter().map(|row| row.2)).with_timezone("UTC"),
                ),
            ),
            ("value", Arc::new(Float64Array::from_iter_values(rows.iter().map(|row| row.3)))),
        ];
        let batch = RecordBatch::try_from_iter(columns)?;
        let folder = dir.path().join(format!("raw/date=2026-01-{:02}", 5 + day));
        std::fs::create_dir_all(&folder)?;
        let mut writer = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(folder.join("p.parquet"))?,
            batch.schema(),
            None,
        )?;
        writer.write(&batch)?;
        writer.close()?;
    }
    let root = dir.path().display();
    let spec = format!(
        r#"
version = 1
name = "rollup"
[source]
uri = "{root}/raw"
series_key = ["series_id"]
timestamp = "ts"
value = "value"
tags = ["region"]
[window]
start = "2026-01-05T00:00:00Z"
end = "2026-01-19T00:00:00Z"
[[stage]]
id = "by_region"
op = "make_series"
input = "source"
group_by = ["region"]
step = "1h"
agg = "sum"
[[stage]]
id = "region_anomalies"
op = "detect"
input = "by_region"
detector = "decompose"
seasonality = 24
threshold = 3.0
[[sink]]
kind = "lake"
input = ["region_anomalies"]
uri = "{root}/lake/regions"
"#
    );
    let status = run_embedded(&spec, EmbeddedOptions { workers: 2, slots_per_worker: 1, partitions: Some(2) }).await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);
    assert_eq!(status.metrics.series, 2, "one series per region");
    let table = read_delta(&dir.path().join("lake/regions"))?;
    assert!(
        table.columns.contains(&"region".to_string()) && !table.columns.contains(&"series_id".to_string()),
        "{:?}",
        table.columns
    );
    let flagged: Vec<(&str, i64, i64)> =
        table.rows.iter().map(|row| (row.series.as_str(), row.ts_micros, row.flag)).collect();
    assert_eq!(flagged, vec![("eu", START + 200 * HOUR, 1)]);
    let top = &status.top_anomalies[0];
    // The roll-up value is the sum of the three eu series at that hour, spike included.
    let expected: f64 = (1..=3)
        .map(|index: i64| {
            let phase = std::f64::consts::TAU * 200.0 / 24.0;
            10.0 + 3.0 * phase.sin() + ((200 * 31 + (index - 1) * 7) % 11) as f64 * 0.05
        })
        .sum::<f64>()
        + 50.0;
    assert!((top.value - expected).abs() < 1e-9, "{} vs {expected}", top.value);
    Ok(())
}

//! A whole job on an embedded cluster: generated, labelled data in; a Delta table out, read back
//! with Python deltalake and DuckDB; the injected spikes and dips found at the right series and
//! hours.

use std::collections::{BTreeMap, BTreeSet};

use fathom_client::generate::{AnomalyKind, GenOptions, generate, injected};
use fathom_client::{EmbeddedOptions, run_embedded};
use fathom_core::job::JobState;
use fathom_tests::{demo_spec, read_delta};

fn options(out: &std::path::Path) -> GenOptions {
    GenOptions {
        series: 400,
        days: 30,
        step_micros: 600_000_000,
        start_micros: 1_767_571_200_000_000, // 2026-01-05T00:00:00Z, the demo window's start
        out: out.to_path_buf(),
        seed: 7,
        anomaly_fraction: 0.3,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_injected_spikes_and_dips_and_commits_a_readable_delta_table() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let options = options(dir.path());
    generate(&options, &|_, _| {})?;
    let status =
        run_embedded(&demo_spec(dir.path()), EmbeddedOptions { workers: 2, slots_per_worker: 1, partitions: Some(3) })
            .await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);
    assert_eq!(status.metrics.series, 400);
    assert_eq!(status.metrics.points, 400 * 720);
    assert_eq!(
        status.stages.iter().map(|stage| stage.name.as_str()).collect::<Vec<_>>(),
        vec!["scan", "hourly", "commit"]
    );

    let table = read_delta(&dir.path().join("lake/anomalies"))?;
    assert_eq!(table.version, 1, "one create and one commit");
    assert_eq!(table.partition_columns, vec!["date"]);
    for column in [
        "job",
        "window_start",
        "window_end",
        "stage",
        "series",
        "series_id",
        "region",
        "device_type",
        "site",
        "ts",
        "value",
        "baseline",
        "score",
        "flag",
        "detector",
        "date",
    ] {
        assert!(table.columns.contains(&column.to_string()), "missing column {column}: {:?}", table.columns);
    }
    assert_eq!(table.count, status.metrics.anomalies);
    assert_eq!(table.duckdb_count, table.count);
    assert!(
        table.rows.iter().all(|row| row.stage == "anomalies" && row.detector == "ensemble" && row.region.is_some())
    );

    let flagged: BTreeSet<(String, i64, i64)> =
        table.rows.iter().map(|row| (row.series.clone(), row.ts_micros, row.flag)).collect();
    let labels = injected(&options);
    let mut found = BTreeMap::<&str, (usize, usize)>::new();
    for (series, label) in &labels {
        let (kind, flag) = match label.kind {
            AnomalyKind::Spike => ("spike", 1),
            AnomalyKind::Dip => ("dip", -1),
            AnomalyKind::LevelShift | AnomalyKind::TrendChange | AnomalyKind::VarianceChange | AnomalyKind::None => {
                continue;
            }
        };
        let hit = flagged.contains(&(series.clone(), label.start_micros, flag));
        let entry = found.entry(kind).or_default();
        entry.0 += usize::from(hit);
        entry.1 += 1;
    }
    for (kind, (hits, total)) in &found {
        assert!(*total >= 10, "too few {kind} labels ({total}) for a meaningful test");
        assert_eq!(hits, total, "{kind}: found {hits} of {total} at the exact series and hour");
    }

    // Series with no injected anomaly should be almost entirely quiet at threshold 3.
    let labelled: BTreeSet<&str> = labels.iter().map(|(series, _)| series.as_str()).collect();
    let clean_series = 400 - labelled.len();
    let noisy: BTreeSet<&str> =
        table.rows.iter().map(|row| row.series.as_str()).filter(|series| !labelled.contains(series)).collect();
    assert!(noisy.len() * 20 <= clean_series, "{} of {clean_series} clean series have false alarms", noisy.len());
    Ok(())
}

/// Regression: an empty shuffle partition fetched from another worker arrives over Flight as a
/// schema without batches; that is an empty partition, not a lost worker whose map output must
/// be recomputed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_partitions_cross_workers_without_failures() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut options = options(dir.path());
    options.series = 2;
    options.days = 3;
    generate(&options, &|_, _| {})?;
    let spec = demo_spec(dir.path()).replace("end = \"2026-02-04T00:00:00Z\"", "end = \"2026-01-08T00:00:00Z\"");
    let status = run_embedded(&spec, EmbeddedOptions { workers: 2, slots_per_worker: 1, partitions: Some(8) }).await?;
    assert_eq!(status.state, JobState::Succeeded, "{:?}", status.error);
    assert_eq!(status.metrics.series, 2);
    for stage in &status.stages {
        assert_eq!(stage.task_failures, 0, "stage {} had failures: {status:?}", stage.name);
    }
    Ok(())
}

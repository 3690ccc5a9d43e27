//! `fathom-tests`: the harness for Fathom's end-to-end tests.
//!
//! Tests run real jobs on an embedded cluster (real gRPC, real Parquet, real Delta commits) and
//! read the results back with independent readers: Python `deltalake` and DuckDB, from the
//! virtualenv that `.ci/run` prepares (`FATHOM_PYTHON`, or `.venv/bin/python` at the root).
//! [`cluster::Cluster`] runs the coordinator and workers as real processes for failure tests.

pub mod alerts;
pub mod cluster;
pub mod etcd;
pub mod s3;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The Python interpreter with `deltalake` and `duckdb` installed.
pub fn python() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("FATHOM_PYTHON") {
        return Ok(PathBuf::from(path));
    }
    let venv = workspace_root().join(".venv/bin/python");
    if venv.exists() {
        return Ok(venv);
    }
    bail!("no Python with deltalake found: run `bash .ci/run` once (it creates .venv), or set FATHOM_PYTHON")
}

/// What an independent reader sees in a Delta table.
#[derive(Debug)]
pub struct DeltaReadBack {
    pub version: i64,
    pub columns: Vec<String>,
    pub partition_columns: Vec<String>,
    pub count: u64,
    pub duckdb_count: u64,
    pub duckdb_dates: u64,
    pub rows: Vec<AnomalyRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyRow {
    pub series: String,
    pub ts_micros: i64,
    pub flag: i64,
    pub stage: String,
    pub detector: String,
    pub region: Option<String>,
}

/// Reads a Delta table with Python `deltalake` (and counts it again with DuckDB).
pub fn read_delta(table: &Path) -> Result<DeltaReadBack> {
    read_delta_at(table.as_os_str(), &[])
}

/// Like [`read_delta`] for any table URI (`s3://...` with the `AWS_*` variables in `env`).
pub fn read_delta_at(table: &std::ffi::OsStr, env: &[(String, String)]) -> Result<DeltaReadBack> {
    let script = workspace_root().join("tests/python/read_delta.py");
    let output = Command::new(python()?)
        .arg(&script)
        .arg(table)
        .envs(env.iter().cloned())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    if !output.status.success() {
        bail!("read_delta.py failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let value: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("read_delta.py printed invalid JSON")?;
    let strings = |key: &str| -> Vec<String> {
        value[key]
            .as_array()
            .map(|items| items.iter().filter_map(|item| item.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let rows = value["rows"]
        .as_array()
        .context("no rows array")?
        .iter()
        .map(|row| AnomalyRow {
            series: row["series"].as_str().unwrap_or_default().to_string(),
            ts_micros: row["ts"].as_i64().unwrap_or_default(),
            flag: row["flag"].as_i64().unwrap_or_default(),
            stage: row["stage"].as_str().unwrap_or_default().to_string(),
            detector: row["detector"].as_str().unwrap_or_default().to_string(),
            region: row["region"].as_str().map(str::to_string),
        })
        .collect();
    Ok(DeltaReadBack {
        version: value["version"].as_i64().unwrap_or(-1),
        columns: strings("columns"),
        partition_columns: strings("partition_columns"),
        count: value["count"].as_u64().unwrap_or_default(),
        duckdb_count: value["duckdb_count"].as_u64().unwrap_or_default(),
        duckdb_dates: value["duckdb_dates"].as_u64().unwrap_or_default(),
        rows,
    })
}

/// The (series, time, flag) of every row of an anomalies table: what "the same rows" means.
pub type RowSet = std::collections::BTreeSet<(String, i64, i64)>;

/// The row count and row set of an anomalies table, read with Python deltalake.
pub fn anomaly_rows(table: &Path) -> Result<(u64, RowSet)> {
    let read = read_delta(table)?;
    Ok((read.count, read.rows.into_iter().map(|row| (row.series, row.ts_micros, row.flag)).collect()))
}

/// The demo spec with its data and lake under `dir`.
pub fn demo_spec(dir: &Path) -> String {
    fathom_client::DEMO_SPEC.replace("\"fathom-demo/", &format!("\"{}/", dir.display()))
}

/// 2026-01-05T00:00:00Z, where generated test data starts.
pub const GEN_START_MICROS: i64 = 1_767_571_200_000_000;

/// Generates `series` series of 10-minute points over `days` days from 2026-01-05 into `dir`
/// (a share `anomaly_fraction` with one labelled anomaly each) and returns the demo job over
/// exactly those days, with its data and lake under `dir`.
pub fn generated_job(dir: &Path, series: usize, days: u32, seed: u64, anomaly_fraction: f64) -> Result<String> {
    let options = fathom_client::generate::GenOptions {
        series,
        days,
        step_micros: 600_000_000,
        start_micros: GEN_START_MICROS,
        out: dir.to_path_buf(),
        seed,
        anomaly_fraction,
    };
    fathom_client::generate::generate(&options, &|_, _| {})?;
    let end = chrono::DateTime::from_timestamp_micros(GEN_START_MICROS + i64::from(days) * 86_400_000_000)
        .context("window end out of range")?
        .format("%Y-%m-%dT%H:%M:%SZ");
    Ok(demo_spec(dir).replace("end = \"2026-02-04T00:00:00Z\"", &format!("end = \"{end}\"")))
}

//! Cost of one small scan task on this machine, without any RPC: `run_scan` on one file, N times.
//! Usage: cargo run --release -p fathom-worker --example scan_task_bench -- FILE.parquet [N]

use std::time::Instant;

use fathom_core::spec::{Agg, TimeWindow};
use fathom_core::task::{ScanTask, ShuffleSpec};
use fathom_worker::CancelFlag;
use fathom_worker::scan::run_scan;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let file = std::fs::canonicalize(args.next().ok_or_else(|| anyhow::anyhow!("usage: FILE.parquet [N]"))?)?;
    let runs: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(2000);
    let task = ScanTask {
        files: vec![format!("file://{}", file.display())],
        skip_bad_files: false,
        format: fathom_core::spec::SourceFormat::Parquet,
        timestamp_column: "ts".into(),
        value_column: "value".into(),
        window: TimeWindow { start_micros: 1_767_571_200_000_000, end_micros: 1_767_657_600_000_000 },
        shuffles: vec![ShuffleSpec {
            shuffle_id: 0,
            key_columns: vec!["series_id".into()],
            tag_columns: vec!["region".into(), "device_type".into(), "site".into()],
            step_micros: 3_600_000_000,
            agg: Agg::Avg,
            partitions: 2,
        }],
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let root = tempfile::tempdir()?;
    let cancel = CancelFlag::default();
    let mut times = Vec::with_capacity(runs);
    for run in 0..runs {
        let started = Instant::now();
        run_scan(&task, runtime.handle(), root.path(), &format!("job/s0-t{run}-a0"), "here", &cancel)?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    println!("scan task: median {:.0} µs, p90 {:.0} µs over {runs} runs", times[runs / 2], times[runs * 9 / 10]);
    Ok(())
}

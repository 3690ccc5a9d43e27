//! `fathom`: the command line. Flags -> library calls in `fathom_client`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use fathom_client::generate::{GenOptions, generate};
use fathom_client::{DEMO_SPEC, EmbeddedOptions, run_embedded, summary};
use fathom_core::duration::parse_duration_micros;
use fathom_core::job::{JobState, JobStatus};

/// Fathom finds anomalies in millions of time series.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate demo data and run examples/demo.toml embedded, then print a summary.
    Demo {
        /// Where the data and the lake go.
        #[arg(long, env = "FATHOM_DEMO_DIR", default_value = "fathom-demo")]
        dir: PathBuf,
        /// Number of series to generate.
        #[arg(long, default_value_t = 10_000)]
        series: usize,
        /// Days of data (the demo window is 30 days from 2026-01-05).
        #[arg(long, default_value_t = 30)]
        days: u32,
        #[command(flatten)]
        cluster: ClusterFlags,
    },
    /// Run a job spec on an embedded coordinator and workers in this process.
    Run {
        /// The job spec (TOML).
        spec: PathBuf,
        #[command(flatten)]
        cluster: ClusterFlags,
    },
    /// Write synthetic raw telemetry with labelled anomalies.
    Gen {
        /// Number of series.
        #[arg(long, default_value_t = 1_000)]
        series: usize,
        /// Number of days.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Time between points (must divide a day).
        #[arg(long, default_value = "10m")]
        step: String,
        /// Output directory: raw data goes to OUT/raw/date=.../, labels to OUT/labels.parquet.
        #[arg(long)]
        out: PathBuf,
        /// First day (UTC).
        #[arg(long, default_value = "2026-01-05")]
        start: String,
        /// Random seed; the same flags and seed give the same data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Share of series with one injected anomaly.
        #[arg(long, default_value_t = 0.05)]
        anomaly_fraction: f64,
    },
}

#[derive(clap::Args, Debug)]
struct ClusterFlags {
    /// Embedded workers.
    #[arg(long, env = "FATHOM_WORKERS", default_value_t = 2)]
    workers: usize,
    /// Task slots per worker; default: cores / workers.
    #[arg(long, env = "FATHOM_SLOTS")]
    slots: Option<u32>,
    /// Partitions per shuffle; default: twice the total slots.
    #[arg(long, env = "FATHOM_PARTITIONS")]
    partitions: Option<u32>,
}

impl ClusterFlags {
    fn options(&self) -> Result<EmbeddedOptions> {
        if self.workers == 0 {
            bail!("--workers must be at least 1");
        }
        let defaults = EmbeddedOptions { workers: self.workers, ..EmbeddedOptions::default() };
        let cores = std::thread::available_parallelism().map(|cores| cores.get()).unwrap_or(1);
        Ok(EmbeddedOptions {
            slots_per_worker: self.slots.unwrap_or(((cores / self.workers).max(1)) as u32),
            partitions: self.partitions,
            ..defaults
        })
    }
}

fn gen_options(
    series: usize,
    days: u32,
    step: &str,
    out: PathBuf,
    start: &str,
    seed: u64,
    anomaly_fraction: f64,
) -> Result<GenOptions> {
    let step_micros =
        parse_duration_micros(step).with_context(|| format!("--step {step:?} is not a duration (e.g. 10m)"))?;
    let start_micros = chrono::NaiveDate::parse_from_str(start, "%Y-%m-%d")
        .with_context(|| format!("--start {start:?} is not a date like 2026-01-05"))?
        .and_hms_opt(0, 0, 0)
        .context("midnight exists")?
        .and_utc()
        .timestamp_micros();
    if !(0.0..=1.0).contains(&anomaly_fraction) {
        bail!("--anomaly-fraction must be between 0 and 1");
    }
    Ok(GenOptions { series, days, step_micros, start_micros, out, seed, anomaly_fraction })
}

fn run_gen(options: &GenOptions) -> Result<()> {
    let started = Instant::now();
    let report = generate(options, &|done, total| {
        if done == total || done % 10 == 0 {
            eprint!("\rgenerating: {done}/{total} files");
        }
    })?;
    eprintln!();
    println!(
        "generated {} rows ({:.1} MB) in {} files and {} labelled anomalies under {} in {:.2}s",
        summary::thousands(report.rows),
        report.bytes as f64 / 1e6,
        report.files,
        report.labels,
        options.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn finish(status: &JobStatus) -> ExitCode {
    print!("{}", summary::render(status));
    if status.state == JobState::Succeeded { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

async fn main_inner(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Gen { series, days, step, out, start, seed, anomaly_fraction } => {
            run_gen(&gen_options(series, days, &step, out, &start, seed, anomaly_fraction)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { spec, cluster } => {
            let text = std::fs::read_to_string(&spec).with_context(|| format!("cannot read {}", spec.display()))?;
            let status =
                run_embedded(&text, cluster.options()?).await.with_context(|| format!("{}", spec.display()))?;
            Ok(finish(&status))
        }
        Command::Demo { dir, series, days, cluster } => {
            let started = Instant::now();
            let dir_text = dir.to_str().context("--dir must be valid UTF-8")?.trim_end_matches('/').to_string();
            run_gen(&gen_options(series, days, "10m", dir.clone(), "2026-01-05", 42, 0.05)?)?;
            let lake = dir.join("lake");
            if lake.exists() {
                // The demo starts from a clean table each time; real jobs append or replace windows.
                std::fs::remove_dir_all(&lake).with_context(|| format!("cannot clear {}", lake.display()))?;
            }
            let spec = DEMO_SPEC.replace("\"fathom-demo/", &format!("\"{dir_text}/"));
            let status = run_embedded(&spec, cluster.options()?).await?;
            let code = finish(&status);
            println!("demo finished in {:.2}s (generation included)", started.elapsed().as_secs_f64());
            Ok(code)
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FATHOM_LOG")
                .unwrap_or_else(|_| "warn,buoyant_kernel=off,deltalake_core=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main_inner(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

//! `fathom`: the command line. Flags -> library calls in `fathom_client`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use fathom_client::generate::{GenOptions, generate};
use fathom_client::{DEMO_SPEC, EmbeddedOptions, remote, run_embedded, summary};
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
    /// Submit a job spec to a running coordinator; prints the job id as the last line.
    Submit {
        /// The job spec (TOML).
        spec: PathBuf,
        #[command(flatten)]
        coordinator: CoordinatorFlag,
        /// Follow the job and exit 0 only if it succeeds.
        #[arg(long)]
        wait: bool,
    },
    /// Show a job's state, stages and error.
    Status {
        /// The job id printed by `fathom submit`.
        job: String,
        #[command(flatten)]
        coordinator: CoordinatorFlag,
        /// text or json.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        output: String,
    },
    /// List the coordinator's jobs, newest first.
    Jobs {
        #[command(flatten)]
        coordinator: CoordinatorFlag,
    },
    /// Cancel a job: its tasks stop and nothing is committed.
    Cancel {
        /// The job id.
        job: String,
        #[command(flatten)]
        coordinator: CoordinatorFlag,
    },
    /// Run one detector over one series from a CSV file (header `timestamp,value`).
    ///
    /// Output: `timestamp,value,baseline,score,flag,kind`, one row per input row, in input order.
    /// Irregular timestamps are laid on a grid whose step is the most common gap; rows sharing a
    /// grid point are averaged and get its result; grid points without rows are gaps.
    Detect {
        /// The input CSV.
        #[arg(long)]
        input: PathBuf,
        /// outliers, decompose, spike_dip, change_point, spectral_residual or ensemble.
        #[arg(long, default_value = "ensemble")]
        detector: String,
        /// A detector parameter, `name=value`; repeatable (e.g. --param threshold=3).
        #[arg(long = "param")]
        params: Vec<String>,
        /// Score each point from the points up to it only (what a scheduled run does).
        #[arg(long)]
        causal: bool,
        /// Write here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Score detectors on labelled series: event recall, precision and F1 per kind.
    ///
    /// Default series: 720 hourly points with daily and weekly seasonality, noise, missing points
    /// and gaps; one event each (spike, dip, level shift, trend change, variance change) plus
    /// clean series. With --data DIR, the dataset `fathom gen` wrote to DIR instead, run through
    /// the whole engine (hourly averages, linear fill, the detect stage) on an embedded cluster.
    /// Default detectors: the ADX baseline (decompose, threshold 3) against the ensemble.
    Eval {
        /// A directory written by `fathom gen` (raw/ and labels.parquet) to score on.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Series per anomaly kind.
        #[arg(long, default_value_t = 200)]
        per_kind: usize,
        /// Series without any anomaly (false alarms count against precision).
        #[arg(long, default_value_t = 200)]
        clean: usize,
        /// Detectors to score (repeatable), with parameters as `name:param=value,param=value`.
        #[arg(long = "detector")]
        detectors: Vec<String>,
        /// Score causally (each point from the points before it only).
        #[arg(long)]
        causal: bool,
        /// Seed of the generated series.
        #[arg(long, default_value_t = 1)]
        seed: u64,
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
struct CoordinatorFlag {
    /// The coordinator's URL; with several coordinators, list them all (comma-separated) and the
    /// leader is found.
    #[arg(long, env = "FATHOM_COORDINATOR", default_value = "http://127.0.0.1:7070")]
    coordinator: String,
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
        Command::Submit { spec, coordinator, wait } => {
            let text = std::fs::read_to_string(&spec).with_context(|| format!("cannot read {}", spec.display()))?;
            let mut client = remote::connect_leader(&coordinator.coordinator).await?;
            let job_id = remote::submit(&mut client, &text).await.with_context(|| format!("{}", spec.display()))?;
            if !wait {
                println!("{job_id}");
                return Ok(ExitCode::SUCCESS);
            }
            let status = fathom_client::follow::follow(&mut client, &job_id).await?;
            let code = finish(&status);
            println!("{job_id}");
            Ok(code)
        }
        Command::Status { job, coordinator, output } => {
            let mut client = remote::connect_leader(&coordinator.coordinator).await?;
            let status = remote::status(&mut client, &job).await?;
            if output == "json" {
                println!("{}", serde_json::to_string_pretty(&remote::status_json(&status))?);
            } else {
                print!("{}", remote::status_text(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Jobs { coordinator } => {
            let mut client = remote::connect_leader(&coordinator.coordinator).await?;
            print!("{}", remote::jobs(&mut client).await?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Cancel { job, coordinator } => {
            let mut client = remote::connect_leader(&coordinator.coordinator).await?;
            match remote::cancel(&mut client, &job).await? {
                JobState::Cancelled => println!("job {job} cancelled"),
                other => println!("job {job} had already {}; nothing to cancel", other.name()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { data, per_kind, clean, detectors, causal, seed } => {
            let started = Instant::now();
            let reports = match data {
                Some(data) => {
                    if causal {
                        bail!("--causal applies to the generated series only, not to --data");
                    }
                    let named = fathom_client::eval_command::named_detectors(&detectors)?;
                    fathom_client::eval_data::run(&data, &named, EmbeddedOptions::default()).await?
                }
                None => fathom_client::eval_command::run(per_kind, clean, &detectors, causal, seed)?,
            };
            print!("{reports}");
            eprintln!("evaluated in {:.1}s", started.elapsed().as_secs_f64());
            Ok(ExitCode::SUCCESS)
        }
        Command::Detect { input, detector, params, causal, output } => {
            let to_file = output.is_some();
            let options = fathom_client::detect_command::DetectOptions { input, detector, params, causal, output };
            let (rows, flagged) = fathom_client::detect_command::run(&options)?;
            if to_file {
                eprintln!("{rows} rows scored, {flagged} flagged");
            }
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

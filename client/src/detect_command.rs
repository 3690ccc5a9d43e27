//! `fathom detect`: run one detector over one series in a CSV file, without a cluster.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use fathom_detect::detector::{DetectorConfig, DetectorOutput, DetectorScratch, Mode, run_detector};

use crate::series_csv::{ResultColumns, grid, read_rows, write_rows};

#[derive(Debug, Clone)]
pub struct DetectOptions {
    pub input: PathBuf,
    pub detector: String,
    /// `name=value` pairs as given on the command line.
    pub params: Vec<String>,
    pub causal: bool,
    pub output: Option<PathBuf>,
}

/// Parses `name=value` pairs, naming the malformed one.
pub fn parse_params(params: &[String]) -> Result<Vec<(&str, &str)>> {
    params
        .iter()
        .map(|param| param.split_once('=').ok_or_else(|| anyhow!("--param {param:?} must look like name=value")))
        .collect()
}

/// Returns the number of rows written and of flagged rows.
pub fn run(options: &DetectOptions) -> Result<(usize, usize)> {
    let params = parse_params(&options.params)?;
    let config = DetectorConfig::from_params(&options.detector, &params).map_err(|error| {
        if error.param == "detector" { anyhow!("--detector: {}", error.reason) } else { anyhow!("--param {error}") }
    })?;
    let source = options.input.display().to_string();
    let file = File::open(&options.input).with_context(|| format!("cannot open {source}"))?;
    let rows = read_rows(BufReader::new(file), &source)?;
    let gridded = grid(&rows).with_context(|| format!("{source}: cannot lay the series on a regular grid"))?;

    let mut output = DetectorOutput::default();
    let mode = if options.causal { Mode::Causal } else { Mode::Batch };
    run_detector(&config, &gridded.values, mode, &mut output, &mut DetectorScratch::default());
    let kinds: Vec<&str> = output.kind.iter().map(|kind| kind.name()).collect();
    let results = ResultColumns { baseline: &output.baseline, score: &output.score, flag: &output.flag, kind: &kinds };
    let flagged = gridded.row_index.iter().filter(|index| output.flag[**index] != 0).count();

    match &options.output {
        Some(path) => {
            // Written next to the target and renamed, so a failure never leaves half a file.
            let partial = path.with_extension("csv.partial");
            let file = File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
            let mut writer = BufWriter::new(file);
            write_rows(&mut writer, &rows, &gridded, &results)?;
            writer.flush()?;
            drop(writer);
            std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => write_rows(std::io::stdout().lock(), &rows, &gridded, &results)?,
    }
    Ok((rows.len(), flagged))
}

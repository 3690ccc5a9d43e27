//! `fathom eval`: detectors scored on labelled synthetic series, per anomaly kind (with
//! `--data DIR`, on a `fathom gen` dataset through the whole engine: see [`crate::eval_data`]).

use anyhow::{Result, anyhow};
use fathom_detect::detector::{DetectorConfig, Mode};
use fathom_detect::eval::{EvalPlan, evaluate_detectors};
use fathom_detect::synthetic::SyntheticSpec;

/// The detectors compared when none are named: the ADX baseline and the default detector.
pub const DEFAULT_DETECTORS: [&str; 2] = ["decompose:threshold=3", "ensemble"];

/// Parses `name` or `name:param=value,param=value`.
pub fn parse_detector(text: &str) -> Result<DetectorConfig> {
    let (name, params) = text.split_once(':').unwrap_or((text, ""));
    let pairs = params
        .split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            pair.split_once('=').ok_or_else(|| anyhow!("--detector {text:?}: {pair:?} must look like name=value"))
        })
        .collect::<Result<Vec<_>>>()?;
    DetectorConfig::from_params(name, &pairs).map_err(|error| anyhow!("--detector {text:?}: {error}"))
}

/// The detectors to score: those named, else [`DEFAULT_DETECTORS`]; each checked now, so a bad
/// name or parameter fails before any work.
pub fn named_detectors(detectors: &[String]) -> Result<Vec<crate::eval_data::NamedDetector>> {
    let texts: Vec<String> = if detectors.is_empty() {
        DEFAULT_DETECTORS.iter().map(ToString::to_string).collect()
    } else {
        detectors.to_vec()
    };
    texts
        .into_iter()
        .map(|text| {
            parse_detector(&text)?;
            let (name, params) = text.split_once(':').unwrap_or((&text, ""));
            let params = params
                .split(',')
                .filter_map(|pair| pair.split_once('='))
                .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
                .collect();
            Ok(crate::eval_data::NamedDetector { name: name.to_string(), params, text: text.clone() })
        })
        .collect()
}

/// Returns one rendered table per detector, each headed by the detector and its parameters.
pub fn run(per_kind: usize, clean: usize, detectors: &[String], causal: bool, seed: u64) -> Result<String> {
    let names: Vec<String> = if detectors.is_empty() {
        DEFAULT_DETECTORS.iter().map(ToString::to_string).collect()
    } else {
        detectors.to_vec()
    };
    let configs = names.iter().map(|name| parse_detector(name)).collect::<Result<Vec<_>>>()?;
    let plan = EvalPlan { per_kind, clean, mode: if causal { Mode::Causal } else { Mode::Batch }, seed };
    let reports = evaluate_detectors(&configs, &SyntheticSpec::default(), &plan);
    let mut out = String::new();
    for (name, report) in names.iter().zip(reports) {
        out.push_str(&format!(
            "== {name} ({} series per kind, {clean} clean{})\n",
            per_kind,
            if causal { ", causal" } else { "" }
        ));
        out.push_str(&report.render());
        out.push('\n');
    }
    Ok(out)
}

//! Detector configs to and from `name=value` strings (the CLI, job specs and the wire).
//!
//! Names follow ADX and Azure Stream Analytics where those have an equivalent (`seasonality`
//! accepts ADX's `-1` and `0` besides `auto` and `none`; `confidence` and `mode` are ASA's
//! `AnomalyDetection_SpikeAndDip` arguments). Parsing is strict: an unknown detector, an
//! unknown or repeated parameter or a bad value is an error naming it and saying what is
//! allowed, never a silent default. Numbers are written back with Rust's shortest exact
//! representation, so `from_params(name(), to_params())` reproduces the config exactly.

use super::DetectorConfig;
use crate::change_point::ChangePointParams;
use crate::decompose::{DecomposeParams, Seasonality, Trend};
use crate::ensemble::EnsembleParams;
use crate::outliers::OutlierTest;
use crate::spectral_residual::SpectralResidualParams;
use crate::spike_dip::{SpikeDipMode, SpikeDipParams};
use std::fmt;

/// A parameter that could not be accepted: which one (`detector` for the detector name)
/// and why, including what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter's name.
    pub param: String,
    /// What is wrong and what is allowed, in lowercase.
    pub reason: String,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.param, self.reason)
    }
}

impl std::error::Error for ParamError {}

fn error(param: &str, reason: impl Into<String>) -> ParamError {
    ParamError { param: param.to_string(), reason: reason.into() }
}

/// `(name, description)` of every parameter, per detector.
fn table(detector: &str) -> Option<&'static [(&'static str, &'static str)]> {
    const TEST: (&str, &str) = ("test", "outlier fences: ctukey (percentiles low/high) or tukey (25/75)");
    const LOW: (&str, &str) = ("low", "lower percentile of the ctukey fences, 0-100");
    const HIGH: (&str, &str) = ("high", "upper percentile of the ctukey fences, 0-100");
    const SEASONALITY: (&str, &str) = ("seasonality", "auto (or -1), none (or 0), or a period in points >= 2");
    Some(match detector {
        "outliers" => &[TEST, LOW, HIGH, ("threshold", "flag where |score| > threshold")],
        "decompose" => &[
            SEASONALITY,
            ("trend", "avg, linefit or none"),
            ("test_points", "trailing points left out of learning"),
            ("seasonality_threshold", "minimum period score for auto seasonality, 0-1"),
            ("threshold", "flag where |score| > threshold"),
            TEST,
            LOW,
            HIGH,
        ],
        "spike_dip" => &[
            ("confidence", "asa confidence, 0-100 exclusive of 0: higher means fewer alarms"),
            ("history", "points of trailing history each point is compared with, >= 2"),
            ("mode", "spikes, dips or both"),
            SEASONALITY,
        ],
        "change_point" => &[
            ("min_segment", "fewest points between two changes, >= 2"),
            ("penalty", "0 for automatic (3 ln n in chi-square units), else the squared-data cost a change must save"),
            ("threshold", "smallest reported change, in noise units (a doubling of the noise is 3)"),
            SEASONALITY,
        ],
        "spectral_residual" => &[
            ("q", "width of the average filter over the log spectrum, >= 1"),
            ("z", "preceding saliency points averaged for the score, >= 1"),
            ("threshold", "flag where score > threshold"),
            ("m", "preceding points whose gradient extrapolates the series, >= 1"),
            ("k", "extrapolated points appended so the newest point is mid-window"),
        ],
        "ensemble" => &[
            ("threshold", "flag where |score| > threshold; 3 is about one false alarm per 100,000 clean points"),
            ("sensitivity", "alternative to threshold, 0-100, higher means more alarms: threshold = (100 - s) / 10"),
            SEASONALITY,
        ],
        _ => return None,
    })
}

impl DetectorConfig {
    /// Builds a config from a detector name and `name=value` parameters (defaults for the
    /// rest). An unknown detector, a parameter that detector does not have, a repeated
    /// parameter or a bad value gives a [`ParamError`] naming it and listing what is allowed.
    pub fn from_params(detector: &str, params: &[(&str, &str)]) -> Result<DetectorConfig, ParamError> {
        let Some(allowed) = table(detector) else {
            let names = DetectorConfig::NAMES.join(", ");
            return Err(error("detector", format!("unknown detector {detector:?} (expected one of {names})")));
        };
        for (i, (name, _)) in params.iter().enumerate() {
            if !allowed.iter().any(|(a, _)| a == name) {
                let names: Vec<&str> = allowed.iter().map(|(a, _)| *a).collect();
                let names = names.join(", ");
                return Err(error(name, format!("unknown parameter for {detector} (expected one of {names})")));
            }
            if params[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(error(name, "given more than once"));
            }
        }
        let p = Params(params);
        Ok(match detector {
            "outliers" => {
                DetectorConfig::Outliers { test: p.test(OutlierTest::default())?, threshold: p.threshold(1.5)? }
            }
            "decompose" => {
                let d = DecomposeParams::default();
                let params = DecomposeParams {
                    seasonality: p.seasonality(d.seasonality)?,
                    trend: p.get("trend").map_or(Ok(d.trend), parse_trend)?,
                    test_points: p.usize("test_points", d.test_points, 0)?,
                    seasonality_threshold: p.f64_in("seasonality_threshold", d.seasonality_threshold, 0.0, 1.0)?,
                };
                DetectorConfig::Decompose {
                    params,
                    threshold: p.threshold(1.5)?,
                    test: p.test(OutlierTest::default())?,
                }
            }
            "spike_dip" => {
                let d = SpikeDipParams::default();
                let confidence = p.f64_in("confidence", d.confidence, 0.0, 100.0)?;
                if confidence == 0.0 {
                    return Err(error("confidence", "0 is not a confidence (expected a number in (0, 100])"));
                }
                DetectorConfig::SpikeDip(SpikeDipParams {
                    confidence,
                    history: p.usize("history", d.history, 2)?,
                    mode: p.get("mode").map_or(Ok(d.mode), parse_mode)?,
                    seasonality: p.seasonality(d.seasonality)?,
                })
            }
            "change_point" => {
                let d = ChangePointParams::default();
                DetectorConfig::ChangePoint(ChangePointParams {
                    min_segment: p.usize("min_segment", d.min_segment, 2)?,
                    penalty: p.f64_in("penalty", d.penalty, 0.0, f64::MAX)?,
                    threshold: p.threshold(d.threshold)?,
                    seasonality: p.seasonality(d.seasonality)?,
                })
            }
            "spectral_residual" => {
                let d = SpectralResidualParams::default();
                DetectorConfig::SpectralResidual(SpectralResidualParams {
                    q: p.usize("q", d.q, 1)?,
                    z: p.usize("z", d.z, 1)?,
                    threshold: p.threshold(d.threshold)?,
                    m: p.usize("m", d.m, 1)?,
                    k: p.usize("k", d.k, 0)?,
                })
            }
            _ => {
                let d = EnsembleParams::default();
                let threshold = match (p.get("threshold"), p.get("sensitivity")) {
                    (Some(_), Some(_)) => return Err(error("sensitivity", "give either threshold or sensitivity")),
                    (None, Some(_)) => (100.0 - p.f64_in("sensitivity", 0.0, 0.0, 100.0)?) / 10.0,
                    _ => p.threshold(d.threshold)?,
                };
                DetectorConfig::Ensemble(EnsembleParams { threshold, seasonality: p.seasonality(d.seasonality)? })
            }
        })
    }

    /// All parameters as `name=value` strings, such that
    /// `from_params(self.name(), &to_params())` gives back `self` (for any config that
    /// `from_params` can produce).
    pub fn to_params(&self) -> Vec<(String, String)> {
        let mut v: Vec<(&str, String)> = Vec::new();
        let test = |v: &mut Vec<(&str, String)>, test: &OutlierTest| match test {
            OutlierTest::Tukey => v.push(("test", "tukey".into())),
            OutlierTest::Ctukey { low, high } => {
                v.extend([("test", "ctukey".into()), ("low", low.to_string()), ("high", high.to_string())]);
            }
        };
        match self {
            DetectorConfig::Outliers { test: t, threshold } => {
                test(&mut v, t);
                v.push(("threshold", threshold.to_string()));
            }
            DetectorConfig::Decompose { params, threshold, test: t } => {
                v.push(("seasonality", seasonality_name(params.seasonality)));
                let trend = match params.trend {
                    Trend::Avg => "avg",
                    Trend::Linefit => "linefit",
                    Trend::None => "none",
                };
                v.push(("trend", trend.into()));
                v.push(("test_points", params.test_points.to_string()));
                v.push(("seasonality_threshold", params.seasonality_threshold.to_string()));
                v.push(("threshold", threshold.to_string()));
                test(&mut v, t);
            }
            DetectorConfig::SpikeDip(p) => {
                let mode = match p.mode {
                    SpikeDipMode::Spikes => "spikes",
                    SpikeDipMode::Dips => "dips",
                    SpikeDipMode::Both => "both",
                };
                v.push(("confidence", p.confidence.to_string()));
                v.push(("history", p.history.to_string()));
                v.push(("mode", mode.into()));
                v.push(("seasonality", seasonality_name(p.seasonality)));
            }
            DetectorConfig::ChangePoint(p) => {
                v.push(("min_segment", p.min_segment.to_string()));
                v.push(("penalty", p.penalty.to_string()));
                v.push(("threshold", p.threshold.to_string()));
                v.push(("seasonality", seasonality_name(p.seasonality)));
            }
            DetectorConfig::SpectralResidual(p) => {
                v.push(("q", p.q.to_string()));
                v.push(("z", p.z.to_string()));
                v.push(("threshold", p.threshold.to_string()));
                v.push(("m", p.m.to_string()));
                v.push(("k", p.k.to_string()));
            }
            DetectorConfig::Ensemble(p) => {
                v.push(("threshold", p.threshold.to_string()));
                v.push(("seasonality", seasonality_name(p.seasonality)));
            }
        }
        v.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// The parameters `detector` accepts as `(name, default, description)`, None for an
    /// unknown detector.
    pub fn describe(detector: &str) -> Option<Vec<(&'static str, String, &'static str)>> {
        let allowed = table(detector)?;
        let defaults = DetectorConfig::from_params(detector, &[]).ok()?.to_params();
        Some(
            allowed
                .iter()
                .map(|&(name, description)| {
                    let default = match defaults.iter().find(|(n, _)| n == name) {
                        Some((_, v)) => v.clone(),
                        None if name == "sensitivity" => "(from threshold)".to_string(),
                        None => String::new(),
                    };
                    (name, default, description)
                })
                .collect(),
        )
    }
}

/// The given parameters, already checked for unknown and repeated names.
struct Params<'a>(&'a [(&'a str, &'a str)]);

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    fn f64_in(&self, name: &str, default: f64, min: f64, max: f64) -> Result<f64, ParamError> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        match text.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && (min..=max).contains(&v) => Ok(v),
            _ if max == f64::MAX => Err(error(name, format!("{text:?} is not a number >= {min}"))),
            _ => Err(error(name, format!("{text:?} is not a number in [{min}, {max}]"))),
        }
    }

    fn threshold(&self, default: f64) -> Result<f64, ParamError> {
        self.f64_in("threshold", default, 0.0, f64::MAX)
    }

    fn usize(&self, name: &str, default: usize, min: usize) -> Result<usize, ParamError> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        match text.trim().parse::<usize>() {
            Ok(v) if v >= min => Ok(v),
            _ => Err(error(name, format!("{text:?} is not a whole number >= {min}"))),
        }
    }

    fn seasonality(&self, default: Seasonality) -> Result<Seasonality, ParamError> {
        let Some(text) = self.get("seasonality") else {
            return Ok(default);
        };
        match text.trim() {
            "auto" | "-1" => Ok(Seasonality::Auto),
            "none" | "0" => Ok(Seasonality::None),
            t => match t.parse::<usize>() {
                Ok(p) if p >= 2 => Ok(Seasonality::Period(p)),
                _ => Err(error(
                    "seasonality",
                    format!("{text:?} is not a seasonality (expected auto, -1, none, 0 or a period in points >= 2)"),
                )),
            },
        }
    }

    /// `test` with its `low`/`high` percentiles (ctukey only).
    fn test(&self, default: OutlierTest) -> Result<OutlierTest, ParamError> {
        let ctukey = |low: f64, high: f64| -> Result<OutlierTest, ParamError> {
            let low = self.f64_in("low", low, 0.0, 100.0)?;
            let high = self.f64_in("high", high, 0.0, 100.0)?;
            if low >= high {
                return Err(error("low", format!("low ({low}) must be below high ({high})")));
            }
            Ok(OutlierTest::Ctukey { low, high })
        };
        let (low, high) = match default {
            OutlierTest::Ctukey { low, high } => (low, high),
            OutlierTest::Tukey => (10.0, 90.0),
        };
        match self.get("test").map(str::trim) {
            None if default == OutlierTest::Tukey && self.get("low").is_none() && self.get("high").is_none() => {
                Ok(OutlierTest::Tukey)
            }
            None | Some("ctukey") => ctukey(low, high),
            Some("tukey") => match ["low", "high"].into_iter().find(|n| self.get(n).is_some()) {
                Some(n) => Err(error(n, "only applies to test=ctukey")),
                None => Ok(OutlierTest::Tukey),
            },
            Some(other) => Err(error("test", format!("{other:?} is not a test (expected ctukey or tukey)"))),
        }
    }
}

fn parse_trend(text: &str) -> Result<Trend, ParamError> {
    match text.trim() {
        "avg" => Ok(Trend::Avg),
        "linefit" => Ok(Trend::Linefit),
        "none" => Ok(Trend::None),
        _ => Err(error("trend", format!("{text:?} is not a trend (expected avg, linefit or none)"))),
    }
}

fn parse_mode(text: &str) -> Result<SpikeDipMode, ParamError> {
    match text.trim() {
        "spikes" => Ok(SpikeDipMode::Spikes),
        "dips" => Ok(SpikeDipMode::Dips),
        "both" | "spikesanddips" => Ok(SpikeDipMode::Both),
        _ => Err(error("mode", format!("{text:?} is not a mode (expected spikes, dips or both)"))),
    }
}

fn seasonality_name(s: Seasonality) -> String {
    match s {
        Seasonality::Auto => "auto".into(),
        Seasonality::None => "none".into(),
        Seasonality::Period(p) => p.to_string(),
    }
}

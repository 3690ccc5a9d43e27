//! The job spec exactly as written in TOML: every field optional where the user may omit it,
//! unknown fields rejected. [`super::validate`] turns it into the checked types.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJobSpec {
    pub version: Option<i64>,
    pub name: Option<String>,
    pub source: Option<RawSource>,
    pub window: Option<RawWindow>,
    #[serde(default, rename = "stage")]
    pub stages: Vec<RawStage>,
    #[serde(default, rename = "sink")]
    pub sinks: Vec<RawSink>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    pub uri: Option<String>,
    pub format: Option<String>,
    pub series_key: Option<Vec<String>>,
    pub timestamp: Option<String>,
    pub value: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub on_bad_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub start: Option<String>,
    pub end: Option<String>,
}

/// One `[[stage]]` table. All ops share one struct so that a field that belongs to another op
/// gets a message naming the op ("`fraction` is not a field of make_series") instead of serde's
/// generic "unknown field".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub id: Option<String>,
    pub op: Option<String>,
    pub input: Option<String>,
    // make_series
    pub step: Option<String>,
    pub agg: Option<String>,
    pub fill: Option<String>,
    pub group_by: Option<Vec<String>>,
    // sample
    pub fraction: Option<f64>,
    pub seed: Option<i64>,
    // detect
    pub detector: Option<String>,
    pub seasonality: Option<RawSeasonality>,
    pub trend: Option<String>,
    pub threshold: Option<f64>,
    pub test: Option<String>,
    pub test_points: Option<i64>,
    /// Any detector's parameters by name (`params = { confidence = 99 }`).
    pub params: Option<toml::Table>,
}

impl RawStage {
    /// The names of the fields that are set, for the "not a field of this op" check.
    pub fn set_fields(&self) -> Vec<&'static str> {
        let mut set = Vec::new();
        let mut note = |present: bool, name: &'static str| {
            if present {
                set.push(name);
            }
        };
        note(self.step.is_some(), "step");
        note(self.agg.is_some(), "agg");
        note(self.fill.is_some(), "fill");
        note(self.group_by.is_some(), "group_by");
        note(self.fraction.is_some(), "fraction");
        note(self.seed.is_some(), "seed");
        note(self.detector.is_some(), "detector");
        note(self.seasonality.is_some(), "seasonality");
        note(self.trend.is_some(), "trend");
        note(self.threshold.is_some(), "threshold");
        note(self.test.is_some(), "test");
        note(self.test_points.is_some(), "test_points");
        note(self.params.is_some(), "params");
        set
    }
}

/// `seasonality = "auto"`, `"none"`, or a period in bins (`24`); ADX's -1 and 0 are accepted too.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSeasonality {
    Name(String),
    Bins(i64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSink {
    pub kind: Option<String>,
    pub input: Option<Vec<String>>,
    pub uri: Option<String>,
    // Alert sinks.
    pub target: Option<String>,
    pub url: Option<String>,
    pub min_score: Option<f64>,
    pub max_per_run: Option<i64>,
    pub max_per_series: Option<i64>,
    pub secret_env: Option<String>,
    pub timeout: Option<String>,
    pub retry_max: Option<String>,
    pub link: Option<String>,
}

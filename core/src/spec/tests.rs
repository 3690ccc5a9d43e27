use super::*;

const VALID: &str = r#"
version = 1
name = "pump-health"

[source]
uri = "file:///data/raw/"
format = "parquet"
series_key = ["series_id"]
timestamp = "ts"
value = "value"
tags = ["region", "device_type", "site"]

[window]
start = "2026-01-05T00:00:00Z"
end = "2026-02-04T00:00:00Z"

[[stage]]
id = "hourly"
op = "make_series"
input = "source"
step = "1h"
agg = "avg"
fill = "linear"

[[stage]]
id = "by_region"
op = "make_series"
input = "source"
group_by = ["region", "device_type"]
step = "1h"
agg = "sum"

[[stage]]
id = "explore"
op = "sample"
input = "hourly"
fraction = 0.05

[[stage]]
id = "anomalies"
op = "detect"
input = "hourly"
detector = "decompose"
seasonality = "auto"
threshold = 3.0

[[sink]]
kind = "lake"
input = ["anomalies"]
uri = "file:///lake/anomalies"
"#;

fn issues_of(text: &str) -> Vec<String> {
    match JobSpec::from_toml(text) {
        Err(CoreError::InvalidSpec { issues }) => issues.iter().map(ToString::to_string).collect(),
        Err(other) => vec![other.to_string()],
        Ok(_) => Vec::new(),
    }
}

#[test]
fn parses_the_design_example() {
    let spec = JobSpec::from_toml(VALID).expect("valid spec");
    assert_eq!(spec.name, "pump-health");
    assert_eq!(spec.stages.len(), 4);
    assert_eq!(spec.stages[2].input, StageInput::Stage(0));
    let StageOp::MakeSeries(hourly) = &spec.stages[0].op else { panic!("stage 0 is make_series") };
    assert_eq!(hourly.step_micros, 3_600_000_000);
    assert_eq!(hourly.agg, Agg::Avg);
    let StageOp::Detect(detect) = &spec.stages[3].op else { panic!("stage 3 is detect") };
    assert_eq!(detect.detector.name(), "decompose");
    assert!(detect.detector.to_params().contains(&("threshold".to_string(), "3".to_string())));
    assert_eq!(spec.root_of(3), 0);
    let window = spec.window.expect("window");
    assert_eq!(window.end_micros - window.start_micros, 30 * 86_400_000_000);
}

#[test]
fn unknown_input_names_the_field() {
    let text = VALID.replace("input = \"hourly\"\nfraction", "input = \"hourlyy\"\nfraction");
    assert_eq!(issues_of(&text), vec!["stage[2].input: unknown stage \"hourlyy\""]);
}

#[test]
fn bad_duration_names_the_field() {
    let text = VALID.replace("step = \"1h\"\nagg = \"sum\"", "step = \"90q\"\nagg = \"sum\"");
    let issues = issues_of(&text);
    assert_eq!(issues.len(), 1);
    assert!(issues[0].starts_with("stage[1].step: \"90q\" is not a duration"), "{issues:?}");
}

#[test]
fn unknown_fields_are_rejected() {
    let text = VALID.replace("threshold = 3.0", "threshold = 3.0\nthreshhold = 2");
    let error = JobSpec::from_toml(&text).expect_err("unknown field");
    assert!(error.to_string().contains("threshhold"), "{error}");

    let text = VALID.replace("fraction = 0.05", "fraction = 0.05\nstep = \"1h\"");
    assert_eq!(issues_of(&text), vec!["stage[2].step: not a field of op \"sample\""]);
}

#[test]
fn cycles_are_rejected() {
    let text = VALID.replace("input = \"hourly\"\nfraction", "input = \"again\"\nfraction")
        + "\n[[stage]]\nid = \"again\"\nop = \"sample\"\ninput = \"explore\"\nfraction = 0.5\n";
    let issues = issues_of(&text);
    assert!(issues.iter().any(|issue| issue.contains("cycle: explore -> again -> explore")), "{issues:?}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = VALID
        .replace("version = 1", "version = 2")
        .replace("agg = \"avg\"", "agg = \"median\"")
        .replace("fraction = 0.05", "fraction = 1.5")
        .replace("end = \"2026-02-04T00:00:00Z\"", "end = \"2026-01-01T00:00:00Z\"");
    let issues = issues_of(&text);
    let paths: Vec<&str> = issues.iter().map(|issue| issue.split(':').next().unwrap_or("")).collect();
    assert_eq!(paths, vec!["version", "window.end", "stage[0].agg", "stage[2].fraction"], "{issues:?}");
}

#[test]
fn inputs_must_have_the_right_kind() {
    let text = VALID.replace("input = \"hourly\"\ndetector", "input = \"source\"\ndetector");
    assert_eq!(issues_of(&text), vec!["stage[3].input: detect needs series: name a make_series or sample stage"]);
    let text = VALID.replace("input = [\"anomalies\"]", "input = [\"hourly\"]");
    assert_eq!(issues_of(&text), vec!["sink[0].input: \"hourly\" is not a detect stage; a lake sink stores anomalies"]);
}

#[test]
fn group_by_columns_must_exist() {
    let text = VALID.replace("[\"region\", \"device_type\"]", "[\"region\", \"color\"]");
    assert_eq!(
        issues_of(&text),
        vec!["stage[1].group_by: \"color\" is neither in source.series_key nor in source.tags"]
    );
}

#[test]
fn fills_parse() {
    for (text, expected) in [
        ("const(0)", Fill::Const(0.0)),
        ("const(-2.5)", Fill::Const(-2.5)),
        ("null", Fill::Null),
        ("forward", Fill::Forward),
    ] {
        let spec =
            JobSpec::from_toml(&VALID.replace("fill = \"linear\"", &format!("fill = \"{text}\""))).expect("valid fill");
        let StageOp::MakeSeries(op) = &spec.stages[0].op else { panic!("make_series") };
        assert_eq!(op.fill, expected);
    }
    assert_eq!(issues_of(&VALID.replace("fill = \"linear\"", "fill = \"const(x)\"")).len(), 1);
}

#[test]
fn window_is_optional_but_checked() {
    let text = VALID.replace("start = \"2026-01-05T00:00:00Z\"", "start = \"yesterday\"");
    assert_eq!(
        issues_of(&text),
        vec!["window.start: \"yesterday\" is not an RFC 3339 time such as \"2026-01-05T00:00:00Z\""]
    );
}

#[test]
fn detectors_take_parameters_as_fields_or_a_params_table() {
    let text = VALID.replace(
        "detector = \"decompose\"\nseasonality = \"auto\"\nthreshold = 3.0",
        "detector = \"spike_dip\"\nparams = { confidence = 95, mode = \"spikes\" }",
    );
    let spec = JobSpec::from_toml(&text).expect("spike_dip with params");
    let StageOp::Detect(detect) = &spec.stages[3].op else { panic!("detect") };
    assert_eq!(detect.detector.name(), "spike_dip");
    assert!(detect.detector.to_params().contains(&("confidence".to_string(), "95".to_string())));

    let text = VALID.replace(
        "detector = \"decompose\"\nseasonality = \"auto\"\nthreshold = 3.0",
        "detector = \"spike_dip\"\nparams = { confidance = 95 }",
    );
    let issues = issues_of(&text);
    assert_eq!(issues.len(), 1);
    assert!(issues[0].starts_with("stage[3].params.confidance: unknown parameter for spike_dip"), "{issues:?}");

    let text = VALID.replace("detector = \"decompose\"", "detector = \"prophet\"");
    assert!(
        issues_of(&text)[0].starts_with("stage[3].detector: unknown detector \"prophet\""),
        "{:?}",
        issues_of(&text)
    );

    let text = VALID.replace("seasonality = \"auto\"", "seasonality = \"weekly\"");
    assert!(issues_of(&text)[0].starts_with("stage[3].seasonality:"), "{:?}", issues_of(&text));
}

#[test]
fn the_default_detector_is_the_ensemble() {
    let text = VALID.replace("detector = \"decompose\"\nseasonality = \"auto\"\n", "");
    let spec = JobSpec::from_toml(&text).expect("valid");
    let StageOp::Detect(detect) = &spec.stages[3].op else { panic!("detect") };
    assert_eq!(detect.detector.name(), "ensemble");
}

const ALERTS: &str = r#"
[[sink]]
kind = "alerts"
input = ["anomalies"]
target = "webhook"
url = "https://hooks.example/fathom"
min_score = 5.0
max_per_run = 20
secret_env = "FATHOM_WEBHOOK_SECRET"
timeout = "3s"
retry_max = "2m"
link = "https://dash/{series}"
"#;

#[test]
fn an_alert_sink_parses_with_its_settings_and_defaults() {
    let spec = JobSpec::from_toml(&format!("{VALID}{ALERTS}")).expect("valid");
    let SinkSpec::Alerts(sink) = &spec.sinks[1] else { panic!("an alert sink: {:?}", spec.sinks[1]) };
    assert_eq!(sink.target, AlertTarget::Webhook);
    assert_eq!(sink.url, "https://hooks.example/fathom");
    assert_eq!((sink.min_score, sink.max_per_run, sink.max_per_series), (5.0, 20, 1));
    assert_eq!((sink.timeout_micros, sink.retry_max_micros), (3_000_000, 120_000_000));
    assert_eq!(sink.secret_env.as_deref(), Some("FATHOM_WEBHOOK_SECRET"));
    assert_eq!(sink.inputs, vec![spec.stage_index("anomalies").expect("stage")]);
}

#[test]
fn alert_sink_mistakes_are_named_by_field() {
    let bad = ALERTS
        .replace("target = \"webhook\"", "target = \"alertmanager\"")
        .replace("https://hooks.example/fathom", "ftp://nope")
        .replace("max_per_run = 20", "max_per_run = 0")
        .replace("timeout = \"3s\"", "timeout = \"soon\"");
    assert_eq!(
        issues_of(&format!("{VALID}{bad}")),
        vec![
            "sink[1].url: \"ftp://nope\" is not an http(s) URL",
            "sink[1].max_per_run: 0 is not between 1 and 1000",
            "sink[1].timeout: \"soon\" is not a duration (e.g. \"10s\", \"5m\")",
            "sink[1].secret_env: signing applies to webhook targets only",
        ]
    );
    let unknown = ALERTS.replace("target = \"webhook\"", "target = \"pagerduty\"");
    assert_eq!(
        issues_of(&format!("{VALID}{unknown}")),
        vec!["sink[1].target: \"pagerduty\" is not an alert target (alertmanager or webhook)"]
    );
    let lake_fields = VALID.replace("kind = \"lake\"", "kind = \"lake\"\nmin_score = 2.0");
    assert_eq!(issues_of(&lake_fields), vec!["sink[0].min_score: applies to alert sinks only"]);
}

#[test]
fn on_bad_file_is_fail_or_skip() {
    let skip = VALID.replace("value = \"value\"", "value = \"value\"\non_bad_file = \"skip\"");
    assert!(JobSpec::from_toml(&skip).expect("valid").source.skip_bad_files);
    assert!(!JobSpec::from_toml(VALID).expect("valid").source.skip_bad_files, "failing is the default");
    let bad = VALID.replace("value = \"value\"", "value = \"value\"\non_bad_file = \"ignore\"");
    assert_eq!(issues_of(&bad), vec!["source.on_bad_file: \"ignore\" is not a choice (expected fail or skip)"]);
}

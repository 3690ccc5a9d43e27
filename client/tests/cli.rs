//! The `fathom` binary as a user runs it: exit codes and messages.

use std::process::Command;

fn fathom() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fathom"))
}

#[test]
fn an_invalid_spec_exits_non_zero_naming_the_field_and_touches_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = fathom_client::DEMO_SPEC
        .replace("\"fathom-demo/", &format!("\"{}/", dir.path().display()))
        .replace("input = \"hourly\"\ndetector", "input = \"hourlyy\"\ndetector");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, spec).expect("write spec");
    let output = fathom().arg("run").arg(&path).output().expect("run fathom");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("stage[2].input: unknown stage \"hourlyy\""), "{stderr}");
    let entries: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
    assert_eq!(entries.len(), 1, "only the spec itself: nothing read or written");
}

#[test]
fn an_unknown_field_is_rejected_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, fathom_client::DEMO_SPEC.replace("threshold = 3.0", "threshold = 3.0\nthreshhold = 2.0"))
        .expect("write spec");
    let output = fathom().arg("run").arg(&path).output().expect("run fathom");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown field `threshhold`"), "{stderr}");
}

#[test]
fn gen_then_run_succeeds_and_prints_a_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("data");
    let generated =
        fathom().args(["gen", "--series", "30", "--days", "3", "--out"]).arg(&out).output().expect("run fathom gen");
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let spec = fathom_client::DEMO_SPEC
        .replace("\"fathom-demo/", &format!("\"{}/", out.display()))
        .replace("end = \"2026-02-04T00:00:00Z\"", "end = \"2026-01-08T00:00:00Z\"");
    let path = dir.path().join("job.toml");
    std::fs::write(&path, spec).expect("write spec");
    let output = fathom().arg("run").arg(&path).output().expect("run fathom");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("succeeded"), "{stdout}");
    assert!(stdout.contains("series     30 on the grid, 2,160 points"), "{stdout}");
    assert!(out.join("lake/anomalies/_delta_log/00000000000000000000.json").exists());
}

#[test]
fn eval_on_a_gen_dataset_scores_every_labelled_event_through_the_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("data");
    let generated = fathom()
        .args(["gen", "--series", "100", "--days", "14", "--anomaly-fraction", "1", "--out"])
        .arg(&out)
        .output()
        .expect("run fathom gen");
    let gen_stdout = String::from_utf8_lossy(&generated.stdout).to_string();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let labelled: usize = gen_stdout
        .split(" labelled anomalies")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|count| count.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no label count in {gen_stdout:?}"));
    assert!(labelled > 50, "{gen_stdout}");

    let output = fathom()
        .args(["eval", "--detector", "decompose:threshold=3", "--detector", "ensemble", "--data"])
        .arg(&out)
        .output()
        .expect("run fathom eval");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(&format!("== decompose:threshold=3 on {}", out.display())), "{stdout}");
    let ensemble = stdout.split("== ensemble on").nth(1).unwrap_or_else(|| panic!("no ensemble table: {stdout}"));
    assert!(ensemble.contains(&format!("({labelled} labelled events")), "{stdout}");
    // overall  LABELS  RECALL ...: every label is counted, and most are found.
    let overall: Vec<&str> = ensemble
        .lines()
        .find(|line| line.starts_with("overall"))
        .unwrap_or_else(|| panic!("no overall row: {stdout}"))
        .split_whitespace()
        .collect();
    assert_eq!(overall[1], labelled.to_string(), "{stdout}");
    let recall: f64 = overall[2].parse().expect("recall is a number");
    assert!(recall >= 0.8, "the ensemble finds most injected events: {stdout}");
}

#[test]
fn eval_on_a_directory_that_is_not_a_dataset_fails_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = fathom().args(["eval", "--data"]).arg(dir.path()).output().expect("run fathom eval");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("cannot list {}/raw", dir.path().display())), "{stderr}");
    assert!(stderr.contains("fathom gen"), "{stderr}");
}

//! `fathom detect` on one series, as a user runs it.

use std::process::Command;

fn fathom() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fathom"))
}

fn csv(values: &[f64]) -> String {
    let mut text = String::from("timestamp,value\n");
    for (hour, value) in values.iter().enumerate() {
        text.push_str(&format!("2026-01-05 {:02}:00:00,{value}\n", hour % 24).replacen(
            "2026-01-05",
            &format!("2026-01-{:02}", 5 + hour / 24),
            1,
        ));
    }
    text
}

#[test]
fn outliers_reproduces_the_adx_documented_example() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("series.csv");
    let values = [-3.0, 2.4, 15.0, 3.9, 5.0, 6.0, 4.5, 5.2, 3.0, 4.0, 5.0, 16.0, 7.0, 5.0, 5.0, 4.0];
    std::fs::write(&input, csv(&values)).expect("write");
    let output = fathom().args(["detect", "--detector", "outliers", "--input"]).arg(&input).output().expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "timestamp,value,baseline,score,flag,kind");
    assert_eq!(lines.len(), 17, "one row per input row");
    let expected =
        [-1.9040785, -0.1002147, 1.3361954, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.6702443, 0.0, 0.0, 0.0, 0.0];
    for (line, want) in lines[1..].iter().zip(expected) {
        let fields: Vec<&str> = line.split(',').collect();
        let score: f64 = fields[3].parse().expect("score");
        assert!((score - want).abs() < 1e-6, "{line}: want {want}");
    }
    // Default threshold 1.5: the first and the 12th points are flagged, the third is not.
    let flags: Vec<&str> = lines[1..].iter().map(|line| line.split(',').nth(4).unwrap_or("")).collect();
    assert_eq!(flags[0], "-1");
    assert_eq!(flags[2], "0");
    assert_eq!(flags[11], "1");
}

#[test]
fn input_order_is_kept_and_output_goes_to_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("series.csv");
    let mut values: Vec<f64> = (0..240).map(|hour| 10.0 + (hour as f64 * std::f64::consts::TAU / 24.0).sin()).collect();
    values[100] += 30.0;
    let text = csv(&values);
    // Reverse the data rows: output must follow the input's order.
    let mut lines: Vec<&str> = text.lines().collect();
    lines[1..].reverse();
    std::fs::write(&input, lines.join("\n") + "\n").expect("write");
    let output_path = dir.path().join("out.csv");
    let output = fathom()
        .args(["detect", "--detector", "decompose", "--param", "threshold=3", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&output_path)
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let written = std::fs::read_to_string(&output_path).expect("output file");
    let rows: Vec<&str> = written.lines().skip(1).collect();
    assert_eq!(rows.len(), 240);
    for (row, line) in rows.iter().zip(&lines[1..]) {
        assert!(row.starts_with(line), "{row} vs {line}");
    }
    let flagged: Vec<&str> = rows.iter().filter(|row| row.split(',').nth(4) != Some("0")).copied().collect();
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert!(flagged[0].starts_with("2026-01-09 04:00:00,"), "{flagged:?}");
    assert!(flagged[0].ends_with(",1,spike"), "{flagged:?}");
}

#[test]
fn bad_parameters_and_files_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("series.csv");
    std::fs::write(&input, csv(&[1.0, 2.0, 3.0])).expect("write");
    let run = |args: &[&str]| {
        let output = fathom().arg("detect").arg("--input").arg(&input).args(args).output().expect("run");
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    assert!(run(&["--detector", "prophet"]).contains("--detector: unknown detector \"prophet\""));
    assert!(
        run(&["--detector", "spike_dip", "--param", "confidance=9"]).contains("--param confidance: unknown parameter")
    );
    assert!(run(&["--param", "threshold"]).contains("must look like name=value"));
    std::fs::write(&input, "timestamp,value\n2026-01-05,1\nlater,2\n").expect("write");
    assert!(run(&[]).contains("series.csv:3: \"later\" is not a timestamp"));
}

#[test]
fn causal_mode_runs_and_keeps_one_row_per_input_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("series.csv");
    let values: Vec<f64> = (0..96).map(|hour| 5.0 + (hour % 24) as f64 * 0.1).collect();
    std::fs::write(&input, csv(&values)).expect("write");
    let output = fathom().args(["detect", "--causal", "--input"]).arg(&input).output().expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 97);
}

#[test]
fn eval_prints_recall_precision_and_f1_per_kind() {
    let output = fathom()
        .args([
            "eval",
            "--per-kind",
            "4",
            "--clean",
            "4",
            "--detector",
            "decompose:threshold=3",
            "--detector",
            "spike_dip",
        ])
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("== decompose:threshold=3") && stdout.contains("== spike_dip"), "{stdout}");
    for kind in ["spike", "dip", "level_shift", "trend_change", "variance_change"] {
        assert!(stdout.lines().any(|line| line.starts_with(kind)), "no {kind} row: {stdout}");
    }
    let bad = fathom().args(["eval", "--detector", "decompose:threshold"]).output().expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must look like name=value"));
}

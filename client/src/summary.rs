//! The human-readable end-of-job summary printed by `fathom run` and `fathom demo`.

use std::fmt::Write;

use fathom_core::job::JobStatus;

/// `1234567` -> `1,234,567`.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn time_of(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|time| time.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| micros.to_string())
}

pub fn render(status: &JobStatus) -> String {
    let mut out = String::new();
    let metrics = &status.metrics;
    let _ = writeln!(out, "job {} {} in {:.2}s", status.job_id, status.state.name(), status.elapsed_ms as f64 / 1000.0);
    if let Some(error) = &status.error {
        let _ = writeln!(out, "  error      {error}");
    }
    let _ = writeln!(
        out,
        "  read       {} rows ({:.1} MB) from {} files; {} rows dropped (outside the window or not finite)",
        thousands(metrics.rows_read),
        metrics.bytes_read as f64 / 1e6,
        thousands(metrics.files_read),
        thousands(metrics.rows_dropped)
    );
    let _ =
        writeln!(out, "  series     {} on the grid, {} points", thousands(metrics.series), thousands(metrics.points));
    let _ = writeln!(out, "  anomalies  {}", thousands(metrics.anomalies));
    let stages: Vec<String> =
        status.stages.iter().map(|stage| format!("{} {:.2}s", stage.name, stage.elapsed_ms as f64 / 1000.0)).collect();
    let _ = writeln!(out, "  stages     {}", stages.join(" · "));
    if status.metrics.files_skipped > 0 {
        let _ = writeln!(out, "  bad files  {} left out (on_bad_file = \"skip\"):", status.metrics.files_skipped);
        for file in &status.skipped_files {
            let _ = writeln!(out, "               {file}");
        }
    }
    if !status.skipped_stages.is_empty() {
        let _ = writeln!(out, "  skipped    {} (feed no sink)", status.skipped_stages.join(", "));
    }
    for table in &status.tables {
        let _ = writeln!(out, "  table      {table}");
    }
    if !status.top_anomalies.is_empty() {
        let _ = writeln!(out, "top {} anomalies by |score|:", status.top_anomalies.len());
        let _ = writeln!(
            out,
            "  {:<14} {:<20} {:<17} {:>10} {:>10} {:>8}  kind",
            "stage", "series", "time (UTC)", "value", "baseline", "score"
        );
        for top in &status.top_anomalies {
            let _ = writeln!(
                out,
                "  {:<14} {:<20} {:<17} {:>10.2} {:>10.2} {:>8.2}  {}",
                top.stage,
                top.series,
                time_of(top.ts_micros),
                top.value,
                top.baseline,
                top.score,
                top.kind
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(43_200_000), "43,200,000");
    }
}

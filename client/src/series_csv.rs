//! One series as CSV, for `fathom detect`: parse `timestamp,value` rows, lay them on a regular
//! grid for the detectors, and write one result row per input row, in input order.
//!
//! Gridding irregular input: the step is the most common gap between consecutive distinct
//! timestamps (ties: the smaller gap); every row lands on the nearest grid point from the
//! first timestamp; rows sharing a grid point are averaged (so duplicates and jitter are
//! absorbed) and get that point's result; grid points without rows are missing (NaN), which
//! every detector treats as a gap rather than a value.

use std::collections::HashMap;
use std::io::{Read, Write};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// The grid is capped: a series that would need more points is almost surely mis-stamped.
const MAX_GRID_POINTS: usize = 1 << 24;

#[derive(Debug, Clone, PartialEq)]
pub struct InputRow {
    pub timestamp_text: String,
    pub value_text: String,
    pub ts_micros: i64,
    /// NaN for an empty value.
    pub value: f64,
}

/// Parses `2026-01-05T10:00:00Z` (RFC 3339, any offset), `2026-01-05 10:00:00`, `2026-01-05T10:00:00`
/// and `2026-01-05` (UTC when no offset is given).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.timestamp_micros());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Some(time.and_utc().timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0).map(|time| time.and_utc().timestamp_micros())
}

pub fn read_rows(input: impl Read, source: &str) -> Result<Vec<InputRow>> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(input);
    let headers = reader.headers().with_context(|| format!("{source}: cannot read the header"))?.clone();
    let position = |name: &str| headers.iter().position(|header| header.eq_ignore_ascii_case(name));
    let (Some(ts_column), Some(value_column)) = (position("timestamp"), position("value")) else {
        bail!(
            "{source}: the header must name `timestamp` and `value` columns (found: {})",
            headers.iter().collect::<Vec<_>>().join(",")
        );
    };
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.with_context(|| format!("{source}:{line}: malformed CSV row"))?;
        let timestamp_text = record.get(ts_column).unwrap_or_default().to_string();
        let value_text = record.get(value_column).unwrap_or_default().to_string();
        let ts_micros = parse_timestamp(&timestamp_text).with_context(|| {
            format!("{source}:{line}: {timestamp_text:?} is not a timestamp (use ISO-8601 or YYYY-MM-DD HH:MM:SS)")
        })?;
        let value = if value_text.is_empty() {
            f64::NAN
        } else {
            value_text.parse::<f64>().with_context(|| format!("{source}:{line}: {value_text:?} is not a number"))?
        };
        rows.push(InputRow { timestamp_text, value_text, ts_micros, value });
    }
    if rows.is_empty() {
        bail!("{source}: no rows after the header");
    }
    Ok(rows)
}

/// A regular series built from the rows, and each row's grid index.
#[derive(Debug, Clone, PartialEq)]
pub struct Gridded {
    pub start_micros: i64,
    pub step_micros: i64,
    pub values: Vec<f64>,
    pub row_index: Vec<usize>,
}

pub fn grid(rows: &[InputRow]) -> Result<Gridded> {
    let mut times: Vec<i64> = rows.iter().map(|row| row.ts_micros).collect();
    times.sort_unstable();
    times.dedup();
    let start = times[0];
    let step = most_common_gap(&times).unwrap_or(1);
    let span = (times[times.len() - 1] - start) as u128;
    let points = (span / step as u128) as usize + 1;
    if points > MAX_GRID_POINTS {
        bail!("the timestamps span {points} steps of {step} µs; too irregular to put on one grid");
    }
    let mut sums = vec![0.0; points];
    let mut counts = vec![0_u32; points];
    let mut row_index = Vec::with_capacity(rows.len());
    for row in rows {
        let offset = row.ts_micros - start;
        let index = ((offset + step / 2) / step) as usize;
        let index = index.min(points - 1);
        row_index.push(index);
        if row.value.is_finite() {
            sums[index] += row.value;
            counts[index] += 1;
        }
    }
    let values = sums
        .iter()
        .zip(&counts)
        .map(|(sum, count)| if *count > 0 { sum / f64::from(*count) } else { f64::NAN })
        .collect();
    Ok(Gridded { start_micros: start, step_micros: step, values, row_index })
}

fn most_common_gap(sorted_distinct: &[i64]) -> Option<i64> {
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for pair in sorted_distinct.windows(2) {
        *counts.entry(pair[1] - pair[0]).or_default() += 1;
    }
    counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).map(|(gap, _)| gap)
}

/// One output row per input row: `timestamp,value,baseline,score,flag,kind`.
pub struct ResultColumns<'a> {
    pub baseline: &'a [f64],
    pub score: &'a [f64],
    pub flag: &'a [i8],
    pub kind: &'a [&'a str],
}

pub fn write_rows(out: impl Write, rows: &[InputRow], gridded: &Gridded, results: &ResultColumns<'_>) -> Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record(["timestamp", "value", "baseline", "score", "flag", "kind"])?;
    let number = |value: f64| if value.is_finite() { format!("{value}") } else { String::new() };
    for (row, &index) in rows.iter().zip(&gridded.row_index) {
        writer.write_record([
            row.timestamp_text.as_str(),
            row.value_text.as_str(),
            &number(results.baseline[index]),
            &number(results.score[index]),
            &results.flag[index].to_string(),
            results.kind[index],
        ])?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_timestamp_forms() {
        let expected = Some(1_767_607_200_000_000); // 2026-01-05T10:00:00Z
        assert_eq!(parse_timestamp("2026-01-05T10:00:00Z"), expected);
        assert_eq!(parse_timestamp("2026-01-05T12:00:00+02:00"), expected);
        assert_eq!(parse_timestamp("2026-01-05 10:00:00"), expected);
        assert_eq!(parse_timestamp("2026-01-05T10:00:00"), expected);
        assert_eq!(parse_timestamp("2026-01-05"), Some(1_767_571_200_000_000));
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn irregular_rows_land_on_the_nearest_grid_point() {
        let text = "timestamp,value\n2026-01-05 00:00:00,1\n2026-01-05 01:00:00,2\n2026-01-05 00:00:00,3\n\
                    2026-01-05 03:00:10,4\n2026-01-05 02:00:00,\n";
        let rows = read_rows(text.as_bytes(), "t.csv").expect("rows");
        let gridded = grid(&rows).expect("grid");
        assert_eq!(gridded.step_micros, 3_600_000_000);
        assert_eq!(gridded.row_index, vec![0, 1, 0, 3, 2]);
        assert_eq!(gridded.values[0], 2.0, "duplicates are averaged");
        assert!(gridded.values[2].is_nan(), "an empty value is a gap");
        assert_eq!(gridded.values[3], 4.0);
    }

    #[test]
    fn errors_name_the_line() {
        let error = read_rows("timestamp,value\n2026-01-05,1\nnope,2\n".as_bytes(), "t.csv").expect_err("bad ts");
        assert!(error.to_string().starts_with("t.csv:3: \"nope\" is not a timestamp"), "{error}");
        let error = read_rows("time,value\n".as_bytes(), "t.csv").expect_err("bad header");
        assert!(error.to_string().contains("must name `timestamp` and `value`"), "{error}");
        let error = read_rows("timestamp,value\n2026-01-05,abc\n".as_bytes(), "t.csv").expect_err("bad value");
        assert!(error.to_string().contains("t.csv:2: \"abc\" is not a number"), "{error}");
    }
}

//! Durations as users write them in specs: `90s`, `10m`, `1h`, `1d`, `1w`.

/// Microseconds in one unit.
const UNITS: [(&str, i64); 6] = [
    ("ms", 1_000),
    ("s", 1_000_000),
    ("m", 60_000_000),
    ("h", 3_600_000_000),
    ("d", 86_400_000_000),
    ("w", 604_800_000_000),
];

/// Parses `<positive integer><unit>` into microseconds; `None` if it is not a duration.
pub fn parse_duration_micros(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits_end = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(digits_end);
    let number: i64 = number.parse().ok()?;
    let (_, micros_per_unit) = UNITS.iter().find(|(name, _)| *name == unit)?;
    let micros = number.checked_mul(*micros_per_unit)?;
    (micros > 0).then_some(micros)
}

/// The shortest exact spelling of a duration, for messages and summaries.
pub fn format_duration_micros(micros: i64) -> String {
    for (name, unit) in UNITS.iter().rev() {
        if micros % unit == 0 {
            return format!("{}{name}", micros / unit);
        }
    }
    format!("{micros}us")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration_micros("10m"), Some(600_000_000));
        assert_eq!(parse_duration_micros("1h"), Some(3_600_000_000));
        assert_eq!(parse_duration_micros("2d"), Some(172_800_000_000));
        assert_eq!(parse_duration_micros("250ms"), Some(250_000));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "h", "90q", "0m", "-1h", "1.5h", "1 h", "99999999999999999999w"] {
            assert_eq!(parse_duration_micros(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_duration_micros(3_600_000_000), "1h");
        assert_eq!(format_duration_micros(5_400_000_000), "90m");
    }
}

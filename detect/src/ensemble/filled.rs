//! Gaps filled before the ensemble sees them.
//!
//! The engine fills hours without data by linear interpolation before any detector runs,
//! so a gap reaches the ensemble as a straight line between its two neighbours. Where the
//! seasonal cycle curves, that line is many σ off the baseline for hours: a string of
//! spikes or dips in a series where nothing happened (on labelled `fathom gen` data, most
//! false spikes and dips were such lines). A measured value in a noisy series never lies
//! exactly on the line through its two neighbours (the chance is that of the noise landing
//! within rounding of one value), so such points are taken for filled and treated as
//! missing: left out of the model and never flagged.
//!
//! This only holds where the data has noise. In a constant or a quantised series (counts,
//! values with few decimals) exact lines are common and say nothing about gaps, so points
//! are taken for filled only when fewer than a quarter of the points of the series lie on the
//! line through their neighbours.

/// Points are taken for filled only when fewer than this share of them lie on the line
/// through their neighbours: more, and the series is constant or quantised (a repeating
/// 0, 1, 2 has a third), where exact lines are data. Gaps in engine data are a few percent
/// of the hours; a series missing more than a quarter of them is judged as it arrives.
const MAX_ON_LINE_SHARE: f64 = 0.25;
/// Rounding of a linear interpolation, in units of `f64::EPSILON` times the size of the
/// values involved: `a + (b - a) t` is within a few ulps of the exact line.
const ROUNDING_ULPS: f64 = 64.0;

/// Sets to NaN every finite point of `x` that lies, to rounding, on the line through its
/// two neighbours, if the series has noise (see the module docs). Returns how many.
pub(crate) fn unfill_gaps(x: &mut [f64], on_line: &mut Vec<bool>) -> usize {
    let n = x.len();
    on_line.clear();
    on_line.resize(n, false);
    let mut off_line = 0;
    let mut judged = 0;
    for i in 1..n.saturating_sub(1) {
        let (a, b, c) = (x[i - 1], x[i], x[i + 1]);
        if !(a.is_finite() && b.is_finite() && c.is_finite()) {
            continue;
        }
        judged += 1;
        let tolerance = ROUNDING_ULPS * f64::EPSILON * (a.abs() + 2.0 * b.abs() + c.abs());
        if (a - 2.0 * b + c).abs() <= tolerance {
            on_line[i] = true;
        } else {
            off_line += 1;
        }
    }
    if MAX_ON_LINE_SHARE * judged as f64 <= (judged - off_line) as f64 {
        return 0;
    }
    let mut count = 0;
    for (v, &line) in x.iter_mut().zip(on_line.iter()) {
        if line {
            *v = f64::NAN;
            count += 1;
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_fills_in_noisy_series_are_missing() {
        let mut rng = crate::synthetic::Rng::new(3);
        let mut x: Vec<f64> = (0..200).map(|i| 50.0 + 10.0 * (i as f64 / 4.0).sin() + rng.normal()).collect();
        let truth = x.clone();
        x[100..105].fill(f64::NAN);
        x[150] = f64::NAN;
        crate::fill::fill_gaps(&mut x, crate::fill::Fill::Linear);
        let mut buf = Vec::new();
        assert_eq!(unfill_gaps(&mut x, &mut buf), 6);
        for (i, (v, t)) in x.iter().zip(&truth).enumerate() {
            let filled = (100..105).contains(&i) || i == 150;
            assert_eq!(v.is_nan(), filled, "{i}");
            assert!(filled || v == t, "{i}");
        }
    }

    #[test]
    fn exact_lines_in_constant_or_quantised_series_are_data() {
        let mut x = vec![5.0; 100];
        x[50] = 6.0;
        assert_eq!(unfill_gaps(&mut x, &mut Vec::new()), 0);
        let mut ramp: Vec<f64> = (0..100).map(|i| (i % 7) as f64).collect();
        assert_eq!(unfill_gaps(&mut ramp, &mut Vec::new()), 0);
        assert!(ramp.iter().all(|v| v.is_finite()));
    }
}

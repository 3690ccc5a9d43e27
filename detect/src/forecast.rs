//! Forecasting by decomposition (ADX `series_decompose_forecast`).
//!
//! ADX documents `series_decompose_forecast(Series, Points, Seasonality, Trend,
//! Seasonality_threshold)`: the last `Points` values are excluded from learning and
//! predicted. The usual way to forecast is to extend the series with that many empty (NaN)
//! buckets, as `make-series` does when its range reaches into the future; whatever those
//! slots hold is ignored. The forecast is the decomposition's baseline over the whole series:
//! - seasonal: the per-phase medians of the learning part, continued by phase;
//! - trend: `Linefit` (ADX's default *for forecasting*, unlike `series_decompose`'s `Avg`)
//!   extends the learning part's least-squares line, `Avg` repeats its mean, `None` is 0.
//!
//! With neither seasonality nor trend the forecast is all zeros, as ADX documents. This is
//! [`decompose`] with `test_points = points`, so every rule documented there (period
//! choice, gaps, huge magnitudes, a too-short learning part) applies unchanged.

use crate::decompose::{DecomposeParams, DecomposeScratch, Decomposition, Trend, decompose};

/// ADX's defaults for `series_decompose_forecast`: seasonality auto-detected with threshold
/// 0.6, and a `Linefit` trend.
pub fn forecast_params() -> DecomposeParams {
    DecomposeParams { trend: Trend::Linefit, ..DecomposeParams::default() }
}

/// ADX `series_decompose_forecast`: learns from all but the last `points` values and writes
/// the decomposition of the whole series into `out`; `out.baseline` is the forecast (fitted
/// values on the learning part, predictions on the last `points`). `params.test_points` is
/// ignored in favour of `points`. Every output has the input's length; nothing allocates
/// once `out` and `scratch` have grown.
pub fn series_decompose_forecast(
    values: &[f64],
    points: usize,
    params: &DecomposeParams,
    out: &mut Decomposition,
    scratch: &mut DecomposeScratch,
) {
    let params = DecomposeParams { test_points: points, ..*params };
    decompose(values, &params, out, scratch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decompose::Seasonality;
    use crate::test_rng::XorShift;
    use proptest::prelude::*;
    use std::f64::consts::PI;

    /// Daily shape plus a slow linear trend, without noise.
    fn truth(i: usize) -> f64 {
        let t = 2.0 * PI * i as f64 / 24.0;
        20.0 + 5.0 * t.sin() + 2.0 * (2.0 * t).cos() + 0.01 * i as f64
    }

    #[test]
    fn forecasts_seasonal_plus_linear_tail_within_noise() {
        let (learn, horizon, sigma) = (24 * 7 * 4, 24 * 7, 0.5);
        let mut rng = XorShift(0x5eed_1234_abcd_ef01);
        let noisy: Vec<f64> = (0..learn + horizon).map(|i| truth(i) + sigma * rng.normal()).collect();
        // The tail is held out: NaN placeholders, as after make-series into the future.
        let mut x = noisy.clone();
        x[learn..].fill(f64::NAN);
        let mut out = Decomposition::default();
        let mut scratch = DecomposeScratch::default();
        series_decompose_forecast(&x, horizon, &forecast_params(), &mut out, &mut scratch);
        assert_eq!(out.period, Some(24));
        assert_eq!(out.baseline.len(), x.len());
        let tail = learn..learn + horizon;
        let max_err = tail.clone().map(|i| (out.baseline[i] - truth(i)).abs()).fold(0.0, f64::max);
        assert!(max_err < sigma, "max error {max_err}");
        // Against the held-out noisy values the error is the noise itself.
        let mse = tail.clone().map(|i| (out.baseline[i] - noisy[i]).powi(2)).sum::<f64>() / horizon as f64;
        assert!(mse.sqrt() < 1.2 * sigma, "rmse {}", mse.sqrt());
        // The trend keeps rising through the horizon.
        assert!(out.trend[learn + horizon - 1] > out.trend[learn] + 0.01 * (horizon as f64 - 10.0));
        // Whatever the placeholders hold is ignored.
        let mut junk = x.clone();
        junk[learn..].fill(1e9);
        let mut again = Decomposition::default();
        series_decompose_forecast(&junk, horizon, &forecast_params(), &mut again, &mut scratch);
        assert_eq!(again.baseline, out.baseline);
    }

    #[test]
    fn avg_trend_and_no_components() {
        let x: Vec<f64> = (0..40).map(|i| if i < 30 { [1.0, 3.0, 5.0, 3.0][i % 4] } else { f64::NAN }).collect();
        let mut out = Decomposition::default();
        let mut scratch = DecomposeScratch::default();
        let params = DecomposeParams { seasonality: Seasonality::Period(4), trend: Trend::Avg, ..forecast_params() };
        series_decompose_forecast(&x, 10, &params, &mut out, &mut scratch);
        for (i, b) in out.baseline.iter().enumerate() {
            assert!((b - [1.0, 3.0, 5.0, 3.0][i % 4]).abs() < 1e-9, "{i}: {b}");
        }
        // Neither seasonality nor trend: zeros, as ADX documents.
        let params = DecomposeParams { seasonality: Seasonality::None, trend: Trend::None, ..forecast_params() };
        series_decompose_forecast(&x, 10, &params, &mut out, &mut scratch);
        assert!(out.baseline.iter().all(|&b| b == 0.0));
        // test_points in params is overridden by points.
        let params = DecomposeParams { test_points: 39, seasonality: Seasonality::None, ..forecast_params() };
        series_decompose_forecast(&x, 10, &params, &mut out, &mut scratch);
        let line = crate::fit::series_fit_line(&x[..30]);
        assert!((out.baseline[39] - (line.interception + line.slope * 40.0)).abs() < 1e-9);
    }

    proptest! {
        #[test]
        fn never_panics(
            x in proptest::collection::vec(
                prop_oneof![4 => -1e3f64..1e3, 1 => Just(f64::NAN), 1 => Just(f64::INFINITY), 1 => Just(1e300)],
                0..200,
            ),
            points in 0usize..250,
            linefit: bool,
        ) {
            let params = DecomposeParams { trend: if linefit { Trend::Linefit } else { Trend::Avg }, ..forecast_params() };
            let mut out = Decomposition::default();
            let mut scratch = DecomposeScratch::default();
            series_decompose_forecast(&x, points, &params, &mut out, &mut scratch);
            prop_assert_eq!(out.baseline.len(), x.len());
            prop_assert_eq!(out.residual.len(), x.len());
        }
    }
}

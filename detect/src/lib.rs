//! Pure numeric kernels for Fathom's time-series anomaly detection, modelled on Azure Data
//! Explorer's `series_*` functions.
//!
//! Everything works on plain `&[f64]` series with regular buckets; a missing bucket is
//! `f64::NAN`. No function panics, whatever the input (NaN, ±inf, 1e300 magnitudes, empty
//! or single-point series, millions of points), and every output has the input's length.
//!
//! The engine runs these kernels over many series in a row, so each kernel takes a scratch
//! struct that the caller keeps and reuses: after the first series of a given length no call
//! allocates.
//!
//! - [`fill`]: [`fill_gaps`] with [`Fill`], the `make-series` gap policies.
//! - [`stats`]: [`percentile_sorted`], [`nan_median`], [`nan_mean`].
//! - [`outliers`]: [`series_outliers`] with [`OutlierTest`] (ADX Tukey / ctukey fences).
//! - [`fft`]: a radix-2 complex [`Fft`].
//! - [`correlation`]: FFT-based auto- and cross-correlation of real series
//!   ([`AutoCorrelation`]).
//! - [`periods`]: [`detect_period`] and [`period_score`] (ADX `series_periods_detect` and
//!   `series_periods_validate`) with [`PeriodScratch`], and their several-period forms
//!   [`periods_detect`] and [`periods_validate`].
//! - [`fit`]: [`series_fit_line`] and [`series_fit_2lines`] (ADX least-squares line fits).
//! - [`filter`]: [`series_fir`] and [`series_iir`] (ADX linear filters).
//! - [`forecast`]: [`series_decompose_forecast`] (ADX forecasting by decomposition).
//! - [`decompose`](mod@decompose): [`decompose()`] and [`decompose_anomalies`] (ADX
//!   `series_decompose` and `series_decompose_anomalies`) with [`DecomposeParams`],
//!   [`Decomposition`], [`AnomalyOutput`] and [`DecomposeScratch`].
//! - [`detector`]: the one entry point of the engine and the CLI, [`run_detector`] with a
//!   [`DetectorConfig`] (built from `name=value` strings), batch or causal [`Mode`], into a
//!   [`DetectorOutput`] (baseline, score, flag and [`AnomalyKind`] per point).
//! - [`spike_dip`](mod@spike_dip): ASA `AnomalyDetection_SpikeAndDip` against a robust
//!   trailing history ([`SpikeDipParams`]).
//! - [`spectral_residual`](mod@spectral_residual): Microsoft's spectral residual saliency
//!   ([`SpectralResidualParams`]).
//! - [`ensemble`](mod@ensemble): the calibrated combination of the detectors with anomaly
//!   kinds, the default detector ([`EnsembleParams`]).
//! - [`synthetic`]: labelled synthetic series ([`generate_series`], [`SyntheticSpec`]) and
//!   [`eval`]: event-level scoring ([`evaluate`], [`evaluate_detectors`], [`EvalReport`]).

pub mod change_point;
pub mod correlation;
pub mod decompose;
pub mod detector;
pub mod ensemble;
pub mod eval;
pub mod fft;
pub mod fill;
pub mod filter;
pub mod fit;
pub mod forecast;
pub mod outliers;
pub mod periods;
pub mod spectral_residual;
pub mod spike_dip;
pub mod stats;
pub mod synthetic;

pub use change_point::{
    ChangeKind, ChangePoint, ChangePointParams, ChangePointScratch, change_point_scores, detect_change_points,
};
pub use correlation::AutoCorrelation;
pub use decompose::{
    AnomalyOutput, DecomposeParams, DecomposeScratch, Decomposition, Seasonality, Trend, decompose, decompose_anomalies,
};
pub use detector::{AnomalyKind, DetectorConfig, DetectorOutput, DetectorScratch, Mode, ParamError, run_detector};
pub use ensemble::EnsembleParams;
pub use eval::{EvalPlan, EvalReport, evaluate, evaluate_detectors};
pub use fft::Fft;
pub use fill::{Fill, fill_gaps};
pub use filter::{fir_default_normalize, series_fir, series_iir};
pub use fit::{
    LineFit, LineStats, TwoLineFit, series_fit_2lines, series_fit_2lines_into, series_fit_line, series_fit_line_into,
};
pub use forecast::{forecast_params, series_decompose_forecast};
pub use outliers::{ADX_OUTLIER_SCALE, OutlierTest, outlier_fences, outlier_score, score_with_fences, series_outliers};
pub use periods::{
    PeriodScratch, detect_period, period_score, periods_detect, periods_detect_into, periods_validate,
    periods_validate_into,
};
pub use spectral_residual::SpectralResidualParams;
pub use spike_dip::{SpikeDipMode, SpikeDipParams};
pub use stats::{nan_mean, nan_median, percentile_sorted};
pub use synthetic::{Label, SyntheticSpec, generate_series};

#[cfg(test)]
mod test_rng;

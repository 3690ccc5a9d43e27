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
//!   `series_periods_validate`) with [`PeriodScratch`].
//! - [`decompose`](mod@decompose): [`decompose()`] and [`decompose_anomalies`] (ADX
//!   `series_decompose` and `series_decompose_anomalies`) with [`DecomposeParams`],
//!   [`Decomposition`], [`AnomalyOutput`] and [`DecomposeScratch`].

pub mod correlation;
pub mod decompose;
pub mod fft;
pub mod fill;
pub mod outliers;
pub mod periods;
pub mod stats;

pub use correlation::AutoCorrelation;
pub use decompose::{
    AnomalyOutput, DecomposeParams, DecomposeScratch, Decomposition, Seasonality, Trend, decompose, decompose_anomalies,
};
pub use fft::Fft;
pub use fill::{Fill, fill_gaps};
pub use outliers::{ADX_OUTLIER_SCALE, OutlierTest, outlier_fences, outlier_score, score_with_fences, series_outliers};
pub use periods::{PeriodScratch, detect_period, period_score};
pub use stats::{nan_mean, nan_median, percentile_sorted};

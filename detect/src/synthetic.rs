//! Labelled synthetic series for evaluating detectors (and for `fathom gen`).
//!
//! A series is `level + drift + seasonal components + noise`, with points missing at
//! random and a few gaps (runs of missing points), plus at most one injected event whose
//! position is returned as a [`Label`]. Everything is a pure function of the
//! [`SyntheticSpec`] and a seed, so an evaluation can be reproduced exactly.
//!
//! Magnitudes are in units of the noise standard deviation `σ` ([`SyntheticSpec::noise`]),
//! chosen to be realistic but detectable on 720 points (defaults in [`Magnitudes`]):
//!
//! - spike / dip: `6..10 σ` over 1 to 3 consecutive points. A 6 σ spike on Gaussian noise
//!   still exceeds 4.4 σ (about one false alarm per 100,000 points) with 95% probability;
//!   smaller excursions cannot be told from noise at a precision above 0.9;
//! - level shift: `5..10 σ`, up or down, persisting to the end;
//! - trend change: the slope changes at the event so that the deviation reaches `8..12 σ`
//!   a week (168 points) later, or at the last point if that comes first, up or down, and
//!   keeps growing. (A slope that needs a month to drift 8 σ cannot be placed within the
//!   evaluation's tolerance even with the true seasonal component known: on 720 points about
//!   6% of such changes starting early are placed more than 12 points off.)
//! - variance change: the noise standard deviation is multiplied by `3..5` from the event
//!   to the end.
//!
//! Events start in the middle two thirds of the series, so that there is history before
//! them and evidence after them. The injected points and the first changed point are never
//! missing, and no gap starts within 24 points of an event: gaps are part of the clean data,
//! and a detector that alarms on them is wrong.

use crate::detector::AnomalyKind;

/// One seasonal component: a sinusoid with a second harmonic (so the shape is not a pure
/// sine), random phases per series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seasonal {
    /// Period in points (24 for daily on hourly data).
    pub period: usize,
    /// Amplitude of the fundamental; the second harmonic has 0.4 of it.
    pub amplitude: f64,
}

/// Event magnitudes as `(min, max)` ranges, drawn uniformly per series (see the module
/// docs for the reasoning behind the defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Magnitudes {
    /// Spike / dip height in noise sigmas.
    pub spike: (f64, f64),
    /// Spike / dip width in points.
    pub spike_width: (usize, usize),
    /// Level shift in noise sigmas.
    pub level_shift: (f64, f64),
    /// Deviation reached by a trend change `trend_horizon` points after it (or at the last
    /// point if sooner), in noise sigmas.
    pub trend_change: (f64, f64),
    /// Points after a trend change at which its deviation reaches `trend_change`.
    pub trend_horizon: usize,
    /// Factor on the noise standard deviation after a variance change.
    pub variance_factor: (f64, f64),
}

impl Default for Magnitudes {
    fn default() -> Self {
        Magnitudes {
            spike: (6.0, 10.0),
            spike_width: (1, 3),
            level_shift: (5.0, 10.0),
            trend_change: (8.0, 12.0),
            trend_horizon: 168,
            variance_factor: (3.0, 5.0),
        }
    }
}

/// What a synthetic series looks like. The default is 30 days of hourly points with daily
/// and weekly seasonality.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    /// Number of points (720).
    pub length: usize,
    /// Step between points in seconds (3600); not used by the generator itself, carried
    /// for callers that attach timestamps.
    pub step_seconds: u64,
    /// Mean level (100).
    pub level: f64,
    /// Noise standard deviation σ (1); event magnitudes are multiples of it.
    pub noise: f64,
    /// Seasonal components (daily amplitude 8, weekly amplitude 4).
    pub seasonality: Vec<Seasonal>,
    /// Largest drift per point; each series draws its slope uniformly from
    /// `[-trend, trend]` (0.005, i.e. up to 3.6 σ over 720 points).
    pub trend: f64,
    /// Probability that a point is missing (0.01).
    pub missing_rate: f64,
    /// Number of gaps, runs of missing points (2).
    pub gaps: usize,
    /// Gap length range in points, inclusive (3..=12).
    pub gap_length: (usize, usize),
    /// Event magnitudes.
    pub magnitudes: Magnitudes,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            length: 720,
            step_seconds: 3600,
            level: 100.0,
            noise: 1.0,
            seasonality: vec![Seasonal { period: 24, amplitude: 8.0 }, Seasonal { period: 168, amplitude: 4.0 }],
            trend: 0.005,
            missing_rate: 0.01,
            gaps: 2,
            gap_length: (3, 12),
            magnitudes: Magnitudes::default(),
        }
    }
}

/// Where an injected event is: points `start..=end` (for persistent changes `end` is the
/// last point of the series).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    /// The event's kind.
    pub kind: AnomalyKind,
    /// First affected point.
    pub start: usize,
    /// Last affected point.
    pub end: usize,
}

/// A small deterministic generator (SplitMix64): good enough statistics for simulation,
/// reproducible everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)` (`lo` if the range is empty or reversed).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        if hi > lo { lo + (hi - lo) * self.uniform() } else { lo }
    }

    /// Uniform integer in `lo..=hi` (`lo` if `hi < lo`).
    pub fn int(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as usize
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// +1 or -1 with equal probability.
    pub fn sign(&mut self) -> f64 {
        if self.next_u64() & 1 == 0 { 1.0 } else { -1.0 }
    }
}

/// Generates a series from `spec` with at most one event of kind `event` (None or
/// `Some(AnomalyKind::None)` for a clean series), deterministically from `seed`. Returns
/// the values (NaN where missing) and the event's label, if any.
pub fn generate_series(spec: &SyntheticSpec, event: Option<AnomalyKind>, seed: u64) -> (Vec<f64>, Vec<Label>) {
    let n = spec.length;
    let mut rng = Rng::new(seed ^ 0x6A09_E667_F3BC_C908);
    let sigma = if spec.noise.is_finite() { spec.noise.abs() } else { 0.0 };
    let slope = rng.range(-spec.trend.abs(), spec.trend.abs());
    let phases: Vec<(f64, f64)> = spec
        .seasonality
        .iter()
        .map(|_| (rng.range(0.0, std::f64::consts::TAU), rng.range(0.0, std::f64::consts::TAU)))
        .collect();
    let mut values: Vec<f64> = (0..n)
        .map(|i| {
            let seasonal: f64 = spec
                .seasonality
                .iter()
                .zip(&phases)
                .filter(|(s, _)| s.period > 0)
                .map(|(s, &(p1, p2))| {
                    let t = std::f64::consts::TAU * i as f64 / s.period as f64;
                    s.amplitude * ((t + p1).sin() + 0.4 * (2.0 * t + p2).sin())
                })
                .sum();
            spec.level + slope * i as f64 + seasonal
        })
        .collect();
    let noise: Vec<f64> = (0..n).map(|_| sigma * rng.normal()).collect();

    let event = event.filter(|&k| k != AnomalyKind::None && n > 0);
    let m = spec.magnitudes;
    let (lo, hi) = (n / 6, (n - n / 6).max(n / 6 + 1).min(n).saturating_sub(1));
    let start = rng.int(lo, hi).min(n.saturating_sub(1));
    let mut noise_factor = vec![1.0; n];
    let label = event.map(|kind| {
        let mut end = n - 1;
        match kind {
            AnomalyKind::Spike | AnomalyKind::Dip => {
                let width = rng.int(m.spike_width.0.max(1), m.spike_width.1.max(1));
                end = (start + width - 1).min(n - 1);
                let height = rng.range(m.spike.0, m.spike.1) * sigma;
                let height = if kind == AnomalyKind::Dip { -height } else { height };
                values[start..=end].iter_mut().for_each(|v| *v += height);
            }
            AnomalyKind::LevelShift => {
                let shift = rng.sign() * rng.range(m.level_shift.0, m.level_shift.1) * sigma;
                values[start..].iter_mut().for_each(|v| *v += shift);
            }
            AnomalyKind::TrendChange => {
                let total = rng.sign() * rng.range(m.trend_change.0, m.trend_change.1) * sigma;
                let per_point = total / (n - start).min(m.trend_horizon.max(1)) as f64;
                for (k, v) in values[start..].iter_mut().enumerate() {
                    *v += per_point * (k + 1) as f64;
                }
            }
            _ => {
                let factor = rng.range(m.variance_factor.0, m.variance_factor.1);
                noise_factor[start..].iter_mut().for_each(|f| *f = factor);
            }
        }
        Label { kind, start, end }
    });
    for ((v, e), f) in values.iter_mut().zip(&noise).zip(&noise_factor) {
        *v += e * f;
    }

    // Missing points and gaps, never on the event itself.
    let keep = |i: usize| label.is_some_and(|l| i >= l.start && i <= l.start.max(l.end.min(l.start + 2)));
    let near_event = |i: usize| label.is_some_and(|l| i + 24 >= l.start && i <= l.start + 24);
    for (i, v) in values.iter_mut().enumerate() {
        if rng.uniform() < spec.missing_rate && !keep(i) {
            *v = f64::NAN;
        }
    }
    for _ in 0..spec.gaps {
        let len = rng.int(spec.gap_length.0, spec.gap_length.1).min(n);
        let mut at = rng.int(0, n.saturating_sub(len));
        // Move the gap off the event, if there is one, within a few tries.
        for _ in 0..8 {
            if !(at..at + len).any(near_event) {
                break;
            }
            at = rng.int(0, n.saturating_sub(len));
        }
        if !(at..at + len).any(near_event) {
            values.iter_mut().skip(at).take(len).for_each(|v| *v = f64::NAN);
        }
    }
    (values, label.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_labelled() {
        let spec = SyntheticSpec::default();
        for kind in AnomalyKind::EVENTS {
            let (a, la) = generate_series(&spec, Some(kind), 7);
            let (b, lb) = generate_series(&spec, Some(kind), 7);
            assert_eq!(la, lb);
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
            assert_eq!(a.len(), 720);
            let [l] = la.as_slice() else { panic!("one label") };
            assert_eq!(l.kind, kind);
            assert!(l.start >= 120 && l.start < 600 && l.end >= l.start && l.end < 720);
            assert!(!a[l.start].is_nan());
            let missing = a.iter().filter(|v| v.is_nan()).count();
            assert!((6..60).contains(&missing), "{missing}");
        }
        let (c, lc) = generate_series(&spec, None, 7);
        assert!(lc.is_empty());
        assert_eq!(c.len(), 720);
        assert!(generate_series(&spec, Some(AnomalyKind::None), 7).1.is_empty());
    }

    #[test]
    fn events_have_the_documented_size() {
        let spec = SyntheticSpec { missing_rate: 0.0, gaps: 0, ..SyntheticSpec::default() };
        for seed in 0..20 {
            // Same seed: same noise and seasonal draws, so the difference is the event alone.
            let (base, _) = generate_series(&spec, None, seed);
            let (shifted, _) = generate_series(&spec, Some(AnomalyKind::LevelShift), seed);
            let d = (shifted[719] - base[719]).abs();
            assert!((5.0..10.0).contains(&d), "{d}");
            let (trend, l) = generate_series(&spec, Some(AnomalyKind::TrendChange), seed);
            let at = (l[0].start + 167).min(719);
            let d = (trend[at] - base[at]).abs();
            assert!((8.0..12.0).contains(&d), "{d}");
            assert!((trend[719] - base[719]).abs() >= d - 1e-9);
            assert!((trend[l[0].start - 1] - base[l[0].start - 1]).abs() < 1e-12);
            let (spike, l) = generate_series(&spec, Some(AnomalyKind::Spike), seed);
            for i in l[0].start..=l[0].end {
                assert!((6.0..10.0).contains(&(spike[i] - base[i])));
            }
        }
    }

    #[test]
    fn degenerate_specs_do_not_panic() {
        for length in [0, 1, 2, 5, 30] {
            for kind in AnomalyKind::EVENTS {
                let spec = SyntheticSpec { length, gaps: 3, gap_length: (0, 50), ..SyntheticSpec::default() };
                let (v, l) = generate_series(&spec, Some(kind), 1);
                assert_eq!(v.len(), length);
                assert!(l.iter().all(|l| l.start <= l.end && l.end < length));
            }
        }
        let spec = SyntheticSpec {
            noise: f64::NAN,
            seasonality: vec![Seasonal { period: 0, amplitude: 1.0 }],
            ..SyntheticSpec::default()
        };
        assert_eq!(generate_series(&spec, Some(AnomalyKind::Spike), 1).0.len(), 720);
    }
}

//! The seasonal model of the ensemble: a main period plus, when the data has one, a longer
//! period (a week over a day), each estimated so that level shifts and spikes cannot bend it.
//!
//! Hourly metrics usually have a daily and a weekly cycle. One period cannot hold both: a
//! 24-point profile leaves the weekly swing in the residual, where it looks like slow level
//! and trend changes; a 168-point profile learns each hour of the week from only four or
//! five values, a noisy estimate that every week repeats. So the main period (the shortest
//! well-supported one) gets a per-phase profile from all its cycles, and the longer one a
//! smoothed profile of what remains.
//!
//! Each profile is learned from the deviations from a centred moving average over one
//! period (a `2 x p` average for even `p`, which cancels the periodic component exactly and
//! follows levels and trends): a level shift or a trend then disturbs only the one cycle
//! around it, where plain per-phase medians of the values would mix the levels before and
//! after a shift differently in every phase. Per phase, the deviations within 3 pooled
//! robust σ of the phase median are averaged: as robust as the median to spikes, but
//! without wasting a third of the information in Gaussian noise as the median does.
//!
//! Noise is often uneven (busier hours, a change of noise level), and a few noisy cycles
//! would then dominate both the period search and the profiles. So the local noise level is
//! measured first (median absolute second difference per block of 48 points, which a level,
//! a trend or a smooth seasonal pattern hardly touches), periods are searched on the series
//! in units of that noise, and the per-phase means are weighted by its inverse variance.
//! Before the search, steps of more than [`STEP_SIGMAS`] σ are taken out (see
//! [`remove_steps`]): a level shift several times the daily swing otherwise dominates the
//! correlations, whose peaks then lean towards shorter lags (a main period of 23 hours).
//!
//! The long period is looked for among multiples of the main one (up to 14) (a week of days: the peak
//! of a smooth cycle's autocorrelation is too broad to place it to the point), on the
//! differences at lag `main` of what the main profile leaves (they keep a long cycle but
//! turn a level shift into a short pulse, which would otherwise correlate with itself at
//! every lag), centred on their median and clipped at 4 robust σ: a shift of a third of the
//! level is a hundred σ on smooth data, and even its one-day pulse would otherwise dominate
//! the energies and leave every correlation near 0. A week of main periods wins near ties.
//! A trend change still leaves a step in the differences, which correlates with itself at
//! every lag, so the week is tried as well as the best-correlated candidate: of the two, the
//! profile that varies most is kept, if it varies clearly more than its own estimation noise
//! would make it vary.
//!
//! The long profile is learned from deviations from a centred average over one long period,
//! which a large level shift bends a week on either side; [`refit_long`] learns it again
//! with the shifts (found by the change-point search) taken out of the average.
//!
//! The centred average has no complete window in the half long period at either end, where
//! it used to be held at the nearest complete value. A trend there (the slow drift, or a
//! trend change in the first or last days) then leaves deviations growing to `slope · long /
//! 2` at the outermost point, which the profile absorbs in part (one cycle of four or five
//! per phase) and takes out of the series: a trend change starting in the first two days
//! lost enough of its bend to go unfound (all twelve trend changes missed in 2,000 `fathom
//! gen` series). So once a long period is chosen, its profile is learned again with the
//! average carried on at the end slopes of the series without the first profile (see
//! [`end_slopes`]: medians of lag-`main` differences, which a spike or a short step does not
//! move, shrunk towards 0 by their standard error, and ignored when they move the end by
//! less than a noise σ). Without the first profile, the weekly cycle's own slope (on
//! `fathom gen` data up to several times that of a trend change) stays out of the
//! extrapolation: extrapolating the raw end slope, or leaving the end half periods out of
//! the profile, found the early trend changes but brought trend-change or level-shift
//! precision down to 0.77-0.91. The candidates are compared with flat ends, since a wrong
//! candidate's end slopes hold the true cycle.

use crate::decompose::Seasonality;
use crate::periods::{MIN_PERIOD, PeriodScratch, detect_period};
use crate::stats::{block_medians, lerp, select_percentile, sort_columns};

/// Minimum period score for automatic seasonality (as `decompose`).
const MIN_SCORE: f64 = 0.6;
/// The main period is looked for among divisors `p / k` of the detected period, `k <= 8`.
const MAX_DIVISOR: usize = 8;
/// A divisor must correlate this much better than its half.
const MIN_DIP: f64 = 0.1;
/// Minimum score of a divisor of an accepted period (the period itself scored at least
/// [`MIN_SCORE`]; noise in part of the series lowers both).
const MIN_DIVISOR_SCORE: f64 = 0.4;
/// The long period needs this many cycles.
const MIN_LONG_CYCLES: usize = 3;
/// The long period is at most this many main periods (two weeks of days).
const MAX_LONG_MULTIPLE: usize = 14;
/// Main periods in the preferred long period (a week of days).
const WEEK: usize = 7;
/// How much better another long period must correlate than [`WEEK`] main periods to be
/// taken instead: about the sampling noise of the correlation when a variance increase
/// leaves only a few quiet cycles (of 1600 synthetic series with a x3-5 variance increase,
/// 8 got a 6- or 8-day cycle without it, each seen as a string of trend changes; 1 with it).
const WEEK_PREFERENCE: f64 = 0.05;
/// The long profile is kept when its variance exceeds its estimation noise this many times.
const MIN_LONG_RATIO: f64 = 3.0;
/// The long profile is learned again with the level shifts taken out ([`refit_long`]) only
/// when one is larger than this many noise σ (the bar of [`STEP_SIGMAS`]): a shift bends the
/// profile by up to half its size, most of which trimming removes only when the shift is
/// far outside the noise; the refit was made for the tens to hundreds of σ of a shift of a
/// third of the level on smooth data, and skipping it for the 5-10 σ shifts of the
/// synthetic evaluation changes its scores within the seed-to-seed spread.
const REFIT_SIGMAS: f64 = 20.0;
/// Deviations further than this many pooled σ from their phase's median are not averaged.
const TRIM_SIGMAS: f64 = 3.0;
/// Up to this many cycles the phase medians come from sorting all phases at once.
const NETWORK_MAX_CYCLES: usize = 40;
/// Lag differences are clipped at this many robust σ when looking for the long period.
const CLIP_SIGMAS: f64 = 4.0;
/// Gaussian σ per median absolute deviation.
const MAD_TO_SIGMA: f64 = 1.482_602_218_505_602;
/// A first difference this many of its noise σ away from the median of itself and its
/// neighbours is a step or a spike edge, taken out for the period search: a level shift of a
/// third of the level on `fathom gen` data is tens to hundreds of σ, and the steps that hide
/// the daily period are those several times the daily swing. The bar is high because each
/// difference taken out by mistake leaves a step of its size behind (on Gaussian noise a
/// difference is 5 σ out once in 1,600 points, 6 σ once in 20,000), and a noisy stretch
/// whose local σ is underestimated (a block straddling a variance increase) would collect
/// them: at 8 σ the synthetic evaluation lost up to 0.09 of level-shift precision.
const STEP_SIGMAS: f64 = 20.0;
/// Standard error of a median over that of a mean of Gaussian values: `√(π/2)`.
const MEDIAN_EFFICIENCY: f64 = 1.253_314_137_315_500_3;
/// An end slope of the long average is extrapolated only when it moves the outermost point
/// by at least this many noise σ: a smaller offset, diluted over the four or five cycles
/// of each phase, moves the long profile by a fraction of a σ, and the second estimate of
/// the profile it calls for is a few percent of the ensemble's time.
const MIN_END_OFFSET: f64 = 1.0;
/// Block length of the local noise estimate.
const NOISE_BLOCK: usize = 48;
/// Median absolute second difference of unit Gaussian noise: `Φ⁻¹(3/4) √6`.
const SECOND_DIFF_MEDIAN: f64 = 1.652_155_731_404_447;

/// Work buffers of [`seasonal_component`].
#[derive(Debug, Default)]
pub(crate) struct SeasonalWork {
    periods: PeriodScratch,
    average: Vec<f64>,
    rest: Vec<f64>,
    deviation: Vec<f64>,
    matrix: Vec<f64>,
    counts: Vec<usize>,
    sums: Vec<(f64, f64)>,
    /// Per-block (median, count) of [`local_weights`].
    medians: Vec<(f64, usize)>,
    /// Inverse local noise variance per point (see [`local_weights`]).
    pub weights: Vec<f64>,
    /// The series' median local noise σ.
    noise: f64,
    profile: Vec<f64>,
    /// The long profile kept so far.
    best: Vec<f64>,
    /// The main profile.
    main_profile: Vec<f64>,
    /// Long periods to try.
    candidates: [Option<usize>; 2],
    /// Automatic seasonality (the long profile must pass its test).
    auto: bool,
    /// Level shifts (index, size) and the series with them taken out.
    steps: Vec<(usize, f64)>,
    shifted: Vec<f64>,
    buf: Vec<f64>,
}

/// The periods of the fitted model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Periods {
    pub main: Option<usize>,
    pub long: Option<usize>,
}

/// Writes the zero-mean seasonal component of `x` (NaN = missing) into `seasonal` (length
/// of `x`) and returns its periods. `filled` is `x` with its gaps filled.
pub(crate) fn seasonal_component(
    x: &[f64],
    filled: &[f64],
    seasonality: Seasonality,
    work: &mut SeasonalWork,
    seasonal: &mut Vec<f64>,
) -> Periods {
    let n = x.len();
    seasonal.clear();
    seasonal.resize(n, 0.0);
    work.main_profile.clear();
    if filled.len() != n {
        return Periods::default();
    }
    let auto = seasonality == Seasonality::Auto;
    // Periods are detected on the series in units of its local noise (detrended, times the
    // square root of the local weight), so that a noisy stretch does not drown the cycles
    // seen in the quiet ones.
    local_weights(x, NOISE_BLOCK, work);
    if auto {
        // Large steps taken out first: a shift several times the daily swing otherwise
        // dominates the correlations, and their peaks lean towards shorter lags (23 hours).
        remove_steps(filled, &work.weights, &mut work.buf);
        detrend(&work.buf, &mut work.rest);
        work.rest.iter_mut().zip(&work.weights).for_each(|(v, w)| *v *= w.sqrt());
    }
    let detected = match seasonality {
        Seasonality::None => None,
        Seasonality::Period(p) => Some(p),
        Seasonality::Auto => {
            let mut detect = |series: &[f64]| {
                detect_period(series, MIN_PERIOD, n / 2, &mut work.periods)
                    .filter(|&(_, s)| s >= MIN_SCORE)
                    .map(|(p, _)| p)
            };
            detect(&work.rest).or_else(|| detect(filled))
        }
    };
    let Some(p) = detected.filter(|&p| p >= 2 && p.saturating_mul(2) <= n) else {
        return Periods::default();
    };
    // The best-correlated divisor that is a period by itself is the main period, and p the
    // long one (24 and 168 when the detector picked the week).
    let mut main = p;
    let mut long = None;
    if auto {
        let mut best = MIN_DIVISOR_SCORE;
        for k in 2..=MAX_DIVISOR {
            let d = p / k;
            if p % k == 0 && d >= MIN_PERIOD {
                let score = lag_correlation(&work.rest, d);
                // A smooth residual correlates well at every short lag; a period must beat
                // its half.
                if score >= best && score - lag_correlation(&work.rest, d / 2) >= MIN_DIP {
                    (best, main, long) = (score, d, Some(p));
                }
            }
        }
    }
    work.deviation.clear();
    centred_average(filled, main, &mut work.average);
    work.deviation.extend(x.iter().zip(&work.average).map(|(v, a)| v - a));
    profile(main, work);
    tile(&work.profile, seasonal);

    // What the main profile leaves may hold a longer cycle.
    work.rest.clear();
    work.rest.extend(filled.iter().zip(seasonal.iter()).map(|(f, s)| f - s));
    let max = n / MIN_LONG_CYCLES;
    let searched = long.is_none() && auto && 2 * main <= max;
    if searched {
        let diff = &mut work.deviation;
        diff.clear();
        diff.extend((0..n).map(|i| if i >= main { work.rest[i] - work.rest[i - main] } else { 0.0 }));
        diff.iter_mut().zip(&work.weights).for_each(|(d, w)| *d *= w.sqrt());
        clip_robustly(&mut diff[main.min(n)..], &mut work.buf);
        // A week of days is by far the commonest long cycle, and where the evidence is weak
        // (a long noisy stretch, in which a smooth weekly cycle's correlation at 6 or 8 days
        // is nearly as high as at 7) it wins near ties.
        let week = main.saturating_mul(WEEK);
        long = (2..=(max / main).min(MAX_LONG_MULTIPLE))
            .map(|k| (k * main, lag_correlation(diff, k * main) + if k == WEEK { WEEK_PREFERENCE } else { 0.0 }))
            .fold(
                None,
                |best: Option<(usize, f64)>, (q, s)| {
                    if best.is_some_and(|(_, b)| b >= s) { best } else { Some((q, s)) }
                },
            )
            .filter(|&(q, s)| s > if q == week { WEEK_PREFERENCE } else { 0.0 })
            .map(|(q, _)| q);
    }
    // The week is the commonest long cycle: when the correlations point elsewhere (a trend
    // change leaves a step in the lag differences, which correlates with itself at every lag;
    // a level shift's pulse, even clipped, blurs the peak) or nowhere, it is still tried.
    let week = main.saturating_mul(WEEK);
    let fallback = (searched && long != Some(week)).then_some(week);
    work.candidates = [long, fallback];
    work.auto = auto;
    work.main_profile.clear();
    work.main_profile.extend_from_slice(&work.profile);
    let long = add_long(x, &[], work, seasonal);
    Periods { main: Some(main), long }
}

/// Re-estimates the long profile of the last [`seasonal_component`] call (same `x`, `work`
/// untouched since) against a reference level that jumps at `shifts` (the first points of new
/// levels, ascending), and rewrites `seasonal`. Returns the long period, if one is kept.
///
/// The long profile is learned from the deviations from a centred moving average over a
/// whole long period: a level shift smears across that window, a week on either side,
/// where every deviation is off by part of the shift. Trimming drops the large parts, but
/// the rest bends the profile by several σ when the shift is large next to the noise (a
/// shift of a third of the level is a hundred σ on smooth data). With the shifts known (the
/// change-point search finds such shifts whatever the long profile), the average is taken
/// over the series with its shifts taken out, and they are put back after.
///
/// Returns None, and leaves `seasonal` as it is, when no shift is larger than
/// [`REFIT_SIGMAS`] noise σ: the bend of smaller ones is within the profile's estimation
/// noise, and the refit (with the second change-point search it calls for) is a tenth of
/// the ensemble's time.
pub(crate) fn refit_long(
    x: &[f64],
    shifts: &[usize],
    work: &mut SeasonalWork,
    seasonal: &mut [f64],
) -> Option<Option<usize>> {
    let main = work.main_profile.len();
    let n = work.rest.len();
    if main == 0 || seasonal.len() != n {
        return None;
    }
    // Each shift's size: the mean of one main period after it minus that of one before it
    // (both cancel the main cycle), limited by the neighbouring shifts.
    let mut steps = std::mem::take(&mut work.steps);
    steps.clear();
    for (j, &at) in shifts.iter().enumerate() {
        let before = j.checked_sub(1).and_then(|k| shifts.get(k)).copied().unwrap_or(0).max(at.saturating_sub(main));
        let after = shifts.get(j + 1).copied().unwrap_or(n).min(at + main).min(n);
        let mean = |r: &[f64]| if r.is_empty() { f64::NAN } else { r.iter().sum::<f64>() / r.len() as f64 };
        let step = mean(work.rest.get(at..after).unwrap_or(&[])) - mean(work.rest.get(before..at).unwrap_or(&[]));
        if step.is_finite() {
            steps.push((at, step));
        }
    }
    let largest = steps.iter().fold(0.0f64, |m, &(_, step)| m.max(step.abs()));
    if largest <= REFIT_SIGMAS * work.noise {
        work.steps = steps;
        return None;
    }
    tile(&work.main_profile, seasonal);
    let long = add_long(x, &steps, work, seasonal);
    work.steps = steps;
    Some(long)
}

/// Adds the long profile to `seasonal` (which holds the main profile): the candidate of
/// `work.candidates` whose profile varies most, among those that vary clearly more than
/// their own estimation noise would make them vary (automatic seasonality), or the given
/// one. Returns its period.
fn add_long(x: &[f64], steps: &[(usize, f64)], work: &mut SeasonalWork, seasonal: &mut [f64]) -> Option<usize> {
    let (n, main) = (x.len(), work.main_profile.len());
    let mut best: Option<(usize, f64)> = None;
    for candidate in work.candidates.into_iter().flatten() {
        if candidate.saturating_mul(MIN_LONG_CYCLES) > n || main == 0 {
            continue;
        }
        let (variance, noise) = long_profile(x, seasonal, steps, candidate, main, (0.0, 0.0), work);
        let kept = !work.auto || variance > MIN_LONG_RATIO * noise;
        if kept && best.is_none_or(|(_, b)| variance > b) {
            best = Some((candidate, variance));
            std::mem::swap(&mut work.profile, &mut work.best);
        }
        if !work.auto {
            break;
        }
    }
    let (long, _) = best?;
    // The kept profile learned again with the ends of its average extrapolated at the slopes
    // of the series without it (see the module docs). The candidates are compared with flat
    // ends: extrapolated at the slopes a wrong candidate leaves (its profile does not
    // cancel the true cycle), they would make its profile vary more.
    // `work.shifted` is the same for every candidate.
    let ends = end_slopes(&work.shifted, &work.best, main, work.noise, &mut work.buf);
    if ends != (0.0, 0.0) {
        long_profile(x, seasonal, steps, long, main, ends, work);
        std::mem::swap(&mut work.profile, &mut work.best);
    }
    for cycle in seasonal.chunks_mut(long) {
        cycle.iter_mut().zip(&work.best).for_each(|(s, b)| *s += b);
    }
    Some(long)
}

/// Writes the smoothed profile of period `long` of what the main profile leaves in
/// `work.profile` (the deviations from a centred average over `long` of `work.rest`, the
/// filled series minus the main profile, with `steps` (index, size) taken out for the
/// average) and returns its variance and the variance its estimation noise alone would give.
///
/// The average is carried past its first and last complete window at the slopes `ends`
/// (head, tail; per point), and held flat where they are 0.
fn long_profile(
    x: &[f64],
    seasonal: &[f64],
    steps: &[(usize, f64)],
    long: usize,
    main: usize,
    ends: (f64, f64),
    work: &mut SeasonalWork,
) -> (f64, f64) {
    let (shifted, average) = (&mut work.shifted, &mut work.average);
    shifted.clear();
    shifted.extend_from_slice(&work.rest);
    for &(at, step) in steps {
        shifted.iter_mut().skip(at).for_each(|v| *v -= step);
    }
    centred_average(shifted, long, average);
    let (half, n) = (long / 2, average.len());
    if n > 2 * half + 1 {
        let (head, tail) = ends;
        for (i, a) in average[..half].iter_mut().enumerate() {
            *a -= head * (half - i) as f64;
        }
        for (k, a) in average[n - half..].iter_mut().enumerate() {
            *a += tail * (k + 1) as f64;
        }
    }
    for &(at, step) in steps {
        average.iter_mut().skip(at).for_each(|v| *v += step);
    }
    work.deviation.clear();
    work.deviation.extend(x.iter().zip(seasonal.iter()).zip(&work.average).map(|((v, s), a)| v - s - a));
    let per_phase = profile(long, work);
    // The noise of a phase's value, from the series' typical local noise (the spread
    // around each phase's own median of four or five values would understate it).
    let smoothed_noise = smooth(&mut work.profile, &mut work.buf, work.noise * work.noise / per_phase.max(1.0));
    // What repeats every main period belongs to the main profile (its estimation error would
    // otherwise look like a long cycle): keep only the part that averages out over the
    // main phases.
    if long.is_multiple_of(main) {
        let SeasonalWork { profile, buf, .. } = work;
        buf.clear();
        buf.resize(main, 0.0);
        for cycle in profile.chunks(main) {
            buf.iter_mut().zip(cycle).for_each(|(b, v)| *b += v);
        }
        let per = (long / main) as f64;
        for cycle in profile.chunks_mut(main) {
            cycle.iter_mut().zip(buf.iter()).for_each(|(v, b)| *v -= b / per);
        }
    }
    let variance = work.profile.iter().map(|v| v * v).sum::<f64>() / long as f64;
    (variance, smoothed_noise)
}

/// The slopes per point at the head and the tail of `series` minus `profile` (tiled from
/// phase 0): the medians of its differences at lag `main` (which cancel the main cycle)
/// over the half long period where the centred average has no window plus one main period,
/// divided by `main`. The median keeps a spike, or a step that covers fewer than half of the
/// differences, out of the slope.
///
/// Each slope is shrunk towards 0 by the positive-part James–Stein factor `1 - se² /
/// slope²` (as the block correction of `level.rs`), `se` its standard error for Gaussian
/// noise of σ `noise` (the median of `m` differences of variance `2 σ²`: `1.25 √(2/m) σ /
/// main`), so that a slope that is mostly noise bends nothing; and it is 0 when what it
/// would add at the outermost point, `slope · long / 2`, is below [`MIN_END_OFFSET`] σ.
fn end_slopes(series: &[f64], profile: &[f64], main: usize, noise: f64, buf: &mut Vec<f64>) -> (f64, f64) {
    let (n, long) = (series.len(), profile.len());
    if main == 0 || long == 0 {
        return (0.0, 0.0);
    }
    let span = (long / 2 + main).min(n);
    let z = |i: usize| series[i] - profile[i % long];
    let mut slope = |from: usize, to: usize| {
        buf.clear();
        buf.extend((from.max(main)..to).map(|i| (z(i) - z(i - main)) / main as f64).filter(|v| v.is_finite()));
        let median = select_percentile(buf, 50.0);
        let se = MEDIAN_EFFICIENCY * (2.0 / buf.len().max(1) as f64).sqrt() * noise / main as f64;
        let shrunk = median * (1.0 - (se / median).powi(2)).max(0.0);
        let offset = shrunk.abs() * (long / 2) as f64;
        if shrunk.is_finite() && offset >= MIN_END_OFFSET * noise { shrunk } else { 0.0 }
    };
    (slope(main, span), slope(n - span + main, n))
}

/// Fills `seasonal` with `profile` repeated from phase 0.
fn tile(profile: &[f64], seasonal: &mut [f64]) {
    if profile.is_empty() {
        return;
    }
    for cycle in seasonal.chunks_mut(profile.len()) {
        cycle.copy_from_slice(&profile[..cycle.len()]);
    }
}

/// Centres `d` on its median and clips it at [`CLIP_SIGMAS`] robust σ (MAD) of it.
fn clip_robustly(d: &mut [f64], buf: &mut Vec<f64>) {
    buf.clear();
    buf.extend_from_slice(d);
    let median = select_percentile(buf, 50.0);
    buf.iter_mut().for_each(|v| *v = (*v - median).abs());
    let limit = CLIP_SIGMAS * MAD_TO_SIGMA * select_percentile(buf, 50.0);
    if !(median.is_finite() && limit.is_finite()) {
        return;
    }
    d.iter_mut().for_each(|v| *v = (*v - median).clamp(-limit, limit));
}

/// `work.profile[phase]`: the zero-mean trimmed mean of `work.deviation` (NaN = missing)
/// per phase (see the module docs). Returns the mean number of values per phase.
fn profile(period: usize, work: &mut SeasonalWork) -> f64 {
    let SeasonalWork { deviation, weights, matrix, counts, sums, profile, buf, .. } = work;
    let n = deviation.len();
    let cycles = n.div_ceil(period);
    profile.clear();
    counts.clear();
    counts.resize(period, 0);
    for cycle in deviation.chunks(period) {
        for (c, d) in counts.iter_mut().zip(cycle) {
            *c += usize::from(d.is_finite());
        }
    }
    if cycles <= NETWORK_MAX_CYCLES {
        // One row per cycle; missing values become +inf, which sorts last, so the median of
        // a column with m values sits at rows (m - 1) / 2 and m / 2.
        matrix.clear();
        matrix.extend(deviation.iter().map(|&d| if d.is_finite() { d } else { f64::INFINITY }));
        matrix.resize(cycles * period, f64::INFINITY);
        sort_columns(matrix, cycles, period);
        profile.extend(counts.iter().enumerate().map(|(phase, &m)| {
            let at = |row: usize| matrix.get(row * period + phase).copied().unwrap_or(0.0);
            match m {
                0 => 0.0,
                _ if m % 2 == 0 => lerp(at(m / 2 - 1), at(m / 2), 0.5),
                _ => at(m / 2),
            }
        }));
    } else {
        for phase in 0..period {
            buf.clear();
            buf.extend(deviation.iter().skip(phase).step_by(period).copied().filter(|d| d.is_finite()));
            let m = select_percentile(buf, 50.0);
            profile.push(if m.is_finite() { m } else { 0.0 });
        }
    }
    // Trimmed weighted mean: deviations within TRIM_SIGMAS local σ of the phase median,
    // weighted by the inverse local noise variance (a noisy stretch, e.g. after a variance
    // increase, then does not drown the profile learned from the quiet cycles).
    sums.clear();
    sums.resize(period, (0.0, 0.0));
    // Cycle by cycle, not `i % period` per point: an integer division per point was a
    // few percent of the ensemble's time.
    for (cycle, cycle_weights) in deviation.chunks(period).zip(weights.chunks(period)) {
        for (((&d, &w), &centre), sum) in cycle.iter().zip(cycle_weights).zip(profile.iter()).zip(sums.iter_mut()) {
            if (d - centre).powi(2) * w <= TRIM_SIGMAS * TRIM_SIGMAS {
                sum.0 += w * d;
                sum.1 += w;
            }
        }
    }
    for (p, &(sum, weight)) in profile.iter_mut().zip(sums.iter()) {
        if weight > 0.0 {
            *p = sum / weight;
        }
    }
    let mean = profile.iter().sum::<f64>() / period.max(1) as f64;
    profile.iter_mut().for_each(|p| *p -= mean);
    counts.iter().sum::<usize>() as f64 / period.max(1) as f64
}

/// `work.weights[i]`: the inverse noise variance around point `i`,
/// from the median absolute second difference in blocks of `block` points (when it differs
/// from the series' median by more than a factor 1.5, else the median). Second
/// differences cancel levels and trends and leave little of a smooth seasonal pattern
/// (a daily cycle of amplitude `a` on hourly points contributes `0.07 a`), so they measure
/// the local noise. A block without enough differences takes the series' median.
fn local_weights(x: &[f64], block: usize, work: &mut SeasonalWork) {
    let SeasonalWork { weights, buf, matrix, medians, noise, .. } = work;
    let n = x.len();
    let block = block.max(4);
    weights.clear();
    weights.resize(n, 0.0);
    buf.clear();
    buf.extend((0..n).map(|i| if i < 2 { f64::NAN } else { (x[i] - 2.0 * x[i - 1] + x[i - 2]).abs() }));
    block_medians(buf, block, matrix, medians);
    buf.clear();
    buf.extend(medians.iter().filter(|&&(m, count)| count >= 4 && m > 0.0).map(|&(m, _)| m));
    let fallback = select_percentile(buf, 50.0);
    *noise = if fallback.is_finite() { fallback / SECOND_DIFF_MEDIAN } else { 0.0 };
    for (b, &(m, count)) in medians.iter().enumerate() {
        // Estimates within a factor 1.5 of the median are noise around it: equal weights
        // (uneven weights from noisy estimates would only make the means noisier). A block
        // with fewer than 4 differences has no estimate of its own.
        let own = count >= 4 && m > 0.0 && (m > 1.5 * fallback || m < fallback / 1.5);
        let m = if own { m } else { fallback };
        // σ = median|Δ²| / (Φ⁻¹(3/4) √6) for Gaussian noise.
        let sigma = m / SECOND_DIFF_MEDIAN;
        let w = if sigma > 0.0 && sigma.is_finite() { 1.0 / (sigma * sigma) } else { 1.0 };
        weights[b * block..((b + 1) * block).min(n)].fill(w);
    }
}

/// Smooths a long profile circularly over `2h + 1` phases (`h` = period / 48, 1 to 6: 7
/// phases for a week of hours) and returns the estimation variance left of `noise`.
fn smooth(profile: &mut Vec<f64>, buf: &mut Vec<f64>, noise: f64) -> f64 {
    let period = profile.len();
    if period < 8 {
        return noise;
    }
    let half = (period / 48).clamp(1, 6);
    let width = 2 * half + 1;
    // A running sum over the circular window (the profile is about 1 in size, so the
    // rounding it accumulates over one period is far below anything that matters).
    // Phases `k` in `0..2 period`, wrapped once.
    let at = |k: usize| profile[if k >= period { k - period } else { k }];
    let mut sum: f64 = (0..width).map(|j| at(period + j - half)).sum();
    buf.clear();
    for phase in 0..period {
        if phase > 0 {
            sum += at(phase + half) - at(phase + period - half - 1);
        }
        buf.push(sum / width as f64);
    }
    std::mem::swap(profile, buf);
    noise / width as f64
}

/// `x` with its steps and one-point outliers taken out, for the period search (see the
/// module docs): the first differences, each replaced by the median of itself and its two
/// neighbours where it is further than [`STEP_SIGMAS`] local noise σ of the differences
/// (`√2` σ, from `weights`) from that median, summed up again. A smooth cycle's differences
/// change little from point to point and pass unchanged; a level shift's one large
/// difference, and a spike's pair of opposite ones, become the cycle's local slope.
fn remove_steps(x: &[f64], weights: &[f64], out: &mut Vec<f64>) {
    out.clear();
    let Some(&first) = x.first() else {
        return;
    };
    let diff = |i: usize| if i >= 1 && i < x.len() { x[i] - x[i - 1] } else { f64::NAN };
    let mut level = first;
    out.push(level);
    for i in 1..x.len() {
        let d = diff(i);
        // The median of three, with a missing neighbour (at the ends) leaving the
        // difference as it is.
        let (a, b) = (diff(i - 1), diff(i + 1));
        let median = if a.is_nan() || b.is_nan() { d } else { d.max(a.min(b)).min(a.max(b)) };
        let limit = STEP_SIGMAS * STEP_SIGMAS * 2.0;
        let w = weights.get(i).copied().unwrap_or(0.0);
        level += if (d - median).powi(2) * w > limit { median } else { d };
        out.push(level);
    }
}

/// `x` minus its least-squares line.
fn detrend(x: &[f64], out: &mut Vec<f64>) {
    out.clear();
    let n = x.len() as f64;
    let mt = (n - 1.0) / 2.0;
    let my = x.iter().sum::<f64>() / n.max(1.0);
    let (sxx, sxy) = x.iter().enumerate().fold((0.0, 0.0), |(sxx, sxy), (i, &v)| {
        let dt = i as f64 - mt;
        (sxx + dt * dt, sxy + dt * (v - my))
    });
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    out.extend(x.iter().enumerate().map(|(i, &v)| v - my - slope * (i as f64 - mt)));
}

/// Correlation of `a` with itself `lag` points later, normalised by the energies of the two
/// overlapping parts (as [`crate::periods`] scores periods); 0 when undefined.
fn lag_correlation(a: &[f64], lag: usize) -> f64 {
    let (Some(head), Some(tail)) = (a.get(..a.len().saturating_sub(lag)), a.get(lag..)) else {
        return 0.0;
    };
    // Four independent lanes, so the sums vectorise.
    let (mut xy, mut xx, mut yy) = ([0.0f64; 4], [0.0f64; 4], [0.0f64; 4]);
    let (hc, tc) = (head.chunks_exact(4), tail.chunks_exact(4));
    let (hr, tr) = (hc.remainder(), tc.remainder());
    for (h, t) in hc.zip(tc) {
        for k in 0..4 {
            xy[k] += h[k] * t[k];
            xx[k] += h[k] * h[k];
            yy[k] += t[k] * t[k];
        }
    }
    for (x, y) in hr.iter().zip(tr) {
        xy[0] += x * y;
        xx[0] += x * x;
        yy[0] += y * y;
    }
    let sum = |v: [f64; 4]| (v[0] + v[1]) + (v[2] + v[3]);
    let r = sum(xy) / (sum(xx) * sum(yy)).sqrt();
    if r.is_finite() { r } else { 0.0 }
}

/// Centred moving average of `x` (complete) over one period: a `2 x p` average for even
/// `p` (half weight on the two ends), which cancels any `p`-periodic component exactly.
/// Points within half a period of either end take the nearest complete average.
fn centred_average(x: &[f64], period: usize, out: &mut Vec<f64>) {
    let n = x.len();
    out.clear();
    out.resize(n, 0.0);
    let half = period / 2;
    let width = 2 * half + 1;
    if n < width || period == 0 {
        let mean = x.iter().sum::<f64>() / n.max(1) as f64;
        out.fill(mean);
        return;
    }
    let inv = 1.0 / period as f64;
    let mut sum: f64 = x[..width].iter().sum();
    for i in half..n - half {
        if i > half {
            sum += x[i + half] - x[i - half - 1];
        }
        let (first, last) = (x[i - half], x[i + half]);
        out[i] = if period.is_multiple_of(2) { (sum - 0.5 * (first + last)) * inv } else { sum * inv };
    }
    let (head, tail) = (out[half], out[n - half - 1]);
    out[..half].fill(head);
    out[n - half..].fill(tail);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fill::{Fill, fill_gaps};
    use crate::synthetic::{Seasonal, SyntheticSpec, generate_series};

    fn periods_of(spec: &SyntheticSpec, seed: u64) -> Periods {
        let (x, _) = generate_series(spec, None, seed);
        let mut filled = x.clone();
        fill_gaps(&mut filled, Fill::Linear);
        let (mut work, mut seasonal) = (SeasonalWork::default(), Vec::new());
        seasonal_component(&x, &filled, Seasonality::Auto, &mut work, &mut seasonal)
    }

    #[test]
    fn finds_daily_and_weekly_cycles() {
        let spec = SyntheticSpec::default();
        for seed in 0..10 {
            assert_eq!(periods_of(&spec, seed), Periods { main: Some(24), long: Some(168) }, "seed {seed}");
        }
        let daily = SyntheticSpec { seasonality: vec![Seasonal { period: 24, amplitude: 8.0 }], ..spec.clone() };
        for seed in 0..10 {
            assert_eq!(periods_of(&daily, seed), Periods { main: Some(24), long: None }, "seed {seed}");
        }
        let none = SyntheticSpec { seasonality: vec![], ..spec };
        assert_eq!(periods_of(&none, 1), Periods::default());
    }

    /// After an early noise increase (x3-5) only a few quiet cycles are left, and a 6- or
    /// 8-day cycle correlated nearly as well as the week and was taken in these series.
    #[test]
    fn a_week_survives_a_noise_increase() {
        let spec = SyntheticSpec::default();
        for seed in [117, 406, 760, 801, 920] {
            let (x, _) = generate_series(&spec, Some(crate::detector::AnomalyKind::VarianceChange), seed);
            let mut filled = x.clone();
            fill_gaps(&mut filled, Fill::Linear);
            let (mut work, mut seasonal) = (SeasonalWork::default(), Vec::new());
            let periods = seasonal_component(&x, &filled, Seasonality::Auto, &mut work, &mut seasonal);
            assert_eq!(periods, Periods { main: Some(24), long: Some(168) }, "seed {seed}");
        }
    }

    /// A level shift several times the daily swing dominated the correlations the period is
    /// found by; their peaks leaned towards shorter lags, and the main period came out as 23
    /// hours (161 = 7 x 23 detected), seen as level shifts every day (two `fathom gen`
    /// series of 2000).
    #[test]
    fn a_large_level_shift_does_not_bend_the_period() {
        for seed in 1..=32 {
            let mut rng = crate::synthetic::Rng::new(seed);
            let phase = rng.range(0.0, std::f64::consts::TAU);
            let x: Vec<f64> = (0..720)
                .map(|h| {
                    let t = h as f64;
                    65.0 + 6.0 * (std::f64::consts::TAU * t / 24.0 + phase).sin()
                        + 1.5 * (std::f64::consts::TAU * t / 168.0).sin()
                        + 0.01 * t
                        - if h >= 112 { 31.0 } else { 0.0 }
                        + 0.2 * rng.normal()
                })
                .collect();
            let (mut work, mut seasonal) = (SeasonalWork::default(), Vec::new());
            let periods = seasonal_component(&x, &x, Seasonality::Auto, &mut work, &mut seasonal);
            assert_eq!(periods.main, Some(24), "seed {seed}");
        }
    }

    #[test]
    fn centred_average_cancels_the_period() {
        let x: Vec<f64> = (0..100).map(|i| [1.0, 5.0, 3.0, 7.0][i % 4] + 0.5 * i as f64).collect();
        let mut avg = Vec::new();
        centred_average(&x, 4, &mut avg);
        for (i, a) in avg.iter().enumerate().take(98).skip(2) {
            assert!((a - (4.0 + 0.5 * i as f64)).abs() < 1e-9, "{i}");
        }
        centred_average(&[1.0, 2.0], 4, &mut avg);
        assert_eq!(avg, [1.5, 1.5]);
        assert_eq!(lag_correlation(&[1.0, 2.0], 5), 0.0);
    }
}

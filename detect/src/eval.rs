//! Event-level evaluation of detectors on labelled series (see [`crate::synthetic`]).
//!
//! Point-wise precision and recall punish a detector for flagging a level shift one point
//! late, or for flagging three points of a three-point spike as one alarm; operators care
//! about events. So:
//!
//! - a label counts as **detected** if some point inside its tolerance window is flagged
//!   with the label's kind (and as **hit** if flagged with any kind). The windows, around
//!   the label's `start..=end`:
//!   - spike / dip: `start - 1 ..= end + 1` (one point either side of the excursion);
//!   - level shift / variance change: `start - 3 ..= start + 6`: the change must be placed
//!     within a few points; later is allowed more than earlier, since a detector needs a
//!     few points of the new regime to see it;
//!   - trend change: `start - 12 ..= start + 24`: a change of slope builds up slowly and
//!     cannot be placed as precisely;
//! - an **alarm** is a run of flagged points of one kind, points at most 3 apart merged
//!   into one; it is **true** if it overlaps the window of a label of its kind. Per-kind
//!   precision therefore counts only kind-correct alarms: a level shift reported as a
//!   spike is a false spike alarm (and a missed level shift).
//!
//! The overall row ignores kinds: a label is detected by any flag in its window, alarms are
//! runs of flagged points of any kind, true if they overlap any label's window.

use crate::detector::{AnomalyKind, DetectorConfig, DetectorOutput, DetectorScratch, Mode, run_detector};
use crate::synthetic::{Label, SyntheticSpec, generate_series};
use std::fmt::Write as _;

/// Flagged points at most this far apart belong to the same alarm.
pub const MERGE_DISTANCE: usize = 3;

/// The tolerance window `(before, after)` of a label of kind `kind`: the window is
/// `start - before ..= end + after` for spikes and dips, `start - before ..= start + after`
/// for the persistent changes.
pub fn tolerance(kind: AnomalyKind) -> (usize, usize) {
    match kind {
        AnomalyKind::Spike | AnomalyKind::Dip | AnomalyKind::None => (1, 1),
        AnomalyKind::LevelShift | AnomalyKind::VarianceChange => (3, 6),
        AnomalyKind::TrendChange => (12, 24),
    }
}

/// The points within the tolerance window of `label`, as an inclusive range.
pub fn window(label: &Label) -> (usize, usize) {
    let (before, after) = tolerance(label.kind);
    let end = match label.kind {
        AnomalyKind::Spike | AnomalyKind::Dip | AnomalyKind::None => label.end,
        _ => label.start,
    };
    (label.start.saturating_sub(before), end.saturating_add(after))
}

/// Counts for one kind (or for all kinds together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindStats {
    /// Labels of this kind.
    pub labels: usize,
    /// Labels flagged with their own kind inside their window.
    pub detected: usize,
    /// Labels flagged with any kind inside their window.
    pub hit: usize,
    /// Alarms (runs of flagged points) of this kind.
    pub alarms: usize,
    /// Alarms that overlap the window of a label of their kind.
    pub true_alarms: usize,
}

impl KindStats {
    /// Detected / labels (1 when there is no label).
    pub fn recall(&self) -> f64 {
        if self.labels == 0 { 1.0 } else { self.detected as f64 / self.labels as f64 }
    }

    /// True alarms / alarms (1 when there is no alarm).
    pub fn precision(&self) -> f64 {
        if self.alarms == 0 { 1.0 } else { self.true_alarms as f64 / self.alarms as f64 }
    }

    /// Harmonic mean of recall and precision (0 if both are 0).
    pub fn f1(&self) -> f64 {
        let (r, p) = (self.recall(), self.precision());
        if r + p == 0.0 { 0.0 } else { 2.0 * r * p / (r + p) }
    }

    fn add(&mut self, o: &KindStats) {
        self.labels += o.labels;
        self.detected += o.detected;
        self.hit += o.hit;
        self.alarms += o.alarms;
        self.true_alarms += o.true_alarms;
    }
}

/// Evaluation counts, per kind and overall, summed over any number of series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvalReport {
    /// What was evaluated (free text, shown by [`EvalReport::render`]).
    pub detector: String,
    /// Number of series.
    pub series: usize,
    /// Per kind, in the order of [`AnomalyKind::EVENTS`].
    pub kinds: [KindStats; 5],
    /// All kinds together (kind-agnostic matching).
    pub overall: KindStats,
}

impl EvalReport {
    /// The counts of kind `kind` (the overall counts for `AnomalyKind::None`).
    pub fn stats(&self, kind: AnomalyKind) -> &KindStats {
        match AnomalyKind::EVENTS.iter().position(|&k| k == kind) {
            Some(i) => &self.kinds[i],
            None => &self.overall,
        }
    }

    /// Adds another report's counts (and series) to this one.
    pub fn add(&mut self, other: &EvalReport) {
        self.series += other.series;
        for (a, b) in self.kinds.iter_mut().zip(&other.kinds) {
            a.add(b);
        }
        self.overall.add(&other.overall);
    }

    /// A text table: one row per kind and an overall row.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{} ({} series)", self.detector, self.series);
        let _ = writeln!(
            s,
            "{:<16} {:>7} {:>8} {:>7} {:>7} {:>10} {:>7}",
            "kind", "labels", "recall", "hit", "alarms", "precision", "f1"
        );
        let rows = AnomalyKind::EVENTS.iter().map(|k| (k.name(), self.stats(*k))).chain([("overall", &self.overall)]);
        for (name, k) in rows {
            let hit = if k.labels == 0 { 1.0 } else { k.hit as f64 / k.labels as f64 };
            let precision = if k.alarms == 0 { "-".to_string() } else { format!("{:.3}", k.precision()) };
            let _ = writeln!(
                s,
                "{:<16} {:>7} {:>8.3} {:>7.3} {:>7} {:>10} {:>7.3}",
                name,
                k.labels,
                k.recall(),
                hit,
                k.alarms,
                precision,
                k.f1()
            );
        }
        s
    }
}

/// Scores one series' detector output against its labels (see the module docs).
pub fn evaluate(labels: &[Label], output: &DetectorOutput) -> EvalReport {
    let mut report = EvalReport { series: 1, ..EvalReport::default() };
    let windows = || labels.iter().map(|l| (l.kind, window(l)));
    let flagged = |i: usize, kind: Option<AnomalyKind>| {
        output.flag.get(i).is_some_and(|&f| f != 0)
            && kind.is_none_or(|k| output.kind.get(i).is_some_and(|&got| got == k))
    };
    for (kind, (lo, hi)) in windows() {
        let Some(slot) = AnomalyKind::EVENTS.iter().position(|&k| k == kind) else {
            continue;
        };
        let hit = (lo..=hi).any(|i| flagged(i, None));
        let detected = (lo..=hi).any(|i| flagged(i, Some(kind)));
        for stats in [&mut report.kinds[slot], &mut report.overall] {
            stats.labels += 1;
            stats.hit += usize::from(hit);
        }
        report.kinds[slot].detected += usize::from(detected);
        report.overall.detected += usize::from(hit);
    }
    // Alarms per kind, then kind-agnostic.
    for (slot, &kind) in AnomalyKind::EVENTS.iter().enumerate() {
        for_each_alarm(output, Some(kind), |a, b| {
            report.kinds[slot].alarms += 1;
            let overlaps = windows().any(|(k, (lo, hi))| k == kind && a <= hi && b >= lo);
            report.kinds[slot].true_alarms += usize::from(overlaps);
        });
    }
    for_each_alarm(output, None, |a, b| {
        report.overall.alarms += 1;
        let overlaps = windows().any(|(_, (lo, hi))| a <= hi && b >= lo);
        report.overall.true_alarms += usize::from(overlaps);
    });
    report
}

/// Calls `f(first, last)` for every alarm: a run of points flagged with `kind` (any kind if
/// None), points at most [`MERGE_DISTANCE`] apart merged.
fn for_each_alarm(output: &DetectorOutput, kind: Option<AnomalyKind>, mut f: impl FnMut(usize, usize)) {
    let mut run: Option<(usize, usize)> = None;
    let points = output.flag.iter().zip(&output.kind).enumerate();
    for (i, _) in points.filter(|&(_, (&fl, &k))| fl != 0 && kind.is_none_or(|want| want == k)) {
        run = match run {
            Some((a, b)) if i - b <= MERGE_DISTANCE => Some((a, i)),
            Some((a, b)) => {
                f(a, b);
                Some((i, i))
            }
            None => Some((i, i)),
        };
    }
    if let Some((a, b)) = run {
        f(a, b);
    }
}

/// How many series of each kind an evaluation generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalPlan {
    /// Series per event kind (each with one event).
    pub per_kind: usize,
    /// Clean series (no event).
    pub clean: usize,
    /// Base seed; series `s` of kind `k` uses a seed derived from it, `s` and `k`.
    pub seed: u64,
    /// Batch or causal detection.
    pub mode: Mode,
}

impl Default for EvalPlan {
    fn default() -> Self {
        EvalPlan { per_kind: 200, clean: 200, seed: 1, mode: Mode::Batch }
    }
}

/// Generates the series of `plan` from `spec` (every detector sees the same series) and
/// returns one report per config, named `name key=value ...`.
pub fn evaluate_detectors(configs: &[DetectorConfig], spec: &SyntheticSpec, plan: &EvalPlan) -> Vec<EvalReport> {
    let mut reports: Vec<EvalReport> = configs
        .iter()
        .map(|c| {
            let params: Vec<String> = c.to_params().iter().map(|(k, v)| format!("{k}={v}")).collect();
            EvalReport { detector: format!("{} {}", c.name(), params.join(" ")), ..EvalReport::default() }
        })
        .collect();
    let mut out = DetectorOutput::default();
    let mut scratch = DetectorScratch::default();
    let kinds = AnomalyKind::EVENTS.iter().map(|&k| (Some(k), plan.per_kind)).chain([(None, plan.clean)]);
    for (slot, (kind, count)) in kinds.enumerate() {
        for s in 0..count {
            let seed = plan.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((slot as u64) << 40) ^ s as u64;
            let (values, labels) = generate_series(spec, kind, seed);
            for (config, report) in configs.iter().zip(reports.iter_mut()) {
                run_detector(config, &values, plan.mode, &mut out, &mut scratch);
                report.add(&evaluate(&labels, &out));
            }
        }
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(flags: &[(usize, i8, AnomalyKind)], n: usize) -> DetectorOutput {
        let mut out = DetectorOutput::default();
        out.reset(n);
        for &(i, f, k) in flags {
            out.flag[i] = f;
            out.kind[i] = k;
        }
        out
    }

    #[test]
    fn counts_events_not_points() {
        use AnomalyKind::*;
        let labels = [Label { kind: Spike, start: 10, end: 11 }, Label { kind: LevelShift, start: 50, end: 99 }];
        // The spike flagged at 12 (within +1) over two points; the shift flagged as a spike
        // at 49 and as a level shift at 56 (within +6); a false dip at 80.
        let out = output(&[(11, 1, Spike), (12, 1, Spike), (49, 1, Spike), (56, 1, LevelShift), (80, -1, Dip)], 100);
        let r = evaluate(&labels, &out);
        let spike = r.stats(Spike);
        assert_eq!((spike.labels, spike.detected, spike.alarms, spike.true_alarms), (1, 1, 2, 1));
        let shift = r.stats(LevelShift);
        assert_eq!((shift.labels, shift.detected, shift.hit, shift.alarms, shift.true_alarms), (1, 1, 1, 1, 1));
        let dip = r.stats(Dip);
        assert_eq!((dip.labels, dip.alarms, dip.true_alarms), (0, 1, 0));
        // Overall: 11-12 one alarm, 49 and 56 separate (7 apart), 80: four alarms, three true.
        assert_eq!((r.overall.labels, r.overall.detected, r.overall.alarms, r.overall.true_alarms), (2, 2, 4, 3));
        assert!((r.overall.precision() - 0.75).abs() < 1e-12);
        // A shift flagged 7 points late is missed.
        let late = evaluate(&labels, &output(&[(57, 1, LevelShift)], 100));
        assert_eq!(late.stats(LevelShift).detected, 0);
        assert!(late.render().contains("level_shift"));
    }

    #[test]
    fn merges_close_flags_and_handles_edges() {
        use AnomalyKind::*;
        let out = output(&[(0, 1, Spike), (3, 1, Spike), (7, 1, Spike)], 8);
        let r = evaluate(&[], &out);
        assert_eq!(r.stats(Spike).alarms, 2);
        assert_eq!(r.stats(Spike).precision(), 0.0);
        let empty = evaluate(&[Label { kind: TrendChange, start: 0, end: 0 }], &output(&[], 0));
        assert_eq!(empty.stats(TrendChange).detected, 0);
        assert_eq!(empty.stats(TrendChange).f1(), 0.0);
    }
}

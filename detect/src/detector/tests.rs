use super::*;
use crate::decompose::{Seasonality, Trend};
use crate::synthetic::{Rng, SyntheticSpec, generate_series};
use proptest::prelude::*;

/// Every detector with its default parameters, plus ADX-style variants.
fn all_configs() -> Vec<DetectorConfig> {
    let mut v: Vec<DetectorConfig> =
        DetectorConfig::NAMES.iter().filter_map(|n| DetectorConfig::from_params(n, &[]).ok()).collect();
    v.push(DetectorConfig::Outliers { test: OutlierTest::Tukey, threshold: 1.5 });
    v.push(DetectorConfig::from_params("spike_dip", &[("history", "30"), ("mode", "spikes")]).expect("valid"));
    v.push(DetectorConfig::from_params("decompose", &[("trend", "linefit"), ("test_points", "5")]).expect("valid"));
    v
}

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

fn check_shape(out: &DetectorOutput, values: &[f64]) -> Result<(), TestCaseError> {
    let n = values.len();
    prop_assert_eq!(out.baseline.len(), n);
    prop_assert_eq!(out.score.len(), n);
    prop_assert_eq!(out.flag.len(), n);
    prop_assert_eq!(out.kind.len(), n);
    for (i, &x) in values.iter().enumerate() {
        prop_assert!(!out.score[i].is_nan(), "score NaN at {}", i);
        prop_assert_eq!(out.flag[i] == 0, out.kind[i] == AnomalyKind::None, "flag/kind mismatch at {}", i);
        if x.is_nan() {
            prop_assert_eq!(out.flag[i], 0);
            prop_assert_eq!(out.score[i], 0.0);
        }
    }
    Ok(())
}

/// A short seasonal series with noise, an occasional spike, shift and gaps.
fn series(seed: u64, n: usize, period: usize) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let shift_at = rng.int(0, n);
    (0..n)
        .map(|i| {
            let season = (std::f64::consts::TAU * i as f64 / period as f64).sin() * 5.0;
            let spike = if rng.uniform() < 0.03 { 12.0 * rng.sign() } else { 0.0 };
            let shift = if i >= shift_at { 6.0 } else { 0.0 };
            let v = 50.0 + season + spike + shift + rng.normal();
            if rng.uniform() < 0.05 { f64::NAN } else { v }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// The causal output at `i` equals the last point of a batch run over `values[..=i]`.
    #[test]
    fn causal_is_the_last_point_of_batch_on_the_prefix(seed in any::<u64>(), n in 0usize..70, period in 4usize..12) {
        let values = series(seed, n, period);
        let (mut causal, mut batch) = (DetectorOutput::default(), DetectorOutput::default());
        let mut scratch = DetectorScratch::default();
        for config in all_configs() {
            run_detector(&config, &values, Mode::Causal, &mut causal, &mut scratch);
            check_shape(&causal, &values)?;
            for i in 0..n {
                run_detector(&config, &values[..=i], Mode::Batch, &mut batch, &mut scratch);
                let name = config.name();
                prop_assert!(same(batch.baseline[i], causal.baseline[i]), "{} baseline at {}: {} vs {}", name, i, batch.baseline[i], causal.baseline[i]);
                prop_assert!(same(batch.score[i], causal.score[i]), "{} score at {}: {} vs {}", name, i, batch.score[i], causal.score[i]);
                prop_assert_eq!(batch.flag[i], causal.flag[i], "{} flag at {}", name, i);
                prop_assert_eq!(batch.kind[i], causal.kind[i], "{} kind at {}", name, i);
            }
        }
    }

    #[test]
    fn arbitrary_input_never_panics(
        values in proptest::collection::vec(prop_oneof![
            6 => -1e3f64..1e3,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(1e300),
            1 => Just(-1e300),
            1 => Just(f64::MAX),
            1 => proptest::num::f64::ANY,
        ], 0..120),
    ) {
        let mut out = DetectorOutput::default();
        let mut scratch = DetectorScratch::default();
        for config in all_configs() {
            for mode in [Mode::Batch, Mode::Causal] {
                run_detector(&config, &values, mode, &mut out, &mut scratch);
                check_shape(&out, &values)?;
            }
        }
    }

    #[test]
    fn constant_series_has_no_anomalies(c in prop_oneof![-1e300f64..1e300, -10.0f64..10.0], n in 0usize..200) {
        let values = vec![c; n];
        let mut out = DetectorOutput::default();
        let mut scratch = DetectorScratch::default();
        for config in all_configs() {
            for mode in [Mode::Batch, Mode::Causal] {
                run_detector(&config, &values, mode, &mut out, &mut scratch);
                check_shape(&out, &values)?;
                prop_assert!(out.flag.iter().all(|&f| f == 0), "{} flags a constant", config.name());
                prop_assert!(out.score.iter().all(|&s| s == 0.0), "{} scores a constant", config.name());
            }
        }
    }
}

#[test]
fn degenerate_inputs_have_documented_outputs() {
    let mut out = DetectorOutput::default();
    let mut scratch = DetectorScratch::default();
    let short: Vec<f64> = (0..30).map(|i| (i % 24) as f64).collect();
    let huge: Vec<f64> = series(5, 300, 24).iter().map(|v| v * 1e300).collect();
    let cases: [(&str, Vec<f64>); 7] = [
        ("empty", vec![]),
        ("one point", vec![1.0]),
        ("all nan", vec![f64::NAN; 50]),
        ("shorter than two periods", short),
        ("infinities", vec![1.0, f64::INFINITY, 2.0, f64::NEG_INFINITY, 3.0, 1.0, 2.0, 3.0, 1.0, 2.0]),
        ("near f64::MAX", huge),
        ("max and min", vec![f64::MAX, -f64::MAX, f64::MAX, 0.0, f64::MIN_POSITIVE, -f64::MAX]),
    ];
    for (what, values) in cases {
        for config in all_configs() {
            for mode in [Mode::Batch, Mode::Causal] {
                run_detector(&config, &values, mode, &mut out, &mut scratch);
                let shape = check_shape(&out, &values);
                assert!(shape.is_ok(), "{what}: {} {mode:?}: {shape:?}", config.name());
                if what == "all nan" || what == "one point" || what == "empty" {
                    assert!(out.flag.iter().all(|&f| f == 0), "{what}: {}", config.name());
                }
            }
        }
    }
}

#[test]
fn million_point_series_in_batch() {
    let n = 1 << 20;
    let spec = SyntheticSpec { length: n, gaps: 50, ..SyntheticSpec::default() };
    let (mut values, _) = generate_series(&spec, None, 1);
    values[777_777] += 40.0;
    let mut out = DetectorOutput::default();
    let mut scratch = DetectorScratch::default();
    for config in all_configs() {
        run_detector(&config, &values, Mode::Batch, &mut out, &mut scratch);
        assert_eq!(out.len(), n, "{}", config.name());
        assert!(out.score.iter().all(|s| !s.is_nan()), "{}", config.name());
    }
    // Causal outliers are incremental, O(n log n): cheap even here. The other detectors'
    // causal modes re-run on every prefix and are not meant for a million points at once.
    let config = DetectorConfig::from_params("outliers", &[]).expect("valid");
    run_detector(&config, &values, Mode::Causal, &mut out, &mut scratch);
    assert_eq!(out.len(), n);
}

#[test]
fn params_round_trip_and_errors() {
    for name in DetectorConfig::NAMES {
        let config = DetectorConfig::from_params(name, &[]).expect("defaults are valid");
        assert_eq!(config.name(), name);
        let params = config.to_params();
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(DetectorConfig::from_params(name, &pairs), Ok(config));
        let described = DetectorConfig::describe(name).expect("known detector");
        assert!(described.iter().all(|(n, _, d)| !n.is_empty() && !d.is_empty()));
    }
    assert!(DetectorConfig::describe("nope").is_none());
    for config in all_configs() {
        let params = config.to_params();
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(DetectorConfig::from_params(config.name(), &pairs), Ok(config));
    }
    let c = DetectorConfig::from_params(
        "decompose",
        &[("seasonality", "-1"), ("trend", "linefit"), ("threshold", "3"), ("test", "tukey")],
    )
    .expect("valid");
    let DetectorConfig::Decompose { params, threshold, test } = c else { panic!("decompose") };
    assert_eq!(
        (params.seasonality, params.trend, threshold, test),
        (Seasonality::Auto, Trend::Linefit, 3.0, OutlierTest::Tukey)
    );
    let c = DetectorConfig::from_params("decompose", &[("seasonality", "0"), ("low", "5")]).expect("valid");
    let DetectorConfig::Decompose { params, test, .. } = c else { panic!("decompose") };
    assert_eq!((params.seasonality, test), (Seasonality::None, OutlierTest::Ctukey { low: 5.0, high: 90.0 }));
    let c = DetectorConfig::from_params("ensemble", &[("sensitivity", "80")]).expect("valid");
    assert_eq!(c, DetectorConfig::Ensemble(EnsembleParams { threshold: 2.0, ..EnsembleParams::default() }));

    let err = |d: &str, p: &[(&str, &str)]| DetectorConfig::from_params(d, p).expect_err("invalid");
    let e = err("nope", &[]);
    assert_eq!(e.param, "detector");
    assert!(e.reason.contains("spike_dip") && e.to_string().starts_with("detector: "));
    let e = err("spike_dip", &[("q", "3")]);
    assert_eq!(e.param, "q");
    assert!(e.reason.contains("confidence"), "{e}");
    assert_eq!(err("spike_dip", &[("confidence", "0")]).param, "confidence");
    assert_eq!(err("spike_dip", &[("confidence", "101")]).param, "confidence");
    assert_eq!(err("spike_dip", &[("mode", "up")]).param, "mode");
    assert_eq!(err("decompose", &[("seasonality", "1")]).param, "seasonality");
    assert_eq!(err("decompose", &[("trend", "cubic")]).param, "trend");
    assert_eq!(err("decompose", &[("threshold", "NaN")]).param, "threshold");
    assert_eq!(err("outliers", &[("test", "tukey"), ("high", "80")]).param, "high");
    assert_eq!(err("outliers", &[("low", "90"), ("high", "10")]).param, "low");
    assert_eq!(err("outliers", &[("threshold", "1"), ("threshold", "2")]).param, "threshold");
    assert_eq!(err("spectral_residual", &[("q", "0")]).param, "q");
    assert_eq!(err("ensemble", &[("threshold", "3"), ("sensitivity", "50")]).param, "sensitivity");
    assert_eq!(err("change_point", &[("min_segment", "x")]).param, "min_segment");
}

#[test]
fn kind_names() {
    let names: Vec<&str> = AnomalyKind::EVENTS.iter().map(|k| k.name()).collect();
    assert_eq!(names, ["spike", "dip", "level_shift", "trend_change", "variance_change"]);
    assert_eq!(AnomalyKind::None.name(), "");
    assert_eq!(DetectorConfig::default().name(), "ensemble");
}

#[test]
fn outliers_detector_matches_adx() {
    let x = [-3.0, 2.4, 15.0, 3.9, 5.0, 6.0, 4.5, 5.2, 3.0, 4.0, 5.0, 16.0, 7.0, 5.0, 5.0, 4.0];
    let mut out = DetectorOutput::default();
    let mut scratch = DetectorScratch::default();
    let config = DetectorConfig::from_params("outliers", &[]).expect("valid");
    run_detector(&config, &x, Mode::Batch, &mut out, &mut scratch);
    assert!((out.score[0] + 1.9040785).abs() < 1e-6 && (out.score[11] - 1.6702443).abs() < 1e-6);
    assert_eq!(out.flag[0], -1);
    assert_eq!(out.kind[0], AnomalyKind::Dip);
    assert_eq!(out.flag[11], 1);
    assert_eq!(out.kind[11], AnomalyKind::Spike);
    assert_eq!(out.flag[2], 0);
    assert_eq!(out.baseline[0], 5.0);
}

#[test]
fn decompose_detector_flags_spikes_and_dips() {
    let mut rng = Rng::new(3);
    let mut x: Vec<f64> =
        (0..480).map(|i| 10.0 + 5.0 * (std::f64::consts::TAU * i as f64 / 24.0).sin() + 0.3 * rng.normal()).collect();
    x[100] += 6.0;
    x[300] -= 6.0;
    let mut out = DetectorOutput::default();
    let mut scratch = DetectorScratch::default();
    let config = DetectorConfig::from_params("decompose", &[("threshold", "4")]).expect("valid");
    run_detector(&config, &x, Mode::Batch, &mut out, &mut scratch);
    let flagged: Vec<(usize, AnomalyKind)> =
        out.kind.iter().enumerate().filter(|(_, k)| **k != AnomalyKind::None).map(|(i, k)| (i, *k)).collect();
    assert_eq!(flagged, [(100, AnomalyKind::Spike), (300, AnomalyKind::Dip)]);
}

#[test]
fn spike_dip_flags_spikes_dips_and_respects_mode() {
    let spec = SyntheticSpec { missing_rate: 0.0, gaps: 0, ..SyntheticSpec::default() };
    let (mut x, _) = generate_series(&spec, None, 11);
    x[300] += 9.0;
    x[400] -= 9.0;
    let mut out = DetectorOutput::default();
    let mut scratch = DetectorScratch::default();
    let strict = DetectorConfig::from_params("spike_dip", &[("confidence", "99.99")]).expect("valid");
    run_detector(&strict, &x, Mode::Batch, &mut out, &mut scratch);
    assert_eq!((out.flag[300], out.kind[300]), (1, AnomalyKind::Spike));
    assert_eq!((out.flag[400], out.kind[400]), (-1, AnomalyKind::Dip));
    assert!(out.score[300] > 5.0 && out.score[400] < -5.0, "{} {}", out.score[300], out.score[400]);
    let false_alarms = out.flag.iter().enumerate().filter(|&(i, &f)| f != 0 && i != 300 && i != 400).count();
    assert!(false_alarms <= 3, "{false_alarms}");
    let spikes =
        DetectorConfig::from_params("spike_dip", &[("confidence", "99.99"), ("mode", "spikes")]).expect("valid");
    run_detector(&spikes, &x, Mode::Batch, &mut out, &mut scratch);
    assert_eq!(out.flag[300], 1);
    assert!(out.flag.iter().all(|&f| f >= 0));
    // The first points have no history yet.
    assert!(out.score[..24].iter().all(|&s| s == 0.0));
}

use fathom_detect::detector::DetectorConfig;

use super::*;
use crate::spec::{DetectOp, SampleOp};

fn set_with(series: Vec<(String, Vec<f64>)>) -> SeriesSet {
    let buckets = series[0].1.len();
    SeriesSet {
        start_micros: 0,
        step_micros: 3_600_000_000,
        buckets,
        key_columns: vec!["id".to_string()],
        tag_columns: vec!["region".to_string()],
        keys: series.iter().map(|(key, _)| key.clone()).collect(),
        key_values: series.iter().map(|(key, _)| vec![key.clone()]).collect(),
        tags: series.iter().map(|_| vec![Some("eu".to_string())]).collect(),
        values: series.into_iter().flat_map(|(_, values)| values).collect(),
    }
}

fn daily(length: usize, spike_at: Option<usize>) -> Vec<f64> {
    (0..length)
        .map(|hour| {
            let base = 50.0 + 10.0 * (std::f64::consts::TAU * hour as f64 / 24.0).sin();
            let noise = ((hour * 7919) % 13) as f64 / 13.0 - 0.5;
            base + noise + if Some(hour) == spike_at { 40.0 } else { 0.0 }
        })
        .collect()
}

fn detect() -> ChainOpKind {
    let detector = DetectorConfig::from_params("decompose", &[("threshold", "3")]).expect("decompose");
    ChainOpKind::Detect(DetectOp { detector })
}

#[test]
fn chain_samples_then_detects_and_shapes_rows() {
    let set = set_with((0..40).map(|index| (format!("s{index:02}"), daily(24 * 14, Some(100 + index)))).collect());
    let chain = vec![
        ChainOp {
            stage_id: "some".into(),
            input: None,
            kind: ChainOpKind::Sample(SampleOp { fraction: 0.5, seed: 3 }),
        },
        ChainOp { stage_id: "found".into(), input: Some(0), kind: detect() },
    ];
    let results = run_chain(&set, &chain);
    assert!(results[0].is_none());
    let rows = results[1].as_ref().expect("detect rows");
    let sampled: Vec<usize> = (0..40).filter(|index| sample_keeps(&format!("s{index:02}"), 0.5, 3)).collect();
    // Exactly one anomaly per sampled series, at its spike.
    assert_eq!(rows.len(), sampled.len(), "{rows:?}");
    for row in rows {
        assert_eq!(row.bucket as usize, 100 + row.series as usize);
        assert_eq!(row.flag, 1);
        assert_eq!(row.kind.name(), "spike");
    }

    let output =
        LakeOutput { table_uri: "file:///t".into(), columns: vec!["id".into(), "region".into()], detect_ops: vec![1] };
    let run = RunInfo { job_name: "j".into(), window: TimeWindow { start_micros: 0, end_micros: 14 * 86_400_000_000 } };
    let batches = anomaly_batches(&set, &chain, &results, &output, &run).expect("batches");
    let total: usize = batches.iter().map(|(_, batch)| batch.num_rows()).sum();
    assert_eq!(total, rows.len());
    for (date, batch) in &batches {
        assert!(date.starts_with("1970-01-0"), "{date}");
        assert_eq!(batch.schema().field(5).name(), "id");
        assert_eq!(batch.column_by_name("region").expect("region").as_string::<i32>().value(0), "eu");
    }
    let top = top_anomalies(&set, &chain, &results, 3);
    assert_eq!(top.len(), 3.min(rows.len()));
}

use proptest::prelude::*;

use super::*;

const SPEC: &str = r#"
version = 1
name = "t"
[source]
uri = "file:///raw/"
series_key = ["series_id"]
timestamp = "ts"
value = "value"
tags = ["region"]
[window]
start = "2026-01-05T00:00:00Z"
end = "2026-01-07T00:00:00Z"
[[stage]]
id = "hourly"
op = "make_series"
input = "source"
step = "1h"
[[stage]]
id = "by_region"
op = "make_series"
input = "source"
step = "1h"
group_by = ["region"]
[[stage]]
id = "some"
op = "sample"
input = "hourly"
fraction = 0.5
[[stage]]
id = "found"
op = "detect"
input = "some"
[[stage]]
id = "unused"
op = "detect"
input = "by_region"
[[sink]]
kind = "lake"
input = ["found"]
uri = "file:///lake/a"
"#;

fn spec() -> JobSpec {
    JobSpec::from_toml(SPEC).expect("valid")
}

fn files(count: usize, size: u64) -> Vec<SourceFile> {
    (0..count)
        .map(|index| SourceFile {
            uri: format!("file:///raw/date=2026-01-0{}/part-{index:03}.parquet", 4 + index % 4),
            size_bytes: size,
        })
        .collect()
}

#[test]
fn plans_scan_reduce_and_chain() {
    let plan = plan(&spec(), &files(8, 10), PlanOptions { partitions: 3, target_scan_bytes: 15 }).expect("plan");
    // Dates 04 and 07 are outside [05, 07): four of eight files remain, packed two per task.
    assert_eq!(plan.scan_tasks.len(), 2);
    assert!(
        plan.scan_tasks.iter().flatten().all(|uri| uri.contains("date=2026-01-05") || uri.contains("date=2026-01-06"))
    );
    assert_eq!(plan.reduces.len(), 1, "by_region feeds no sink");
    assert_eq!(plan.skipped_stages, vec!["by_region".to_string(), "unused".to_string()]);
    let reduce = &plan.reduces[0];
    assert_eq!(reduce.name, "hourly");
    assert_eq!(reduce.shuffle.partitions, 3);
    assert_eq!(reduce.chain.len(), 2);
    assert_eq!(reduce.chain[0].input, None);
    assert_eq!(reduce.chain[1].input, Some(0));
    assert_eq!(reduce.outputs[0].detect_ops, vec![1]);
    assert_eq!(reduce.outputs[0].columns, vec!["series_id".to_string(), "region".to_string()]);
}

#[test]
fn no_files_is_a_clear_error() {
    let error = plan(&spec(), &files(1, 10), PlanOptions::default()).expect_err("all pruned");
    assert!(error.to_string().contains("no input files under file:///raw/"), "{error}");
}

#[test]
fn date_pruning_keeps_partial_days() {
    let window = TimeWindow {
        start_micros: 1_767_614_400_000_000, // 2026-01-05T12:00:00Z
        end_micros: 1_767_700_800_000_000,   // 2026-01-06T12:00:00Z
    };
    assert!(!pruned_by_date("raw/date=2026-01-05/a.parquet", window));
    assert!(!pruned_by_date("raw/date=2026-01-06/a.parquet", window));
    assert!(pruned_by_date("raw/date=2026-01-04/a.parquet", window));
    assert!(pruned_by_date("raw/date=2026-01-07/a.parquet", window));
    assert!(!pruned_by_date("raw/undated.parquet", window));
}

proptest! {
    #[test]
    fn same_inputs_plan_identically_and_every_file_is_scanned_once(
        sizes in proptest::collection::vec(1_u64..100, 1..60),
        partitions in 1_u32..16,
        target in 1_u64..300,
        seed in any::<u64>(),
    ) {
        let mut listed: Vec<SourceFile> = sizes.iter().enumerate().map(|(index, size)| SourceFile {
            uri: format!("file:///raw/date=2026-01-05/{:x}-{index}.parquet", seed.wrapping_mul(index as u64 + 1)),
            size_bytes: *size,
        }).collect();
        let options = PlanOptions { partitions, target_scan_bytes: target };
        let first = plan(&spec(), &listed, options).expect("plan");
        listed.reverse();
        let second = plan(&spec(), &listed, options).expect("plan");
        prop_assert_eq!(&first, &second);
        let mut scanned: Vec<&String> = first.scan_tasks.iter().flatten().collect();
        scanned.sort();
        let before = scanned.len();
        scanned.dedup();
        prop_assert_eq!(before, scanned.len());
        prop_assert_eq!(scanned.len(), listed.len());
    }
}

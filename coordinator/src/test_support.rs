//! Fixtures shared by the coordinator's unit tests.

use fathom_core::ids::JobId;
use fathom_core::plan::{PlanOptions, SourceFile, plan};
use fathom_core::spec::JobSpec;

use crate::execution_graph::ExecutionGraph;

/// A one-make_series, one-detect job over a day.
pub(crate) const SPEC: &str = r#"
version = 1
name = "t"
[source]
uri = "file:///raw/"
series_key = ["id"]
timestamp = "ts"
value = "value"
[window]
start = "2026-01-05T00:00:00Z"
end = "2026-01-06T00:00:00Z"
[[stage]]
id = "hourly"
op = "make_series"
input = "source"
step = "1h"
[[stage]]
id = "found"
op = "detect"
input = "hourly"
[[sink]]
kind = "lake"
input = ["found"]
uri = "file:///lake"
"#;

/// [`SPEC`] planned over three files and two partitions: three scan tasks, two reduce tasks.
pub(crate) fn graph() -> ExecutionGraph {
    let spec = JobSpec::from_toml(SPEC).expect("spec");
    let files: Vec<SourceFile> =
        (0..3).map(|index| SourceFile { uri: format!("file:///raw/{index}.parquet"), size_bytes: 10 }).collect();
    let plan = plan(&spec, &files, PlanOptions { partitions: 2, target_scan_bytes: 1 }).expect("plan");
    ExecutionGraph::new(JobId::new("j"), plan, "ts".into(), "value".into())
}

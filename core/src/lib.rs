//! `fathom-core`: what a Fathom job is and how it runs, without any I/O.
//!
//! - [`spec`]: the TOML job spec (v1), parsed and validated into [`spec::JobSpec`].
//! - [`plan`]: the spec and a file listing become a [`plan::PhysicalPlan`]: a scan stage, one
//!   hash shuffle and reduce stage per make_series, and a commit per lake table.
//! - [`task`]: the domain form of a task ([`task::TaskDefinition`]) and what it reports.
//! - [`partition`]: the stable hash that assigns series to partitions and drives sampling.
//! - [`aggregate`] and [`series`]: the map-side partial aggregation into buckets and the
//!   reduce-side merge, make_series finalisation and chain of sample / detect ops.
//! - [`schema`]: the Arrow schemas of shuffle files and of the anomalies table.
//!
//! The numeric kernels live in `fathom-detect`; the worker and coordinator do the I/O.

pub mod aggregate;
pub mod alert;
pub mod duration;
pub mod error;
pub mod ids;
pub mod job;
pub mod partition;
pub mod plan;
pub mod schema;
pub mod series;
pub mod spec;
pub mod storage;
pub mod task;

pub use error::{CoreError, Result};

/// Task attempts a worker holds per slot: one running and one queued behind it, so that a slot
/// never idles while its finished task's report and the next launch cross the network. The
/// coordinator assigns up to this many per slot; the worker admits as many and runs `slots` at
/// a time.
pub const TASKS_PER_SLOT: u32 = 2;

/// Bumped whenever a coordinator and a worker of different builds could misunderstand each other.
pub const PROTOCOL_VERSION: u32 = 2;

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

/// Bumped whenever a coordinator and a worker of different builds could misunderstand each other.
pub const PROTOCOL_VERSION: u32 = 1;

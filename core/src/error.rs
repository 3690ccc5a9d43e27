//! The one error type of `fathom-core`.

use std::fmt;

/// A problem in a job spec, located by the path of the field at fault
/// (`stage[1].input`) so the user can find it without reading the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecIssue {
    pub path: String,
    pub reason: String,
}

impl fmt::Display for SpecIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("cannot parse job spec: {message}")]
    ParseSpec { message: String },

    #[error("invalid job spec: {}", .issues.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidSpec { issues: Vec<SpecIssue> },

    #[error("cannot plan job: {reason}")]
    Plan { reason: String },

    #[error("source data is missing column {column:?} (found: {found})")]
    MissingColumn { column: String, found: String },

    #[error("column {column:?} has type {data_type}, expected {expected}")]
    ColumnType { column: String, data_type: String, expected: &'static str },

    #[error("arrow error while {doing}")]
    Arrow {
        doing: &'static str,
        #[source]
        source: arrow::error::ArrowError,
    },

    #[error("{uri:?} is not a usable location: {reason}")]
    InvalidUri { uri: String, reason: String },

    #[error("cannot open object store for {uri}{advice}")]
    OpenStore {
        uri: String,
        /// What to do about it, when known (see [`crate::storage::advice`]).
        advice: String,
        #[source]
        source: Box<object_store::Error>,
    },

    #[error("cannot list {uri}{advice}")]
    ListObjects {
        uri: String,
        /// What to do about it, when known (see [`crate::storage::advice`]).
        advice: String,
        #[source]
        source: Box<object_store::Error>,
    },

    #[error("shuffle input is inconsistent: {reason}")]
    ShuffleInput { reason: String },
}

impl CoreError {
    pub fn arrow(doing: &'static str) -> impl FnOnce(arrow::error::ArrowError) -> CoreError {
        move |source| CoreError::Arrow { doing, source }
    }

    /// Bad specs and bad data do not get better on retry; everything else might.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CoreError::Arrow { .. } | CoreError::ListObjects { .. })
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

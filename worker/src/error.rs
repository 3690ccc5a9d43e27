//! The one error type of `fathom-worker`. `is_retryable` drives the coordinator's retry policy:
//! bad data and bad tasks fail the job at once; I/O may succeed on another attempt.

use fathom_core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("invalid task definition")]
    InvalidTask(#[from] fathom_proto::ProtoError),

    #[error("cannot open {uri}")]
    OpenLocation {
        uri: String,
        #[source]
        source: Box<CoreError>,
    },

    #[error("cannot read {uri}{advice}")]
    ReadObject {
        uri: String,
        /// What to do about it, when known (see `fathom_core::storage::advice`).
        advice: String,
        #[source]
        source: Box<object_store::Error>,
    },

    #[error("{uri} is not a readable csv file")]
    DecodeCsv {
        uri: String,
        #[source]
        source: arrow::error::ArrowError,
    },

    #[error("cannot read {path}")]
    ReadFile {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{uri} is not a readable parquet file")]
    DecodeParquet {
        uri: String,
        #[source]
        source: Box<parquet::errors::ParquetError>,
    },

    #[error("bad data in {uri}")]
    BadData {
        uri: String,
        #[source]
        source: Box<CoreError>,
    },

    #[error("cannot write shuffle file {path}")]
    WriteShuffle {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read shuffle output {path} (its worker may be gone)")]
    ReadShuffle {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// The shuffle output of another worker could not be fetched: that map output is lost and
    /// must be recomputed, which the coordinator does when it sees this.
    #[error("cannot fetch shuffle data from worker {worker_id} at {address}: {reason}")]
    FetchShuffle { worker_id: String, address: String, reason: String },

    #[error("cannot encode {what}")]
    Encode {
        what: &'static str,
        #[source]
        source: arrow::error::ArrowError,
    },

    #[error("cannot merge shuffle data")]
    Merge(#[source] Box<CoreError>),

    #[error("cannot write parquet for {path}")]
    EncodeParquet {
        path: String,
        #[source]
        source: Box<parquet::errors::ParquetError>,
    },

    #[error("cannot write {uri}")]
    WriteObject {
        uri: String,
        #[source]
        source: Box<object_store::Error>,
    },

    #[error("task cancelled")]
    Cancelled,

    #[error("task panicked: {message}")]
    Panicked { message: String },
}

impl WorkerError {
    pub fn is_retryable(&self) -> bool {
        match self {
            WorkerError::ReadObject { source, .. } => !matches!(**source, object_store::Error::NotFound { .. }),
            WorkerError::ReadFile { source, .. } => source.kind() != std::io::ErrorKind::NotFound,
            WorkerError::WriteShuffle { .. }
            | WorkerError::ReadShuffle { .. }
            | WorkerError::FetchShuffle { .. }
            | WorkerError::WriteObject { .. }
            | WorkerError::Encode { .. } => true,
            WorkerError::Merge(source) | WorkerError::OpenLocation { source, .. } => source.is_retryable(),
            WorkerError::InvalidTask(_)
            | WorkerError::DecodeParquet { .. }
            | WorkerError::DecodeCsv { .. }
            | WorkerError::BadData { .. }
            | WorkerError::EncodeParquet { .. }
            | WorkerError::Panicked { .. }
            | WorkerError::Cancelled => false,
        }
    }

    /// The worker whose shuffle output turned out to be unreachable, if that is what failed.
    pub fn lost_worker(&self) -> Option<&str> {
        match self {
            WorkerError::FetchShuffle { worker_id, .. } => Some(worker_id),
            _ => None,
        }
    }

    /// The message with its whole chain of causes, for the coordinator and the user.
    pub fn report(&self) -> String {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        message
    }
}

//! The one error type of `fathom-coordinator`, and its mapping to gRPC status codes.

use fathom_core::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error(transparent)]
    InvalidSpec(Box<CoreError>),

    #[error("unknown job {job_id:?}")]
    UnknownJob { job_id: String },

    #[error("cannot list the job's input")]
    ListInput(#[source] Box<CoreError>),

    #[error("cannot plan the job")]
    Plan(#[source] Box<CoreError>),

    #[error("worker protocol version {worker} does not match the coordinator's {coordinator}; upgrade the older side")]
    ProtocolMismatch { worker: u32, coordinator: u32 },

    #[error("job {job_id} is committing its results and can no longer be cancelled")]
    CommitInProgress { job_id: String },

    #[error("cannot record the job in the state store: {reason}")]
    Persist { reason: String },

    #[error("this coordinator is a standby, not the leader")]
    NotLeader,

    #[error("invalid request: {reason}")]
    InvalidRequest { reason: String },

    #[error("cannot open lake table {table}")]
    OpenTable {
        table: String,
        #[source]
        source: Box<CoreError>,
    },

    #[error("cannot commit to lake table {table}")]
    Commit {
        table: String,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },

    #[error("lake table {table} has columns [{existing}] but this job writes [{wanted}]")]
    TableSchema { table: String, existing: String, wanted: String },
}

impl CoordinatorError {
    /// The message with its chain of causes.
    pub fn report(&self) -> String {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.ends_with(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        message
    }
}

impl From<CoordinatorError> for tonic::Status {
    fn from(error: CoordinatorError) -> Self {
        let message = error.report();
        match error {
            CoordinatorError::InvalidSpec(_) | CoordinatorError::InvalidRequest { .. } => {
                tonic::Status::invalid_argument(message)
            }
            CoordinatorError::UnknownJob { .. } => tonic::Status::not_found(message),
            CoordinatorError::ProtocolMismatch { .. }
            | CoordinatorError::CommitInProgress { .. }
            | CoordinatorError::NotLeader => tonic::Status::failed_precondition(message),
            CoordinatorError::Persist { .. } => tonic::Status::unavailable(message),
            CoordinatorError::ListInput(_)
            | CoordinatorError::Plan(_)
            | CoordinatorError::OpenTable { .. }
            | CoordinatorError::Commit { .. }
            | CoordinatorError::TableSchema { .. } => tonic::Status::internal(message),
        }
    }
}

//! `fathom-proto`: the gRPC protocol between clients, the coordinator and workers.
//!
//! The generated code lives in [`pb`]; the rest of the engine speaks the domain types of
//! `fathom-core`, and this crate converts at the edge: `From<&Domain> for pb::X` on the way out
//! and `TryFrom<pb::X> for Domain` on the way in, which fails on a missing required field or an
//! unknown enum value instead of inventing a default.

mod convert;

/// Generated protobuf and tonic code for package `fathom.v1`.
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod pb {
    tonic::include_proto!("fathom.v1");
}

pub use convert::{ProtoError, state_from_wire, state_to_wire};
pub use pb::coordinator_service_client::CoordinatorServiceClient;
pub use pb::coordinator_service_server::{CoordinatorService, CoordinatorServiceServer};
pub use pb::worker_service_client::WorkerServiceClient;
pub use pb::worker_service_server::{WorkerService, WorkerServiceServer};

/// Largest message either side accepts; task definitions list files and locations.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

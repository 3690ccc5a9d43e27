//! Serves this worker's shuffle files to reducers on other workers over Arrow Flight.
//!
//! A ticket names one file: `<map output prefix relative to the shuffle root>\n<shuffle>\n<partition>\n<part>`.
//! The file is read batch by batch on a blocking thread into a channel of two batches, so a
//! slow reducer holds back the reader (HTTP/2 flow control all the way down) and memory stays
//! bounded; batches go out LZ4-compressed.

use std::path::{Component, Path, PathBuf};
use std::pin::Pin;

use arrow::ipc::CompressionType;
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest, HandshakeResponse,
    PollInfo, PutResult, SchemaResult, Ticket,
};
use futures::{Stream, StreamExt, TryStreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::error::WorkerError;
use crate::shuffle::{PartitionReader, shuffle_path};

/// Tickets are produced by [`ticket`] and parsed back here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShuffleTicket {
    pub prefix: String,
    pub shuffle_id: u32,
    pub partition: u32,
    pub part: String,
}

pub fn ticket(prefix: &str, shuffle_id: u32, partition: u32, part: &str) -> Ticket {
    Ticket::new(format!("{prefix}\n{shuffle_id}\n{partition}\n{part}"))
}

fn parse_ticket(bytes: &[u8]) -> Result<ShuffleTicket, Status> {
    let invalid = || Status::invalid_argument("malformed shuffle ticket");
    let text = std::str::from_utf8(bytes).map_err(|_| invalid())?;
    let mut fields = text.split('\n');
    let (Some(prefix), Some(shuffle_id), Some(partition), Some(part), None) =
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(invalid());
    };
    // Only paths inside the shuffle root: a ticket must never read anything else on the host.
    let inside = Path::new(prefix).components().all(|component| matches!(component, Component::Normal(_)));
    if !inside || !matches!(part, "series" | "points") {
        return Err(Status::invalid_argument("shuffle ticket points outside the shuffle directory"));
    }
    Ok(ShuffleTicket {
        prefix: prefix.to_string(),
        shuffle_id: shuffle_id.parse().map_err(|_| invalid())?,
        partition: partition.parse().map_err(|_| invalid())?,
        part: part.to_string(),
    })
}

pub struct ShuffleFlightService {
    pub shuffle_root: PathBuf,
}

type BoxedStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

fn unsupported<T>(what: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!("{what} is not offered by the shuffle service")))
}

#[tonic::async_trait]
impl FlightService for ShuffleFlightService {
    type HandshakeStream = BoxedStream<HandshakeResponse>;
    type ListFlightsStream = BoxedStream<FlightInfo>;
    type DoGetStream = BoxedStream<FlightData>;
    type DoPutStream = BoxedStream<PutResult>;
    type DoActionStream = BoxedStream<arrow_flight::Result>;
    type ListActionsStream = BoxedStream<ActionType>;
    type DoExchangeStream = BoxedStream<FlightData>;

    async fn do_get(&self, request: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
        let ticket = parse_ticket(&request.into_inner().ticket)?;
        let path = shuffle_path(&self.shuffle_root, &ticket.prefix, ticket.shuffle_id, &ticket.part);
        let partition = ticket.partition;
        // Opening the file and reading its footer is disk I/O: not on an async worker thread.
        let opened = tokio::task::spawn_blocking(move || PartitionReader::open(&path, partition))
            .await
            .map_err(|error| Status::internal(error.to_string()))?;
        let reader = opened.map_err(|error| match &error {
            WorkerError::ReadShuffle { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Status::not_found(error.report())
            }
            _ => Status::internal(error.report()),
        })?;
        let schema = reader.schema();
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        tokio::task::spawn_blocking(move || {
            for batch in reader {
                let item = batch.map_err(arrow_flight::error::FlightError::Arrow);
                if sender.blocking_send(item).is_err() {
                    return;
                }
            }
        });
        let options = IpcWriteOptions::default()
            .try_with_compression(Some(CompressionType::LZ4_FRAME))
            .map_err(|error| Status::internal(error.to_string()))?;
        let batches = tokio_stream::wrappers::ReceiverStream::new(receiver);
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .with_options(options)
            .build(batches)
            .map_err(|error| Status::internal(error.to_string()));
        Ok(Response::new(stream.boxed()))
    }

    async fn handshake(
        &self,
        _: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        unsupported("handshake")
    }
    async fn list_flights(&self, _: Request<Criteria>) -> Result<Response<Self::ListFlightsStream>, Status> {
        unsupported("list_flights")
    }
    async fn get_flight_info(&self, _: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        unsupported("get_flight_info")
    }
    async fn poll_flight_info(&self, _: Request<FlightDescriptor>) -> Result<Response<PollInfo>, Status> {
        unsupported("poll_flight_info")
    }
    async fn get_schema(&self, _: Request<FlightDescriptor>) -> Result<Response<SchemaResult>, Status> {
        unsupported("get_schema")
    }
    async fn do_put(&self, _: Request<Streaming<FlightData>>) -> Result<Response<Self::DoPutStream>, Status> {
        unsupported("do_put")
    }
    async fn do_exchange(&self, _: Request<Streaming<FlightData>>) -> Result<Response<Self::DoExchangeStream>, Status> {
        unsupported("do_exchange")
    }
    async fn do_action(&self, _: Request<Action>) -> Result<Response<Self::DoActionStream>, Status> {
        unsupported("do_action")
    }
    async fn list_actions(&self, _: Request<Empty>) -> Result<Response<Self::ListActionsStream>, Status> {
        unsupported("list_actions")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_round_trip_and_cannot_escape_the_root() {
        let parsed = parse_ticket(&ticket("job/s0-t1-a0", 2, 3, "points").ticket).expect("valid");
        assert_eq!(
            parsed,
            ShuffleTicket { prefix: "job/s0-t1-a0".into(), shuffle_id: 2, partition: 3, part: "points".into() }
        );
        for bad in ["../etc\n0\n0\npoints", "/etc\n0\n0\npoints", "job\n0\n0\npasswd", "job\n0\n0"] {
            assert!(parse_ticket(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}

//! A minimal HTTP/1.1 endpoint for probes and scraping: `/healthz` (the process is up),
//! `/readyz` (it can take jobs) and `/metrics` (Prometheus text). Only these three GETs are
//! served, so a full HTTP framework would be dead weight.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::debug;

use crate::job_manager::JobManager;
use crate::metrics;

pub async fn serve(listener: TcpListener, manager: Arc<JobManager>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let Ok((mut stream, _)) = accepted else {
            continue;
        };
        let manager = manager.clone();
        tokio::spawn(async move {
            let mut request = Vec::with_capacity(512);
            let mut buffer = [0_u8; 512];
            // Read the request head, bounded in size and time.
            while !request.windows(4).any(|window| window == b"\r\n\r\n") && request.len() < 8192 {
                match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await {
                    Ok(Ok(read)) if read > 0 => request.extend_from_slice(&buffer[..read]),
                    _ => return,
                }
            }
            let head = String::from_utf8_lossy(&request);
            let path = head.lines().next().and_then(|line| line.split_whitespace().nth(1)).unwrap_or("/");
            let (status, content_type, body) = match path {
                "/healthz" => ("200 OK", "text/plain", "ok\n".to_string()),
                "/readyz" if manager.is_leader() => ("200 OK", "text/plain", "ready: leading\n".to_string()),
                "/readyz" => ("503 Service Unavailable", "text/plain", "standby: not the leader\n".to_string()),
                "/metrics" => (
                    "200 OK",
                    "text/plain; version=0.0.4",
                    metrics::render(manager.worker_count(), manager.active_jobs()),
                ),
                _ => ("404 Not Found", "text/plain", "not found; try /healthz, /readyz or /metrics\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            if let Err(error) = stream.write_all(response.as_bytes()).await {
                debug!(%error, "http client went away");
            }
        });
    }
}

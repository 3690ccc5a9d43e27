//! Alert sinks for tests: a real Alertmanager (Debian's `prometheus-alertmanager`) on a
//! loopback port, and a webhook receiver that records every request it gets and answers with a
//! status the test chooses (503 plays a sink that is down).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cluster::eventually;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body).with_context(|| format!("not JSON: {}", self.body))
    }
}

pub struct WebhookReceiver {
    pub url: String,
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl WebhookReceiver {
    pub fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let status = Arc::new(AtomicU16::new(200));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (answer, log) = (status.clone(), received.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = serve(stream, &answer, &log);
            }
        });
        Ok(Self { url, status, received })
    }

    /// What later requests are answered with (accepted ones are still recorded).
    pub fn set_status(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Requests answered with 2xx so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|log| log.clone()).unwrap_or_default()
    }
}

fn serve(stream: TcpStream, status: &AtomicU16, log: &Mutex<Vec<Received>>) -> Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let length: usize =
        headers.iter().find(|(name, _)| name == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let code = status.load(Ordering::SeqCst);
    if (200..300).contains(&code)
        && let Ok(mut log) = log.lock()
    {
        log.push(Received { path, headers, body: String::from_utf8_lossy(&body).into_owned() });
    }
    let mut stream = stream;
    write!(stream, "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    Ok(())
}

/// A real Alertmanager routing every alert, ungrouped, to `receiver` (a webhook URL).
pub struct Alertmanager {
    pub url: String,
    child: Child,
    _data: tempfile::TempDir,
}

impl Alertmanager {
    pub fn start(receiver: &str) -> Result<Self> {
        let data = tempfile::Builder::new().prefix("fathom-alertmanager-").tempdir()?;
        let config = data.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: test\n  group_by: ['...']\n  group_wait: 100ms\n  group_interval: 1s\n  repeat_interval: 1h\n\
                 receivers:\n  - name: test\n    webhook_configs:\n      - url: '{receiver}'\n        send_resolved: false\n"
            ),
        )?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let binary = ["prometheus-alertmanager", "alertmanager"]
            .into_iter()
            .find(|name| Command::new(name).arg("--version").output().is_ok())
            .context(
                "no alertmanager: install it with `apt-get install prometheus-alertmanager` (scripts/test.sh does)",
            )?;
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", data.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(data.path().join("alertmanager.log"))?)
            .spawn()
            .with_context(|| format!("cannot start {binary}"))?;
        let server = Self { url: format!("http://127.0.0.1:{port}"), child, _data: data };
        eventually(Duration::from_secs(20), "alertmanager to be ready", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut stream| {
                let _ = write!(stream, "GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                answer.starts_with("HTTP/1.1 200")
            })
        })?;
        Ok(server)
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

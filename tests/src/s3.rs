//! A real S3-compatible server (`moto_server` from PyPI, in `.venv`) on a loopback port.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cluster::eventually;
use crate::{python, workspace_root};

pub struct S3Server {
    pub endpoint: String,
    child: Child,
}

impl S3Server {
    pub fn start() -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let moto = python()?.with_file_name("moto_server");
        let child = Command::new(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {} (scripts/test.sh installs it)", moto.display()))?;
        let server = Self { endpoint: format!("http://127.0.0.1:{port}"), child };
        eventually(Duration::from_secs(30), "moto_server to accept connections", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })?;
        Ok(server)
    }

    /// Creates `bucket` and uploads every file under `directory` to `prefix/...`.
    pub fn upload(&self, bucket: &str, prefix: &str, directory: &Path) -> Result<usize> {
        let script = workspace_root().join("tests/python/s3_upload.py");
        let output =
            Command::new(python()?).arg(&script).args([&self.endpoint, bucket, prefix]).arg(directory).output()?;
        if !output.status.success() {
            bail!("s3_upload.py failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().parse()?)
    }

    /// The environment a Fathom process needs to reach this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT", self.endpoint.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A real etcd server (Debian's `etcd-server`) on loopback ports with a temporary data dir.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cluster::eventually;

pub struct EtcdServer {
    pub endpoint: String,
    child: Child,
    _data: tempfile::TempDir,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl EtcdServer {
    pub fn start() -> Result<Self> {
        let data = tempfile::Builder::new().prefix("fathom-etcd-").tempdir()?;
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let client = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let child = Command::new("etcd")
            .args(["--name", "fathom-test", "--data-dir"])
            .arg(data.path())
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("fathom-test={peer}")])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(data.path().join("etcd.log"))?)
            .spawn()
            .context("cannot start etcd: install it with `apt-get install etcd-server` (scripts/test.sh does)")?;
        let server = Self { endpoint: client, child, _data: data };
        eventually(Duration::from_secs(20), "etcd to accept connections", || {
            std::net::TcpStream::connect(("127.0.0.1", client_port)).is_ok()
        })?;
        Ok(server)
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

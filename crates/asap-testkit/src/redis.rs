//! A real `redis-server` for replay-protection tests.
//!
//! The binary is `$ASAP_REDIS_SERVER` when set, otherwise `redis-server` from `PATH`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` on a free `127.0.0.1` port, killed on drop: without persistence
/// ([`RedisServer::start`]) or with an append-only file synced on every write
/// ([`RedisServer::start_persistent`]), so that what it acknowledged survives a restart.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    child: Option<Child>,
    /// Where the append-only file lives, for a persistent server.
    data_dir: Option<PathBuf>,
}

impl RedisServer {
    /// Starts `redis-server` and waits until it answers on its port as itself (`INFO server`'s
    /// `process_id`).
    ///
    /// When the binary is missing: prints the reason and returns `None` locally, panics when
    /// the `CI` environment variable is set.
    ///
    /// # Panics
    ///
    /// When the server starts but does not answer within 10 seconds.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(None)
    }

    /// [`RedisServer::start`] with `appendonly yes` and `appendfsync always` in `data_dir`: a
    /// write is on disk before Redis acknowledges it, as a replay store that must survive a
    /// restart is run. [`RedisServer::restart`] reads the file back.
    pub fn start_persistent(data_dir: impl Into<PathBuf>) -> Option<RedisServer> {
        RedisServer::start_with(Some(&data_dir.into()))
    }

    fn start_with(data_dir: Option<&Path>) -> Option<RedisServer> {
        if let Some(dir) = &data_dir {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("cannot create the Redis data directory {}: {e}", dir.display()));
        }
        let binary =
            PathBuf::from(std::env::var_os("ASAP_REDIS_SERVER").unwrap_or_else(|| "redis-server".into()));
        if let Err(e) = Command::new(&binary)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
        {
            return crate::missing(&format!(
                "cannot run {}: {e}; install it (apt-get install redis-server)",
                binary.display()
            ));
        }
        // Another process may take the port between this probe and redis binding it; then
        // the server exits and we try a new port.
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer {
                binary: binary.clone(),
                port,
                child: None,
                data_dir: data_dir.map(Path::to_path_buf),
            };
            if server.spawn_and_wait() {
                return Some(server);
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on (the same across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server and waits for it to exit. Data is lost (no persistence).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (stopping it first if running) and waits until
    /// it accepts connections.
    ///
    /// # Panics
    ///
    /// When it does not answer within 10 seconds (for example the port was taken meanwhile).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        // The old socket may linger briefly; redis exits if it cannot bind, so retry.
        while !self.spawn_and_wait() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Spawns the server; true once it answers on the port as this process, false if it exited
    /// first.
    fn spawn_and_wait(&mut self) -> bool {
        let mut command = Command::new(&self.binary);
        command.args(["--bind", "127.0.0.1", "--port", &self.port.to_string()]);
        match &self.data_dir {
            Some(dir) => command.arg("--dir").arg(dir).args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ]),
            None => command.args(["--save", "", "--appendonly", "no"]),
        };
        let mut child = command
            .args([
                "--daemonize",
                "no",
                "--protected-mode",
                "no",
                "--loglevel",
                "warning",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", self.binary.display()));
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            // Our server, not one another test started on the same port in the meantime (ours
            // then exits, unable to bind, maybe only after that one answered).
            if serves_as(self.port, child.id()) {
                self.child = Some(child);
                return true;
            }
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "redis-server on port {} did not answer within {STARTUP_TIMEOUT:?}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free port on 127.0.0.1")
}

/// A connection to `port` that has sent `commands`, with a read timeout; `None` when either
/// fails.
fn send(port: u16, commands: &[u8]) -> Option<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    stream.write_all(commands).ok()?;
    Some(stream)
}

/// True when the Redis server on `port` is the process `pid` (`INFO server`'s `process_id`).
fn serves_as(port: u16, pid: u32) -> bool {
    let Some(stream) = send(port, b"INFO server\r\nQUIT\r\n") else {
        return false;
    };
    // The reply is a few KB; QUIT makes the server close the connection after it.
    let mut reply = Vec::new();
    let _ = stream.take(64 * 1024).read_to_end(&mut reply);
    let pid = pid.to_string();
    String::from_utf8_lossy(&reply)
        .lines()
        .any(|line| line.strip_prefix("process_id:") == Some(pid.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_stop_restart_on_the_same_port() {
        let Some(mut redis) = RedisServer::start() else {
            return;
        };
        let port = redis.port();
        assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}"));
        assert!(ping(port));
        redis.stop();
        assert!(!ping(port));
        redis.restart();
        assert_eq!(redis.port(), port);
        assert!(ping(port));
    }

    #[test]
    fn a_persistent_server_keeps_acknowledged_writes_across_a_restart() {
        let dir = std::env::temp_dir().join(format!("asap-testkit-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("data dir");
        let Some(mut redis) = RedisServer::start_persistent(&dir) else {
            return;
        };
        assert_eq!(command(redis.port(), "SET kept 1\r\n", 5), b"+OK\r\n");
        redis.restart();
        assert_eq!(command(redis.port(), "GET kept\r\n", 7), b"$1\r\n1\r\n");
        drop(redis);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// True when a Redis server on `port` answers `PING` with `+PONG`.
    fn ping(port: u16) -> bool {
        let Some(mut stream) = send(port, b"PING\r\n") else {
            return false;
        };
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }

    /// Sends one inline command and reads `reply_len` bytes of its reply.
    fn command(port: u16, line: &str, reply_len: usize) -> Vec<u8> {
        let mut stream = send(port, line.as_bytes()).expect("connect and send");
        let mut reply = vec![0u8; reply_len];
        stream.read_exact(&mut reply).expect("reply");
        reply
    }

    #[test]
    fn a_server_started_on_a_taken_port_is_not_mistaken_for_the_one_there() {
        let Some(first) = RedisServer::start() else { return };
        let mut second = RedisServer {
            binary: first.binary.clone(),
            port: first.port(),
            child: None,
            data_dir: None,
        };
        // The first server answers on the port; the second cannot bind it and exits.
        assert!(!second.spawn_and_wait());
        assert!(second.child.is_none());
    }

    #[test]
    fn drop_kills_the_server() {
        let Some(redis) = RedisServer::start() else { return };
        let port = redis.port();
        drop(redis);
        assert!(!ping(port));
    }
}

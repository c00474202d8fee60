//! A real PostgreSQL server for the SQL key registry tests: `initdb` into a fresh temporary
//! directory, `postgres` on a free `127.0.0.1` port with trust authentication, stopped and
//! deleted on drop.
//!
//! The binaries are looked up in `$ASAP_PG_BIN` (a directory) when set, then on `PATH`, then in
//! Debian's `/usr/lib/postgresql/<version>/bin` (newest version first). PostgreSQL refuses to
//! run as root, so when the tests run as root (CI containers) the server runs as the `postgres`
//! user (created by the Debian package) through `runuser`, in a directory it owns.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The unprivileged account used when the tests run as root.
const SERVER_USER: &str = "postgres";

/// A PostgreSQL server on a free `127.0.0.1` port, superuser `postgres` without a password,
/// database `postgres`. Stopped, and its directory deleted, on drop.
#[derive(Debug)]
pub struct PostgresServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    run_as: Option<&'static str>,
    child: Option<Child>,
}

impl PostgresServer {
    /// Runs `initdb` and starts `postgres`, waiting until it accepts connections.
    ///
    /// When PostgreSQL is not installed: prints the reason and returns `None` locally, panics
    /// when the `CI` environment variable is set.
    ///
    /// # Panics
    ///
    /// When `initdb` fails or the server does not come up within 30 seconds.
    pub fn start() -> Option<PostgresServer> {
        let Some(bin) = find_bin_dir() else {
            return crate::missing(
                "PostgreSQL (initdb, postgres) not found on PATH, in $ASAP_PG_BIN or under \
                 /usr/lib/postgresql/*/bin; install it (apt-get install postgresql)",
            );
        };
        let run_as = running_as_root().then_some(SERVER_USER);
        if let Some(user) = run_as
            && !command_works(Command::new("runuser").args(["-u", user, "--", "true"]))
        {
            return crate::missing(&format!(
                "running as root, and cannot run commands as the unprivileged user {user:?} with runuser \
                 (PostgreSQL refuses to run as root; the postgresql package creates that user)"
            ));
        }
        let dir = fresh_dir(run_as.is_some());
        let mut server = PostgresServer {
            bin,
            dir,
            port: 0,
            run_as,
            child: None,
        };
        server.initdb();
        // Another process may take the port between this probe and postgres binding it; then
        // the server exits and we try a new port.
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn_and_wait() {
                return Some(server);
            }
        }
        panic!(
            "postgres did not start on any of 5 free ports (logs in {})",
            server.log().display()
        );
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The URL of another database on this server (see [`create_database`](Self::create_database)).
    pub fn database_url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a database and returns its URL, so that tests sharing a server do not share
    /// tables.
    ///
    /// # Panics
    ///
    /// When `createdb` fails (for example the name is taken).
    pub fn create_database(&self, name: &str) -> String {
        let port = self.port.to_string();
        let status = self
            .command("createdb")
            .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name])
            .stdout(Stdio::null())
            .status()
            .expect("run createdb");
        assert!(status.success(), "createdb {name} failed: {status}");
        self.database_url(name)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (immediate shutdown) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = self
                .command("pg_ctl")
                .args(["stop", "-m", "immediate", "-w", "-D"])
                .arg(self.data())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// A command for one of the PostgreSQL binaries, as the server user when running as root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    fn initdb(&self) {
        let out = self
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D"])
            .arg(self.data())
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Spawns the server; true once it accepts connections, false if it exited first.
    fn spawn_and_wait(&mut self) -> bool {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .expect("open the postgres log");
        let port = self.port.to_string();
        let mut child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data())
            .args(["-p", &port, "-k"])
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ])
            .args(["-c", "max_connections=100"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn postgres");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if self.ready() {
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
                    "postgres on port {} was not ready within {STARTUP_TIMEOUT:?} (log: {})",
                    self.port,
                    self.log().display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asked on the Unix socket in this server's own directory, so the answer is ours and not
    /// that of a server another test started on the same TCP port (ours then exits, unable to
    /// bind it, before it creates the socket).
    fn ready(&self) -> bool {
        let port = self.port.to_string();
        command_works(
            Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h"])
                .arg(&self.dir)
                .args(["-p", &port, "-U", "postgres"]),
        )
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn command_works(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "postgres", "pg_ctl", "pg_isready"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

fn find_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ASAP_PG_BIN") {
        return Some(PathBuf::from(dir)).filter(|d| has_server_binaries(d));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            // A symlink on PATH (e.g. /usr/local/bin/initdb) may point into the versioned
            // directory, where the other binaries are.
            let dir = dir
                .join("initdb")
                .canonicalize()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or(dir);
            if has_server_binaries(&dir) {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_server_binaries(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A new directory for one server; owned by the server user when running as root (under
/// `/tmp`, which that user can reach whatever `TMPDIR` says).
fn fresh_dir(for_server_user: bool) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let base = if for_server_user {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = base.join(format!(
        "asap-pg-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create the postgres directory");
    if for_server_user {
        let status = Command::new("chown")
            .args(["-R", &format!("{SERVER_USER}:")])
            .arg(&dir)
            .status()
            .expect("run chown");
        assert!(status.success(), "chown {} failed", dir.display());
    }
    dir
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free port on 127.0.0.1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_answers_and_stops_on_drop() {
        let Some(pg) = PostgresServer::start() else { return };
        let port = pg.port();
        assert_eq!(pg.url(), format!("postgres://postgres@127.0.0.1:{port}/postgres"));
        assert!(pg.ready());
        let url = pg.create_database("testkit_db");
        assert!(url.ends_with("/testkit_db"));
        let dir = pg.dir.clone();
        drop(pg);
        assert!(std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
        assert!(!dir.exists());
    }

    #[test]
    fn a_server_started_on_a_taken_port_is_not_mistaken_for_the_one_there() {
        let Some(first) = PostgresServer::start() else {
            return;
        };
        let mut second = PostgresServer {
            bin: first.bin.clone(),
            dir: fresh_dir(first.run_as.is_some()),
            port: first.port(),
            run_as: first.run_as,
            child: None,
        };
        second.initdb();
        // The first server answers on the TCP port; the second cannot bind it and exits.
        assert!(!second.spawn_and_wait());
        assert!(second.child.is_none());
    }
}

//! Running the built `asap` binary, a `serve-keys` child process, and raw HTTP.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The result of one run of `asap`.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns stdout without its final newline.
    #[track_caller]
    pub(crate) fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "asap failed: {self:#?}");
        self.stdout.trim_end_matches('\n')
    }

    /// Asserts exit 1 with exactly one line `asap: ...` on stderr and nothing on stdout; returns
    /// that line.
    #[track_caller]
    pub(crate) fn failure(&self) -> &str {
        assert_eq!(self.code, Some(1), "asap should fail with 1: {self:#?}");
        assert_eq!(self.stdout, "", "nothing on stdout on failure: {self:#?}");
        let line = self.stderr.strip_suffix('\n').unwrap_or(&self.stderr);
        assert!(!line.contains('\n'), "one line on stderr: {self:#?}");
        assert!(
            line.starts_with("asap: "),
            "stderr starts with `asap: `: {self:#?}"
        );
        line
    }

    /// Asserts exit 2 (a usage error) and returns stderr.
    #[track_caller]
    pub(crate) fn usage_error(&self) -> &str {
        assert_eq!(self.code, Some(2), "asap should fail with 2: {self:#?}");
        assert_eq!(self.stdout, "", "nothing on stdout on a usage error: {self:#?}");
        &self.stderr
    }
}

/// `asap` with a clean environment: no `ASAP_*` variable leaks in from the developer's shell.
pub(crate) fn asap() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_asap"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ASAP_") {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null());
    command
}

/// Runs `asap args...` with an empty stdin.
pub(crate) fn run(args: &[&str]) -> Run {
    run_command(asap().args(args), "")
}

/// Runs a prepared command with `stdin`.
pub(crate) fn run_command(command: &mut Command, stdin: &str) -> Run {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the asap binary");
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let output = child.wait_with_output().expect("wait for asap");
    writer.join().expect("stdin writer");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A temporary directory holding a private and a public key repository.
pub(crate) struct Repos {
    pub(crate) dir: tempfile::TempDir,
}

impl Repos {
    pub(crate) fn new() -> Repos {
        Repos {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub(crate) fn private(&self) -> PathBuf {
        self.dir.path().join("private")
    }

    pub(crate) fn public(&self) -> PathBuf {
        self.dir.path().join("public")
    }

    /// `asap keygen` into these repositories; returns the kid.
    pub(crate) fn keygen(&self, issuer: &str, extra: &[&str]) -> String {
        let private = self.private();
        let public = self.public();
        let mut args = vec![
            "keygen",
            "--issuer",
            issuer,
            "--private-dir",
            path_str(&private),
            "--public-dir",
            path_str(&public),
        ];
        args.extend_from_slice(extra);
        run(&args).ok().to_owned()
    }

    /// `asap token` from the private repository.
    pub(crate) fn token(&self, issuer: &str, audience: &str, extra: &[&str]) -> String {
        let private = self.private();
        let mut args = vec![
            "token",
            "--issuer",
            issuer,
            "--private-key-repo",
            path_str(&private),
            "--audience",
            audience,
        ];
        args.extend_from_slice(extra);
        run(&args).ok().to_owned()
    }
}

pub(crate) fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// The JSON payload of a compact JWS, without checking anything.
pub(crate) fn payload(token: &str) -> serde_json::Value {
    let part = token.split('.').nth(1).expect("three parts");
    serde_json::from_slice(&base64url_decode(part)).expect("JSON payload")
}

/// The JSON header of a compact JWS.
pub(crate) fn header(token: &str) -> serde_json::Value {
    let part = token.split('.').next().expect("three parts");
    serde_json::from_slice(&base64url_decode(part)).expect("JSON header")
}

fn base64url_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => panic!("not base64url: {c}"),
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        acc = (acc << 6) | u32::from(value(c));
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).expect("byte"));
        }
    }
    out
}

/// Starts `command` (a long-running `asap` subcommand that announces where it listens on its
/// first stderr line) with its stderr collected; returns the child, that first line and the
/// collected log.
pub(crate) fn spawn_announcing(
    command: &mut Command,
    what: &str,
) -> (Child, String, Arc<Mutex<Vec<String>>>) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start asap {what}: {e}"));
    let stderr = child.stderr.take().expect("piped stderr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (first_line, first) = mpsc::channel();
    let collected = log.clone();
    std::thread::spawn(move || {
        let mut first_line = Some(first_line);
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // Stored before it is announced, so that the log always holds the first line.
            collected.lock().expect("log lock").push(line.clone());
            if let Some(sender) = first_line.take() {
                let _ = sender.send(line);
            }
        }
    });
    let line = first
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("asap {what} printed nothing: {:?}", child.try_wait()));
    (child, line, log)
}

/// `asap serve-keys` as a child process on a free loopback port, killed on drop. Its stderr (the
/// request log) is collected in the background so the pipe never fills.
pub(crate) struct KeyServerProcess {
    child: Child,
    pub(crate) url: String,
    pub(crate) addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl KeyServerProcess {
    /// Starts `asap serve-keys --dir DIR --listen 127.0.0.1:0 extra...` and waits until it
    /// accepts connections.
    pub(crate) fn start(dir: &Path, extra: &[&str]) -> KeyServerProcess {
        let mut args = vec!["--dir", path_str(dir)];
        args.extend_from_slice(extra);
        KeyServerProcess::start_with(&args)
    }

    /// Starts `asap serve-keys --listen 127.0.0.1:0 args...` (a `--dir` or a `--db`).
    pub(crate) fn start_with(args: &[&str]) -> KeyServerProcess {
        let mut command = asap();
        command.args(["serve-keys", "--listen", "127.0.0.1:0"]).args(args);
        KeyServerProcess::spawn(&mut command)
    }

    /// Like [`start_with`](Self::start_with), with at most `limit` open file descriptors for the
    /// server process (`ulimit -n`).
    #[cfg(unix)]
    pub(crate) fn start_with_fd_limit(limit: u32, args: &[&str]) -> KeyServerProcess {
        let mut command = asap();
        let mut shell = Command::new("sh");
        shell
            .args(["-c", "ulimit -n \"$0\" && exec \"$@\""])
            .arg(limit.to_string())
            .arg(command.get_program())
            .args(["serve-keys", "--listen", "127.0.0.1:0"])
            .args(args);
        for (name, value) in command.get_envs() {
            match value {
                Some(value) => shell.env(name, value),
                None => shell.env_remove(name),
            };
        }
        command = shell;
        KeyServerProcess::spawn(&mut command)
    }

    fn spawn(command: &mut Command) -> KeyServerProcess {
        let (child, line, log) = spawn_announcing(command, "serve-keys");
        let url = line
            .rsplit(" at ")
            .next()
            .filter(|u| u.starts_with("http"))
            .unwrap_or_else(|| panic!("unexpected first line from serve-keys: {line:?}"))
            .to_owned();
        let authority = url.split("://").nth(1).expect("scheme").trim_end_matches('/');
        let addr: SocketAddr = authority.parse().expect("socket address in the URL");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "serve-keys does not accept on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        KeyServerProcess {
            child,
            url,
            addr,
            log,
        }
    }

    /// The stderr lines so far.
    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits until the log has at least `n` lines (request log lines are written after the
    /// response).
    pub(crate) fn wait_for_log_lines(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.len() >= n || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT (as Ctrl-C does) and waits for the exit status.
    #[cfg(unix)]
    pub(crate) fn interrupt(mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -INT failed");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "serve-keys did not stop on SIGINT");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for KeyServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `GET <target>` exactly as written (no client normalizes the path) and returns the
/// status code and the whole response.
pub(crate) fn raw_get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"));
    (status, response)
}

/// A one-request HTTP server on a free loopback port: answers with `status` and `body`, and
/// hands over the raw request it received.
pub(crate) fn one_shot_server(status: u16, body: &'static str) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers, then as much body as Content-Length says.
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if request.len() >= end + 4 + length {
                    break;
                }
            }
        }
        let reason = if status < 400 { "OK" } else { "Error" };
        let _ = write!(
            stream,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             WWW-Authenticate: Bearer\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = sender.send(String::from_utf8_lossy(&request).into_owned());
    });
    (url, receiver)
}

/// Reads from `stream` until the server closes it (end of stream or a reset); panics when it is
/// still open after `within`. Returns how long that took.
#[track_caller]
pub(crate) fn closed_within(stream: &mut impl std::io::Read, within: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            // What the server sends before closing (HTTP/2 settings, a TLS alert).
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return started.elapsed(),
        }
        assert!(
            started.elapsed() < within,
            "the server still holds the connection after {within:?}"
        );
    }
}

/// A TCP connection with a short read timeout, so that [`closed_within`] polls.
pub(crate) fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    stream
}

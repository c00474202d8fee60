//! A public key repository server: `GET /<kid>` answers the file `<dir>/<kid>`, the layout that
//! `asap keygen --public-dir` writes and that every ASAP key repository client fetches from
//! (`<base-url><kid>`) — or, with [`KeyServerConfig::from_source`], the key any
//! [`PublicKeySource`] (such as an `asap_registry::KeyRegistry`) gives for the kid.
//!
//! What it guarantees:
//!
//! - **No path traversal.** The request path is percent-decoded once and must then be a valid kid
//!   ([`KeyId::parse`]: ASCII segments, no empty, `.` or `..` segment) *before* the file system
//!   is touched; anything else is 404. The file found is then resolved (symbolic links
//!   included) and must still lie inside the directory.
//! - **Only public keys leave.** A file that is not a PEM public key (a private key copied into
//!   the wrong directory, say) is never sent: the answer is 500 and the log says why.
//! - **The right headers.** `Content-Type: application/x-pem-file` and
//!   `Cache-Control: max-age=<secs>` (configurable) on keys; 404 for unknown kids; 405 for
//!   methods other than `GET` and `HEAD`.
//! - **One log line per request** on stderr (when enabled): peer, method, path, status, bytes,
//!   and the reason for a refusal.
//! - **TLS** with rustls on the aws-lc-rs provider when configured; HTTP/1.1 and HTTP/2.
//! - **Graceful shutdown**: [`KeyServer::serve`] stops accepting when its shutdown future
//!   completes and lets requests in flight finish (for at most 10 seconds).
//!
//! ```no_run
//! use asap_cli::serve_keys::{KeyServer, KeyServerConfig, load_tls_config};
//!
//! # async fn run() -> Result<(), asap_cli::serve_keys::ServeError> {
//! let tls = load_tls_config("cert.pem".as_ref(), "key.pem".as_ref())?;
//! let server = KeyServer::bind(
//!     "127.0.0.1:8443".parse().expect("address"),
//!     KeyServerConfig::new("/etc/asap/public-keys").tls(tls),
//! )
//! .await?;
//! let url = server.url(); // https://127.0.0.1:8443/
//! tokio::spawn(server.serve(std::future::pending()));
//! # Ok(()) }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use asap_core::{KeyId, KeySourceError, PublicKey, PublicKeySource};
use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use percent_encoding::percent_decode_str;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The `Cache-Control: max-age` sent with keys unless configured otherwise: 5 minutes.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

/// The Content-Type of a served key.
pub const PEM_CONTENT_TYPE: &str = asap_keys::PEM_CONTENT_TYPE;

/// Key files larger than this are not keys and are never sent (the clients' body limit).
pub const MAX_KEY_FILE_BYTES: usize = asap_keys::MAX_KEY_BODY_BYTES;

/// How long requests in flight may take to finish after shutdown was asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a client may take to send its request headers or finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The key directory does not exist or cannot be read.
    #[error("key directory {path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The listen address cannot be bound (in use, or not an address of this machine).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key cannot be read or used.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// Accepting connections failed for good.
    #[error("accepting connections failed: {0}")]
    Accept(#[source] std::io::Error),
}

/// Where served keys come from.
#[derive(Clone)]
enum Keys {
    Dir(PathBuf),
    Source(Arc<dyn PublicKeySource>),
}

/// What a [`KeyServer`] serves and how.
#[derive(Clone)]
#[must_use]
pub struct KeyServerConfig {
    keys: Keys,
    max_age: Duration,
    tls: Option<Arc<rustls::ServerConfig>>,
    log_requests: bool,
}

impl fmt::Debug for KeyServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyServerConfig")
            .field("dir", &self.dir())
            .field("max_age", &self.max_age)
            .field("tls", &self.tls.is_some())
            .field("log_requests", &self.log_requests)
            .finish()
    }
}

impl KeyServerConfig {
    /// Serves the keys under `dir` over plain HTTP, with `max-age` [`DEFAULT_MAX_AGE`] and no
    /// request log.
    pub fn new(dir: impl Into<PathBuf>) -> KeyServerConfig {
        KeyServerConfig {
            keys: Keys::Dir(dir.into()),
            max_age: DEFAULT_MAX_AGE,
            tls: None,
            log_requests: false,
        }
    }

    /// Serves the keys `source` gives by kid (a key registry, say) instead of a directory:
    /// not found → 404, unavailable → 503. Otherwise like [`new`](Self::new).
    pub fn from_source(source: Arc<dyn PublicKeySource>) -> KeyServerConfig {
        KeyServerConfig {
            keys: Keys::Source(source),
            ..KeyServerConfig::new(PathBuf::new())
        }
    }

    fn dir(&self) -> Option<&Path> {
        match &self.keys {
            Keys::Dir(dir) => Some(dir),
            Keys::Source(_) => None,
        }
    }

    /// The `Cache-Control: max-age` of served keys (whole seconds).
    pub fn max_age(mut self, max_age: Duration) -> KeyServerConfig {
        self.max_age = max_age;
        self
    }

    /// Serves HTTPS with this rustls configuration (see [`load_tls_config`]).
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> KeyServerConfig {
        self.tls = Some(config);
        self
    }

    /// Writes one line per request to stderr.
    pub fn log_requests(mut self, log: bool) -> KeyServerConfig {
        self.log_requests = log;
        self
    }
}

/// A rustls server configuration on the aws-lc-rs provider from a PEM certificate chain (leaf
/// first) and a PEM private key, offering HTTP/2 and HTTP/1.1 by ALPN.
pub fn tls_config_from_pem(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServeError::Tls(format!("certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(ServeError::Tls("no CERTIFICATE in the certificate file".into()));
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| ServeError::Tls(format!("private key: {e}")))?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ServeError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| ServeError::Tls(format!("certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// [`tls_config_from_pem`] from two files.
pub fn load_tls_config(cert_chain: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let read =
        |path: &Path| std::fs::read(path).map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())));
    tls_config_from_pem(&read(cert_chain)?, &read(key)?)
}

/// A bound key repository server; [`serve`](KeyServer::serve) runs it.
pub struct KeyServer {
    listener: TcpListener,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
}

impl fmt::Debug for KeyServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyServer")
            .field("addr", &self.addr)
            .field("root", &self.state.root)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

struct State {
    /// The key directory, resolved once: every file served must resolve to a path under it.
    root: PathBuf,
    /// Instead of the directory, this source.
    source: Option<Arc<dyn PublicKeySource>>,
    cache_control: String,
    log_requests: bool,
}

impl KeyServer {
    /// Checks the directory and binds `addr` (port 0 picks a free port; see
    /// [`local_addr`](KeyServer::local_addr)).
    pub async fn bind(addr: SocketAddr, config: KeyServerConfig) -> Result<KeyServer, ServeError> {
        let (root, source) = match &config.keys {
            Keys::Dir(dir) => {
                let dir_error = |source| ServeError::Dir {
                    path: dir.clone(),
                    source,
                };
                let root = tokio::fs::canonicalize(dir).await.map_err(dir_error)?;
                if !tokio::fs::metadata(&root).await.map_err(dir_error)?.is_dir() {
                    return Err(dir_error(std::io::Error::new(
                        ErrorKind::NotADirectory,
                        "not a directory",
                    )));
                }
                (root, None)
            }
            Keys::Source(source) => (PathBuf::new(), Some(source.clone())),
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(KeyServer {
            listener,
            addr,
            tls: config.tls.map(TlsAcceptor::from),
            state: Arc::new(State {
                root,
                source,
                cache_control: format!("max-age={}", config.max_age.as_secs()),
                log_requests: config.log_requests,
            }),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The repository base URL clients use, with its trailing `/`: `http://ADDR/` or
    /// `https://ADDR/`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/", self.addr)
    }

    /// Serves until `shutdown` completes, then stops accepting and waits (at most 10 s) for the
    /// requests in flight.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    // Per-connection trouble (the peer reset before accept, too many open
                    // files for a moment): keep serving the others.
                    Err(e) if is_transient(&e) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    Err(e) => return Err(ServeError::Accept(e)),
                },
            };
            let state = self.state.clone();
            let watcher = graceful.watcher();
            match &self.tls {
                None => {
                    tokio::spawn(serve_connection(stream, peer, state, watcher));
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => serve_connection(tls, peer, state, watcher).await,
                            Ok(Err(e)) => state.log(format_args!("{peer} TLS handshake failed: {e}")),
                            Err(_) => state.log(format_args!("{peer} TLS handshake timed out")),
                        }
                    });
                }
            }
        }
        drop(self.listener);
        // Connections still in their TLS handshake are not watched yet; they end with the runtime.
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
        Ok(())
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::Interrupted
            | ErrorKind::WouldBlock
    ) || e.raw_os_error().is_some_and(|code| code == 24 || code == 23) // EMFILE, ENFILE
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    state: Arc<State>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(state.handle(&request, peer).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HANDSHAKE_TIMEOUT);
    // Errors here are clients that hung up or spoke something other than HTTP.
    let _ = watcher
        .watch(builder.serve_connection(TokioIo::new(stream), service))
        .await;
}

/// The answer to one request, before it becomes an HTTP response.
#[derive(Debug)]
enum Answer {
    Key(Bytes),
    NotFound(&'static str),
    /// The key source cannot answer now (503).
    Unavailable(String),
    MethodNotAllowed,
    /// The file exists but must not or cannot be served; the reason goes to the log only.
    Refused(String),
}

impl State {
    async fn handle(&self, request: &Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let method = request.method();
        let path = request.uri().path();
        let answer = if method == Method::GET || method == Method::HEAD {
            self.lookup(path).await
        } else {
            Answer::MethodNotAllowed
        };
        let response = self.response(&answer, method == Method::HEAD);
        let bytes = match &answer {
            Answer::Key(body) if method != Method::HEAD => body.len(),
            _ => 0,
        };
        let note = match &answer {
            Answer::Key(_) | Answer::MethodNotAllowed => String::new(),
            Answer::NotFound(reason) => format!(" ({reason})"),
            Answer::Refused(reason) | Answer::Unavailable(reason) => format!(" ({reason})"),
        };
        // The path is the client's: escaped, so it cannot forge log lines.
        self.log(format_args!(
            "{peer} {method} \"{}\" {} {bytes}B {:.1}ms{note}",
            path.escape_debug(),
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0,
        ));
        response
    }

    fn log(&self, line: fmt::Arguments<'_>) {
        if self.log_requests {
            eprintln!("asap serve-keys: {line}");
        }
    }

    /// Finds the key for a request path. The kid rule runs before any file system access.
    async fn lookup(&self, path: &str) -> Answer {
        let Ok(decoded) = percent_decode_str(path.strip_prefix('/').unwrap_or(path)).decode_utf8() else {
            return Answer::NotFound("invalid kid: not UTF-8");
        };
        let Ok(kid) = KeyId::parse(&decoded) else {
            return Answer::NotFound("invalid kid");
        };
        if let Some(source) = &self.source {
            return match source.public_key(&kid).await {
                Ok(key) => Answer::Key(Bytes::from(key.to_pem())),
                Err(KeySourceError::NotFound(_)) => Answer::NotFound("no such key"),
                Err(KeySourceError::Unavailable(e)) => {
                    Answer::Unavailable(format!("key source unavailable: {e}"))
                }
                Err(e) => Answer::Refused(e.to_string()),
            };
        }
        // The kid has no `..` segment and is relative, so this stays under the root by
        // construction; resolving it still catches symbolic links that point elsewhere.
        let resolved = match tokio::fs::canonicalize(self.root.join(kid.as_str())).await {
            Ok(resolved) => resolved,
            Err(e) if is_not_found(&e) => return Answer::NotFound("no such key"),
            Err(e) => return Answer::Refused(format!("cannot read the key file: {e}")),
        };
        if !resolved.starts_with(&self.root) {
            return Answer::NotFound("resolves outside the key directory");
        }
        match read_public_key_file(&resolved).await {
            Ok(Some(body)) => Answer::Key(body),
            Ok(None) => Answer::NotFound("no such key"),
            Err(reason) => Answer::Refused(reason),
        }
    }

    fn response(&self, answer: &Answer, head: bool) -> Response<Full<Bytes>> {
        let builder = Response::builder();
        let (builder, body) = match answer {
            Answer::Key(pem) => (
                builder
                    .status(StatusCode::OK)
                    .header(CONTENT_TYPE, PEM_CONTENT_TYPE)
                    .header(CACHE_CONTROL, &self.cache_control),
                pem.clone(),
            ),
            Answer::NotFound(_) => (
                builder
                    .status(StatusCode::NOT_FOUND)
                    .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                    .header(CACHE_CONTROL, "no-cache"),
                Bytes::from_static(b"no such key\n"),
            ),
            Answer::Unavailable(_) => (
                builder
                    .status(StatusCode::SERVICE_UNAVAILABLE)
                    .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                    .header(CACHE_CONTROL, "no-store")
                    .header(http::header::RETRY_AFTER, "5"),
                Bytes::from_static(b"the key source is unavailable; try again\n"),
            ),
            Answer::MethodNotAllowed => (
                builder
                    .status(StatusCode::METHOD_NOT_ALLOWED)
                    .header(ALLOW, "GET, HEAD")
                    .header(CONTENT_TYPE, "text/plain; charset=utf-8"),
                Bytes::from_static(b"only GET and HEAD\n"),
            ),
            Answer::Refused(_) => (
                builder
                    .status(StatusCode::INTERNAL_SERVER_ERROR)
                    .header(CONTENT_TYPE, "text/plain; charset=utf-8")
                    .header(CACHE_CONTROL, "no-store"),
                Bytes::from_static(b"this key cannot be served; see the server log\n"),
            ),
        };
        let builder = builder.header(CONTENT_LENGTH, body.len());
        let body = if head { Bytes::new() } else { body };
        builder.body(Full::new(body)).unwrap_or_else(|_| {
            // Every header above is a valid constant or a formatted number.
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        })
    }
}

fn is_not_found(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
}

/// Reads a key file: `Ok(None)` when it is not a regular file, `Err` when it must not be served
/// (too large, not a PEM public key).
async fn read_public_key_file(path: &Path) -> Result<Option<Bytes>, String> {
    let file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(format!("cannot open the key file: {e}")),
    };
    match file.metadata().await {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Ok(None),
        Err(e) => return Err(format!("cannot stat the key file: {e}")),
    }
    let mut body = Vec::new();
    file.take(MAX_KEY_FILE_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .await
        .map_err(|e| format!("cannot read the key file: {e}"))?;
    if body.len() > MAX_KEY_FILE_BYTES {
        return Err(format!("the file is larger than {MAX_KEY_FILE_BYTES} bytes"));
    }
    let text = std::str::from_utf8(&body).map_err(|_| "the file is not a PEM public key".to_owned())?;
    // A private key in the public directory must never be published.
    PublicKey::from_pem(text).map_err(|e| format!("the file is not a PEM public key: {e}"))?;
    Ok(Some(Bytes::from(body)))
}

#[cfg(test)]
mod tests {
    use asap_core::{KeyKind, KeySpec, PrivateKey};

    use super::*;

    fn state(root: &Path) -> State {
        State {
            root: root.canonicalize().expect("root"),
            source: None,
            cache_control: "max-age=1".into(),
            log_requests: false,
        }
    }

    #[tokio::test]
    async fn lookup_refuses_traversal_before_touching_the_file_system() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = state(dir.path());
        for path in [
            "/../secret.pem",
            "/%2e%2e/secret.pem",
            "/%2E%2E%2Fsecret.pem",
            "/a/../../secret.pem",
            "//etc/passwd",
            "/",
            "/%252e%252e/secret.pem",
            "/%ff",
        ] {
            assert!(
                matches!(state.lookup(path).await, Answer::NotFound(_)),
                "{path} must be 404"
            );
        }
    }

    #[tokio::test]
    async fn lookup_serves_public_keys_and_refuses_private_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("iss")).expect("mkdir");
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
        let public = key.public_key().expect("public").to_pem();
        std::fs::write(dir.path().join("iss/pub.pem"), &public).expect("write");
        std::fs::write(dir.path().join("iss/priv.pem"), key.to_pkcs8_pem().expect("pem")).expect("write");
        let state = state(dir.path());
        assert!(matches!(state.lookup("/iss/pub.pem").await, Answer::Key(body) if body == public.as_bytes()));
        assert!(matches!(state.lookup("/iss%2Fpub.pem").await, Answer::Key(_)));
        assert!(matches!(state.lookup("/iss/priv.pem").await, Answer::Refused(_)));
        assert!(matches!(state.lookup("/iss/none.pem").await, Answer::NotFound(_)));
        assert!(matches!(state.lookup("/iss").await, Answer::NotFound(_)));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn lookup_does_not_follow_links_out_of_the_directory() {
        let outside = tempfile::tempdir().expect("tempdir");
        let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
        std::fs::write(
            outside.path().join("k.pem"),
            key.public_key().expect("public").to_pem(),
        )
        .expect("write");
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path().join("k.pem"), dir.path().join("k.pem")).expect("symlink");
        assert!(matches!(
            state(dir.path()).lookup("/k.pem").await,
            Answer::NotFound(_)
        ));
    }
}

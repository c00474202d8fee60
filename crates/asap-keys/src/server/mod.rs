//! A public key repository server (feature `server`): `GET /<kid>` answers the public key of
//! kid, from a directory in repository layout (what `asap keygen --public-dir` writes, read by
//! [`KeyDirectory`](crate::KeyDirectory)) or from any [`PublicKeySource`] (such as an
//! `asap_registry::KeyRegistry`). `asap serve-keys`, the examples and the tests run this.
//!
//! - [`KeyService`] is the tower `Service`: usable in any tower-based server (axum, …).
//! - [`KeyServer`] runs it on a TCP listener with hyper: HTTP/1.1 and HTTP/2, TLS with rustls
//!   (aws-lc-rs provider) when configured, [`ConnectionLimits`] on every connection (time to the
//!   first byte, to a complete request, idle time, TLS handshake time, a cap on concurrent
//!   connections), and graceful shutdown.
//!
//! What it guarantees:
//!
//! - **No path traversal.** The request path is percent-decoded once and must then be a valid
//!   kid ([`KeyId::parse`](asap_core::KeyId::parse)) before any key is looked up; the file found
//!   must resolve inside the directory and be a regular file.
//! - **Only public keys leave, re-serialised.** What is sent is the parsed public key in
//!   canonical PEM, never the file: text around the PEM block is not sent, and a file holding
//!   private key material is never served (404, logged as a warning without its content).
//! - **One answer for "not a key here".** A missing file, a directory, a FIFO, a link out of the
//!   directory, a file that is not a public key: the same 404 with the same body
//!   ([`NOT_A_KEY_BODY`]), so the server is no oracle for what exists on its disk.
//! - **JWKS too, when asked.** With [`KeyServerConfig::publish_jwks`], `GET /.well-known/jwks.json`
//!   ([`JWKS_PATH`]) answers every key of the directory as one JWK set, each read by the same
//!   rules.
//! - **The right headers.** `Content-Type: application/x-pem-file` and
//!   `Cache-Control: max-age=<secs>` on keys; `405` with `Allow` for methods other than `GET`
//!   and `HEAD`; `503` with `Retry-After` when the keys cannot be read now.
//! - **One `tracing` event per request** (target `asap_keys::server`): peer, method, path,
//!   status, body size, duration, and the reason of a refusal; never key material. Connection
//!   events (timeouts, TLS failures) are `DEBUG`.
//!
//! ```no_run
//! use std::time::Duration;
//! use asap_keys::server::{ConnectionLimits, KeyServer, KeyServerConfig, load_tls_config};
//!
//! # async fn run() -> Result<(), asap_keys::server::ServeError> {
//! let tls = load_tls_config("cert.pem".as_ref(), "key.pem".as_ref())?;
//! let config = KeyServerConfig::new("/etc/asap/public-keys")
//!     .max_age(Duration::from_secs(60))
//!     .tls(tls)
//!     .limits(ConnectionLimits::default().max_connections(256));
//! let server = KeyServer::bind("127.0.0.1:8443".parse().expect("address"), config).await?;
//! let url = server.url(); // https://127.0.0.1:8443/
//! server.serve(std::future::pending()).await?; // or a shutdown signal
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use asap_core::PublicKeySource;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use zeroize::Zeroizing;

use crate::capped_file::{self, Buffer};

mod connection;
mod jwks;
mod limits;
mod service;

pub use jwks::JWKS_PATH;
pub use limits::ConnectionLimits;
pub use service::{DEFAULT_MAX_AGE, KeyResponse, KeyService, NOT_A_KEY_BODY, ResponseFuture};

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

/// What a [`KeyServer`] serves and how.
#[derive(Clone)]
#[must_use]
pub struct KeyServerConfig {
    service: KeyService,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnectionLimits,
}

impl fmt::Debug for KeyServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyServerConfig")
            .field("service", &self.service)
            .field("tls", &self.tls.is_some())
            .field("limits", &self.limits)
            .finish()
    }
}

impl KeyServerConfig {
    /// Serves the keys under `dir` over plain HTTP, with `max-age` [`DEFAULT_MAX_AGE`] and the
    /// default [`ConnectionLimits`].
    pub fn new(dir: impl Into<PathBuf>) -> KeyServerConfig {
        KeyServerConfig::from_service(KeyService::directory(dir))
    }

    /// Serves the keys `source` gives by kid instead of a directory (see
    /// [`KeyService::from_source`]).
    pub fn from_source(source: Arc<dyn PublicKeySource>) -> KeyServerConfig {
        KeyServerConfig::from_service(KeyService::from_source(source))
    }

    /// Serves a configured [`KeyService`].
    pub fn from_service(service: KeyService) -> KeyServerConfig {
        KeyServerConfig {
            service,
            tls: None,
            limits: ConnectionLimits::default(),
        }
    }

    /// The `Cache-Control: max-age` of served keys (whole seconds).
    pub fn max_age(mut self, max_age: Duration) -> KeyServerConfig {
        self.service = self.service.max_age(max_age);
        self
    }

    /// Also publishes the directory as a JWK set at [`JWKS_PATH`] (see
    /// [`KeyService::publish_jwks`]).
    pub fn publish_jwks(mut self, publish: bool) -> KeyServerConfig {
        self.service = self.service.publish_jwks(publish);
        self
    }

    /// Serves HTTPS with this rustls configuration (see [`load_tls_config`]).
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> KeyServerConfig {
        self.tls = Some(config);
        self
    }

    /// Bounds on every connection (the defaults are listed at [`ConnectionLimits`]).
    pub fn limits(mut self, limits: ConnectionLimits) -> KeyServerConfig {
        self.limits = limits;
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

/// The longest certificate chain file [`load_tls_config`] reads: a chain is a few KB.
pub const MAX_CERT_CHAIN_FILE_BYTES: usize = 1024 * 1024;

/// [`tls_config_from_pem`] from two files: the chain read up to [`MAX_CERT_CHAIN_FILE_BYTES`],
/// the key up to [`MAX_KEY_TEXT_BYTES`](crate::MAX_KEY_TEXT_BYTES) into one buffer of that
/// size, wiped on drop. A longer file (a path given by mistake: `/dev/zero`, a log) is refused
/// after reading at most its cap and one byte.
pub fn load_tls_config(cert_chain: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ServeError> {
    let chain = read_capped(cert_chain, MAX_CERT_CHAIN_FILE_BYTES, Buffer::SizedByTheFile)?;
    let key = read_capped(key, crate::MAX_KEY_TEXT_BYTES, Buffer::WholeCap)?;
    tls_config_from_pem(&chain, &key)
}

/// [`capped_file::read_capped`], its failures as [`ServeError::Tls`].
fn read_capped(path: &Path, max: usize, buffer: Buffer) -> Result<Zeroizing<Vec<u8>>, ServeError> {
    capped_file::read_capped(path, max, buffer)
        .map_err(|e| ServeError::Tls(format!("{}: {e}", path.display())))?
        .ok_or_else(|| {
            ServeError::Tls(format!(
                "{}: larger than {max} bytes, not a PEM file",
                path.display()
            ))
        })
}

/// A bound key repository server; [`serve`](KeyServer::serve) runs it.
pub struct KeyServer {
    listener: TcpListener,
    addr: SocketAddr,
    service: KeyService,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
}

impl fmt::Debug for KeyServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyServer")
            .field("addr", &self.addr)
            .field("service", &self.service)
            .field("tls", &self.tls.is_some())
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl KeyServer {
    /// Checks the key directory (when serving one) and binds `addr` (port 0 picks a free port;
    /// see [`local_addr`](KeyServer::local_addr)).
    pub async fn bind(addr: SocketAddr, config: KeyServerConfig) -> Result<KeyServer, ServeError> {
        check_directory(&config).await?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        KeyServer::new(listener, config)
    }

    /// Serves on a listener already bound; checks the key directory like [`bind`](Self::bind).
    pub async fn from_listener(
        listener: TcpListener,
        config: KeyServerConfig,
    ) -> Result<KeyServer, ServeError> {
        check_directory(&config).await?;
        KeyServer::new(listener, config)
    }

    fn new(listener: TcpListener, config: KeyServerConfig) -> Result<KeyServer, ServeError> {
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            source,
        })?;
        Ok(KeyServer {
            listener,
            addr,
            service: config.service,
            tls: config.tls.map(TlsAcceptor::from),
            limits: config.limits,
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

    /// Serves until `shutdown` completes, then stops accepting, asks every connection to finish
    /// and waits for them at most [`ConnectionLimits::shutdown_grace`].
    ///
    /// At most [`ConnectionLimits::max_connections`] connections are served at once. At the cap,
    /// a new connection makes the oldest one without a request in flight close; when every
    /// connection has a request in flight, further clients wait in the listen backlog until one
    /// ends, which every bound of [`ConnectionLimits`] makes happen in bounded time. Running out
    /// of file descriptors below the cap lowers the cap to what is open then, less a few
    /// descriptors kept free for key files (logged as a warning).
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        let connections = Arc::new(connection::Connections::new(self.limits.max_connections));
        let (stop, stopped) = watch::channel(false);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    // Out of file descriptors (a cap above the process's limit): the oldest
                    // idle connection makes room, as at the cap.
                    Err(e) if is_out_of_descriptors(&e) => {
                        tracing::debug!(error = %e, "accept failed; closing an idle connection");
                        connections.out_of_descriptors();
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                    // Per-connection trouble (the peer reset before accept): keep serving the
                    // others.
                    Err(e) if is_transient(&e) => {
                        tracing::debug!(error = %e, "accept failed; retrying");
                        continue;
                    }
                    Err(e) => return Err(ServeError::Accept(e)),
                },
            };
            // At the cap, the oldest idle connection makes room; when all are busy, this one
            // waits (and the clients after it in the listen backlog).
            tokio::select! {
                () = &mut shutdown => break,
                () = connections.wait_for_room() => {}
            }
            tokio::spawn(connection::serve(
                stream,
                peer,
                self.service.clone(),
                self.tls.clone(),
                self.limits,
                stopped.clone(),
                connections.register(),
            ));
        }
        drop(self.listener);
        let _ = stop.send(true);
        let grace = self.limits.shutdown_grace + Duration::from_secs(1);
        let _ = tokio::time::timeout(grace, connections.all_closed()).await;
        Ok(())
    }
}

async fn check_directory(config: &KeyServerConfig) -> Result<(), ServeError> {
    if let Some(dir) = config.service.key_directory() {
        dir.check().await.map_err(|source| ServeError::Dir {
            path: dir.root().to_owned(),
            source,
        })?;
    }
    Ok(())
}

fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionAborted
            | ErrorKind::ConnectionReset
            | ErrorKind::Interrupted
            | ErrorKind::WouldBlock
    )
}

fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    e.raw_os_error().is_some_and(|code| code == 24 || code == 23) // EMFILE, ENFILE
}

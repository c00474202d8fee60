//! One connection: TLS (when configured), HTTP/1 or HTTP/2, and the watchdog that enforces
//! [`ConnectionLimits`].
//!
//! hyper bounds only the HTTP/1 header read; nothing bounds a client that never completes an
//! HTTP/2 preface, or one that keeps an HTTP/2 connection open without requests. So the
//! connection keeps its own [`Activity`] (first byte seen, requests in flight, end of the last
//! one) and is closed as soon as no request is in flight and the applicable deadline passed.
//!
//! At the connection cap, a new connection evicts the oldest one that has no request in flight
//! ([`Connections::wait_for_room`]), so that a crowd of silent clients delays a legitimate
//! one by nothing rather than by their timeouts; only when every connection is busy does the
//! new one wait for a slot.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;

use super::limits::ConnectionLimits;
use super::service::{KeyService, Peer};

/// File descriptors left free when the process ran out of them: key files need some too.
const DESCRIPTOR_HEADROOM: usize = 8;

/// The connections open, oldest first, and how many may be.
pub(crate) struct Connections {
    next: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Activity>>>,
    cap: AtomicUsize,
    closed: Notify,
}

impl Connections {
    pub(crate) fn new(cap: usize) -> Connections {
        Connections {
            next: AtomicU64::new(0),
            open: Mutex::new(BTreeMap::new()),
            cap: AtomicUsize::new(cap),
            closed: Notify::new(),
        }
    }

    /// A new connection's activity, listed until the returned registration drops.
    pub(crate) fn register(self: &Arc<Connections>) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new());
        self.lock().insert(id, activity.clone());
        Registration {
            id,
            activity,
            connections: self.clone(),
        }
    }

    /// Waits until one more connection fits under the cap, asking the oldest connections
    /// without a request in flight to close; while every connection is busy, waits for one to
    /// end.
    pub(crate) async fn wait_for_room(&self) {
        loop {
            let closed = self.closed.notified();
            {
                let open = self.lock();
                let excess = (open.len() + 1).saturating_sub(self.cap.load(Ordering::Relaxed));
                if excess == 0 {
                    return;
                }
                let leaving = open
                    .values()
                    .filter(|activity| activity.evicted.load(Ordering::Relaxed))
                    .count();
                evict_idle(&open, excess.saturating_sub(leaving));
            }
            closed.await;
        }
    }

    /// The process is out of file descriptors: the cap becomes what is open now, less some
    /// headroom for reading key files, and the oldest idle connections above it close.
    pub(crate) fn out_of_descriptors(&self) {
        let open = self.lock();
        let cap = open.len().saturating_sub(DESCRIPTOR_HEADROOM).max(1);
        if cap < self.cap.fetch_min(cap, Ordering::Relaxed) {
            tracing::warn!(
                cap,
                "out of file descriptors: serving at most {cap} connections at once"
            );
        }
        evict_idle(&open, open.len().saturating_sub(cap));
    }

    /// Waits until every connection has ended.
    pub(crate) async fn all_closed(&self) {
        loop {
            let closed = self.closed.notified();
            if self.lock().is_empty() {
                return;
            }
            closed.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Activity>>> {
        // The critical sections cannot panic; a poisoned map is still a consistent map.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Asks up to `n` of the oldest connections without a request in flight to close.
fn evict_idle(open: &BTreeMap<u64, Arc<Activity>>, n: usize) {
    let idle = open
        .values()
        .filter(|activity| !activity.evicted.load(Ordering::Relaxed) && activity.requests().in_flight == 0);
    for activity in idle.take(n) {
        activity.evicted.store(true, Ordering::Relaxed);
        activity.changed.notify_one();
    }
}

/// One open connection in [`Connections`]; its slot is free again when this drops.
pub(crate) struct Registration {
    id: u64,
    activity: Arc<Activity>,
    connections: Arc<Connections>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.id);
        self.connections.closed.notify_one();
    }
}

/// What the watchdog needs to know about one connection.
struct Activity {
    accepted: Instant,
    got_byte: AtomicBool,
    /// Set when a newer connection at the cap needs this one's slot.
    evicted: AtomicBool,
    requests: Mutex<Requests>,
    changed: Notify,
}

struct Requests {
    in_flight: usize,
    started: u64,
    last_end: Instant,
}

impl Activity {
    fn new() -> Activity {
        let now = Instant::now();
        Activity {
            accepted: now,
            got_byte: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            requests: Mutex::new(Requests {
                in_flight: 0,
                started: 0,
                last_end: now,
            }),
            changed: Notify::new(),
        }
    }

    fn requests(&self) -> std::sync::MutexGuard<'_, Requests> {
        // The critical sections cannot panic; a poisoned lock still holds consistent counters.
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn saw_bytes(&self) {
        if !self.got_byte.swap(true, Ordering::Relaxed) {
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Activity>) -> InFlight {
        {
            let mut requests = self.requests();
            requests.in_flight += 1;
            requests.started += 1;
        }
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// Completes when the connection was evicted.
    async fn evicted(&self) {
        loop {
            let changed = self.changed.notified();
            if self.evicted.load(Ordering::Relaxed) {
                return;
            }
            changed.await;
        }
    }

    /// When the connection must close if nothing changes; `None` while a request is in flight.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<(Instant, &'static str)> {
        let requests = self.requests();
        if requests.in_flight > 0 {
            return None;
        }
        if self.evicted.load(Ordering::Relaxed) {
            return Some((Instant::now(), "evicted for a new connection at the cap"));
        }
        let (mut deadline, mut why) = if requests.started == 0 {
            (self.accepted + limits.request_timeout, "no complete request")
        } else {
            (requests.last_end + limits.idle_timeout, "idle")
        };
        let first_byte = self.accepted + limits.first_byte_timeout;
        if !self.got_byte.load(Ordering::Relaxed) && first_byte < deadline {
            (deadline, why) = (first_byte, "no first byte");
        }
        Some((deadline, why))
    }
}

/// A request in flight; dropping it ends the request for the watchdog.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        {
            let mut requests = self.0.requests();
            requests.in_flight -= 1;
            requests.last_end = Instant::now();
        }
        self.0.changed.notify_one();
    }
}

/// The client's stream, noting when its first byte arrives.
struct ActivityIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for ActivityIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.saw_bytes();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ActivityIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The hyper service of one connection: the key service, told the peer and watched.
#[derive(Clone)]
struct Watched {
    service: KeyService,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

type BoxedResponse = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

impl hyper::service::Service<Request<Incoming>> for Watched {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxedResponse;

    fn call(&self, mut request: Request<Incoming>) -> BoxedResponse {
        request.extensions_mut().insert(Peer(self.peer));
        let in_flight = self.activity.request_started();
        let response = self.service.clone().call(request);
        Box::pin(async move {
            let response = response.await;
            drop(in_flight);
            response
        })
    }
}

/// Serves one accepted connection until it ends, times out, is evicted, or shutdown is asked
/// for. `registration` (its slot under the cap) lives as long as this does.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    service: KeyService,
    tls: Option<TlsAcceptor>,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
    registration: Registration,
) {
    let activity = registration.activity.clone();
    let io = ActivityIo {
        inner: stream,
        activity: activity.clone(),
    };
    let watched = Watched {
        service,
        peer,
        activity: activity.clone(),
    };
    match tls {
        None => serve_http(io, watched, &limits, &mut shutdown).await,
        Some(acceptor) => {
            let first_byte = async {
                tokio::time::sleep_until(activity.accepted + limits.first_byte_timeout).await;
                if activity.got_byte.load(Ordering::Relaxed) {
                    std::future::pending::<()>().await;
                }
            };
            let tls = tokio::select! {
                handshake = acceptor.accept(io) => match handshake {
                    Ok(tls) => tls,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                },
                () = tokio::time::sleep(limits.tls_handshake_timeout) => {
                    tracing::debug!(%peer, "connection closed: TLS handshake timed out");
                    return;
                }
                // The first request is due this long after accept, handshake included.
                () = tokio::time::sleep_until(activity.accepted + limits.request_timeout) => {
                    tracing::debug!(%peer, "connection closed: no complete request");
                    return;
                }
                () = first_byte => {
                    tracing::debug!(%peer, "connection closed: no first byte");
                    return;
                }
                () = activity.evicted() => {
                    tracing::debug!(%peer, "connection closed: evicted for a new connection at the cap");
                    return;
                }
                _ = shutdown.changed() => return,
            };
            serve_http(tls, watched, &limits, &mut shutdown).await;
        }
    }
}

async fn serve_http<I>(
    io: I,
    watched: Watched,
    limits: &ConnectionLimits,
    shutdown: &mut watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = watched.peer;
    let activity = watched.activity.clone();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // A backstop: the watchdog below enforces the configured bounds exactly.
        .header_read_timeout(limits.request_timeout.max(limits.idle_timeout))
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(64);
    let connection = builder.serve_connection(TokioIo::new(io), watched);
    let mut connection = std::pin::pin!(connection);
    let grace = loop {
        // A change after this line wakes `changed` even before it is polled (`notify_one` keeps
        // a permit), so none is missed between reading the state and waiting.
        let changed = activity.changed.notified();
        let deadline = activity.deadline(limits);
        let expired = async {
            match deadline {
                Some((deadline, _)) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    // Clients that hung up or spoke something other than HTTP.
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = changed => {}
            () = expired => {
                let why = deadline.map_or("", |(_, why)| why);
                tracing::debug!(%peer, "connection closed: {why}");
                break Duration::from_secs(1);
            }
            _ = shutdown.changed() => break limits.shutdown_grace,
        }
    };
    // Asks the connection to finish (HTTP/2 `GOAWAY`, HTTP/1 no keep-alive), and drops it when
    // that takes longer than the grace.
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(grace, connection).await;
}

//! [`ConnectionLimits`]: how long and how many connections a [`KeyServer`](super::KeyServer)
//! keeps.

use std::time::Duration;

/// Bounds on every connection of a [`KeyServer`](super::KeyServer), on HTTP/1 and HTTP/2, with
/// or without TLS. A client that connects and then sends nothing, half a request, an HTTP/2
/// preface and nothing more, or keeps a connection open between requests, is disconnected when
/// the bound runs out; and at most [`max_connections`](ConnectionLimits::max_connections) are
/// served at once, so silent clients cannot exhaust the process's file descriptors nor keep
/// legitimate clients out.
///
/// | bound | default | from → to |
/// |---|---|---|
/// | [`first_byte_timeout`](ConnectionLimits::first_byte_timeout) | 5 s | accept → the first byte from the client |
/// | [`tls_handshake_timeout`](ConnectionLimits::tls_handshake_timeout) | 5 s | accept → the TLS handshake done |
/// | [`request_timeout`](ConnectionLimits::request_timeout) | 10 s | accept → the first complete request head (HTTP/1 headers, or the HTTP/2 preface, settings and a `HEADERS` frame) |
/// | [`idle_timeout`](ConnectionLimits::idle_timeout) | 30 s | the end of a request, with none in flight → the next complete request head |
/// | [`max_connections`](ConnectionLimits::max_connections) | 512 | connections open at once: at the cap a new one makes the oldest idle one close, or waits in the listen backlog while all are busy |
/// | [`shutdown_grace`](ConnectionLimits::shutdown_grace) | 10 s | shutdown asked → connections still open are dropped |
///
/// ```
/// use std::time::Duration;
/// use asap_keys::server::ConnectionLimits;
/// let limits = ConnectionLimits::default()
///     .request_timeout(Duration::from_secs(3))
///     .max_connections(64);
/// let config = asap_keys::server::KeyServerConfig::new("/etc/asap/public-keys").limits(limits);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub(crate) first_byte_timeout: Duration,
    pub(crate) tls_handshake_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            first_byte_timeout: Duration::from_secs(5),
            tls_handshake_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 512,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl ConnectionLimits {
    /// From accept to the first byte the client sends (the TLS `ClientHello` counts).
    #[must_use]
    pub fn first_byte_timeout(mut self, timeout: Duration) -> ConnectionLimits {
        self.first_byte_timeout = timeout;
        self
    }

    /// From accept to the end of the TLS handshake.
    #[must_use]
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> ConnectionLimits {
        self.tls_handshake_timeout = timeout;
        self
    }

    /// From accept to the first complete request head.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> ConnectionLimits {
        self.request_timeout = timeout;
        self
    }

    /// From the end of a request, when none is in flight, to the next complete request head.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> ConnectionLimits {
        self.idle_timeout = timeout;
        self
    }

    /// How many connections are served at once (at least 1, at most 2²⁰).
    #[must_use]
    pub fn max_connections(mut self, max: usize) -> ConnectionLimits {
        self.max_connections = max.clamp(1, 1 << 20);
        self
    }

    /// How long connections may finish their requests after shutdown was asked for.
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> ConnectionLimits {
        self.shutdown_grace = grace;
        self
    }
}

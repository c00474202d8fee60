//! [`KeyService`]: the tower `Service` that answers `GET /<kid>`.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use asap_core::{KeyId, KeySourceError, PublicKeySource};
use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use percent_encoding::percent_decode_str;

use super::jwks::{JWKS_PATH, KeySetCache};
use crate::directory::{DirectoryError, KeyDirectory};
use crate::{JWKS_CONTENT_TYPE, PEM_CONTENT_TYPE};

/// The `Cache-Control: max-age` sent with keys unless configured otherwise: 5 minutes.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

/// The body of every "not a key here" answer, whatever the reason: a missing file, a directory,
/// a FIFO, a link out of the directory, a file that is not a public key, an invalid kid.
pub const NOT_A_KEY_BODY: &str = "no such key\n";

/// The peer of a request, put into its extensions by the server so that the log can name it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) SocketAddr);

/// Answers `GET /<kid>` and `HEAD /<kid>` with the public key for the kid, as a key repository
/// does: `200` with `Content-Type: application/x-pem-file` and `Cache-Control: max-age=<secs>`;
/// one identical `404` for anything that is not a key here; `503` (with `Retry-After`) when the
/// keys cannot be read now; `405` for other methods. The request path is percent-decoded once
/// and must be a valid [`KeyId`] before any key is looked up.
///
/// The key sent is always the parsed public key re-serialised to canonical PEM, never the bytes
/// of a file. Each request is one `tracing` event (target `asap_keys::server`): `INFO`, or `WARN`
/// when a file holds private key material, cannot be read, or the keys are unavailable; with the
/// peer (when served by [`KeyServer`](super::KeyServer)), method, path, status, body size,
/// duration and, for refusals, the reason. Never file contents.
///
/// It serves with any tower-compatible server, for example as an axum fallback:
///
/// ```no_run
/// use asap_keys::server::KeyService;
/// let app: axum::Router = axum::Router::new()
///     .nest_service("/keys", KeyService::directory("/etc/asap/public-keys"));
/// ```
#[derive(Clone)]
pub struct KeyService {
    keys: Arc<Keys>,
    cache_control: HeaderValue,
    jwks: bool,
}

enum Keys {
    /// A directory, and its key set as last built (when [`KeyService::publish_jwks`] is on).
    Directory(KeyDirectory, KeySetCache),
    Source(Arc<dyn PublicKeySource>),
}

impl fmt::Debug for KeyService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("KeyService");
        match &*self.keys {
            Keys::Directory(dir, _) => s.field("directory", &dir.root()),
            Keys::Source(source) => s.field("source", source),
        };
        s.field("cache_control", &self.cache_control)
            .field("jwks", &self.jwks)
            .finish()
    }
}

impl KeyService {
    /// Serves the keys of the directory `root` (see [`KeyDirectory`] for the rules).
    pub fn directory(root: impl Into<PathBuf>) -> KeyService {
        KeyService::from_directory(KeyDirectory::new(root))
    }

    /// Serves the keys of a configured [`KeyDirectory`].
    pub fn from_directory(dir: KeyDirectory) -> KeyService {
        KeyService::with_keys(Keys::Directory(dir, KeySetCache::default()))
    }

    /// Serves the keys `source` gives by kid (a key registry, say): not found → 404, unavailable
    /// → 503, an invalid key → 404 (reason in the log).
    pub fn from_source(source: Arc<dyn PublicKeySource>) -> KeyService {
        KeyService::with_keys(Keys::Source(source))
    }

    fn with_keys(keys: Keys) -> KeyService {
        KeyService {
            keys: Arc::new(keys),
            cache_control: cache_control(DEFAULT_MAX_AGE),
            jwks: false,
        }
    }

    /// The `Cache-Control: max-age` of served keys, in whole seconds ([`DEFAULT_MAX_AGE`] unless
    /// set).
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> KeyService {
        self.cache_control = cache_control(max_age);
        self
    }

    /// Also publishes the directory as one JWK set at [`JWKS_PATH`]
    /// (`/.well-known/jwks.json`), with `Content-Type: application/jwk-set+json` and the same
    /// `Cache-Control`, so that one repository serves PEM-by-kid and JWKS consumers alike. Each
    /// key in it is read by the same rules as `GET /<kid>`; a file that is not a public key is
    /// left out. The set is built by one request at a time, and every request waiting for the
    /// next build shares it, so a flood of key set requests costs one build at a time while a
    /// key written before a request is always in its set. Off by default, and only for a
    /// directory (a [`PublicKeySource`] cannot be listed); the path is then no longer looked up
    /// as the kid `.well-known/jwks.json`.
    #[must_use]
    pub fn publish_jwks(mut self, publish: bool) -> KeyService {
        self.jwks = publish;
        self
    }

    /// The directory served, if this serves one.
    pub(crate) fn key_directory(&self) -> Option<&KeyDirectory> {
        match &*self.keys {
            Keys::Directory(dir, _) => Some(dir),
            Keys::Source(_) => None,
        }
    }
}

fn cache_control(max_age: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!("max-age={}", max_age.as_secs()))
        .unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
}

impl<B> tower_service::Service<Request<B>> for KeyService {
    type Response = KeyResponse;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> ResponseFuture {
        let this = self.clone();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let peer = request.extensions().get::<Peer>().map(|peer| peer.0);
        ResponseFuture(Box::pin(
            async move { Ok(this.handle(&method, &path, peer).await) },
        ))
    }
}

/// What [`KeyService`] answers: the key, or a short text body.
pub type KeyResponse = Response<Full<Bytes>>;

/// The response future of [`KeyService`].
pub struct ResponseFuture(Pin<Box<dyn Future<Output = Result<KeyResponse, Infallible>> + Send>>);

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl Future for ResponseFuture {
    type Output = Result<KeyResponse, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// The answer to one request, before it becomes an HTTP response.
enum Answer {
    Key(Bytes),
    /// The directory as a JWK set.
    KeySet(Bytes),
    /// Not a key here; the reason goes to the log only, and `warn` says whether an operator
    /// should look (private key material, an unreadable file).
    NotAKey {
        reason: String,
        warn: bool,
    },
    /// The keys cannot be read now (503).
    Unavailable(String),
    MethodNotAllowed,
}

/// Paths longer than this are cut in the log (a kid is at most 512 bytes).
const MAX_LOGGED_PATH: usize = 600;

impl KeyService {
    async fn handle(&self, method: &Method, path: &str, peer: Option<SocketAddr>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let head = method == Method::HEAD;
        let answer = if head || method == Method::GET {
            self.lookup(path).await
        } else {
            Answer::MethodNotAllowed
        };
        let response = self.response(&answer, head);
        let status = response.status().as_u16();
        let bytes = match &answer {
            Answer::Key(body) | Answer::KeySet(body) if !head => body.len(),
            _ => 0,
        };
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        // The path is the client's: recorded with `?` (escaped), so it cannot forge log lines.
        let path = cut(path);
        let peer = peer.map(tracing::field::display);
        match &answer {
            Answer::NotAKey { reason, warn: true } | Answer::Unavailable(reason) => tracing::warn!(
                peer, %method, ?path, status, bytes, duration_ms, reason = %reason, "key request"
            ),
            Answer::NotAKey { reason, warn: false } => tracing::info!(
                peer, %method, ?path, status, bytes, duration_ms, reason = %reason, "key request"
            ),
            Answer::Key(_) | Answer::KeySet(_) | Answer::MethodNotAllowed => {
                tracing::info!(peer, %method, ?path, status, bytes, duration_ms, "key request");
            }
        }
        response
    }

    /// Finds the key for a request path. The kid rule runs before any key is looked up.
    async fn lookup(&self, path: &str) -> Answer {
        if self.jwks
            && path == JWKS_PATH
            && let Keys::Directory(dir, key_set) = &*self.keys
        {
            return match key_set.get(dir).await {
                Ok(json) => Answer::KeySet(json),
                Err(e) => Answer::Unavailable(format!("the key set cannot be made: {e}")),
            };
        }
        let not_a_key = |reason: &str| Answer::NotAKey {
            reason: reason.to_owned(),
            warn: false,
        };
        let Ok(decoded) = percent_decode_str(path.strip_prefix('/').unwrap_or(path)).decode_utf8() else {
            return not_a_key("invalid kid: not UTF-8");
        };
        let Ok(kid) = KeyId::parse(&decoded) else {
            return not_a_key("invalid kid");
        };
        match &*self.keys {
            Keys::Directory(dir, _) => match dir.read(&kid).await {
                Ok(key) => Answer::Key(Bytes::from(key.to_pem())),
                Err(e) if e.is_not_a_key() => Answer::NotAKey {
                    warn: matches!(
                        e,
                        DirectoryError::PrivateKeyMaterial | DirectoryError::Unreadable(_)
                    ),
                    reason: e.to_string(),
                },
                Err(e) => Answer::Unavailable(e.to_string()),
            },
            Keys::Source(source) => match source.public_key(&kid).await {
                Ok(key) => Answer::Key(Bytes::from(key.to_pem())),
                Err(KeySourceError::NotFound(_)) => not_a_key("no such key"),
                Err(KeySourceError::Unavailable(e)) => {
                    Answer::Unavailable(format!("key source unavailable: {e}"))
                }
                Err(e) => Answer::NotAKey {
                    reason: e.to_string(),
                    warn: true,
                },
            },
        }
    }

    fn response(&self, answer: &Answer, head: bool) -> Response<Full<Bytes>> {
        let text = HeaderValue::from_static("text/plain; charset=utf-8");
        let (status, headers, body): (_, Vec<(_, HeaderValue)>, _) = match answer {
            Answer::Key(pem) => (
                StatusCode::OK,
                vec![
                    (CONTENT_TYPE, HeaderValue::from_static(PEM_CONTENT_TYPE)),
                    (CACHE_CONTROL, self.cache_control.clone()),
                ],
                pem.clone(),
            ),
            Answer::KeySet(json) => (
                StatusCode::OK,
                vec![
                    (CONTENT_TYPE, HeaderValue::from_static(JWKS_CONTENT_TYPE)),
                    (CACHE_CONTROL, self.cache_control.clone()),
                ],
                json.clone(),
            ),
            Answer::NotAKey { .. } => (
                StatusCode::NOT_FOUND,
                vec![
                    (CONTENT_TYPE, text),
                    (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                ],
                Bytes::from_static(NOT_A_KEY_BODY.as_bytes()),
            ),
            Answer::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                vec![
                    (CONTENT_TYPE, text),
                    (CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    (RETRY_AFTER, HeaderValue::from_static("5")),
                ],
                Bytes::from_static(b"the key source is unavailable; try again\n"),
            ),
            Answer::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                vec![
                    (ALLOW, HeaderValue::from_static("GET, HEAD")),
                    (CONTENT_TYPE, text),
                ],
                Bytes::from_static(b"only GET and HEAD\n"),
            ),
        };
        let mut response = Response::new(Full::new(if head { Bytes::new() } else { body.clone() }));
        *response.status_mut() = status;
        let map = response.headers_mut();
        for (name, value) in headers {
            map.insert(name, value);
        }
        map.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        response
    }
}

fn cut(path: &str) -> &str {
    if path.len() <= MAX_LOGGED_PATH {
        return path;
    }
    let mut end = MAX_LOGGED_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

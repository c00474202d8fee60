//! `asap proxy`: a local proxy that adds a fresh ASAP token to every request and forwards it to
//! one upstream service, for tools that cannot sign.
//!
//! The proxy lends its key to whoever can connect, so it listens on loopback only and forwards
//! to the one upstream it was given (an absolute-form request for another host is refused,
//! and so is a path that would climb out of the upstream's base path). Bodies stream both ways;
//! a request body is bounded, connections are capped, the request head must arrive within
//! seconds and the upstream must start answering within `--max-time`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use asap_core::{Signer, TokenRequest};
use asap_keys::ENV_AUDIENCE;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::input::{Input, MAX_REQUEST_BODY_BYTES, read_file};
use super::redact::SecretUrl;
use super::signing::SignerArgs;

const AFTER_HELP: &str = "\
Each request to the proxy is sent to URL + its path and query, with `Authorization: Bearer
<a fresh token>` (any Authorization header of the client's is replaced). Bodies stream both
ways. The proxy listens on loopback only: anyone who can connect to it can call the upstream
as this issuer. It forwards to URL only: an absolute-form request (HTTP_PROXY) for another
host, a CONNECT tunnel and a path with `..` segments are refused. Plain http upstreams are
allowed on this machine only, unless --allow-insecure-http. One line per request on stderr
(method, path, status; never the token or the query).

Answers of its own: 413 for a body over --max-body-bytes, 502 when the upstream cannot be
reached, 504 when it does not answer within --max-time, 400/403/405 for refused requests.

Examples:
  asap proxy --listen 127.0.0.1:8081 --upstream https://ledger.example.com/api \\
      --issuer billing --private-key-repo private --audience ledger &
  curl http://127.0.0.1:8081/balance          # reaches https://ledger.example.com/api/balance
  HTTP_PROXY=http://127.0.0.1:8081 some-tool http://127.0.0.1:9000/x   # for an http upstream";

/// Forward local requests to a service, adding a fresh ASAP token to each.
#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct Args {
    /// Where to listen: an address on this machine (127.0.0.0/8 or ::1) and a port (0 picks
    /// a free one)
    #[arg(long, value_name = "ADDR:PORT")]
    listen: SocketAddr,

    /// The service to forward to; each request's path and query are appended to it
    #[arg(long, value_name = "URL")]
    upstream: SecretUrl,

    /// The audience (`aud`) of the tokens: the upstream service (repeatable)
    #[arg(long = "audience", env = ENV_AUDIENCE, hide_env_values = true, value_name = "AUD", required = true)]
    audiences: Vec<String>,

    /// Allow a plain http upstream that is not on this machine (sends tokens in clear text)
    #[arg(long)]
    allow_insecure_http: bool,

    /// Trust the CA certificates in this PEM file, besides the system's
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,

    /// The largest request body forwarded, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = MAX_REQUEST_BODY_BYTES)]
    max_body_bytes: usize,

    /// The most client connections served at once (more wait)
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_connections: u32,

    /// Seconds the upstream has to start answering, and to send each next part of a body
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    max_time: u64,

    #[command(flatten)]
    signer: SignerArgs,
}

/// How long a client has to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), and the proxy's own.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

type ProxyBody = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

struct Proxy {
    client: reqwest::Client,
    upstream: url::Url,
    signer: Signer,
    request: TokenRequest,
    max_body_bytes: usize,
    max_time: Duration,
}

pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        bail!(
            "--listen {}: the proxy signs for anyone who can connect, so it listens on this machine only \
             (127.0.0.0/8 or ::1)",
            args.listen
        );
    }
    let upstream = upstream_url(&args)?;
    let signer = args.signer.signer()?;
    let request = args.signer.request(&args.audiences)?;
    // Fail now, not on the first request, when the key cannot sign.
    signer.sign_request(&request)?;

    let mut client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Straight to the upstream: a proxy from the environment would see every token.
        .no_proxy()
        .connect_timeout(Duration::from_secs(args.max_time.min(30)))
        .read_timeout(Duration::from_secs(args.max_time));
    if let Some(path) = &args.cacert {
        let pem = read_file(path, Input::CaBundle)?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{} holds no usable certificate", path.display()))?;
        client = client.tls_certs_merge(certs);
    }
    let proxy = Arc::new(Proxy {
        client: client.build().context("cannot build the HTTP client")?,
        upstream,
        signer,
        request,
        max_body_bytes: args.max_body_bytes,
        max_time: Duration::from_secs(args.max_time),
    });

    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr().context("the listening address")?;
    eprintln!("asap proxy: forwarding to {} at http://{local}", proxy.upstream);
    let connections = Arc::new(Semaphore::new(args.max_connections as usize));
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.context("connection limit")?,
            _ = &mut shutdown => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: the next accept may work.
                Err(e) => {
                    eprintln!("asap proxy: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let proxy = proxy.clone();
                async move { Ok::<_, Infallible>(proxy.forward(request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
    eprintln!("asap proxy: stopped");
    Ok(())
}

/// The upstream base URL: https, or http on this machine (or anywhere with the flag); no query,
/// since each request brings its own.
fn upstream_url(args: &Args) -> anyhow::Result<url::Url> {
    // What messages show of the URL: never its userinfo or query (`redact_url`).
    let shown = asap_registry::redact_url(args.upstream.as_str());
    let url =
        url::Url::parse(args.upstream.as_str()).with_context(|| format!("invalid --upstream {shown:?}"))?;
    match url.scheme() {
        "https" => {}
        "http" if args.allow_insecure_http || asap_keys::is_loopback(&url) => {}
        "http" => {
            bail!(
                "refusing to send tokens in clear text to {shown}: use https, or pass --allow-insecure-http"
            )
        }
        other => bail!("unsupported --upstream scheme {other:?}: use https or http"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("--upstream: no user or password in the URL; the ASAP token is the credential");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("--upstream {shown}: no query or fragment; each request brings its own");
    }
    Ok(url)
}

impl Proxy {
    async fn forward(&self, request: Request<Incoming>) -> Response<ProxyBody> {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let response = match self.target(&request) {
            Ok(url) => self.send(url, request).await,
            Err(refusal) => refusal,
        };
        eprintln!(
            "asap proxy: {method} {path} -> {} ({} ms)",
            response.status().as_u16(),
            started.elapsed().as_millis()
        );
        response
    }

    /// Where a request goes: the upstream, its path followed by the request's, and the query.
    #[allow(clippy::result_large_err)] // the refusal is the response itself
    fn target(&self, request: &Request<Incoming>) -> Result<url::Url, Response<ProxyBody>> {
        if request.method() == Method::CONNECT {
            return Err(answer(
                StatusCode::METHOD_NOT_ALLOWED,
                "asap proxy: CONNECT tunnels cannot carry a token; send the request itself",
            ));
        }
        let uri = request.uri();
        if let Some(authority) = uri.authority() {
            let same = uri.scheme_str() == Some(self.upstream.scheme())
                && self
                    .upstream
                    .host_str()
                    .is_some_and(|h| h.eq_ignore_ascii_case(authority.host()))
                && authority.port_u16().or_else(|| default_port(uri.scheme_str()))
                    == self.upstream.port_or_known_default();
            if !same {
                return Err(answer(
                    StatusCode::FORBIDDEN,
                    &format!("asap proxy: forwards to {} only", self.upstream),
                ));
            }
        }
        let base = self.upstream.path().trim_end_matches('/');
        let mut url = self.upstream.clone();
        url.set_path(&format!("{base}{}", uri.path()));
        url.set_query(uri.query());
        // `url` resolves `.` and `..` segments (%2e too): a path must not climb out of the base.
        let inside = url.path() == base
            || url
                .path()
                .strip_prefix(base)
                .is_some_and(|rest| rest.starts_with('/'))
            || base.is_empty();
        if !inside || has_dot_segment(uri.path()) {
            return Err(answer(
                StatusCode::BAD_REQUEST,
                "asap proxy: `.` and `..` path segments are not forwarded",
            ));
        }
        Ok(url)
    }

    async fn send(&self, url: url::Url, request: Request<Incoming>) -> Response<ProxyBody> {
        let (parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_body_bytes as u64) {
            return too_large(self.max_body_bytes);
        }
        let signed = self
            .signer
            .sign_request(&self.request)
            .map_err(|e| e.to_string())
            .and_then(|token| {
                HeaderValue::try_from(format!("Bearer {}", token.as_str())).map_err(|e| e.to_string())
            });
        let mut authorization = match signed {
            Ok(value) => value,
            Err(e) => {
                eprintln!("asap proxy: cannot sign: {e}");
                return answer(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "asap proxy: cannot sign a token",
                );
            }
        };
        authorization.set_sensitive(true);

        let mut headers = forwarded_headers(&parts.headers);
        headers.remove(header::HOST);
        // `Expect: 100-continue` was the client's question to this hop, answered by hyper.
        headers.remove(header::EXPECT);
        headers.remove(header::AUTHORIZATION);
        headers.insert(header::AUTHORIZATION, authorization);
        let mut upstream = self.client.request(parts.method, url).headers(headers);
        if !body.is_end_stream() {
            upstream = upstream.body(reqwest::Body::wrap(Limited::new(body, self.max_body_bytes)));
        }
        let response = match tokio::time::timeout(self.max_time, upstream.send()).await {
            Err(_) => {
                return answer(
                    StatusCode::GATEWAY_TIMEOUT,
                    "asap proxy: the upstream did not answer in time",
                );
            }
            Ok(Err(e)) if caused_by::<LengthLimitError>(&e) => return too_large(self.max_body_bytes),
            Ok(Err(e)) if e.is_timeout() => {
                return answer(
                    StatusCode::GATEWAY_TIMEOUT,
                    "asap proxy: the upstream did not answer in time",
                );
            }
            Ok(Err(e)) => {
                // Without the URL: a client's query may carry a credential.
                eprintln!(
                    "asap proxy: upstream failed: {}",
                    super::curl::error_chain(&e.without_url())
                );
                return answer(
                    StatusCode::BAD_GATEWAY,
                    "asap proxy: the upstream cannot be reached",
                );
            }
            Ok(Ok(response)) => response,
        };
        let response = http::Response::from(response);
        let (mut parts, body) = response.into_parts();
        parts.headers = forwarded_headers(&parts.headers);
        Response::from_parts(parts, body.map_err(Into::into).boxed_unsync())
    }
}

/// `headers` without the hop-by-hop ones, including those the `Connection` header names.
fn forwarded_headers(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    let mut out = headers.clone();
    for name in HOP_BY_HOP.iter().chain(&named) {
        out.remove(name);
    }
    out
}

/// Whether a request path has a `.` or `..` segment, percent-encoded or not.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment.replace("%2e", ".").replace("%2E", ".");
        decoded == "." || decoded == ".."
    })
}

fn default_port(scheme: Option<&str>) -> Option<u16> {
    match scheme {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    }
}

fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(cause) = source {
        if cause.is::<E>() {
            return true;
        }
        source = cause.source();
    }
    false
}

fn too_large(max: usize) -> Response<ProxyBody> {
    answer(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("asap proxy: the request body is larger than {max} bytes (--max-body-bytes)"),
    )
}

/// An answer of the proxy's own, as plain text.
fn answer(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let mut response = Response::new(
        Full::new(Bytes::from(format!("{message}\n")))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_are_found_encoded_or_not() {
        for path in ["/a/../b", "/..", "/a/./b", "/a/%2e%2e/b", "/%2E/x"] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in ["/a/b", "/a..b/", "/.well-known/x", "/"] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret-hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(header::PROXY_AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        headers.insert("x-trace", HeaderValue::from_static("kept"));
        let out = forwarded_headers(&headers);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out["x-trace"], "kept");
    }
}

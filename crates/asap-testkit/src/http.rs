//! Local HTTP and HTTPS servers for an axum [`Router`].
//!
//! Both listen on `127.0.0.1` on a port chosen by the OS, so tests run in parallel without
//! clashing. The accept loop is a task on the caller's tokio runtime and ends with it.

use std::net::SocketAddr;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::tls::TestCa;

/// Serves `router` on `127.0.0.1` on a free port over plain HTTP (HTTP/1.1 and HTTP/2 prior
/// knowledge); returns its address. The server task runs until the runtime ends.
///
/// # Panics
///
/// When no loopback port can be bound, or when called outside a tokio runtime.
pub async fn spawn_http(router: Router) -> SocketAddr {
    let listener = bind().await;
    let addr = listener.local_addr().expect("local address of the listener");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(serve_connection(stream, router.clone()));
        }
    });
    addr
}

/// Serves `router` on `127.0.0.1` on a free port over HTTPS, presenting `ca`'s server
/// certificate (valid for `127.0.0.1` and `localhost`); returns its address. The server task
/// runs until the runtime ends.
///
/// # Panics
///
/// When no loopback port can be bound, or when called outside a tokio runtime.
pub async fn spawn_https(router: Router, ca: &TestCa) -> SocketAddr {
    spawn_tls(router, ca, false).await
}

/// Serves `router` on `127.0.0.1` on one free port over both HTTPS (as [`spawn_https`]) and
/// plain HTTP: a connection whose first byte opens a TLS handshake gets TLS, any other plain
/// HTTP. For redirects that change the scheme and nothing else (`https://127.0.0.1:P` to
/// `http://127.0.0.1:P`).
///
/// # Panics
///
/// When no loopback port can be bound, or when called outside a tokio runtime.
pub async fn spawn_http_and_https(router: Router, ca: &TestCa) -> SocketAddr {
    spawn_tls(router, ca, true).await
}

async fn spawn_tls(router: Router, ca: &TestCa, plain_too: bool) -> SocketAddr {
    let listener = bind().await;
    let addr = listener.local_addr().expect("local address of the listener");
    let acceptor = TlsAcceptor::from(ca.server_config());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                if plain_too && !opens_tls_handshake(&stream).await {
                    serve_connection(stream, router).await;
                    return;
                }
                // A client that gives up on the handshake (tests of untrusted certificates
                // do exactly that) is not the server's problem.
                if let Ok(tls) = acceptor.accept(stream).await {
                    serve_connection(tls, router).await;
                }
            });
        }
    });
    addr
}

/// Whether the client's first byte opens a TLS handshake record (content type 22).
async fn opens_tls_handshake(stream: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    matches!(stream.peek(&mut first).await, Ok(1) if first[0] == 0x16)
}

async fn bind() -> TcpListener {
    TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind a free port on 127.0.0.1")
}

async fn serve_connection<S>(stream: S, router: Router)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(router);
    // Errors here are client-side disconnects and protocol errors from hostile-input tests.
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    fn router() -> Router {
        Router::new().route("/hello", get(|| async { "hi" }))
    }

    #[tokio::test]
    async fn http_server_answers() {
        let addr = spawn_http(router()).await;
        let body = reqwest::get(format!("http://{addr}/hello"))
            .await
            .expect("request")
            .text()
            .await;
        assert_eq!(body.expect("body"), "hi");
    }

    #[tokio::test]
    async fn https_server_answers_a_client_that_trusts_the_root() {
        let ca = TestCa::new();
        let addr = spawn_https(router(), &ca).await;
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca.root_pem().as_bytes()).expect("root pem")])
            .build()
            .expect("client");
        for host in [addr.to_string(), format!("localhost:{}", addr.port())] {
            let response = client
                .get(format!("https://{host}/hello"))
                .send()
                .await
                .expect("request");
            assert_eq!(response.status(), 200);
            assert_eq!(response.text().await.expect("body"), "hi");
        }
    }

    #[tokio::test]
    async fn https_server_is_rejected_by_a_client_that_trusts_another_root() {
        let addr = spawn_https(router(), &TestCa::new()).await;
        let other = TestCa::new();
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(other.root_pem().as_bytes()).expect("root pem")])
            .build()
            .expect("client");
        assert!(client.get(format!("https://{addr}/hello")).send().await.is_err());
    }
}

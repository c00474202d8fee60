//! `asap serve-keys`: path traversal in every encoding, and symbolic links out of the served
//! directory.

use std::net::SocketAddr;

use asap_core::{KeyKind, KeySpec, PrivateKey};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Sends a raw `GET <target>` to `addr`; the status and body.
async fn raw_get(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

#[tokio::test]
async fn serve_keys_path_traversal_never_leaves_the_directory() {
    use asap_keys::server::{KeyServer, KeyServerConfig};

    let dir = tempfile::tempdir().expect("tempdir");
    let public_dir = dir.path().join("public");
    std::fs::create_dir_all(public_dir.join("svc")).expect("mkdir");
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    std::fs::write(
        public_dir.join("svc/k1.pem"),
        key.public_key().expect("pk").to_pem(),
    )
    .expect("write");
    // Secrets beside the served directory, and a link inside it that points at one.
    let secret = key.to_pkcs8_pem().expect("pem");
    std::fs::write(dir.path().join("secret.pem"), &secret).expect("write");
    std::fs::write(
        dir.path().join("publicity.pem"),
        key.public_key().expect("pk").to_pem(),
    )
    .expect("write");
    std::os::unix::fs::symlink(dir.path().join("secret.pem"), public_dir.join("svc/link.pem"))
        .expect("symlink");
    std::os::unix::fs::symlink(dir.path().join("publicity.pem"), public_dir.join("svc/out.pem"))
        .expect("symlink");

    let server = KeyServer::bind(
        "127.0.0.1:0".parse().expect("addr"),
        KeyServerConfig::new(&public_dir),
    )
    .await
    .expect("bind");
    let addr = server.local_addr();
    tokio::spawn(server.serve(std::future::pending()));

    let (status, body) = raw_get(addr, "/svc/k1.pem").await;
    assert_eq!(status, 200, "the control request: {body}");

    for target in [
        "/../secret.pem",
        "/svc/../../secret.pem",
        "/%2e%2e/secret.pem",
        "/svc/%2e%2e/%2e%2e/secret.pem",
        "/svc%2f..%2f..%2fsecret.pem",
        "/%252e%252e/secret.pem",
        "/svc/..%5c..%5csecret.pem",
        "/..\\secret.pem",
        "/%c0%ae%c0%ae/secret.pem",
        "/svc/%00/../../secret.pem",
        "//secret.pem",
        "/svc/link.pem",
        "/svc/out.pem",
        "/svc/k1.pem%00.txt",
        "/.%2e/secret.pem",
        "http://127.0.0.1/../secret.pem",
    ] {
        let (status, body) = raw_get(addr, target).await;
        assert!(matches!(status, 400 | 404), "{target}: {status}\n{body}");
        assert!(!body.contains("PRIVATE KEY"), "{target} leaked the secret");
        assert!(
            !body.contains("PUBLIC KEY"),
            "{target} served a file outside the directory"
        );
    }
}

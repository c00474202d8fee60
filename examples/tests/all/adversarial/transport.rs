//! The `Authorization` header through the layer: repeated, mis-spaced, wrong scheme, and bytes
//! no client library would send; never a key fetch, never a 500.

use std::net::SocketAddr;

use asap_core::Algorithm;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::stack::{Stack, claims, es256_header, signed};

#[tokio::test]
async fn authorization_header_variants_through_the_layer_never_fetch_a_key() {
    let s = Stack::start().await;
    let good = signed(&es256_header(), &claims(), &s.key, Algorithm::ES256);
    const TWO: &str = "BadAuthorization(\"more than one Authorization header\")";
    const SHAPE: &str = "BadAuthorization(\"expected \\\"Bearer <token>\\\"\")";
    const ONE_SPACE: &str = "BadAuthorization(\"expected exactly one space, then the token\")";
    const SCHEME: &str = "BadAuthorization(\"the scheme must be Bearer\")";
    const TOKEN_CHARS: &str = "BadAuthorization(\"the token must be printable ASCII, without spaces\")";
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "two headers",
            vec![format!("Bearer {good}"), format!("Bearer {good}")],
            TWO,
        ),
        (
            "a good and an empty header",
            vec![format!("Bearer {good}"), String::new()],
            TWO,
        ),
        ("double space", vec![format!("Bearer  {good}")], ONE_SPACE),
        ("tab", vec![format!("Bearer\t{good}")], SHAPE),
        ("wrong scheme", vec![format!("Basic {good}")], SCHEME),
        ("Connect scheme", vec![format!("JWT {good}")], SCHEME),
        ("scheme glued", vec![format!("Bearer{good}")], SHAPE),
        ("scheme only", vec!["Bearer".to_owned()], SHAPE),
        // HTTP trims the trailing space, leaving the scheme alone.
        ("empty token", vec!["Bearer ".to_owned()], SHAPE),
        ("empty header", vec![String::new()], SHAPE),
        ("token only", vec![good.clone()], SHAPE),
        (
            "two tokens in one header",
            vec![format!("Bearer {good}, Bearer {good}")],
            TOKEN_CHARS,
        ),
        (
            "comma-joined",
            vec![format!("Bearer {good},{good}")],
            "Token(Malformed(\"a token has exactly three segments separated by '.'\"))",
        ),
    ];
    for (case, values, refusal) in cases {
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let got = s.call(&refs).await;
        assert_eq!(
            (got.status, got.refusal.as_str()),
            (401, refusal),
            "{case}: {got:?}"
        );
    }
    let missing = s.call(&[]).await;
    assert_eq!(
        (
            missing.status,
            missing.refusal.as_str(),
            missing.challenge.as_str()
        ),
        (401, "MissingToken", "Bearer")
    );

    // Bytes no client library would send, on a raw connection: never a 500.
    for raw in [
        &b"Authorization: Bearer \x01x.y.z\r\n"[..],
        b"Authorization: Bearer \xc3\x28.a.b\r\n",
        b"Authorization: Bearer\r\n a.b.c\r\n",
        b"Authorization : Bearer a.b.c\r\n",
    ] {
        let status = raw_status(s.app, raw).await;
        assert!(
            matches!(status, 400 | 401),
            "{:?} gave {status}",
            String::from_utf8_lossy(raw)
        );
    }
    assert_eq!(s.repo.hits(), 0, "header variants reached the key repository");
    // The scheme is case-insensitive: this is the one that passes.
    let ok = s.call(&[&format!("bearer {good}")]).await;
    assert_eq!(ok.status, 200, "{ok:?}");
}

/// Sends `GET /whoami` with `header_lines` on a raw connection; the status code.
async fn raw_status(addr: SocketAddr, header_lines: &[u8]) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut request = b"GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".to_vec();
    request.extend_from_slice(header_lines);
    request.extend_from_slice(b"\r\n");
    stream.write_all(&request).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response);
    text.get(9..12)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

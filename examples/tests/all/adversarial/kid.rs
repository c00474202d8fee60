//! The `kid`: traversal, encodings, URLs, control and look-alike characters, length, and keys
//! of another issuer, all refused before the key repository is asked; a valid kid is fetched
//! as exactly base URL + kid.

use asap_core::Algorithm;
use serde_json::json;

use super::stack::{KID, Stack, claims, es256_header, signed, with_mutated};

#[tokio::test]
async fn kid_tricks_are_refused_before_any_key_fetch() {
    let s = Stack::start().await;
    let long = format!("svc/{}", "a".repeat(600));
    let cases: Vec<(&str, String, String)> = vec![
        (
            "traversal",
            "svc/../admin/k1".into(),
            "Kid(BadSegment(\"svc/../admin/k1\"))".into(),
        ),
        (
            "leading traversal",
            "../svc/k1".into(),
            "Kid(BadSegment(\"../svc/k1\"))".into(),
        ),
        (
            "dot segment",
            "svc/./k1".into(),
            "Kid(BadSegment(\"svc/./k1\"))".into(),
        ),
        (
            "absolute path",
            "/svc/k1".into(),
            "Kid(BadSegment(\"/svc/k1\"))".into(),
        ),
        (
            "doubled slash",
            "svc//k1".into(),
            "Kid(BadSegment(\"svc//k1\"))".into(),
        ),
        (
            "encoded traversal",
            "svc/%2e%2e/k1".into(),
            "Kid(BadCharacter('%'))".into(),
        ),
        (
            "encoded slash",
            "svc%2F..%2Fk1".into(),
            "Kid(BadCharacter('%'))".into(),
        ),
        (
            "backslash traversal",
            "svc\\..\\k1".into(),
            "Kid(BadCharacter('\\\\'))".into(),
        ),
        (
            "absolute URL",
            "https://evil.example/k1".into(),
            "Kid(BadCharacter(':'))".into(),
        ),
        (
            "protocol-relative",
            "//evil.example/k1".into(),
            "Kid(BadSegment(\"//evil.example/k1\"))".into(),
        ),
        (
            "userinfo",
            "svc@evil.example/k1".into(),
            "Kid(BadCharacter('@'))".into(),
        ),
        ("query", "svc/k1?x=1".into(), "Kid(BadCharacter('?'))".into()),
        ("fragment", "svc/k1#x".into(), "Kid(BadCharacter('#'))".into()),
        (
            "newline",
            "svc/k1\nHost: evil".into(),
            "Kid(BadCharacter('\\n'))".into(),
        ),
        ("NUL", "svc/k1\u{0}.pem".into(), "Kid(BadCharacter('\\0'))".into()),
        ("tab", "svc/k\t1".into(), "Kid(BadCharacter('\\t'))".into()),
        ("space", "svc/k 1".into(), "Kid(BadCharacter(' '))".into()),
        (
            "Cyrillic look-alike",
            "svc/\u{43a}1".into(),
            "Kid(BadCharacter('\\u{43a}'))".into(),
        ),
        (
            "fullwidth solidus",
            "svc\u{ff0f}k1".into(),
            "Kid(BadCharacter('\\u{ff0f}'))".into(),
        ),
        (
            "one dot leader",
            "svc/\u{2024}\u{2024}/k1".into(),
            "Kid(BadCharacter('\\u{2024}'))".into(),
        ),
        (
            "very long",
            long.clone(),
            format!("Kid(TooLong {{ len: {} }})", long.len()),
        ),
        ("empty", String::new(), "Kid(Empty)".into()),
        (
            "another issuer's key",
            "other/k1".into(),
            "Kid(NotOwnedByIssuer { kid: \"other/k1\", issuer: \"svc\" })".into(),
        ),
        (
            "issuer as a mere prefix",
            "svcadmin/k1".into(),
            "Kid(NotOwnedByIssuer { kid: \"svcadmin/k1\", issuer: \"svc\" })".into(),
        ),
        (
            "kid equal to the issuer (legacy switch off)",
            "svc".into(),
            "Kid(NotOwnedByIssuer { kid: \"svc\", issuer: \"svc\" })".into(),
        ),
    ];
    for (case, kid, refusal) in cases {
        let header = json!({"alg": "ES256", "kid": kid});
        let token = signed(&header, &claims(), &s.key, Algorithm::ES256);
        s.refused(case, &token, 401, &refusal).await;
    }
    // The issuer that owns the kid prefix but is not on the allow-list: 403, still no fetch.
    let token = signed(
        &json!({"alg": "ES256", "kid": "intruder/k1"}),
        &with_mutated(|c| {
            c.insert("iss".into(), json!("intruder"));
            c.insert("sub".into(), json!("intruder"));
        }),
        &s.key,
        Algorithm::ES256,
    );
    s.refused(
        "issuer not allowed",
        &token,
        403,
        "IssuerNotAllowed(\"intruder\")",
    )
    .await;
    assert_eq!(
        s.repo.hits(),
        0,
        "kid tricks reached the key repository: {:?}",
        s.repo.paths()
    );

    // A syntactically valid kid is fetched as exactly base + kid.
    s.accepted(
        "a valid kid",
        &signed(&es256_header(), &claims(), &s.key, Algorithm::ES256),
    )
    .await;
    assert_eq!(s.repo.paths(), vec![format!("/{KID}")]);
}

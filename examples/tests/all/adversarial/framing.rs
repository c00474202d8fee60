//! Framing and size: oversized tokens, wrong segment counts, bad base64url, JSON that is not
//! an object or nests too deep, and repeated keys, all refused before any key fetch.

use asap_core::{Algorithm, TokenError, VerifyError};
use asap_testkit::forge;

use super::stack::{NOW, Stack, claims, es256_header, signed, signed_text};

#[tokio::test]
async fn framing_and_size_attacks_are_refused_before_any_key_fetch() {
    let s = Stack::start().await;
    // A token whose signature has a `-` or `_`, so that the standard-alphabet case below really
    // differs from it (about one signature in fifteen has neither).
    let good = std::iter::repeat_with(|| signed(&es256_header(), &claims(), &s.key, Algorithm::ES256))
        .find(|token| {
            token
                .rsplit_once('.')
                .is_some_and(|(_, sig)| sig.contains(['-', '_']))
        })
        .expect("a signature with a URL-safe character");
    let (h, c, sig) = {
        let mut parts = good.split('.');
        (
            parts.next().expect("h").to_owned(),
            parts.next().expect("c").to_owned(),
            parts.next().expect("s").to_owned(),
        )
    };

    // 1 MB: refused by size before any parsing; over HTTP the server's header limit answers
    // first (431), and neither reaches the key repository.
    let mega = "A".repeat(1 << 20);
    let err = s.verifier.verify(&mega).await.expect_err("1 MB token");
    assert!(
        matches!(err, VerifyError::Token(TokenError::TooLarge { len, max: 8192 }) if len == 1 << 20),
        "{err:?}"
    );
    assert_eq!(err.outcome().status(), 401);
    let over_http = s.bearer(&mega).await;
    assert_eq!(over_http.status, 431, "{over_http:?}");
    let just_over = format!("{h}.{c}.{}", "A".repeat(8192));
    s.refused(
        "8 KiB + a signature",
        &just_over,
        401,
        &format!("Token(TooLarge {{ len: {}, max: 8192 }})", just_over.len()),
    )
    .await;

    const MALFORMED_3: &str = "Token(Malformed(\"a token has exactly three segments separated by '.'\"))";
    for (case, token) in [
        ("a token of dots", ".".repeat(4000)),
        ("two segments", format!("{h}.{c}")),
        ("four segments", format!("{good}.{sig}")),
        ("five segments (JWE shape)", format!("{h}.{c}.{c}.{c}.{sig}")),
    ] {
        s.refused(case, &token, 401, MALFORMED_3).await;
    }
    for (case, token) in [
        ("two dots", "..".to_owned()),
        ("empty header", format!(".{c}.{sig}")),
        ("empty signature", format!("{h}.{c}.")),
        ("padding", format!("{h}=.{c}.{sig}")),
        (
            "standard alphabet",
            format!("{h}.{c}.{}", sig.replace('-', "+").replace('_', "/")),
        ),
        ("invalid character", format!("{h}!.{c}.{sig}")),
        ("one-character segment", format!("A.{c}.{sig}")),
        (
            "non-canonical trailing bits",
            format!("{h}.{c}.{}B", &sig[..sig.len() - 1]),
        ),
    ] {
        s.refused_like(case, &token, 401, "Token(Malformed(").await;
    }
    // Non-ASCII never gets past the transport rule over HTTP; given to the verifier directly it
    // is a framing error.
    let err = s
        .verifier
        .verify(&format!("{good}\u{e9}"))
        .await
        .expect_err("non-ASCII");
    assert!(
        matches!(err, VerifyError::Token(TokenError::Malformed(_))),
        "{err:?}"
    );
    for json_text in [
        "[]",
        "\"x\"",
        "null",
        "1",
        "true",
        "{\"alg\":\"ES256\"}x",
        "{",
        "\u{feff}{}",
    ] {
        let as_header = format!("{}.{c}.{sig}", forge::b64(json_text.as_bytes()));
        s.refused_like(
            &format!("header {json_text:?}"),
            &as_header,
            401,
            "Token(Malformed(",
        )
        .await;
        let as_claims = signed_text(&es256_header().to_string(), json_text, &s.key, Algorithm::ES256);
        s.refused_like(
            &format!("claims {json_text:?}"),
            &as_claims,
            401,
            "Token(Malformed(",
        )
        .await;
    }
    // Nesting deeper than the JSON parser's recursion limit: an error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(3000), "]".repeat(3000));
    let deep_claims = format!("{{\"x\":{deep}}}");
    let token = signed_text(
        &es256_header().to_string(),
        &deep_claims,
        &s.key,
        Algorithm::ES256,
    );
    s.refused_like("deeply nested claims", &token, 401, "Token(Malformed(")
        .await;

    // Two parsers that pick different duplicates would read one token two ways.
    let header_dup = format!(
        "{}.{c}.{sig}",
        forge::b64(br#"{"alg":"ES256","kid":"svc/k1","alg":"none"}"#)
    );
    s.refused("duplicate alg", &header_dup, 401, "Token(DuplicateKey(\"alg\"))")
        .await;
    let claims_dup = format!(
        r#"{{"iss":"svc","iss":"other","aud":"api","jti":"d1","iat":{NOW},"exp":{}}}"#,
        NOW + 60
    );
    let token = signed_text(&es256_header().to_string(), &claims_dup, &s.key, Algorithm::ES256);
    s.refused(
        "duplicate iss (validly signed)",
        &token,
        401,
        "Token(DuplicateKey(\"iss\"))",
    )
    .await;
    let nested_dup = format!(
        r#"{{"iss":"svc","aud":"api","jti":"d2","iat":{NOW},"exp":{},"ctx":{{"role":"user","role":"admin"}}}}"#,
        NOW + 60
    );
    let token = signed_text(&es256_header().to_string(), &nested_dup, &s.key, Algorithm::ES256);
    s.refused(
        "duplicate nested key",
        &token,
        401,
        "Token(DuplicateKey(\"role\"))",
    )
    .await;
    let escaped_dup = format!(
        r#"{{"iss":"svc","\u0069ss":"other","aud":"api","jti":"d3","iat":{NOW},"exp":{}}}"#,
        NOW + 60
    );
    let token = signed_text(
        &es256_header().to_string(),
        &escaped_dup,
        &s.key,
        Algorithm::ES256,
    );
    s.refused(
        "duplicate spelled with an escape",
        &token,
        401,
        "Token(DuplicateKey(\"iss\"))",
    )
    .await;

    assert_eq!(s.repo.hits(), 0, "framing attacks reached the key repository");
    s.accepted("the unmodified token", &good).await;
    assert_eq!(s.repo.hits(), 1);
}

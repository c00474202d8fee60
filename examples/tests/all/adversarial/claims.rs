//! Claims: wrong JSON types (refused before the key fetch) and the time, audience and subject
//! boundaries, each answered with the rule that failed.

use asap_core::Algorithm;
use serde_json::{Value, json};

use super::stack::{AUDIENCE, ISSUER, NOW, Stack, es256_header, signed, with_mutated};

#[tokio::test]
async fn claim_type_and_boundary_attacks_get_the_rule_that_failed() {
    let s = Stack::start().await;
    let header = es256_header();
    let send = |c: Value| signed(&header, &c, &s.key, Algorithm::ES256);

    // Wrong types never reach the key repository.
    let typed: Vec<(&str, Value, &str)> = vec![
        (
            "iat as a float",
            with_mutated(|c| {
                c.insert("iat".into(), json!(1_900_000_000.5));
            }),
            "Token(InvalidClaim { claim: \"iat\", reason: ",
        ),
        (
            "iat as an exponent",
            with_mutated(|c| {
                c.insert("iat".into(), json!(1.9e9));
            }),
            "Token(InvalidClaim { claim: \"iat\", reason: ",
        ),
        (
            "exp as a string",
            with_mutated(|c| {
                c.insert("exp".into(), json!((NOW + 60).to_string()));
            }),
            "Token(InvalidClaim { claim: \"exp\", reason: ",
        ),
        (
            "exp above i64",
            with_mutated(|c| {
                c.insert("exp".into(), json!(u64::MAX));
            }),
            "Token(InvalidClaim { claim: \"exp\", reason: ",
        ),
        (
            "nbf as null",
            with_mutated(|c| {
                c.insert("nbf".into(), Value::Null);
            }),
            "Token(InvalidClaim { claim: \"nbf\", reason: ",
        ),
        (
            "iss empty",
            with_mutated(|c| {
                c.insert("iss".into(), json!(""));
            }),
            "Token(InvalidClaim { claim: \"iss\", reason: ",
        ),
        (
            "iss as an array",
            with_mutated(|c| {
                c.insert("iss".into(), json!([ISSUER]));
            }),
            "Token(InvalidClaim { claim: \"iss\", reason: ",
        ),
        (
            "jti as a number",
            with_mutated(|c| {
                c.insert("jti".into(), json!(7));
            }),
            "Token(InvalidClaim { claim: \"jti\", reason: ",
        ),
        (
            "jti empty",
            with_mutated(|c| {
                c.insert("jti".into(), json!(""));
            }),
            "Token(InvalidClaim { claim: \"jti\", reason: ",
        ),
        (
            "aud empty array",
            with_mutated(|c| {
                c.insert("aud".into(), json!([]));
            }),
            "Token(InvalidClaim { claim: \"aud\", reason: ",
        ),
        (
            "aud array with a number",
            with_mutated(|c| {
                c.insert("aud".into(), json!([AUDIENCE, 1]));
            }),
            "Token(InvalidClaim { claim: \"aud\", reason: ",
        ),
        (
            "aud as an object",
            with_mutated(|c| {
                c.insert("aud".into(), json!({"aud": AUDIENCE}));
            }),
            "Token(InvalidClaim { claim: \"aud\", reason: ",
        ),
        (
            "sub as a number",
            with_mutated(|c| {
                c.insert("sub".into(), json!(1));
            }),
            "Token(InvalidClaim { claim: \"sub\", reason: ",
        ),
        (
            "exp missing",
            with_mutated(|c| {
                c.remove("exp");
            }),
            "Token(MissingClaim(\"exp\"))",
        ),
        (
            "jti missing",
            with_mutated(|c| {
                c.remove("jti");
            }),
            "Token(MissingClaim(\"jti\"))",
        ),
    ];
    for (case, c, refusal) in typed {
        s.refused_like(case, &send(c), 401, refusal).await;
    }
    assert_eq!(s.repo.hits(), 0, "claim type errors reached the key repository");

    // Boundaries at NOW with the default 30 s leeway: exact values pass, one second more fails.
    let at = |iat: i64, exp: i64, nbf: Option<i64>| {
        with_mutated(|c| {
            c.insert("iat".into(), json!(iat));
            c.insert("exp".into(), json!(exp));
            if let Some(nbf) = nbf {
                c.insert("nbf".into(), json!(nbf));
            }
        })
    };
    s.accepted("exp = now - leeway", &send(at(NOW - 90, NOW - 30, None)))
        .await;
    s.accepted("iat = now + leeway", &send(at(NOW + 30, NOW + 90, None)))
        .await;
    s.accepted("lifetime 3600", &send(at(NOW - 10, NOW + 3590, None)))
        .await;
    s.accepted("iat = exp", &send(at(NOW, NOW, None))).await;
    let failing: Vec<(&str, Value, String)> = vec![
        (
            "exp = now - leeway - 1",
            at(NOW - 91, NOW - 31, None),
            format!("Token(Expired {{ exp: {}, now: {NOW} }})", NOW - 31),
        ),
        (
            "iat = now + leeway + 1",
            at(NOW + 31, NOW + 91, None),
            format!("Token(IssuedInFuture {{ iat: {}, now: {NOW} }})", NOW + 31),
        ),
        (
            "nbf = now + leeway + 1",
            at(NOW, NOW + 60, Some(NOW + 31)),
            format!("Token(NotYetValid {{ nbf: {}, now: {NOW} }})", NOW + 31),
        ),
        (
            "lifetime 3601",
            at(NOW - 10, NOW + 3591, None),
            "Token(BadLifetime { lifetime: 3601, max: 3600 })".to_owned(),
        ),
        (
            "exp before iat",
            at(NOW, NOW - 1, None),
            "Token(BadLifetime { lifetime: -1, max: 3600 })".to_owned(),
        ),
        (
            "exp = i64::MAX",
            at(NOW, i64::MAX, None),
            format!("Token(BadLifetime {{ lifetime: {}, max: 3600 }})", i64::MAX - NOW),
        ),
        (
            "iat = i64::MIN (exp - iat overflows)",
            at(i64::MIN, NOW, None),
            format!("Token(BadLifetime {{ lifetime: {}, max: 3600 }})", i64::MAX),
        ),
        (
            "aud differs in case",
            with_mutated(|c| {
                c.insert("aud".into(), json!("API"));
            }),
            "Token(AudienceMismatch)".to_owned(),
        ),
        (
            "aud with a trailing space",
            with_mutated(|c| {
                c.insert("aud".into(), json!("api "));
            }),
            "Token(AudienceMismatch)".to_owned(),
        ),
    ];
    for (case, c, refusal) in failing {
        s.refused(case, &send(c), 401, &refusal).await;
    }
    s.refused(
        "sub other than iss",
        &send(with_mutated(|c| {
            c.insert("sub".into(), json!("admin"));
        })),
        403,
        "SubjectMismatch { subject: \"admin\", issuer: \"svc\" }",
    )
    .await;
    // One key fetch for all of them: the key is cached.
    assert_eq!(s.repo.hits(), 1);
}

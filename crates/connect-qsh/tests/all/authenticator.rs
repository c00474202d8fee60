//! The inbound Authenticator: what passes and what is refused, with the reason.

use std::sync::Arc;

use asap_core::{AlgorithmError, KeySpec, ManualClock, PrivateKey, TokenError};
use connect_qsh::{
    AuthError, Authenticator, ConnectSigner, InMemorySharedSecretStore, QshBinding, QshPolicy, SharedSecret,
    SharedSecretStore, StoreError, StoreFuture, qsh,
};
use http::{HeaderMap, HeaderValue, Method, Uri};
use serde_json::json;

use crate::support::{hs256_token, hs512_token, none_token, now, rs256_token};

const CLIENT_KEY: &str = "jira:1234-tenant";
const SECRET: &str = "a-long-shared-secret-from-the-installed-callback";

fn authenticator() -> Authenticator {
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET).expect("a non-empty secret"));
    Authenticator::builder(secrets)
        .base_url("https://app.example.com/connect")
        .build()
        .expect("valid configuration")
}

fn token_for(method: &str, target: &str) -> String {
    ConnectSigner::new(CLIENT_KEY)
        .sign(
            &SharedSecret::new(SECRET).expect("a non-empty secret"),
            method,
            target,
            "/connect",
        )
        .expect("signed")
}

fn jwt_header(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("JWT {token}")).expect("valid header"),
    );
    headers
}

async fn check(method: &str, target: &str, token: &str) -> Result<connect_qsh::VerifiedRequest, AuthError> {
    let uri: Uri = target.parse().expect("valid uri");
    let method: Method = method.parse().expect("valid method");
    authenticator()
        .authenticate(&method, &uri, &jwt_header(token))
        .await
}

const SIGNED: &str = "/connect/issue/panel?issueKey=KEY-1&project=P&lic=active";

#[tokio::test]
async fn a_token_for_this_request_authenticates() {
    let ok = check("GET", SIGNED, &token_for("GET", SIGNED))
        .await
        .expect("authenticated");
    assert_eq!(ok.client_key(), CLIENT_KEY);
    assert_eq!(ok.binding(), QshBinding::Request);
}

#[tokio::test]
async fn tampering_with_the_method_fails() {
    let err = check("POST", SIGNED, &token_for("GET", SIGNED))
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::QshMismatch), "{err}");
    assert_eq!(err.outcome().status(), 401);
}

#[tokio::test]
async fn tampering_with_the_path_fails() {
    let tampered = SIGNED.replace("/panel", "/admin");
    let err = check("GET", &tampered, &token_for("GET", SIGNED))
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::QshMismatch), "{err}");
}

#[tokio::test]
async fn tampering_with_a_parameter_value_fails() {
    let tampered = SIGNED.replace("KEY-1", "KEY-2");
    let err = check("GET", &tampered, &token_for("GET", SIGNED))
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::QshMismatch), "{err}");
}

#[tokio::test]
async fn adding_a_parameter_fails() {
    let tampered = format!("{SIGNED}&admin=true");
    let err = check("GET", &tampered, &token_for("GET", SIGNED))
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::QshMismatch), "{err}");
}

#[tokio::test]
async fn reordering_parameters_passes() {
    let reordered = "/connect/issue/panel?lic=active&project=P&issueKey=KEY-1";
    check("GET", reordered, &token_for("GET", SIGNED))
        .await
        .expect("same canonical request");
}

#[tokio::test]
async fn the_host_decoded_path_form_is_accepted_too() {
    // The host signs over the percent-decoded path; the raw form must match as well.
    let target = "/connect/page%20one/x%26y?a=1";
    let decoded_qsh = connect_qsh::qsh_of_canonical("GET&/page one/x%26y&a=1");
    let claims = json!({"iss": CLIENT_KEY, "iat": now(), "exp": now() + 60, "qsh": decoded_qsh});
    let token = hs256_token(&json!({"alg": "HS256", "typ": "JWT"}), &claims, SECRET);
    check("GET", target, &token).await.expect("decoded form accepted");
    check("GET", target, &token_for("GET", target))
        .await
        .expect("raw form accepted");
}

fn claims_for(target: &str) -> serde_json::Value {
    let qsh = qsh("GET", target, "/connect").expect("qsh");
    json!({"iss": CLIENT_KEY, "iat": now(), "exp": now() + 60, "qsh": qsh})
}

#[tokio::test]
async fn alg_none_is_rejected() {
    let token = none_token(&claims_for(SIGNED));
    let err = check("GET", SIGNED, &token).await.expect_err("must be refused");
    assert!(
        matches!(err, AuthError::Token(TokenError::Algorithm(AlgorithmError::NotAccepted { ref found, .. })) if found == "none"),
        "{err}"
    );
    assert_eq!(err.outcome().status(), 401);
}

#[tokio::test]
async fn alg_hs512_is_rejected() {
    let token = hs512_token(
        &json!({"alg": "HS512", "typ": "JWT"}),
        &claims_for(SIGNED),
        SECRET,
    );
    let err = check("GET", SIGNED, &token).await.expect_err("must be refused");
    assert!(
        matches!(err, AuthError::Token(TokenError::Algorithm(AlgorithmError::NotAccepted { ref found, .. })) if found == "HS512"),
        "{err}"
    );
}

#[tokio::test]
async fn alg_rs256_is_rejected_for_tenant_tokens() {
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("key");
    let token = rs256_token(&json!({"alg": "RS256", "kid": "k"}), &claims_for(SIGNED), &key);
    let err = check("GET", SIGNED, &token).await.expect_err("must be refused");
    assert!(
        matches!(err, AuthError::Token(TokenError::Algorithm(AlgorithmError::NotAccepted { ref found, .. })) if found == "RS256"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_issuer_is_401() {
    let token = ConnectSigner::new("someone-else")
        .sign(
            &SharedSecret::new(SECRET).expect("a non-empty secret"),
            "GET",
            SIGNED,
            "/connect",
        )
        .expect("signed");
    let err = check("GET", SIGNED, &token).await.expect_err("must be refused");
    assert!(matches!(err, AuthError::UnknownIssuer(_)), "{err}");
    assert_eq!(err.outcome().status(), 401);
}

#[tokio::test]
async fn a_wrong_secret_fails_the_signature() {
    let token = ConnectSigner::new(CLIENT_KEY)
        .sign(
            &SharedSecret::new("guessed").expect("a non-empty secret"),
            "GET",
            SIGNED,
            "/connect",
        )
        .expect("signed");
    let err = check("GET", SIGNED, &token).await.expect_err("must be refused");
    assert!(matches!(err, AuthError::Token(TokenError::BadSignature)), "{err}");
}

#[tokio::test]
async fn expired_tokens_fail_beyond_the_leeway() {
    let clock = Arc::new(ManualClock::new(now()));
    let token = ConnectSigner::new(CLIENT_KEY)
        .clock(clock.clone())
        .sign(
            &SharedSecret::new(SECRET).expect("a non-empty secret"),
            "GET",
            SIGNED,
            "/connect",
        )
        .expect("signed");
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET).expect("a non-empty secret"));
    let auth = Authenticator::builder(secrets)
        .base_url("/connect")
        .clock(clock.clone())
        .build()
        .expect("valid");
    let uri: Uri = SIGNED.parse().expect("uri");
    clock.advance(180 + 30);
    auth.authenticate(&Method::GET, &uri, &jwt_header(&token))
        .await
        .expect("inside the leeway");
    clock.advance(1);
    let err = auth
        .authenticate(&Method::GET, &uri, &jwt_header(&token))
        .await
        .expect_err("must be refused");
    assert!(
        matches!(err, AuthError::Token(TokenError::Expired { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn query_token_works_and_is_not_part_of_the_qsh() {
    let token = token_for("GET", SIGNED);
    let uri: Uri = format!("{SIGNED}&jwt={token}").parse().expect("uri");
    authenticator()
        .authenticate(&Method::GET, &uri, &HeaderMap::new())
        .await
        .expect("query token");
}

#[tokio::test]
async fn header_and_query_tokens_that_differ_are_rejected() {
    let token = token_for("GET", SIGNED);
    let other = token_for("GET", SIGNED).replace('.', ".x"); // any different string
    let uri: Uri = format!("{SIGNED}&jwt={other}").parse().expect("uri");
    let err = authenticator()
        .authenticate(&Method::GET, &uri, &jwt_header(&token))
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::AmbiguousToken(_)), "{err}");
    assert_eq!(err.outcome().status(), 401);
    // The same token in both places is fine.
    let uri: Uri = format!("{SIGNED}&jwt={token}").parse().expect("uri");
    authenticator()
        .authenticate(&Method::GET, &uri, &jwt_header(&token))
        .await
        .expect("identical tokens");
}

#[tokio::test]
async fn missing_token_is_401() {
    let uri: Uri = SIGNED.parse().expect("uri");
    let err = authenticator()
        .authenticate(&Method::GET, &uri, &HeaderMap::new())
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::MissingToken), "{err}");
}

#[tokio::test]
async fn context_qsh_only_where_the_route_opts_in() {
    let claims =
        json!({"iss": CLIENT_KEY, "iat": now(), "exp": now() + 60, "qsh": "context-qsh", "sub": "user-1"});
    let token = hs256_token(&json!({"alg": "HS256", "typ": "JWT"}), &claims, SECRET);
    let uri: Uri = "/connect/api/anything?x=1".parse().expect("uri");
    let auth = authenticator();
    let err = auth
        .authenticate(&Method::POST, &uri, &jwt_header(&token))
        .await
        .expect_err("must be refused");
    assert!(matches!(err, AuthError::ContextQshNotAllowed), "{err}");
    assert_eq!(err.outcome().status(), 403);
    let ok = auth
        .authenticate_with(&Method::POST, &uri, &jwt_header(&token), QshPolicy::AllowContext)
        .await
        .expect("opted in");
    assert_eq!(ok.binding(), QshBinding::Context);
    assert_eq!(ok.subject(), Some("user-1"));
}

#[tokio::test]
async fn a_request_outside_the_base_path_is_refused() {
    let target = "/elsewhere/panel";
    let token = ConnectSigner::new(CLIENT_KEY)
        .sign(
            &SharedSecret::new(SECRET).expect("a non-empty secret"),
            "GET",
            target,
            "",
        )
        .expect("signed");
    let err = check("GET", target, &token).await.expect_err("must be refused");
    assert!(matches!(err, AuthError::Url(_)), "{err}");
}

#[tokio::test]
async fn a_store_outage_is_503() {
    #[derive(Debug)]
    struct Down;
    impl SharedSecretStore for Down {
        fn shared_secret<'a>(&'a self, _: &'a str) -> StoreFuture<'a, Option<SharedSecret>> {
            Box::pin(async { Err(StoreError::Unavailable("connection refused".into())) })
        }
    }
    let auth = Authenticator::builder(Down).build().expect("valid");
    let uri: Uri = "/x".parse().expect("uri");
    let token = ConnectSigner::new(CLIENT_KEY)
        .sign(
            &SharedSecret::new(SECRET).expect("a non-empty secret"),
            "GET",
            "/x",
            "",
        )
        .expect("signed");
    let err = auth
        .authenticate(&Method::GET, &uri, &jwt_header(&token))
        .await
        .expect_err("must be refused");
    assert_eq!(err.outcome().status(), 503, "{err}");
}

#[tokio::test]
async fn authenticate_url_takes_absolute_urls() {
    let url = format!("https://app.example.com{SIGNED}");
    authenticator()
        .authenticate_url(
            "GET",
            &url,
            &jwt_header(&token_for("GET", SIGNED)),
            QshPolicy::RequestOnly,
        )
        .await
        .expect("authenticated");
}

#[tokio::test]
async fn headers_that_change_what_is_signed_are_refused() {
    let q = qsh("GET", SIGNED, "/connect").expect("qsh");
    let claims = json!({"iss": CLIENT_KEY, "iat": now(), "exp": now() + 60, "qsh": q});
    for (name, value) in [
        ("b64", json!(false)),
        ("zip", json!("DEF")),
        ("enc", json!("A128GCM")),
        ("crit", json!(["b64"])),
    ] {
        let token = hs256_token(
            &json!({"alg": "HS256", "typ": "JWT", name: value}),
            &claims,
            SECRET,
        );
        let err = check("GET", SIGNED, &token).await.expect_err(name);
        assert!(
            matches!(err, AuthError::Token(TokenError::ForbiddenHeader(n)) if n == name),
            "{name}: {err}"
        );
    }
}

fn with_lifetime(lifetime: i64, qsh_claim: &str) -> String {
    // One clock read: two could straddle a second and make the lifetime one short.
    let iat = now();
    let claims = json!({"iss": CLIENT_KEY, "iat": iat, "exp": iat + lifetime, "qsh": qsh_claim});
    hs256_token(&json!({"alg": "HS256", "typ": "JWT"}), &claims, SECRET)
}

#[tokio::test]
async fn lifetime_is_capped_at_an_hour_by_default_and_context_tokens_fit() {
    let q = qsh("GET", SIGNED, "/connect").expect("qsh");
    // The host's request tokens (180 s) and context tokens (minutes) pass.
    check("GET", SIGNED, &with_lifetime(180, &q))
        .await
        .expect("a request token");
    let uri: Uri = SIGNED.parse().expect("uri");
    authenticator()
        .authenticate_with(
            &Method::GET,
            &uri,
            &jwt_header(&with_lifetime(900, "context-qsh")),
            QshPolicy::AllowContext,
        )
        .await
        .expect("a 15-minute context token");
    check("GET", SIGNED, &with_lifetime(3600, &q))
        .await
        .expect("one hour");
    let err = check("GET", SIGNED, &with_lifetime(3601, &q))
        .await
        .expect_err("longer than an hour");
    assert!(
        matches!(
            err,
            AuthError::Token(TokenError::BadLifetime {
                lifetime: 3601,
                max: 3600
            })
        ),
        "{err}"
    );
    // A token minted to live for a year, as a leaked secret would allow.
    let err = check("GET", SIGNED, &with_lifetime(365 * 86_400, &q))
        .await
        .expect_err("a year");
    assert!(
        matches!(err, AuthError::Token(TokenError::BadLifetime { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn a_lower_lifetime_cap_and_an_iat_in_the_future_are_refused() {
    let q = qsh("GET", SIGNED, "/connect").expect("qsh");
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET).expect("a non-empty secret"));
    let strict = Authenticator::builder(secrets)
        .base_url("/connect")
        .max_lifetime(std::time::Duration::from_secs(180))
        .build()
        .expect("valid");
    let uri: Uri = SIGNED.parse().expect("uri");
    strict
        .authenticate(&Method::GET, &uri, &jwt_header(&with_lifetime(180, &q)))
        .await
        .expect("180 s");
    let err = strict
        .authenticate(&Method::GET, &uri, &jwt_header(&with_lifetime(181, &q)))
        .await
        .expect_err("181 s");
    assert!(
        matches!(err, AuthError::Token(TokenError::BadLifetime { .. })),
        "{err}"
    );
    // `nbf` defaults to `iat`: a token issued a day ahead does not start living early.
    let claims = json!({"iss": CLIENT_KEY, "iat": now() + 86_400, "exp": now() + 86_460, "qsh": q});
    let ahead = hs256_token(&json!({"alg": "HS256"}), &claims, SECRET);
    let err = check("GET", SIGNED, &ahead).await.expect_err("iat ahead");
    assert!(
        matches!(err, AuthError::Token(TokenError::IssuedInFuture { .. })),
        "{err}"
    );
}

#[test]
fn leeway_above_five_minutes_is_a_configuration_error() {
    let err = Authenticator::builder(InMemorySharedSecretStore::new())
        .leeway(std::time::Duration::from_secs(301))
        .build()
        .expect_err("too large");
    assert_eq!(
        err.to_string(),
        "invalid Connect configuration: leeway 301 s is larger than the maximum 300 s"
    );
    assert!(
        Authenticator::builder(InMemorySharedSecretStore::new())
            .max_lifetime(std::time::Duration::from_secs(3601))
            .build()
            .is_err()
    );
}

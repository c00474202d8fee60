//! The inbound Authenticator: what passes and what is refused, with the reason.

use std::sync::Arc;

use asap_core::{KeySpec, ManualClock, PrivateKey};
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
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET));
    Authenticator::builder(secrets)
        .base_url("https://app.example.com/connect")
        .build()
        .expect("valid configuration")
}

fn token_for(method: &str, target: &str) -> String {
    ConnectSigner::new(CLIENT_KEY)
        .sign(&SharedSecret::new(SECRET), method, target, "/connect")
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

async fn check(method: &str, target: &str, token: &str) -> Result<connect_qsh::Authenticated, AuthError> {
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
        matches!(err, AuthError::Algorithm { ref found, .. } if found == "none"),
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
        matches!(err, AuthError::Algorithm { ref found, .. } if found == "HS512"),
        "{err}"
    );
}

#[tokio::test]
async fn alg_rs256_is_rejected_for_tenant_tokens() {
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("key");
    let token = rs256_token(&json!({"alg": "RS256", "kid": "k"}), &claims_for(SIGNED), &key);
    let err = check("GET", SIGNED, &token).await.expect_err("must be refused");
    assert!(
        matches!(err, AuthError::Algorithm { ref found, .. } if found == "RS256"),
        "{err}"
    );
}

#[tokio::test]
async fn unknown_issuer_is_401() {
    let token = ConnectSigner::new("someone-else")
        .sign(&SharedSecret::new(SECRET), "GET", SIGNED, "/connect")
        .expect("signed");
    let err = check("GET", SIGNED, &token).await.expect_err("must be refused");
    assert!(matches!(err, AuthError::UnknownIssuer(_)), "{err}");
    assert_eq!(err.outcome().status(), 401);
}

#[tokio::test]
async fn a_wrong_secret_fails_the_signature() {
    let token = ConnectSigner::new(CLIENT_KEY)
        .sign(&SharedSecret::new("guessed"), "GET", SIGNED, "/connect")
        .expect("signed");
    let err = check("GET", SIGNED, &token).await.expect_err("must be refused");
    assert!(matches!(err, AuthError::BadSignature), "{err}");
}

#[tokio::test]
async fn expired_tokens_fail_beyond_the_leeway() {
    let clock = Arc::new(ManualClock::new(now()));
    let token = ConnectSigner::new(CLIENT_KEY)
        .clock(clock.clone())
        .sign(&SharedSecret::new(SECRET), "GET", SIGNED, "/connect")
        .expect("signed");
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET));
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
    assert!(matches!(err, AuthError::Expired { .. }), "{err}");
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
        .sign(&SharedSecret::new(SECRET), "GET", target, "")
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
        .sign(&SharedSecret::new(SECRET), "GET", "/x", "")
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

//! Atlassian Connect: a genuine token replayed on other requests, claims edited without the
//! secret, `qsh` values of every wrong shape, and `context-qsh` on a route bound to the request.

use asap_core::TokenError;
use asap_testkit::forge::{self, Hmac};
use axum::http::{HeaderValue, Uri};
use connect_qsh::{
    AuthError, Authenticator, ConnectSigner, InMemorySharedSecretStore, QshBinding, QshPolicy, SharedSecret,
};
use serde_json::{Value, json};

const CLIENT_KEY: &str = "jira:tenant-1";
const SECRET: &str = "a-shared-secret-of-reasonable-length-1234";
const BASE: &str = "https://app.example/connect";

fn connect_authenticator() -> Authenticator {
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET).expect("secret"));
    Authenticator::builder(secrets)
        .base_url(BASE)
        .build()
        .expect("authenticator")
}

/// A Connect token with any claims, HS256-signed with `secret`.
fn hs256(claims: &Value, secret: &str) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT"});
    forge::signed(&header, claims, |input| {
        Hmac::Sha256.sign(secret.as_bytes(), input)
    })
}

async fn connect_call(
    auth: &Authenticator,
    method: &str,
    target: &str,
    token: &str,
    policy: QshPolicy,
) -> Result<connect_qsh::VerifiedRequest, AuthError> {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("JWT {token}")).expect("header"),
    );
    let uri: Uri = target.parse().expect("uri");
    auth.authenticate_with(&method.parse().expect("method"), &uri, &headers, policy)
        .await
}

#[tokio::test]
async fn connect_qsh_tampering_is_refused() {
    let auth = connect_authenticator();
    let now = asap_core::Clock::now(&asap_core::SystemClock);
    let signed = "/connect/rest/issue?id=1&project=P";
    let token = ConnectSigner::new(CLIENT_KEY)
        .sign(
            &SharedSecret::new(SECRET).expect("secret"),
            "GET",
            signed,
            "/connect",
        )
        .expect("sign");
    let ok = connect_call(&auth, "GET", signed, &token, QshPolicy::RequestOnly)
        .await
        .expect("the request it was made for");
    assert_eq!(ok.binding(), QshBinding::Request);

    // The same token replayed against another request.
    for (case, method, target) in [
        ("method", "DELETE", signed),
        ("path", "GET", "/connect/rest/admin?id=1&project=P"),
        ("value", "GET", "/connect/rest/issue?id=2&project=P"),
        (
            "added parameter",
            "GET",
            "/connect/rest/issue?id=1&project=P&admin=true",
        ),
        (
            "repeated parameter",
            "GET",
            "/connect/rest/issue?id=1&id=2&project=P",
        ),
        ("dropped parameter", "GET", "/connect/rest/issue?id=1"),
        (
            "doubled trailing slash",
            "GET",
            "/connect/rest/issue//?id=1&project=P",
        ),
    ] {
        let err = connect_call(&auth, method, target, &token, QshPolicy::RequestOnly)
            .await
            .expect_err(case);
        assert!(matches!(err, AuthError::QshMismatch), "{case}: {err:?}");
        assert_eq!(err.outcome().status(), 401, "{case}");
    }

    // Editing the claims without the secret.
    let qsh_of = |method: &str, target: &str| connect_qsh::qsh(method, target, "/connect").expect("qsh");
    let claims = |qsh: Value| json!({"iss": CLIENT_KEY, "iat": now, "exp": now + 60, "qsh": qsh});
    let target = "/connect/rest/admin";
    let (head, _) = token.split_once('.').expect("dot");
    let sig = token.rsplit_once('.').expect("dot").1;
    let retargeted = format!(
        "{head}.{}.{sig}",
        forge::b64(claims(json!(qsh_of("GET", target))).to_string().as_bytes())
    );
    let err = connect_call(&auth, "GET", target, &retargeted, QshPolicy::RequestOnly)
        .await
        .expect_err("re-targeted qsh, old signature");
    assert!(
        matches!(err, AuthError::Token(TokenError::BadSignature)),
        "{err:?}"
    );
    let guessed = hs256(&claims(json!(qsh_of("GET", target))), "guessed-secret");
    let err = connect_call(&auth, "GET", target, &guessed, QshPolicy::RequestOnly)
        .await
        .expect_err("wrong secret");
    assert!(
        matches!(err, AuthError::Token(TokenError::BadSignature)),
        "{err:?}"
    );

    // Signed with the right secret but with a qsh that is not this request's, in every shape.
    let upper = qsh_of("GET", target).to_uppercase();
    for (case, qsh) in [
        ("upper-case hex", json!(upper)),
        ("truncated", json!(&qsh_of("GET", target)[..63])),
        ("empty", json!("")),
        ("of another method", json!(qsh_of("POST", target))),
    ] {
        let token = hs256(&claims(qsh), SECRET);
        let err = connect_call(&auth, "GET", target, &token, QshPolicy::RequestOnly)
            .await
            .expect_err(case);
        assert!(
            matches!(
                err,
                AuthError::QshMismatch | AuthError::Token(TokenError::InvalidClaim { claim: "qsh", .. })
            ),
            "{case}: {err:?}"
        );
        assert_eq!(err.outcome().status(), 401, "{case}");
    }
    for (case, qsh) in [
        ("number", json!(1)),
        ("array", json!([qsh_of("GET", target)])),
        ("null", Value::Null),
    ] {
        let token = hs256(&claims(qsh), SECRET);
        let err = connect_call(&auth, "GET", target, &token, QshPolicy::RequestOnly)
            .await
            .expect_err(case);
        assert!(
            matches!(
                err,
                AuthError::Token(TokenError::InvalidClaim { claim: "qsh", .. })
            ),
            "{case}: {err:?}"
        );
    }
    let no_qsh = hs256(&json!({"iss": CLIENT_KEY, "iat": now, "exp": now + 60}), SECRET);
    let err = connect_call(&auth, "GET", target, &no_qsh, QshPolicy::RequestOnly)
        .await
        .expect_err("no qsh");
    assert!(
        matches!(err, AuthError::Token(TokenError::MissingClaim("qsh"))),
        "{err:?}"
    );
}

#[tokio::test]
async fn connect_context_qsh_on_a_bound_route_is_403() {
    let auth = connect_authenticator();
    let now = asap_core::Clock::now(&asap_core::SystemClock);
    let context = hs256(
        &json!({"iss": CLIENT_KEY, "sub": "user-1", "iat": now, "exp": now + 60, "qsh": "context-qsh"}),
        SECRET,
    );
    let bound = "/connect/rest/issue?id=1";
    for method in ["GET", "POST", "DELETE"] {
        let err = connect_call(&auth, method, bound, &context, QshPolicy::RequestOnly)
            .await
            .expect_err("context token on a bound route");
        assert!(
            matches!(err, AuthError::ContextQshNotAllowed),
            "{method}: {err:?}"
        );
        assert_eq!(err.outcome().status(), 403);
    }
    // Variants of the magic value are just wrong hashes, never a context token.
    for qsh in ["Context-Qsh", "context-qsh ", "context_qsh"] {
        let token = hs256(
            &json!({"iss": CLIENT_KEY, "iat": now, "exp": now + 60, "qsh": qsh}),
            SECRET,
        );
        let err = connect_call(&auth, "GET", bound, &token, QshPolicy::AllowContext)
            .await
            .expect_err(qsh);
        assert!(matches!(err, AuthError::QshMismatch), "{qsh:?}: {err:?}");
    }
    // Where the route opts in, the same token passes, marked as a context token.
    let ok = connect_call(&auth, "GET", bound, &context, QshPolicy::AllowContext)
        .await
        .expect("route opted in");
    assert_eq!(ok.binding(), QshBinding::Context);
}

//! A token is valid for one resource (issue 13 #7): through `Authenticator::authenticate`, a
//! token for one path or method is never accepted for another through the decoded path form or
//! the method's letter case, while the forms the host really signs keep passing.

use connect_qsh::{
    AuthError, Authenticator, ConnectSigner, InMemorySharedSecretStore, SharedSecret, qsh_of_canonical,
};
use http::{HeaderMap, HeaderValue, Method, Uri};
use serde_json::json;

use crate::support::{hs256_token, now};

const CLIENT_KEY: &str = "resource-binding-tenant";
const SECRET: &str = "resource-binding-shared-secret";

fn authenticator() -> Authenticator {
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET).expect("a non-empty secret"));
    Authenticator::builder(secrets).build().expect("valid")
}

/// A token made by this crate's signer for `method` on `target` (the raw path, as an app
/// signs).
fn signed_for(method: &str, target: &str) -> String {
    ConnectSigner::new(CLIENT_KEY)
        .sign(
            &SharedSecret::new(SECRET).expect("a non-empty secret"),
            method,
            target,
            "",
        )
        .expect("signed")
}

/// A token whose qsh is the hash of `canonical` as given: what the host sends when it signs
/// over a decoded path the signer could not be asked for.
fn token_over(canonical: &str) -> String {
    let claims =
        json!({"iss": CLIENT_KEY, "iat": now(), "exp": now() + 60, "qsh": qsh_of_canonical(canonical)});
    hs256_token(&json!({"alg": "HS256", "typ": "JWT"}), &claims, SECRET)
}

async fn authenticate(method: &Method, target: &str, token: &str) -> Result<(), AuthError> {
    let uri: Uri = target.parse().expect("valid uri");
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("JWT {token}")).expect("header"),
    );
    authenticator()
        .authenticate(method, &uri, &headers)
        .await
        .map(|_| ())
}

async fn refused(method: &Method, target: &str, token: &str) {
    let err = authenticate(method, target, token)
        .await
        .expect_err(&format!("{method} {target} must be refused"));
    assert!(matches!(err, AuthError::QshMismatch), "{method} {target}: {err}");
    assert_eq!(err.outcome().status(), 401);
}

#[tokio::test]
async fn an_encoded_slash_never_joins_or_splits_segments() {
    // Each token works where it was made for…
    for path in ["/users/1/delete", "/admin", "/files/a%2Fb"] {
        authenticate(&Method::GET, path, &signed_for("GET", path))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    // …and nowhere else: `%2F` (either case) is a segment boundary, and is not decoded.
    refused(
        &Method::GET,
        "/users/1%2Fdelete",
        &signed_for("GET", "/users/1/delete"),
    )
    .await;
    refused(
        &Method::GET,
        "/users/1%2fdelete",
        &signed_for("GET", "/users/1/delete"),
    )
    .await;
    refused(&Method::GET, "/admin%2F", &signed_for("GET", "/admin")).await;
    refused(
        &Method::GET,
        "/users/1%2Fdelete",
        &token_over("GET&/users/1/delete&"),
    )
    .await;
}

#[tokio::test]
async fn an_encoded_percent_is_never_decoded_a_second_time() {
    refused(&Method::GET, "/files/a%252Fb", &signed_for("GET", "/files/a%2Fb")).await;
    refused(&Method::GET, "/files/a%2520b", &signed_for("GET", "/files/a%20b")).await;
    // The host's decoded form of `/files/a%20b` does not admit `/files/a%2520b` either.
    refused(&Method::GET, "/files/a%2520b", &token_over("GET&/files/a b&")).await;
}

#[tokio::test]
async fn the_method_is_case_sensitive() {
    let token = signed_for("GET", "/panel");
    authenticate(&Method::GET, "/panel", &token).await.expect("GET");
    for lower in ["get", "Get", "gET"] {
        let method = Method::from_bytes(lower.as_bytes()).expect("an extension method");
        refused(&method, "/panel", &token).await;
    }
    // Even a token the product made for `get` (the canonical request upper-cases it) is
    // refused on the extension method, and accepted on `GET`.
    let lower_signed = signed_for("get", "/panel");
    refused(
        &Method::from_bytes(b"get").expect("method"),
        "/panel",
        &lower_signed,
    )
    .await;
    authenticate(&Method::GET, "/panel", &lower_signed)
        .await
        .expect("GET");
}

#[tokio::test]
async fn escapes_that_could_change_the_resource_stay_encoded() {
    // `%2e%2e`: a `..` segment once decoded, which normalisers resolve and routers do not.
    refused(
        &Method::GET,
        "/public/%2e%2e/admin",
        &token_over("GET&/public/../admin&"),
    )
    .await;
    refused(
        &Method::GET,
        "/public/%2E%2E/admin",
        &token_over("GET&/public/../admin&"),
    )
    .await;
    refused(&Method::GET, "/public/%2e%2e/admin", &signed_for("GET", "/admin")).await;
    // `%5C`: a backslash is a separator to Windows servers and WHATWG parsers.
    refused(
        &Method::GET,
        "/users/1%5Cdelete",
        &token_over("GET&/users/1\\delete&"),
    )
    .await;
    // `%3B`: the path-parameter delimiter of servlet containers and proxies.
    refused(&Method::GET, "/admin%3Bx=1", &token_over("GET&/admin;x=1&")).await;
    // Invalid UTF-8: replacing it with U+FFFD would give `/%FF` and `/%FE` one path.
    refused(&Method::GET, "/files/%FE", &token_over("GET&/files/\u{FFFD}&")).await;
    refused(&Method::GET, "/files/%FF", &token_over("GET&/files/\u{FFFD}&")).await;
    // Each still authenticates in its raw form, as an app's signer makes it.
    for path in [
        "/public/%2e%2e/admin",
        "/users/1%5Cdelete",
        "/admin%3Bx=1",
        "/files/%FF",
    ] {
        authenticate(&Method::GET, path, &signed_for("GET", path))
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

#[tokio::test]
async fn escapes_that_cannot_change_the_resource_are_decoded() {
    // What the host signs over its decoded path: characters that cannot appear raw in a path
    // (space, `?`, `#`, NUL, non-ASCII), unreserved characters and the other delimiters.
    for (target, decoded) in [
        ("/page%20one", "GET&/page one&"),
        ("/files/a%3Fb", "GET&/files/a?b&"),
        ("/files/a%23b", "GET&/files/a#b&"),
        ("/files/a%00b", "GET&/files/a\0b&"),
        ("/caf%C3%A9/%E5%AE%AE", "GET&/café/宮&"),
        ("/%41%7e", "GET&/A~&"),
        ("/users/557058%3Af581", "GET&/users/557058:f581&"),
        ("/a%2Cb%40c%3Dd%2Be", "GET&/a,b@c=d+e&"),
        ("/x%26y", "GET&/x%26y&"),
    ] {
        authenticate(&Method::GET, target, &token_over(decoded))
            .await
            .unwrap_or_else(|e| panic!("{target} as {decoded:?}: {e}"));
    }
}

#[tokio::test]
async fn a_lone_percent_never_makes_an_escape_of_the_escapes_after_it() {
    // `%%32%46` kept as `%` then decoded to `2F` would be the text `%2F`: a token for
    // `/api/items/a%2Fb` (one segment `a/b`) would admit a request that a router hands on as
    // `a%2Fb` literally, another resource. Likewise `%20` and the dot segments `%2e%2e`.
    for (signed, sent) in [
        ("/api/items/a%2Fb", "/api/items/a%%32%46b"),
        ("/api/items/a%20b", "/api/items/a%%32%30b"),
        ("/x/%2e%2e/admin", "/x/%%32%65%%32%65/admin"),
    ] {
        refused(&Method::GET, sent, &signed_for("GET", signed)).await;
        refused(&Method::GET, sent, &token_over(&format!("GET&{signed}&"))).await;
        // The raw form, as an app's signer makes it, still authenticates.
        authenticate(&Method::GET, sent, &signed_for("GET", sent))
            .await
            .unwrap_or_else(|e| panic!("{sent}: {e}"));
    }
}

/// The host reads `%FF`, `%FE` and `%C0` in a query as U+FFFD: one `qsh` for three requests. A
/// request whose query does not decode to UTF-8 is refused (401), whatever token it carries, so
/// a token made for one of them (or for U+FFFD itself) binds no other.
#[tokio::test]
async fn a_query_that_does_not_decode_to_utf8_binds_no_request() {
    let replaced = token_over("GET&/x&id=%EF%BF%BD");
    authenticate(&Method::GET, "/x?id=%EF%BF%BD", &replaced)
        .await
        .expect("the token's own request");
    for target in ["/x?id=%FF", "/x?id=%FE", "/x?id=%C0", "/x?%FF=1"] {
        let err = authenticate(&Method::GET, target, &replaced)
            .await
            .expect_err(target);
        assert!(
            matches!(err, AuthError::Url(connect_qsh::QshError::InvalidUrl(_))),
            "{target}: {err}"
        );
        assert_eq!(err.outcome().status(), 401, "{target}");
    }
    // Nor can the signer make a token for one.
    assert!(
        ConnectSigner::new(CLIENT_KEY)
            .sign(
                &SharedSecret::new(SECRET).expect("secret"),
                "GET",
                "/x?id=%FF",
                ""
            )
            .is_err()
    );
}

//! Acting as a user (feature `connect`) end to end: a loopback authorization server that
//! implements the JWT-bearer token exchange and checks the assertion it receives, a "product"
//! that accepts only the access tokens that server issued, and the app's client with
//! `ConnectUserMiddleware` in between.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use asap_core::{HmacAlgorithm, HmacKey, Jws, ManualClock, RegisteredClaims};
use asap_reqwest::{ActAsUser, ConnectUserError, ConnectUserMiddleware, UserTokenCache, UserTokenError};
use asap_testkit::http::spawn_http;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use connect_qsh::{JWT_BEARER_GRANT_TYPE, Tenant};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde_json::{Value, json};

const OAUTH_CLIENT_ID: &str = "oauth-client-of-the-app";
const SECRET: &str = "tenant-shared-secret";
const ALICE: &str = "557058:alice";
const BOB: &str = "557058:bob";

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs(),
    )
    .expect("fits")
}

/// The authorization server's state: the tenant it knows, what it issued, how often, and its
/// clock (shared with the app's cache in the expiry test).
#[derive(Clone)]
struct Authority {
    clock: Arc<ManualClock>,
    base_url: Arc<Mutex<String>>,
    tenant_base_url: Arc<Mutex<String>>,
    issued: Arc<Mutex<HashMap<String, String>>>,
    exchanges: Arc<AtomicUsize>,
    expires_in: Arc<Mutex<i64>>,
    scopes_seen: Arc<Mutex<Vec<String>>>,
}

impl Authority {
    fn exchanges(&self) -> usize {
        self.exchanges.load(Ordering::SeqCst)
    }
}

/// The documented exchange: a form POST of `grant_type` (the JWT-bearer URN), `assertion` and
/// `scope`; the assertion must be HS256 with the tenant's shared secret, issued by the app's
/// OAuth client for an account of that tenant, to this server, for 60 s.
async fn token_endpoint(State(authority): State<Authority>, body: String) -> impl IntoResponse {
    let refuse = |error: &str| (StatusCode::BAD_REQUEST, axum::Json(json!({"error": error}))).into_response();
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    if form.get("grant_type").map(String::as_str) != Some(JWT_BEARER_GRANT_TYPE) {
        return refuse("unsupported_grant_type");
    }
    let Some(assertion) = form.get("assertion") else {
        return refuse("invalid_request");
    };
    let Ok(jws) = Jws::parse(assertion, 8192) else {
        return refuse("invalid_grant");
    };
    let verified = jws.header().require_alg("HS256").is_ok()
        && jws.signature().is_ok_and(|s| {
            s.verify(&HmacKey::new(SECRET.as_bytes()), HmacAlgorithm::HS256)
                .is_ok()
        });
    if !verified {
        return refuse("invalid_grant");
    }
    let Ok(mut claims) = RegisteredClaims::decode(&jws.payload().expect("decoded once")) else {
        return refuse("invalid_grant");
    };
    let tnt = claims.take_string("tnt").ok().flatten();
    let account = claims
        .sub
        .as_deref()
        .and_then(|s| s.strip_prefix("urn:atlassian:connect:useraccountid:"))
        .map(str::to_owned);
    let (iat, exp) = (claims.iat.unwrap_or(0), claims.exp.unwrap_or(0));
    let ok = claims.iss.as_deref() == Some(&format!("urn:atlassian:connect:clientid:{OAUTH_CLIENT_ID}"))
        && tnt.as_deref() == Some(authority.tenant_base_url.lock().expect("lock").as_str())
        && claims.aud == [authority.base_url.lock().expect("lock").clone()]
        && exp - iat == 60
        && (iat - asap_core::Clock::now(&*authority.clock)).abs() < 30;
    let Some(account) = account.filter(|_| ok) else {
        return refuse("invalid_grant");
    };
    let n = authority.exchanges.fetch_add(1, Ordering::SeqCst);
    // Slow enough that concurrent callers overlap.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let token = format!("at-{n}-{account}");
    authority
        .issued
        .lock()
        .expect("lock")
        .insert(token.clone(), account);
    authority
        .scopes_seen
        .lock()
        .expect("lock")
        .push(form.get("scope").cloned().unwrap_or_default());
    let expires_in = *authority.expires_in.lock().expect("lock");
    axum::Json(json!({"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}))
        .into_response()
}

/// The product's `/rest/api/3/myself`: who the bearer token is for.
async fn myself(State(authority): State<Authority>, headers: HeaderMap) -> impl IntoResponse {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token.and_then(|t| authority.issued.lock().expect("lock").get(t).cloned()) {
        Some(account) => (StatusCode::OK, account).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

struct Setup {
    authority: Authority,
    authorization_server: String,
    tenant: Tenant,
}

async fn setup() -> Setup {
    let authority = Authority {
        clock: Arc::new(ManualClock::new(now())),
        base_url: Arc::default(),
        tenant_base_url: Arc::default(),
        issued: Arc::default(),
        exchanges: Arc::default(),
        expires_in: Arc::new(Mutex::new(900)),
        scopes_seen: Arc::default(),
    };
    let server = spawn_http(
        Router::new()
            .route("/oauth2/token", post(token_endpoint))
            .with_state(authority.clone()),
    )
    .await;
    let product = spawn_http(
        Router::new()
            .route("/rest/api/3/myself", get(myself))
            .with_state(authority.clone()),
    )
    .await;
    let authorization_server = format!("http://{server}");
    *authority.base_url.lock().expect("lock") = authorization_server.clone();
    let tenant_base_url = format!("http://{product}");
    *authority.tenant_base_url.lock().expect("lock") = tenant_base_url.clone();
    let tenant = tenant_with(&tenant_base_url, SECRET, Some(OAUTH_CLIENT_ID));
    Setup {
        authority,
        authorization_server,
        tenant,
    }
}

fn tenant_with(base_url: &str, secret: &str, oauth_client_id: Option<&str>) -> Tenant {
    let mut payload =
        json!({"clientKey": "acme", "sharedSecret": secret, "baseUrl": base_url, "eventType": "installed"});
    if let Some(id) = oauth_client_id {
        payload["oauthClientId"] = Value::String(id.to_owned());
    }
    Tenant::from_install_payload_allowing_loopback(&payload.to_string()).expect("valid payload")
}

fn client(tokens: &Arc<UserTokenCache>) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(ConnectUserMiddleware::new(tokens.clone()))
        .build()
}

async fn me(client: &ClientWithMiddleware, user: ActAsUser) -> Result<String, reqwest_middleware::Error> {
    let url = format!("{}/rest/api/3/myself", user.tenant.base_url());
    let response = client.get(url).with_extension(user).send().await?;
    assert_eq!(response.status(), 200);
    Ok(response.text().await.expect("body"))
}

fn user_error(err: &reqwest_middleware::Error) -> &ConnectUserError {
    let reqwest_middleware::Error::Middleware(inner) = err else {
        panic!("expected a middleware error, got {err:?}");
    };
    inner
        .downcast_ref::<ConnectUserError>()
        .expect("a ConnectUserError")
}

#[tokio::test]
async fn the_product_is_called_as_the_user_with_a_cached_token() {
    let s = setup().await;
    let tokens = Arc::new(UserTokenCache::new(&s.authorization_server).expect("loopback is allowed"));
    let client = client(&tokens);
    let alice = ActAsUser::new(s.tenant.clone(), ALICE, ["read", "write"]);
    assert_eq!(me(&client, alice.clone()).await.expect("called"), ALICE);
    assert_eq!(me(&client, alice).await.expect("called"), ALICE);
    assert_eq!(
        s.authority.exchanges(),
        1,
        "the second call used the cached token"
    );
    assert_eq!(*s.authority.scopes_seen.lock().expect("lock"), ["READ WRITE"]);

    // The same scopes in another order and case are the same entry; other users, other scopes
    // and other tenants are not.
    let same = ActAsUser::new(s.tenant.clone(), ALICE, ["WRITE", "Read"]);
    assert_eq!(me(&client, same).await.expect("called"), ALICE);
    assert_eq!(s.authority.exchanges(), 1);
    assert_eq!(
        me(&client, ActAsUser::new(s.tenant.clone(), BOB, ["read", "write"]))
            .await
            .expect("called"),
        BOB
    );
    assert_eq!(
        me(&client, ActAsUser::new(s.tenant.clone(), ALICE, ["read"]))
            .await
            .expect("called"),
        ALICE
    );
    assert_eq!(s.authority.exchanges(), 3);
    assert_eq!(tokens.len(), 3);
}

#[tokio::test]
async fn concurrent_requests_for_one_user_make_one_exchange() {
    let s = setup().await;
    let tokens = Arc::new(UserTokenCache::new(&s.authorization_server).expect("valid"));
    let client = client(&tokens);
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let (client, user) = (client.clone(), ActAsUser::new(s.tenant.clone(), ALICE, ["read"]));
            tokio::spawn(async move { me(&client, user).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.expect("joined").expect("called"), ALICE);
    }
    assert_eq!(s.authority.exchanges(), 1);
}

#[tokio::test]
async fn a_token_is_refreshed_before_it_expires() {
    let s = setup().await;
    *s.authority.expires_in.lock().expect("lock") = 300;
    let clock = s.authority.clock.clone();
    let tokens = Arc::new(
        UserTokenCache::new(&s.authorization_server)
            .expect("valid")
            .refresh_before(Duration::from_secs(60))
            .clock(clock.clone()),
    );
    let alice = ActAsUser::new(s.tenant.clone(), ALICE, ["read"]);
    let first = tokens.access_token(&alice).await.expect("token");
    clock.advance(239);
    assert_eq!(
        tokens.access_token(&alice).await.expect("token").expose(),
        first.expose()
    );
    assert_eq!(s.authority.exchanges(), 1);
    clock.advance(2); // 59 s before expiry: inside the refresh margin.
    let second = tokens.access_token(&alice).await.expect("token");
    assert_ne!(second.expose(), first.expose());
    assert_eq!(s.authority.exchanges(), 2);
}

#[tokio::test]
async fn a_refused_grant_is_a_typed_error_and_not_cached() {
    let s = setup().await;
    let tokens = Arc::new(UserTokenCache::new(&s.authorization_server).expect("valid"));
    let client = client(&tokens);
    // The authorization server does not accept an assertion signed with another secret.
    let wrong = tenant_with(s.tenant.base_url(), "not-the-secret", Some(OAUTH_CLIENT_ID));
    let err = me(&client, ActAsUser::new(wrong, ALICE, ["read"]))
        .await
        .expect_err("refused");
    match user_error(&err) {
        ConnectUserError::Token(UserTokenError::Refused { status, error }) => {
            assert_eq!((*status, error.as_deref()), (400, Some("invalid_grant")));
        }
        other => panic!("expected a refusal, got {other}"),
    }
    // Nothing was cached: the tenant's real secret works right after.
    assert_eq!(
        me(&client, ActAsUser::new(s.tenant.clone(), ALICE, ["read"]))
            .await
            .expect("called"),
        ALICE
    );
}

#[tokio::test]
async fn nothing_leaves_without_a_user_a_client_id_or_the_tenants_base_url() {
    let s = setup().await;
    let tokens = Arc::new(UserTokenCache::new(&s.authorization_server).expect("valid"));
    let client = client(&tokens);

    let err = client
        .get(format!("{}/rest/api/3/myself", s.tenant.base_url()))
        .send()
        .await
        .expect_err("no user");
    assert!(matches!(user_error(&err), ConnectUserError::NoUser));

    let no_client_id = tenant_with(s.tenant.base_url(), SECRET, None);
    let err = me(&client, ActAsUser::new(no_client_id, ALICE, ["read"]))
        .await
        .expect_err("no client id");
    assert!(matches!(
        user_error(&err),
        ConnectUserError::Token(UserTokenError::Assertion(_))
    ));

    // A user's token never goes to another host than the tenant's.
    let err = client
        .get(format!("{}/oauth2/token", s.authorization_server))
        .with_extension(ActAsUser::new(s.tenant.clone(), ALICE, ["read"]))
        .send()
        .await
        .expect_err("another host");
    assert!(matches!(user_error(&err), ConnectUserError::NotUnderBaseUrl(_)));
    assert_eq!(s.authority.exchanges(), 0, "no token was asked for");
}

#[tokio::test]
async fn the_assertion_does_not_follow_a_redirect() {
    let s = setup().await;
    // An authorization server that answers 307 to a "collector" that would receive the form.
    let collected = Arc::new(AtomicUsize::new(0));
    let seen = collected.clone();
    let collector = spawn_http(Router::new().route(
        "/steal",
        post(move || {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({"access_token": "stolen", "expires_in": 900}))
            }
        }),
    ))
    .await;
    let redirecting = spawn_http(Router::new().route(
        "/oauth2/token",
        post(move || async move {
            (
                StatusCode::TEMPORARY_REDIRECT,
                [("location", format!("http://{collector}/steal"))],
            )
        }),
    ))
    .await;
    let tokens = Arc::new(UserTokenCache::new(&format!("http://{redirecting}")).expect("valid"));
    let err = tokens
        .access_token(&ActAsUser::new(s.tenant.clone(), ALICE, ["read"]))
        .await
        .expect_err("a redirect is not a token");
    assert!(
        matches!(err, UserTokenError::Refused { status: 307, .. }),
        "{err}"
    );
    assert_eq!(
        collected.load(Ordering::SeqCst),
        0,
        "the assertion went nowhere else"
    );
}

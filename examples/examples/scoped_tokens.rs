//! Scoped tokens: an auth service that issues tokens whose scopes come from each role's allowed
//! set (a `ClaimsPolicy`), and a service whose routes need different scopes.
//!
//! ```text
//! cargo run --example scoped_tokens
//! ```
//!
//! The auth service's public key lives in a key registry (SQLite, in a temporary directory);
//! the service verifies against it. Each call prints its HTTP status.

use asap_core::{
    Audience, ClaimsPolicy, KeyId, KeyKind, KeySpec, PrivateKey, Signer, SigningKey, TokenRequest, Verifier,
};
use asap_registry::KeyRegistry;
use asap_tower::{AsapLayer, Authenticated, RequireScopesLayer, RequiredScopes, ScopeRejection, Scoped};
use axum::Router;
use axum::routing::{get, post};

/// `POST /invoices` needs `invoices:write`, checked by the extractor.
struct InvoicesWrite;
impl RequiredScopes for InvoicesWrite {
    const SCOPES: &'static [&'static str] = &["invoices:write"];
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // --- The auth service: one key, and a policy for what its tokens may say. -----------------
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256))?;
    let dir = tempfile::tempdir()?;
    let registry = KeyRegistry::open(&format!("sqlite:{}", dir.path().join("keys.db").display())).await?;
    registry
        .add("auth", Some("2026-01"), &key.public_key()?.to_pem())
        .await?;

    let policy = ClaimsPolicy::new()
        .scopes(["invoices:read", "invoices:write", "support:*"])
        .role("billing", ["invoices:*"])
        .role("support", ["support:*", "invoices:read"]);
    let auth = Signer::builder("auth")
        .key(SigningKey::new(KeyId::parse("auth/2026-01")?, key, None)?)
        .claims_policy(policy)
        .build()?;
    let ledger = Audience::new("ledger")?;
    let issue = |user: &str, role: &str, scope: &str| {
        auth.sign_request(
            &TokenRequest::new(ledger.clone())
                .subject(user)
                .claim("role", role)
                .claim("scope", scope),
        )
    };

    // --- The service: routes that need different scopes. --------------------------------------
    let verifier = Verifier::builder(registry.clone())
        .audience(ledger.clone())
        .allowed_issuers(["auth"])
        .allow_subject_other_than_issuer(true)
        .build()?;
    let app = Router::new()
        .route(
            "/invoices",
            get(|| async { "invoices\n" }).route_layer(RequireScopesLayer::new(["invoices:read"])),
        )
        .route(
            "/invoices",
            post(|caller: Scoped<InvoicesWrite>| async move {
                format!("invoice created by {}\n", caller.subject())
            }),
        )
        .route(
            "/tickets",
            get(|caller: Authenticated| async move {
                caller.require_scopes(&["support:tickets"])?;
                Ok::<_, ScopeRejection>(format!("tickets for {}\n", caller.subject()))
            }),
        )
        .layer(AsapLayer::new(verifier));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    // --- Tokens, and what each route answers. --------------------------------------------------
    let alice = issue("alice", "billing", "invoices:read invoices:write")?;
    let sam = issue("sam", "support", "support:tickets invoices:read")?;
    match issue("sam", "support", "support:tickets invoices:write") {
        Ok(_) => return Err("the auth service signed a support token with invoices:write".into()),
        Err(e) => println!("auth service refuses: {e}"),
    }

    let client = reqwest::Client::new();
    let calls = [
        ("alice", &alice, "GET", "/invoices", 200),
        ("alice", &alice, "POST", "/invoices", 200),
        ("alice", &alice, "GET", "/tickets", 403),
        ("sam", &sam, "GET", "/invoices", 200),
        ("sam", &sam, "POST", "/invoices", 403),
        ("sam", &sam, "GET", "/tickets", 200),
    ];
    for (who, token, method, path, expected) in calls {
        let request = match method {
            "POST" => client.post(format!("{base}{path}")),
            _ => client.get(format!("{base}{path}")),
        };
        let response = request.bearer_auth(token).send().await?;
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .map(|v| format!("  ({v})"))
            .unwrap_or_default();
        println!("{who:<5} {method:<4} {path:<9} -> {status}{challenge}");
        if status != expected {
            return Err(format!("{who} {method} {path}: expected {expected}, got {status}").into());
        }
    }

    // Revoking the auth service's key: its tokens stop verifying (here at once; on other
    // instances within the registry's cache TTL).
    registry.revoke("auth", "2026-01").await?;
    let status = client
        .get(format!("{base}/invoices"))
        .bearer_auth(&alice)
        .send()
        .await?
        .status();
    println!(
        "after revoking auth/2026-01: alice GET /invoices -> {}",
        status.as_u16()
    );
    if status.as_u16() != 401 {
        return Err("a token signed with a revoked key was accepted".into());
    }
    Ok(())
}

//! Claim policies end to end: an auth service signs only what its policy allows, and a service
//! reads the scopes of what it verifies.

use asap_core::*;
use serde_json::json;

struct AuthService {
    signer: Signer,
    verifier: Verifier,
}

fn auth_service(reuse: bool) -> AuthService {
    let private = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("generate");
    let kid = KeyId::parse("auth/k1").expect("kid");
    let keys = StaticKeySource::new().with_key(kid.clone(), private.public_key().expect("public"));
    let policy = ClaimsPolicy::new()
        .scopes(["invoices:read", "invoices:write", "support:*"])
        .role("support", ["support:*"])
        .role("billing", ["invoices:*"])
        .allow("acr", ["password", "mfa"]);
    let signer = Signer::builder("auth")
        .key(SigningKey::new(kid, private, None).expect("signing key"))
        .claim("acr", "mfa")
        .claims_policy(policy)
        .reuse_tokens(reuse)
        .build()
        .expect("signer");
    let verifier = Verifier::builder(keys)
        .audience(Audience::new("ledger").expect("aud"))
        .build()
        .expect("verifier");
    AuthService { signer, verifier }
}

fn request() -> TokenRequest {
    TokenRequest::new(Audience::new("ledger").expect("aud"))
}

#[tokio::test]
async fn allowed_scopes_are_signed_and_read_back_by_the_verifier() {
    let auth = auth_service(false);
    let token = auth
        .signer
        .sign_request(
            &request()
                .claim("role", "billing")
                .claim("scope", "invoices:read invoices:write"),
        )
        .expect("allowed");
    let verified = auth.verifier.verify(token.as_str()).await.expect("verifies");
    assert_eq!(verified.claims().scopes(), ["invoices:read", "invoices:write"]);
    assert!(verified.claims().require_scopes(&["invoices:write"]).is_ok());
    let err = verified
        .claims()
        .require_scopes(&["support:read"])
        .expect_err("missing scope");
    assert_eq!(err.outcome(), Outcome::Forbidden);
    assert_eq!(err.to_string(), "token lacks the scope(s) support:read");

    // The array form reads the same.
    let token = auth
        .signer
        .sign_request(
            &request()
                .claim("role", "support")
                .claim("scopes", json!(["support:tickets"])),
        )
        .expect("allowed");
    let verified = auth.verifier.verify(token.as_str()).await.expect("verifies");
    assert_eq!(verified.claims().scopes(), ["support:tickets"]);
}

#[test]
fn a_support_token_with_a_billing_scope_is_not_signed() {
    for reuse in [false, true] {
        let auth = auth_service(reuse);
        let err = auth
            .signer
            .sign_request(
                &request()
                    .claim("role", "support")
                    .claim("scope", "support:tickets invoices:write"),
            )
            .expect_err("outside the role's scopes");
        assert_eq!(
            err.to_string(),
            "claim \"scope\" may not carry \"invoices:write\": role \"support\" allows only support:*"
        );
    }
}

#[test]
fn the_signers_default_claims_are_checked_with_the_requests() {
    let auth = auth_service(false);
    // The default `acr` is allowed; a request overriding it with another value is not.
    assert!(auth.signer.sign(&Audience::new("ledger").expect("aud")).is_ok());
    match auth.signer.sign_request(&request().claim("acr", "none")) {
        Err(SignError::ClaimNotAllowed { claim, value, reason }) => {
            assert_eq!((claim.as_str(), value.as_str()), ("acr", "\"none\""));
            assert_eq!(reason, "the allowed values are password, mfa");
        }
        other => panic!("expected ClaimNotAllowed, got {other:?}"),
    }
    // An undeclared claim and an undeclared role are refused by name.
    let err = auth
        .signer
        .sign_request(&request().claim("tenant", "t1"))
        .expect_err("undeclared");
    assert!(
        err.to_string()
            .starts_with("claim \"tenant\" may not carry \"t1\""),
        "{err}"
    );
    let err = auth
        .signer
        .sign_request(&request().claim("role", "root"))
        .expect_err("unknown role");
    assert!(
        err.to_string()
            .contains("the declared roles are billing, support"),
        "{err}"
    );
    // A signer without a policy signs anything (the policy is opt-in).
    let private = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("generate");
    let open = Signer::builder("auth")
        .key(SigningKey::new(KeyId::parse("auth/k1").expect("kid"), private, None).expect("key"))
        .build()
        .expect("signer");
    assert!(open.sign_request(&request().claim("role", "root")).is_ok());
}

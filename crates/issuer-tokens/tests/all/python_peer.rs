//! Both directions against api_jwt 1.3.2 from pip: its `encode()` tokens verified here with
//! route policies; ours read by PyJWT as its consumers decode them, and by its own `decode()`.

use asap_core::{KeySpec, PrivateKey, TokenError};
use asap_testkit::jwt_peers;
use issuer_tokens::{
    IssueRequest, IssuerPolicy, IssuerSigner, IssuerTokenError, IssuerVerifier, Level, Roles,
};
use serde_json::json;

fn rsa() -> PrivateKey {
    PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa")
}

#[test]
fn its_tokens_verify_here_with_typed_extras_and_route_policies() {
    let Some(py) = jwt_peers::api_jwt() else { return };
    let key = rsa();
    let allowed = json!({
        "level": [0.0, 1.0, 2.0, 3.0, 3.1, 4.0],
        "keys": {"user": "auth_user", "support": "auth_support", "admin": "auth_admin"},
        "scopes": {"PER_KEY": {"user": ["user:all"], "support": ["support:all", "support:mobile"], "admin": ["admin:all"]}},
    });
    let kwargs = json!({"subject": "ann@example.com", "key": "support", "level": 3.1, "factor": "yubikey",
                        "target": "bob@example.com", "scopes": ["support:mobile"], "dnt": 2, "exp": 600});
    let token = jwt_peers::api_jwt_encode(&py, &key.to_pkcs8_pem().expect("pem"), &allowed, &kwargs);

    let roles = Roles::default().role("support", "auth_support");
    let verifier = IssuerVerifier::builder()
        .trusted_key(key.public_key().expect("public"))
        .roles(roles)
        .build()
        .expect("verifier");
    let claims = verifier.verify(&token).expect("verifies");
    assert_eq!(
        (claims.issuer(), claims.role(), claims.subject()),
        ("auth_support", "support", "ann@example.com")
    );
    assert_eq!(claims.level(), Level::new(3.1).expect("finite"));
    assert_eq!(
        (claims.factor(), claims.target(), claims.dnt()),
        ("yubikey", "bob@example.com", 2)
    );
    assert_eq!(claims.scopes(), ["support:mobile"]);

    let route = IssuerPolicy::new()
        .min_level(3.0)
        .require_scopes(["support:mobile"])
        .role_scopes("support", ["support:all", "support:mobile"]);
    route.check(&claims).expect("admitted");
    let err = IssuerPolicy::new()
        .min_level(3.5)
        .check(&claims)
        .expect_err("level");
    assert!(matches!(err, IssuerTokenError::LevelTooLow { .. }));
    assert_eq!(err.outcome().status(), 403);
    // A minimum that is not a number refuses every level instead of admitting all of them.
    let err = IssuerPolicy::new()
        .min_level(f64::NAN)
        .check(&claims)
        .expect_err("NaN minimum");
    assert!(matches!(err, IssuerTokenError::LevelTooLow { .. }));
    let err = IssuerPolicy::new()
        .require_scopes(["support:all"])
        .check(&claims)
        .expect_err("scope");
    assert!(matches!(err, IssuerTokenError::MissingScopes(ref m) if m == "support:all"));
    let err = IssuerPolicy::new()
        .role_scopes("support", ["support:all"])
        .check(&claims)
        .expect_err("role scope");
    assert!(matches!(err, IssuerTokenError::ScopeNotAllowedForRole { .. }));
}

#[test]
fn a_misissued_scope_for_its_role_is_refused() {
    let Some(py) = jwt_peers::api_jwt() else { return };
    let key = rsa();
    // An issuer whose own PER_KEY table lets `user` tokens carry `admin:all`.
    let allowed = json!({"scopes": {"PER_KEY": {"user": ["user:all", "admin:all"], "admin": ["admin:all"]}}});
    let token = jwt_peers::api_jwt_encode(
        &py,
        &key.to_pkcs8_pem().expect("pem"),
        &allowed,
        &json!({"subject": "ann", "key": "user", "scopes": ["admin:all"]}),
    );
    let verifier = IssuerVerifier::builder()
        .trusted_key(key.public_key().expect("public"))
        .build()
        .expect("verifier");
    let claims = verifier.verify(&token).expect("signature and claims are fine");
    let service = IssuerPolicy::new()
        .role_scopes("user", ["user:all"])
        .role_scopes("admin", ["admin:all"]);
    assert!(matches!(
        service.check(&claims),
        Err(IssuerTokenError::ScopeNotAllowedForRole { ref role, ref scope }) if role == "user" && scope == "admin:all"
    ));
}

#[test]
fn a_token_signed_outside_the_trusted_set_is_refused_and_keys_are_tried_in_order() {
    let Some(py) = jwt_peers::api_jwt() else { return };
    let (old, new, stranger) = (rsa(), rsa(), rsa());
    let verifier = IssuerVerifier::builder()
        .trusted_key(old.public_key().expect("public"))
        .trusted_key(new.public_key().expect("public"))
        .build()
        .expect("verifier");
    let encode = |key: &PrivateKey| {
        jwt_peers::api_jwt_encode(
            &py,
            &key.to_pkcs8_pem().expect("pem"),
            &json!({}),
            &json!({"subject": "ann"}),
        )
    };
    assert_eq!(
        verifier.verify(&encode(&new)).expect("second key").subject(),
        "ann"
    );
    assert!(verifier.verify(&encode(&old)).is_ok());
    let err = verifier.verify(&encode(&stranger)).expect_err("untrusted");
    assert!(matches!(err, IssuerTokenError::Token(TokenError::BadSignature)));
    assert_eq!(err.outcome().status(), 401);
}

#[test]
fn our_tokens_decode_with_pyjwt_as_its_consumers_do() {
    let Some(py) = jwt_peers::api_jwt() else { return };
    let key = rsa();
    let signer = IssuerSigner::new(PrivateKey::from_pem(&key.to_pkcs8_pem().expect("pem")).expect("copy"))
        .expect("signer");
    let token = signer
        .sign(
            &IssueRequest::new("ann")
                .role("admin")
                .level(3.0)
                .factor("otp")
                .dnt(1)
                .scopes(["admin:all"]),
        )
        .expect("token");
    let claims = jwt_peers::pyjwt_decode(&py, &token, &key.public_key().expect("public").to_pem());
    assert_eq!(claims["iss"], "auth_admin");
    assert_eq!(claims["sub"], "ann");
    assert_eq!(claims["level"], "3.0");
    assert_eq!(claims["dnt"], "1");
    assert_eq!(claims["scopes"], "admin:all");
    assert_eq!(claims["factor"], "otp");
    assert_eq!(claims["target"], "");
    assert!(claims["exp"].is_i64());
    // Another key: PyJWT refuses it.
    let other = jwt_peers::pyjwt_decode(&py, &token, &rsa().public_key().expect("public").to_pem());
    assert_eq!(other["error"], "InvalidSignatureError");
}

#[test]
fn its_decode_needs_aud_and_reads_ours_with_it() {
    let Some(py) = jwt_peers::api_jwt() else { return };
    let key = rsa();
    let public = key.public_key().expect("public").to_pem();
    let copy = || PrivateKey::from_pem(&key.to_pkcs8_pem().expect("pem")).expect("copy");
    let request = IssueRequest::new("ann").level(2.0).scopes(["user:all"]);
    // api_jwt's decode() passes audience='aud' to PyJWT: a token without it is refused, the
    // package's own included.
    let plain = IssuerSigner::new(copy())
        .expect("signer")
        .sign(&request)
        .expect("token");
    assert_eq!(
        jwt_peers::api_jwt_decode(&py, &plain, &public),
        serde_json::Value::Null
    );
    let own = jwt_peers::api_jwt_encode(
        &py,
        &key.to_pkcs8_pem().expect("pem"),
        &json!({}),
        &json!({"subject": "ann"}),
    );
    assert_eq!(
        jwt_peers::api_jwt_decode(&py, &own, &public),
        serde_json::Value::Null
    );
    // With `aud: "aud"` it reads ours, extras typed its way.
    let with_aud = IssuerSigner::new(copy())
        .expect("signer")
        .audience("aud")
        .sign(&request)
        .expect("token");
    let user = jwt_peers::api_jwt_decode(&py, &with_aud, &public);
    assert_eq!(user["id"], "ann");
    assert_eq!(user["level"], 2.0);
    assert_eq!(user["scopes"], json!(["user:all"]));
    // And this verifier takes it only when it answers to that audience.
    let verifier = |aud: Option<&str>| {
        let mut b = IssuerVerifier::builder().trusted_key(key.public_key().expect("public"));
        if let Some(aud) = aud {
            b = b.audience(asap_core::Audience::new(aud).expect("aud"));
        }
        b.build().expect("verifier")
    };
    assert!(matches!(
        verifier(None).verify(&with_aud),
        Err(IssuerTokenError::Token(TokenError::AudienceMismatch))
    ));
    assert!(verifier(Some("aud")).verify(&with_aud).is_ok());
    assert!(matches!(
        verifier(Some("aud")).verify(&plain),
        Err(IssuerTokenError::Token(TokenError::AudienceMismatch))
    ));
}

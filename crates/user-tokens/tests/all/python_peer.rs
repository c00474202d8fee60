//! Both directions against asymmetric-jwt-auth 1.3.0 from pip, in-process with minimal Django
//! settings: its headers verify here, ours verify there (its `UntrustedToken.verify` and its
//! middleware), and the refusals match.

use asap_core::{KeyKind, KeySpec, PrivateKey};
use asap_testkit::jwt_peers;
use user_tokens::{Fingerprint, StaticUserKeys, UserSigner, UserTokenError, UserVerifier};

fn keys() -> [(&'static str, PrivateKey); 2] {
    [
        ("RSA", PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa")),
        (
            "Ed25519",
            PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519"),
        ),
    ]
}

fn verifier_for(username: &str, key: &PrivateKey) -> UserVerifier {
    UserVerifier::builder(StaticUserKeys::new().with_key(username, key.public_key().expect("public")))
        .build()
        .expect("verifier")
}

fn signer(username: &str, key: &PrivateKey) -> UserSigner {
    UserSigner::new(
        username,
        PrivateKey::from_pem(&key.to_pkcs8_pem().expect("pem")).expect("copy"),
    )
    .expect("signer")
}

#[test]
fn fingerprints_equal_the_packages() {
    let Some(py) = jwt_peers::asymmetric_jwt_auth() else {
        return;
    };
    for (kind, key) in keys() {
        let public = key.public_key().expect("public");
        assert_eq!(
            jwt_peers::fingerprint(&py, &public.to_pem()),
            Fingerprint::of(&public).as_str(),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn the_packages_headers_verify_here() {
    let Some(py) = jwt_peers::asymmetric_jwt_auth() else {
        return;
    };
    for (kind, key) in keys() {
        let header = jwt_peers::auth_header(&py, "ann", &key.to_pkcs8_pem().expect("pem"), None);
        assert!(header.starts_with("JWT "), "{kind}: {header}");
        let verifier = verifier_for("ann", &key);
        let user = verifier.verify_authorization(&header).await.expect(kind);
        assert_eq!(user.username(), "ann");
        assert_eq!(
            user.fingerprint(),
            &Fingerprint::of(&key.public_key().expect("public"))
        );
        // Its header replayed.
        assert!(
            matches!(
                verifier.verify_authorization(&header).await,
                Err(UserTokenError::Replayed)
            ),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn the_packages_headers_are_refused_where_they_should_be() {
    let Some(py) = jwt_peers::asymmetric_jwt_auth() else {
        return;
    };
    let (_, key) = keys().into_iter().last().expect("ed25519");
    let pem = key.to_pkcs8_pem().expect("pem");
    let verifier = verifier_for("ann", &key);
    let now = asap_core::Clock::now(&asap_core::SystemClock);

    let stale = jwt_peers::auth_header(&py, "ann", &pem, Some(now - 60));
    assert!(matches!(
        verifier.verify_authorization(&stale).await,
        Err(UserTokenError::Token(asap_core::TokenError::Expired { .. }))
    ));
    let unknown = jwt_peers::auth_header(&py, "mallory", &pem, None);
    assert!(matches!(
        verifier.verify_authorization(&unknown).await,
        Err(UserTokenError::NoMatchingKey)
    ));
    let other = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("other");
    let wrong_kid = Fingerprint::of(&other.public_key().expect("public"));
    let token = jwt_peers::token_with_kid(&py, "ann", &pem, wrong_kid.as_str());
    assert!(matches!(
        verifier.verify(&token).await,
        Err(UserTokenError::NoMatchingKey)
    ));
}

#[test]
fn our_headers_verify_in_the_package() {
    let Some(py) = jwt_peers::asymmetric_jwt_auth() else {
        return;
    };
    for (kind, key) in keys() {
        let header = signer("ann", &key).authorization().expect("header");
        let token = header.strip_prefix("JWT ").expect("scheme");
        let public = key.public_key().expect("public").to_pem();
        assert_eq!(
            jwt_peers::verify(&py, token, &public).as_deref(),
            Some("ann"),
            "{kind}"
        );
        // A key that is not the signer's.
        let other = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("other");
        assert_eq!(
            jwt_peers::verify(&py, token, &other.public_key().expect("public").to_pem()),
            None
        );
    }
}

#[test]
fn our_headers_authenticate_through_the_packages_middleware() {
    let Some(py) = jwt_peers::asymmetric_jwt_auth() else {
        return;
    };
    for (kind, key) in keys() {
        let public = key.public_key().expect("public").to_pem();
        let header = signer("ann", &key).authorization().expect("header");
        assert_eq!(
            jwt_peers::middleware(&py, &header, "ann", &public).as_deref(),
            Some("ann"),
            "{kind}"
        );
        // Claiming another user with ann's key: not authenticated.
        let as_bob = signer("bob", &key).authorization().expect("header");
        assert_eq!(
            jwt_peers::middleware(&py, &as_bob, "ann", &public),
            None,
            "{kind}"
        );
    }
}

#[test]
fn rs384_and_rs256_verify_in_the_package_too() {
    let Some(py) = jwt_peers::asymmetric_jwt_auth() else {
        return;
    };
    let key = PrivateKey::generate(KeySpec::Rsa(2048)).expect("rsa");
    let public = key.public_key().expect("public").to_pem();
    for alg in [asap_core::Algorithm::RS384, asap_core::Algorithm::RS256] {
        let copy = PrivateKey::from_pem(&key.to_pkcs8_pem().expect("pem")).expect("copy");
        let token = UserSigner::with_algorithm("ann", copy, alg)
            .expect("signer")
            .sign()
            .expect("token");
        assert_eq!(
            jwt_peers::verify(&py, &token, &public).as_deref(),
            Some("ann"),
            "{alg}"
        );
    }
}

#[test]
fn the_jwks_view_is_read_by_pyjwt_and_verifies_our_tokens() {
    let Some(py) = jwt_peers::asymmetric_jwt_auth() else {
        return;
    };
    let [rsa, ed] = keys().map(|(_, key)| key);
    let publics = [
        rsa.public_key().expect("public"),
        ed.public_key().expect("public"),
    ];
    let jwks = user_tokens::user_jwks(&publics);
    for key in [rsa, ed] {
        let token = signer("ann", &key).sign().expect("token");
        let claims = jwt_peers::pyjwt_verify_with_jwks(&py, &token, &jwks);
        assert_eq!(claims["username"], "ann", "{:?}", key.kind());
    }
}

/// A token a client limited with registered claims (an audience, an expiry, a start) gets one
/// reading from both verifiers: the package refuses what the Rust verifier refuses.
#[tokio::test]
async fn tokens_limited_by_registered_claims_are_refused_here_as_in_the_package() {
    let Some(py) = jwt_peers::asymmetric_jwt_auth() else {
        return;
    };
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::Ed25519)).expect("ed25519");
    let public = key.public_key().expect("public");
    let kid = Fingerprint::of(&public);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let token = |name: &str, extra: serde_json::Value| {
        let mut claims = serde_json::json!({"username": "ann", "time": now, "nonce": name});
        claims
            .as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        asap_testkit::forge::signed(
            &serde_json::json!({"alg": "EdDSA", "kid": kid.as_str()}),
            &claims,
            |input| key.sign(asap_core::Algorithm::EdDSA, input).expect("sign"),
        )
    };
    let verifier = verifier_for("ann", &key);
    let plain = token("plain", serde_json::json!({}));
    assert_eq!(
        jwt_peers::verify(&py, &plain, &public.to_pem()).as_deref(),
        Some("ann")
    );
    verifier.verify(&plain).await.expect("accepted here too");
    for (name, extra) in [
        ("aud", serde_json::json!({"aud": "billing"})),
        ("exp", serde_json::json!({"exp": now - 1})),
        ("nbf", serde_json::json!({"nbf": now + 60})),
        ("iat", serde_json::json!({"iat": now + 60})),
    ] {
        let limited = token(name, extra);
        assert_eq!(
            jwt_peers::verify(&py, &limited, &public.to_pem()),
            None,
            "{name}: the package"
        );
        let err = verifier.verify(&limited).await.expect_err(name);
        assert!(matches!(err, UserTokenError::Token(_)), "{name}: {err}");
    }
}

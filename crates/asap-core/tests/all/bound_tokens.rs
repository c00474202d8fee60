//! Request-bound tokens in the core: the binding is data (`TokenRequest::bind`, `Claims::qsh`);
//! the crates that see requests compute it with connect-qsh and check it.

use asap_core::*;

use crate::support::*;

/// Two different request hashes (what `connect_qsh::qsh` returns for two requests).
const QSH_A: &str = "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239";
const QSH_B: &str = "4a2e1de8ca74e6cafe8862d332fa3ac7a8e51e692bc6d798ea4dfedc14948bf4";

fn bound(qsh: &str) -> TokenRequest {
    TokenRequest::new(aud()).bind(Qsh::new(qsh).expect("a qsh"))
}

#[test]
fn a_bound_token_carries_its_qsh_claim() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().build().expect("signer");
    let claims = decode_claims(signer.sign_request(&bound(QSH_A)).expect("token").as_str());
    assert_eq!(claims["qsh"], QSH_A);
    let unbound = decode_claims(signer.sign(&aud()).expect("token").as_str());
    assert!(unbound.get("qsh").is_none(), "{unbound}");
}

#[test]
fn a_bound_token_is_never_reused_even_for_the_same_request() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().reuse_tokens(true).build().expect("signer");
    let first = signer.sign_request(&bound(QSH_A)).expect("token");
    let again = signer.sign_request(&bound(QSH_A)).expect("token");
    let other = signer.sign_request(&bound(QSH_B)).expect("token");
    assert_ne!(first, again, "a bound token is for one request");
    assert_eq!(decode_claims(other.as_str())["qsh"], QSH_B);
    // Nor is a bound token handed out for the unbound request of the same audience.
    let unbound = signer.sign(&aud()).expect("token");
    assert!(decode_claims(unbound.as_str()).get("qsh").is_none());
    assert_eq!(
        signer.sign(&aud()).expect("token"),
        unbound,
        "unbound tokens are still reused"
    );
}

#[test]
fn qsh_cannot_be_set_as_a_plain_claim() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().build().expect("signer");
    let request = TokenRequest::new(aud()).claim("qsh", QSH_A);
    assert!(matches!(
        signer.sign_request(&request),
        Err(SignError::Claim { name, .. }) if name == "qsh"
    ));
    assert!(matches!(
        f.signer().claim("qsh", QSH_A).build(),
        Err(SignError::Claim { name, .. }) if name == "qsh"
    ));
}

#[test]
fn a_qsh_is_64_lowercase_hex_digits() {
    assert_eq!(Qsh::new(QSH_A).expect("valid").as_str(), QSH_A);
    for bad in [
        "",
        "context-qsh",
        &QSH_A[..63],
        &format!("{QSH_A}0"),
        &QSH_A.to_uppercase(),
        &format!("{}g", &QSH_A[..63]),
    ] {
        assert_eq!(Qsh::new(bad), Err(InvalidQsh), "{bad}");
    }
}

#[tokio::test]
async fn a_plain_verifier_accepts_a_bound_token_and_shows_its_binding() {
    let f = Fixture::new(Algorithm::ES256);
    let signer = f.signer().build().expect("signer");
    let verifier = f.verifier().build().expect("verifier");
    let token = signer.sign_request(&bound(QSH_A)).expect("token");
    let verified = verifier
        .verify(token.as_str())
        .await
        .expect("a bound token verifies anywhere");
    assert_eq!(verified.claims().qsh(), Some(QSH_A));
    let unbound = verifier
        .verify(signer.sign(&aud()).expect("token").as_str())
        .await
        .expect("verifies");
    assert_eq!(unbound.claims().qsh(), None);
}

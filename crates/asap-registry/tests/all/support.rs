//! Keys, signers and verifiers for the tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use asap_core::{
    Audience, KeyId, KeyKind, KeySpec, PrivateKey, Signer, SigningKey, Token, Verifier, VerifyError,
};
use asap_registry::KeyRegistry;

pub(crate) const AUDIENCE: &str = "ledger";

/// A fresh P-256 key pair: the private key and its public key as PEM.
pub(crate) fn p256() -> (PrivateKey, String) {
    let private = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("generate");
    let pem = private.public_key().expect("public").to_pem();
    (private, pem)
}

/// A token from `principal` signed with `key` under kid `<principal>/<name>`.
pub(crate) fn token(principal: &str, name: &str, key: PrivateKey) -> Token {
    let kid = KeyId::parse(&format!("{principal}/{name}")).expect("kid");
    Signer::builder(principal)
        .key(SigningKey::new(kid, key, None).expect("signing key"))
        .build()
        .expect("signer")
        .sign(&Audience::new(AUDIENCE).expect("aud"))
        .expect("sign")
}

pub(crate) fn verifier(registry: &KeyRegistry) -> Verifier {
    Verifier::builder(registry.clone())
        .audience(Audience::new(AUDIENCE).expect("aud"))
        .enable_eddsa(true)
        .build()
        .expect("verifier")
}

/// Verifies and returns the HTTP status the service would answer.
pub(crate) async fn status(verifier: &Verifier, token: &Token) -> u16 {
    match verifier.verify(token.as_str()).await {
        Ok(_) => 200,
        Err(e) => e.outcome().status(),
    }
}

pub(crate) async fn verify_err(verifier: &Verifier, token: &Token) -> VerifyError {
    verifier
        .verify(token.as_str())
        .await
        .expect_err("should be refused")
}

/// `ssh-keygen` in `dir`: the private key file and the `.pub` line. `None` (a skip) when
/// ssh-keygen is missing locally; a panic in CI.
pub(crate) fn ssh_keygen(dir: &Path, name: &str, args: &[&str]) -> Option<(PathBuf, String)> {
    let path = dir.join(name);
    let out = match Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", "tester@laptop", "-f"])
        .arg(&path)
        .args(args)
        .output()
    {
        Ok(out) => out,
        Err(e) if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => {
            panic!("ssh-keygen is required in CI: {e}")
        }
        Err(e) => {
            eprintln!("skipping: cannot run ssh-keygen ({e}); install openssh-client");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "ssh-keygen {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("read .pub");
    Some((path, public))
}

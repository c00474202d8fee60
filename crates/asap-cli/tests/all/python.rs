//! Interoperability with the Python reference implementation, `atlassian-jwt-auth`.

use crate::support::{KeyServerProcess, Repos, path_str, run};

/// Signs with the reference signer straight from our private key repository (its own
/// `FilePrivateKeyRetriever`: the last `.pem` of `<dir>/<issuer>/`).
const PYTHON_SIGN_FROM_REPOSITORY: &str = r#"
import sys
from atlassian_jwt_auth import create_signer_from_file_private_key_repository
issuer, repo, alg, audience = sys.argv[1:5]
signer = create_signer_from_file_private_key_repository(issuer, repo, algorithm=alg)
token = signer.generate_jwt(audience)
print(token.decode() if isinstance(token, bytes) else token)
"#;

/// Signs with the reference signer from a data URI (`asap data-uri` output).
const PYTHON_SIGN_FROM_DATA_URI: &str = r#"
import sys
from atlassian_jwt_auth import key, signer
issuer, alg, audience = sys.argv[1:4]
retriever = key.DataUriPrivateKeyRetriever(sys.stdin.read().strip())
s = signer.JWTAuthSigner(issuer, retriever, algorithm=alg)
token = s.generate_jwt(audience)
print(token.decode() if isinstance(token, bytes) else token)
"#;

/// Verifies with the reference verifier, fetching the key over HTTPS from `asap serve-keys`.
const PYTHON_VERIFY_OVER_HTTPS: &str = r#"
import sys, json
from atlassian_jwt_auth import key, verifier
base_url, audience, ca = sys.argv[1:4]
v = verifier.JWTAuthVerifier(key.HTTPSPublicKeyRetriever(base_url))
claims = v.verify_jwt(sys.stdin.read().strip(), audience, verify=ca)
print(json.dumps(claims, sort_keys=True))
"#;

#[test]
fn a_python_reference_token_is_verified_by_asap_verify() {
    let Some(py) = asap_testkit::python::require(&["atlassian_jwt_auth"]) else {
        return;
    };
    let repos = Repos::new();
    let private = repos.private();
    let public = repos.public();
    for (alg, keygen) in [
        ("ES256", &["--alg", "ES256"][..]),
        ("RS256", &["--alg", "RS256", "--bits", "2048"][..]),
        ("PS256", &["--alg", "PS256", "--bits", "2048"][..]),
    ] {
        let issuer = format!("python-{}", alg.to_ascii_lowercase());
        let kid = repos.keygen(&issuer, keygen);
        let token = py.run(
            PYTHON_SIGN_FROM_REPOSITORY,
            &[&issuer, path_str(&private), alg, "ledger"],
            "",
        );
        let out = run(&[
            "verify",
            "--audience",
            "ledger",
            "--key-repo",
            path_str(&public),
            "--issuer",
            &issuer,
            &token,
        ]);
        let claims: serde_json::Value = serde_json::from_str(out.ok()).expect("claims");
        assert_eq!(claims["iss"], issuer.as_str(), "{alg}");
        assert_eq!(
            crate::support::header(&token)["kid"],
            kid.as_str(),
            "Python picked the same key"
        );

        // The same key through `asap data-uri`, read by the reference's data URI retriever.
        let uri = run(&["data-uri", "--kid", &kid, path_str(&private.join(&kid))])
            .ok()
            .to_owned();
        let token = py.run(PYTHON_SIGN_FROM_DATA_URI, &[&issuer, alg, "ledger"], &uri);
        run(&[
            "verify",
            "--audience",
            "ledger",
            "--key-repo",
            path_str(&public),
            &token,
        ])
        .ok();
    }
}

#[test]
fn the_python_reference_verifies_an_asap_token_with_the_key_from_serve_keys_over_https() {
    let Some(py) = asap_testkit::python::require(&["atlassian_jwt_auth"]) else {
        return;
    };
    let ca = asap_testkit::tls::TestCa::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, root) = (
        dir.path().join("c.pem"),
        dir.path().join("k.pem"),
        dir.path().join("ca.pem"),
    );
    std::fs::write(&cert, ca.server_cert_pem()).expect("write");
    std::fs::write(&key, ca.server_key_pem()).expect("write");
    std::fs::write(&root, ca.root_pem()).expect("write");

    let repos = Repos::new();
    repos.keygen("svc", &["--alg", "ES256"]);
    let server = KeyServerProcess::start(
        &repos.public(),
        &["--tls-cert", path_str(&cert), "--tls-key", path_str(&key)],
    );
    let token = repos.token("svc", "ledger", &["--claim", "scope=\"read\""]);
    let claims = py.run(
        PYTHON_VERIFY_OVER_HTTPS,
        &[&server.url, "ledger", path_str(&root)],
        &token,
    );
    let claims: serde_json::Value = serde_json::from_str(&claims).expect("claims");
    assert_eq!(claims["iss"], "svc");
    assert_eq!(claims["scope"], "read");
}

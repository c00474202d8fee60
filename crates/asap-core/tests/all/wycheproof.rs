//! Project Wycheproof vectors through the verifying seam, `PublicKey::verify`: ECDSA P-256,
//! P-384 and P-521 (P1363, i.e. JWS `r || s`), Ed25519, RSA PKCS#1 v1.5 and RSA-PSS.
//!
//! ES512 matters most: jsonwebtoken has no ES512, so that path is only as good as our own code.
//! The vectors are read at test time from `../shared/wycheproof/` (beside the repository, not
//! copied into it); without that folder the test says so and passes, except in CI (`CI` set),
//! where it fails.
//!
//! Each vector's key is built from its DER `SubjectPublicKeyInfo` (and, as a cross-check, its
//! PEM must give the same key). `valid` must verify, `invalid` must not; `acceptable` (legacy
//! encodings a library may take or leave) is counted and printed, never a failure.

use std::path::PathBuf;

use asap_core::{Algorithm, PublicKey};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/wycheproof")
}

fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd-length hex {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
        .collect()
}

#[derive(Debug, Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable_accepted: usize,
    acceptable_refused: usize,
    failures: Vec<String>,
}

/// Runs one vector file. `None` when the folder is missing and this is not CI.
fn run(file: &str, alg: Algorithm) -> Option<Tally> {
    let dir = vectors_dir();
    if !dir.is_dir() {
        let message = format!(
            "Wycheproof vectors not found at {} (expected ../shared/wycheproof beside the repository); \
             {file} NOT checked",
            dir.display()
        );
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "{message}; CI is set, so this is a failure"
        );
        eprintln!("warning: {message}");
        return None;
    }
    let path = dir.join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).expect("vector file is JSON");
    let groups = doc["testGroups"].as_array().expect("testGroups");
    let mut tally = Tally::default();
    for group in groups {
        let der = hex(group["publicKeyDer"].as_str().expect("publicKeyDer"));
        let key = PublicKey::from_spki_der(&der)
            .unwrap_or_else(|e| panic!("{file}: the group's public key does not load: {e}"));
        if let Some(pem) = group["publicKeyPem"].as_str() {
            let from_pem = PublicKey::from_pem(pem).expect("the group's PEM key loads");
            assert_eq!(from_pem, key, "{file}: PEM and DER give different keys");
        }
        for test in group["tests"].as_array().expect("tests") {
            let id = &test["tcId"];
            let msg = hex(test["msg"].as_str().expect("msg"));
            let sig = hex(test["sig"].as_str().expect("sig"));
            let outcome = key.verify(alg, &msg, &sig);
            match test["result"].as_str().expect("result") {
                "valid" => {
                    tally.valid += 1;
                    if let Err(e) = outcome {
                        tally.failures.push(format!(
                            "tcId {id} ({}) is valid but refused: {e}",
                            test["comment"]
                        ));
                    }
                }
                "invalid" => {
                    tally.invalid += 1;
                    if outcome.is_ok() {
                        tally
                            .failures
                            .push(format!("tcId {id} ({}) is invalid but accepted", test["comment"]));
                    }
                }
                "acceptable" => {
                    if outcome.is_ok() {
                        tally.acceptable_accepted += 1;
                    } else {
                        tally.acceptable_refused += 1;
                    }
                }
                other => panic!("{file}: tcId {id} has unknown result {other:?}"),
            }
        }
    }
    let total = tally.valid + tally.invalid + tally.acceptable_accepted + tally.acceptable_refused;
    let declared = doc["numberOfTests"].as_u64().expect("numberOfTests");
    assert_eq!(
        total as u64, declared,
        "{file}: ran {total} of {declared} vectors"
    );
    println!(
        "wycheproof {file} with {alg}: {total} vectors: {} valid, {} invalid, {} acceptable \
         ({} accepted, {} refused); {} failures",
        tally.valid,
        tally.invalid,
        tally.acceptable_accepted + tally.acceptable_refused,
        tally.acceptable_accepted,
        tally.acceptable_refused,
        tally.failures.len()
    );
    Some(tally)
}

fn check(file: &str, alg: Algorithm) {
    let Some(tally) = run(file, alg) else {
        return;
    };
    assert!(
        tally.valid > 0 && tally.invalid > 0,
        "{file}: no valid or no invalid vectors"
    );
    assert!(
        tally.failures.is_empty(),
        "{file} with {alg}: {} failures:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
}

#[test]
fn es512_p521_p1363_vectors() {
    check("ecdsa_secp521r1_sha512_p1363_test.json", Algorithm::ES512);
}

#[test]
fn es256_p256_p1363_vectors() {
    check("ecdsa_secp256r1_sha256_p1363_test.json", Algorithm::ES256);
}

#[test]
fn es384_p384_p1363_vectors() {
    check("ecdsa_secp384r1_sha384_p1363_test.json", Algorithm::ES384);
}

#[test]
fn eddsa_ed25519_vectors() {
    check("ed25519_test.json", Algorithm::EdDSA);
}

#[test]
fn rs256_rsa_pkcs1_2048_sha256_vectors() {
    check("rsa_signature_2048_sha256_test.json", Algorithm::RS256);
}

#[test]
fn ps256_rsa_pss_2048_sha256_mgf1_32_vectors() {
    check("rsa_pss_2048_sha256_mgf1_32_test.json", Algorithm::PS256);
}

/// The seam must not accept a vector's valid signature under a different algorithm of the same
/// key family (a P1363 ES256 signature is not a DER one, a PSS one is not PKCS#1).
#[test]
fn valid_vectors_do_not_verify_under_a_sibling_algorithm() {
    let dir = vectors_dir();
    if !dir.is_dir() {
        // `run` reports the missing folder (and fails in CI); nothing to cross-check here.
        let _ = run("ecdsa_secp521r1_sha512_p1363_test.json", Algorithm::ES512);
        return;
    }
    for (file, alg, sibling) in [
        (
            "rsa_pss_2048_sha256_mgf1_32_test.json",
            Algorithm::PS256,
            Algorithm::RS256,
        ),
        (
            "rsa_signature_2048_sha256_test.json",
            Algorithm::RS256,
            Algorithm::PS256,
        ),
        (
            "rsa_signature_2048_sha256_test.json",
            Algorithm::RS256,
            Algorithm::RS512,
        ),
    ] {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(file)).expect("read")).expect("json");
        let mut checked = 0;
        for group in doc["testGroups"].as_array().expect("groups") {
            let key =
                PublicKey::from_spki_der(&hex(group["publicKeyDer"].as_str().expect("der"))).expect("key");
            for test in group["tests"].as_array().expect("tests") {
                if test["result"] != "valid" {
                    continue;
                }
                let (msg, sig) = (
                    hex(test["msg"].as_str().expect("msg")),
                    hex(test["sig"].as_str().expect("sig")),
                );
                assert!(
                    key.verify(alg, &msg, &sig).is_ok(),
                    "{file} tcId {}",
                    test["tcId"]
                );
                assert!(
                    key.verify(sibling, &msg, &sig).is_err(),
                    "{file} tcId {} verifies as {sibling}",
                    test["tcId"]
                );
                checked += 1;
            }
        }
        assert!(checked > 0, "{file}: no valid vectors");
    }
}

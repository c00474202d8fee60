//! `asap inspect`: the header and claims of a token and the rules that would refuse it, without
//! its key, labelled unverified.

use asap_testkit::forge;
use serde_json::{Value, json};

use crate::support::{Repos, asap, run, run_command};

fn forged(header: &Value, claims: &Value) -> String {
    forge::with_signature(header, claims, b"not a signature")
}

fn claims(iat: i64, exp: i64) -> Value {
    json!({"iss": "svc", "aud": "ledger", "jti": "j-1", "iat": iat, "exp": exp})
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("seconds")
}

#[test]
fn a_good_token_passes_every_check_without_its_key_and_is_labelled_unverified() {
    let repos = Repos::new();
    repos.keygen("svc", &[]);
    let token = repos.token("svc", "ledger", &[]);
    let out = run(&["inspect", "--audience", "ledger", &token]);
    let report = out.ok();
    assert!(
        report.starts_with("UNVERIFIED: the signature was not checked"),
        "{report}"
    );
    assert!(report.contains("\"iss\":\"svc\""), "{report}");
    assert!(report.contains("\"alg\":\"ES256\""), "{report}");
    assert!(!report.contains("FAIL"), "{report}");
    assert!(report.contains("not checked  signature"), "{report}");
    // The token itself is a credential: neither it nor its signature is printed.
    let signature = token.rsplit('.').next().expect("signature");
    assert!(!report.contains(signature), "{report}");
    assert!(!out.stderr.contains(signature), "{}", out.stderr);
}

#[test]
fn each_failing_rule_is_named_with_its_reason() {
    let t = now();
    let cases = [
        (
            forged(&json!({"alg": "ES256", "kid": "svc/k1"}), &claims(1000, 1060)),
            "expired: token expired (exp 1060",
        ),
        (
            forged(&json!({"alg": "ES256", "kid": "other/k1"}), &claims(t, t + 60)),
            "kid_not_owned_by_issuer: kid \"other/k1\" does not belong to issuer \"svc\"",
        ),
        (
            forged(&json!({"alg": "none", "kid": "svc/k1"}), &claims(t, t + 60)),
            "algorithm_forbidden",
        ),
        (
            forged(
                &json!({"alg": "ES256", "kid": "svc/k1"}),
                &json!({"iss": "svc", "aud": "ledger", "iat": t, "exp": t + 60}),
            ),
            "missing_claim: claim \"jti\" is missing",
        ),
        (
            forged(
                &json!({"alg": "ES256", "kid": "svc/k1", "jku": "https://evil/"}),
                &claims(t, t + 60),
            ),
            "forbidden_header",
        ),
        (
            forged(&json!({"alg": "EdDSA", "kid": "svc/k1"}), &claims(t, t + 60)),
            "algorithm_not_enabled",
        ),
        (
            forged(&json!({"alg": "ES256", "kid": "svc/k1"}), &claims(t, t + 60)),
            "audience_mismatch",
        ),
    ];
    for (token, expected) in cases {
        let out = run(&["inspect", "--audience", "payroll", &token]);
        assert_eq!(out.code, Some(1), "{expected}: {out:#?}");
        assert!(out.stdout.starts_with("UNVERIFIED"), "{out:#?}");
        assert!(
            out.stdout.contains(&format!("FAIL         {expected}")),
            "{expected}: {out:#?}"
        );
        assert!(
            out.stderr.starts_with("asap: the token would be refused"),
            "{out:#?}"
        );
    }
}

#[test]
fn eddsa_and_audience_are_checked_as_the_options_say() {
    let t = now();
    let token = forged(&json!({"alg": "EdDSA", "kid": "svc/k1"}), &claims(t, t + 60));
    let out = run(&["inspect", "--enable-eddsa", &token]);
    let report = out.ok();
    assert!(
        report.contains("not checked  audience: give --audience"),
        "{report}"
    );
}

#[test]
fn a_token_that_is_not_one_gets_the_framing_rule_and_no_claims() {
    let out = run(&["inspect", "a.b"]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(out.stdout.contains("FAIL         malformed"), "{out:#?}");
    assert!(!out.stdout.contains("claims:"), "{out:#?}");
}

#[test]
fn the_token_may_come_on_stdin() {
    let t = now();
    let token = forged(&json!({"alg": "ES256", "kid": "svc/k1"}), &claims(t, t + 60));
    let out = run_command(asap().arg("inspect"), &format!("{token}\n"));
    assert!(out.ok().contains("\"jti\":\"j-1\""), "{out:#?}");
}

//! `asap qsh` and `asap connect-token` against the shared Connect conformance cases.

use std::path::PathBuf;

use crate::support::{payload, run};

fn conformance_cases() -> Vec<serde_json::Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/connect-qsh.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the shared Connect conformance cases are missing at {} ({e}); they live in shared/ \
             next to the repository checkout",
            path.display()
        )
    });
    let cases: serde_json::Value = serde_json::from_str(&text).expect("conformance JSON");
    let cases = cases["cases"].as_array().expect("a `cases` array").clone();
    assert!(!cases.is_empty(), "no conformance cases in {}", path.display());
    cases
}

fn field<'a>(case: &'a serde_json::Value, name: &str) -> &'a str {
    case[name]
        .as_str()
        .unwrap_or_else(|| panic!("case without {name}: {case}"))
}

#[test]
fn qsh_prints_the_values_of_the_shared_conformance_cases() {
    for case in conformance_cases() {
        let (method, url, base) = (
            field(&case, "method"),
            field(&case, "url"),
            field(&case, "base_path"),
        );
        let canonical = run(&["qsh", "--canonical", "--base-url", base, method, url]);
        assert_eq!(
            canonical.ok(),
            field(&case, "canonical"),
            "canonical request of {case}"
        );
        let qsh = run(&["qsh", "--base-url", base, method, url]);
        assert_eq!(qsh.ok(), field(&case, "qsh"), "qsh of {case}");
    }
}

#[test]
fn qsh_takes_absolute_urls_relative_to_the_base_url() {
    let out = run(&[
        "qsh",
        "--canonical",
        "--base-url",
        "https://acme.atlassian.net/wiki",
        "get",
        "https://acme.atlassian.net/wiki/rest/api/space?limit=10&expand=a+b&jwt=x.y.z",
    ]);
    assert_eq!(out.ok(), "GET&/rest/api/space&expand=a%20b&limit=10");
}

#[test]
fn connect_token_binds_the_request_by_its_qsh() {
    let url = "/rest/api/space?limit=10";
    let token = run(&[
        "connect-token",
        "--client-key",
        "tenant-1",
        "--shared-secret",
        "s3cret",
        "--lifetime",
        "120",
        "GET",
        url,
    ])
    .ok()
    .to_owned();
    let claims = payload(&token);
    assert_eq!(claims["iss"], "tenant-1");
    assert_eq!(claims["qsh"], run(&["qsh", "GET", url]).ok());
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        120
    );
    assert_eq!(crate::support::header(&token)["alg"], "HS256");

    // The signature is HS256 with the shared secret: PyJWT (under the reference packages) checks it.
    if let Some(py) = asap_testkit::python::require(&["jwt"]) {
        let script = "import sys, jwt\n\
                      claims = jwt.decode(sys.stdin.read().strip(), sys.argv[1], algorithms=['HS256'])\n\
                      print(claims['iss'])";
        assert_eq!(py.run(script, &["s3cret"], &token), "tenant-1");
    }

    // The secret may come from the environment instead of the command line.
    let out = crate::support::run_command(
        crate::support::asap()
            .args(["connect-token", "--client-key", "tenant-1", "POST", "/installed"])
            .env("ASAP_CONNECT_SHARED_SECRET", "s3cret"),
        "",
    );
    assert_eq!(payload(out.ok())["qsh"], run(&["qsh", "POST", "/installed"]).ok());
}

//! Every case of the shared conformance file, in each form the API accepts it. Runs with and
//! without the `auth` feature: the standalone qsh is held to the same cases.

use std::path::PathBuf;

use connect_qsh::{canonical_request, qsh, qsh_of_canonical};
use serde_json::Value;

/// The shared conformance cases, read from `shared/conformance/connect-qsh.json` beside the
/// repository. Panics with a clear message when the file is absent.
pub(crate) fn conformance_cases() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/connect-qsh.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the shared Connect conformance cases are missing: cannot read {}: {e} \
             (the repository must be checked out next to shared/)",
            path.display()
        )
    });
    let doc: Value = serde_json::from_str(&text).expect("connect-qsh.json is JSON");
    let cases = doc["cases"]
        .as_array()
        .expect("connect-qsh.json has a `cases` array")
        .clone();
    assert!(!cases.is_empty(), "connect-qsh.json has no cases");
    cases
}

#[test]
fn every_shared_case_gives_the_expected_canonical_request_and_qsh() {
    let cases = conformance_cases();
    for case in &cases {
        let method = case["method"].as_str().expect("method");
        let url = case["url"].as_str().expect("url");
        let base_path = case["base_path"].as_str().expect("base_path");
        let canonical = case["canonical"].as_str().expect("canonical");
        let expected_qsh = case["qsh"].as_str().expect("qsh");

        // Relative form, as in the file.
        assert_eq!(
            canonical_request(method, url, base_path).as_deref(),
            Ok(canonical),
            "{case}"
        );
        assert_eq!(qsh(method, url, base_path).as_deref(), Ok(expected_qsh), "{case}");
        assert_eq!(qsh_of_canonical(canonical), expected_qsh, "{case}");

        // Absolute form: the same request on a tenant whose base URL has that context path.
        let absolute = format!("https://acme.atlassian.net{url}");
        let base = format!("https://acme.atlassian.net{base_path}");
        assert_eq!(
            canonical_request(method, &absolute, &base).as_deref(),
            Ok(canonical),
            "{case}"
        );
    }
    eprintln!("{} conformance cases passed", cases.len());
}

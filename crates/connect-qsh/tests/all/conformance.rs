//! Every case of the shared conformance file, in each form the API accepts it.

use connect_qsh::{canonical_request, qsh, qsh_of_canonical};

use crate::support::conformance_cases;

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

//! The quickstart's cases, asserted: every rejection gives the documented status and header.

use asap_examples::{Observed, Quickstart};

fn find<'a>(all: &'a [Observed], case: &str) -> &'a Observed {
    all.iter()
        .find(|o| o.case == case)
        .unwrap_or_else(|| panic!("no case {case:?}"))
}

fn error_of(o: &Observed) -> String {
    let body: serde_json::Value =
        serde_json::from_str(&o.body).unwrap_or_else(|_| panic!("{}: not JSON: {}", o.case, o.body));
    body["error"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_case_gets_the_documented_status_and_challenge() {
    let demo = Quickstart::start().await.expect("start");
    let all = demo.scenarios().await.expect("scenarios");
    let invalid_token = Some("Bearer error=\"invalid_token\"".to_owned());

    let ok = find(&all, "valid call from billing");
    assert_eq!((ok.status, ok.body.as_str()), (200, "balance for billing: 42.00"));

    let none = find(&all, "no token");
    assert_eq!(none.status, 401);
    assert_eq!(none.www_authenticate.as_deref(), Some("Bearer"));
    assert_eq!(error_of(none), "missing_token");

    for case in [
        "forged token (wrong key)",
        "expired token",
        "token for another audience",
        "same token again (replay)",
    ] {
        let o = find(&all, case);
        assert_eq!(o.status, 401, "{case}");
        assert_eq!(o.www_authenticate, invalid_token, "{case}");
        assert_eq!(error_of(o), "invalid_token", "{case}");
    }
    assert!(find(&all, "expired token").body.contains("expired"));
    assert!(find(&all, "token for another audience").body.contains("audience"));
    assert!(
        find(&all, "same token again (replay)")
            .body
            .contains("already used")
    );
    assert!(find(&all, "forged token (wrong key)").body.contains("signature"));

    assert_eq!(find(&all, "first use of a token").status, 200);

    let payroll = find(&all, "valid token from payroll (not allowed)");
    assert_eq!(payroll.status, 403);
    assert_eq!(payroll.www_authenticate, None);
    assert_eq!(error_of(payroll), "access_denied");
}

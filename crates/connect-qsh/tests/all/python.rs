//! The Python reference, `atlassian-jwt` (pip): canonical requests compared on a generated
//! corpus, and tokens checked in both directions.

use connect_qsh::{Authenticator, ConnectSigner, InMemorySharedSecretStore, SharedSecret, canonical_request};
use http::{HeaderMap, HeaderValue, Method, Uri};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const CANONICALIZE: &str = r#"
import json, sys
from atlassian_jwt.url_utils import canonicalize_request
cases = json.loads(sys.stdin.read())
print(json.dumps([canonicalize_request(m, u) for m, u in cases]))
"#;

// Where docs/connect.md differs from Python on purpose, the generator stays out of the way; each
// difference is excluded here and only here:
// 1. Leading slashes: Python strips them all (`url.lstrip('/')`); the host keeps the path as
//    is. Paths start with exactly one `/`.
// 2. Trailing slashes: Python strips them all (`strip('/')`); the host removes one. At most
//    one trailing `/`, after a non-empty segment.
// 3. `;` in the path: Python's `urlparse` splits off `;params` and drops an empty one; the host
//    hashes the path raw. No `;` in paths.
// 4. `:` in the path: Python's `urlparse` takes `seg:rest` for a scheme. No `:` in paths.
// 5. Whitespace right after the leading `/`: `urlparse` strips it (WHATWG C0/space), and it
//    strips tabs and newlines anywhere. No leading space in the first segment, no tab/CR/LF.
// 6. Repeated values are sorted by Java's UTF-16 order, Python sorts by code point; they differ
//    only between U+E000..U+FFFF (U+FFFD from invalid UTF-8 included) and characters above
//    U+FFFF. Query values never hold characters above U+FFFF (paths and keys may; keys are
//    sorted by their ASCII encoding).
// `#` is not generated: a fragment is not part of a request target.

fn path_segment(first: bool) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => "[a-zA-Z0-9]{1,4}",
        1 => Just("-".to_owned()),
        1 => Just(".".to_owned()),
        1 => Just("_".to_owned()),
        1 => Just("~".to_owned()),
        1 => Just("*".to_owned()),
        1 => Just("+".to_owned()),
        1 => Just(" ".to_owned()),
        1 => Just("&".to_owned()),
        1 => Just("=".to_owned()),
        1 => Just("%20".to_owned()),
        1 => Just("%26".to_owned()),
        1 => Just("%2F".to_owned()),
        1 => Just("!$'(),@".to_owned()),
        1 => Just("é".to_owned()),
        1 => Just("宮崎".to_owned()),
        1 => Just("😀".to_owned()),
    ];
    proptest::collection::vec(piece, 1..4)
        .prop_map(|pieces| pieces.concat())
        .prop_filter("no leading space (Python strips it)", move |s| {
            !(first && s.starts_with(' '))
        })
}

fn path() -> impl Strategy<Value = String> {
    (
        path_segment(true),
        proptest::collection::vec(path_segment(false), 0..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(first, rest, trailing, empty)| {
            if empty {
                return if trailing { "/".to_owned() } else { String::new() };
            }
            let mut path = format!("/{first}");
            for segment in rest {
                path.push('/');
                path.push_str(&segment);
            }
            if trailing {
                path.push('/');
            }
            path
        })
}

fn query_text(allow_astral: bool) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => "[a-zA-Z0-9]{1,3}",
        1 => Just(" ".to_owned()),
        1 => Just("+".to_owned()),
        1 => Just("*".to_owned()),
        1 => Just("~".to_owned()),
        1 => Just("%7E".to_owned()),
        1 => Just("%20".to_owned()),
        1 => Just("%2B".to_owned()),
        1 => Just("%2520".to_owned()),
        1 => Just("%26".to_owned()),
        1 => Just("%3D".to_owned()),
        1 => Just("=".to_owned()),
        1 => Just(",".to_owned()),
        1 => Just("/?".to_owned()),
        1 => Just("é".to_owned()),
        1 => Just("%C3%A9".to_owned()),
        1 => Just("宮".to_owned()),
        1 => Just("%E5%AE%AE".to_owned()),
        1 => Just("%FF".to_owned()),
        1 => Just("%E5%AE".to_owned()),
        1 => Just("%zz".to_owned()),
        1 => Just("%4".to_owned()),
        1 => Just(if allow_astral { "😀" } else { "ß" }.to_owned()),
    ];
    proptest::collection::vec(piece, 0..4).prop_map(|p| p.concat())
}

fn key() -> impl Strategy<Value = String> {
    // A small alphabet so that keys repeat.
    prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "A", "a1", "a10", "jwt", "x y", "x+y", "k*", "~k", "é", ""])
            .prop_map(str::to_owned),
        1 => query_text(true).prop_filter("no `=` in keys", |k| !k.contains('=')),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let pair = prop_oneof![
        4 => (key(), query_text(false)).prop_map(|(k, v)| format!("{k}={v}")),
        1 => key().prop_map(|k| k),            // valueless `a`
        1 => key().prop_map(|k| format!("{k}=")),
        1 => Just(String::new()),              // an empty piece: `a=1&&b=2`
    ];
    proptest::collection::vec(pair, 0..6).prop_map(|pairs| pairs.join("&"))
}

fn request() -> impl Strategy<Value = (String, String)> {
    let method = prop::sample::select(vec!["GET", "POST", "put", "Delete", "PATCH"]).prop_map(str::to_owned);
    (method, path(), prop::option::of(query())).prop_map(|(method, path, query)| match query {
        Some(q) => (method, format!("{path}?{q}")),
        None => (method, path),
    })
}

fn python_canonical(py: &asap_testkit::python::Python, cases: &[(String, String)]) -> Vec<String> {
    let input = serde_json::to_string(cases).expect("serialises");
    let out = py.run(CANONICALIZE, &[], &input);
    serde_json::from_str(&out).expect("python printed a JSON list")
}

#[test]
fn canonical_requests_agree_with_python_on_a_generated_corpus() {
    let Some(py) = asap_testkit::python::require(&["atlassian_jwt"]) else {
        return;
    };
    // Each proptest case is a batch of requests, so that Python starts once per batch.
    const BATCHES: u32 = 40;
    const PER_BATCH: usize = 50;
    let mut runner = TestRunner::new(Config {
        cases: BATCHES,
        failure_persistence: None,
        ..Config::default()
    });
    let compared = std::cell::Cell::new(0usize);
    let result = runner.run(&proptest::collection::vec(request(), PER_BATCH), |batch| {
        let expected = python_canonical(&py, &batch);
        for ((method, url), python) in batch.iter().zip(&expected) {
            match canonical_request(method, url, "") {
                Ok(ours) => prop_assert_eq!(&ours, python, "{} {:?}", method, url),
                // Refused on purpose: a query that does not decode to UTF-8, whose bytes Python
                // (like the host) replaces with U+FFFD, making many requests one.
                Err(connect_qsh::QshError::InvalidUrl(_)) => prop_assert!(
                    python.contains("%EF%BF%BD"),
                    "{} {:?} refused, but Python replaced nothing: {}",
                    method,
                    url,
                    python
                ),
                Err(e) => prop_assert!(false, "{} {:?}: {}", method, url, e),
            }
        }
        compared.set(compared.get() + batch.len());
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!("{} generated requests agree with Python", compared.get());
}

#[test]
fn conformance_cases_agree_with_python() {
    let Some(py) = asap_testkit::python::require(&["atlassian_jwt"]) else {
        return;
    };
    let cases: Vec<(String, String)> = crate::conformance::conformance_cases()
        .iter()
        .filter(|c| c["base_path"] == "") // Python has no base URL parameter
        .map(|c| {
            (
                c["method"].as_str().expect("method").to_owned(),
                c["url"].as_str().expect("url").to_owned(),
            )
        })
        .collect();
    let python = python_canonical(&py, &cases);
    for ((method, url), python) in cases.iter().zip(&python) {
        assert_eq!(
            &canonical_request(method, url, "").expect("canonical"),
            python,
            "{method} {url}"
        );
    }
}

const CLIENT_KEY: &str = "py-tenant";
const SECRET: &str = "shared-secret-between-python-and-rust";

#[tokio::test]
async fn tokens_from_python_encode_token_authenticate_here() {
    let Some(py) = asap_testkit::python::require(&["atlassian_jwt"]) else {
        return;
    };
    let secrets = InMemorySharedSecretStore::new();
    secrets.insert(CLIENT_KEY, SharedSecret::new(SECRET).expect("a non-empty secret"));
    let authenticator = Authenticator::builder(secrets).build().expect("valid");
    let script = "import sys, atlassian_jwt\n\
                  print(atlassian_jwt.encode_token(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]))";
    for (method, url) in [
        (
            "GET",
            "/rest/api/issue?expand=names&fields=summary%2Cstatus&q=a+b",
        ),
        ("POST", "/installed"),
        (
            "put",
            "/path/to/service?zee_last=param&repeated=parameter%201&first=param&repeated=parameter%202",
        ),
        ("GET", "/test?director=%E5%AE%AE%E5%B4%8E+%E9%A7%BF&empty=&flag"),
    ] {
        let token = py.run(script, &[method, url, CLIENT_KEY, SECRET], "");
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("JWT {token}")).expect("header"),
        );
        let uri: Uri = url.parse().expect("uri");
        let method: Method = method.to_uppercase().parse().expect("method");
        let ok = authenticator
            .authenticate(&method, &uri, &headers)
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        assert_eq!(ok.client_key(), CLIENT_KEY);
        // The same Python token on a tampered request fails.
        let tampered: Uri = format!("{url}{}tampered=1", if url.contains('?') { "&" } else { "?" })
            .parse()
            .expect("uri");
        assert!(
            authenticator
                .authenticate(&method, &tampered, &headers)
                .await
                .is_err()
        );
    }
}

#[test]
fn tokens_made_here_pass_pythons_authenticator() {
    let Some(py) = asap_testkit::python::require(&["atlassian_jwt"]) else {
        return;
    };
    let script = r#"
import sys, atlassian_jwt
class App(atlassian_jwt.Authenticator):
    def get_shared_secret(self, client_key):
        assert client_key == sys.argv[4], client_key
        return sys.argv[5]
method, url, token = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    result = App().authenticate(method, url, {"Authorization": "JWT " + token})
    print("ok " + result.client_key)
except atlassian_jwt.DecodeError as e:
    print("refused " + str(e))
"#;
    let signer = ConnectSigner::new(CLIENT_KEY).audience(CLIENT_KEY);
    for (method, url) in [
        (
            "GET",
            "/rest/api/issue?expand=names&fields=summary%2Cstatus&q=a+b",
        ),
        ("POST", "/installed"),
        ("GET", "/test?c=&c=+&c=%2520&c=%2B&A=A&a=a"),
        ("DELETE", "/wiki/rest/api/content/123/"),
    ] {
        let token = signer
            .sign(
                &SharedSecret::new(SECRET).expect("a non-empty secret"),
                method,
                url,
                "",
            )
            .expect("signed");
        let out = py.run(script, &[method, url, &token, CLIENT_KEY, SECRET], "");
        assert_eq!(out, format!("ok {CLIENT_KEY}"), "{method} {url}");
        // And Python refuses it for another request, so the check above means something.
        let out = py.run(script, &[method, "/other", &token, CLIENT_KEY, SECRET], "");
        assert!(out.starts_with("refused"), "{out}");
    }
}

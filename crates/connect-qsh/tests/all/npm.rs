//! The npm reference, `atlassian-jwt`: qsh compared on the conformance cases and a generated
//! corpus. Runs when `ASAP_NPM_DIR` names a directory where `atlassian-jwt` is installed
//! (`npm install atlassian-jwt` there); skips with a reason otherwise (fails in CI).

use std::path::PathBuf;
use std::process::{Command, Stdio};

use connect_qsh::canonical_request;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

const CANONICALIZE: &str = r#"
const path = require('path');
const jwt = require(path.join(process.env.ASAP_NPM_DIR, 'node_modules', 'atlassian-jwt'));
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map(([method, url, base]) =>
    jwt.createCanonicalRequest(jwt.fromMethodAndUrl(method, url), false, base));
  process.stdout.write(JSON.stringify(out));
});
"#;

fn npm_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("ASAP_NPM_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let reason = "ASAP_NPM_DIR is not set (a directory where `npm install atlassian-jwt` ran)";
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                panic!("test prerequisite missing (CI is set): {reason}");
            }
            eprintln!("skipping the npm comparison: {reason}");
            return None;
        }
    };
    assert!(
        dir.join("node_modules/atlassian-jwt").is_dir(),
        "ASAP_NPM_DIR={} has no node_modules/atlassian-jwt",
        dir.display()
    );
    Some(dir)
}

fn node_canonical(cases: &[(String, String, String)]) -> Vec<String> {
    use std::io::Write;
    let mut child = Command::new("node")
        .arg("-e")
        .arg(CANONICALIZE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    let input = serde_json::to_vec(cases).expect("serialises");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write stdin");
    let out = child.wait_with_output().expect("node finishes");
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("node printed a JSON list")
}

// Where the npm package differs from the host (docs/connect.md: the host wins), the compared corpus
// stays out of the way:
// - it sorts parameters by decoded key (the host: by encoded key), so keys here are ASCII
//   letters and digits, whose two orders agree;
// - Node's `url.parse` escapes some raw characters in the path (space, quotes, `{}`), so paths
//   here hold only characters it leaves alone;
// - it strips the base path as a string prefix, not by whole segments, so every path here is
//   under the base path by whole segments;
// - Node's `url.parse` trims whitespace at the ends of the URL, so no raw space is generated
//   (spaces come as `+` and `%20`).
// Query values, where both agree, get the full alphabet.

fn corpus() -> impl Strategy<Value = (String, String, String)> {
    let method = prop::sample::select(vec!["GET", "post", "PUT"]).prop_map(str::to_owned);
    let segment = "[a-zA-Z0-9._~*&=+-]{1,6}";
    let path = (proptest::collection::vec(segment, 0..4), any::<bool>()).prop_map(|(segs, trailing)| {
        let mut p = segs.iter().map(|s| format!("/{s}")).collect::<String>();
        if trailing && !p.is_empty() {
            p.push('/');
        }
        p
    });
    let value = proptest::collection::vec(
        prop::sample::select(vec![
            "a",
            "B",
            "1",
            "10",
            "2",
            "+",
            "*",
            "~",
            "%20",
            "%2B",
            "%7E",
            "%2C",
            ",",
            "é",
            "%E5%AE%AE",
            "😀",
            "%2520",
            "!",
            "'",
            "(",
            ")",
        ]),
        0..4,
    )
    .prop_map(|v| v.concat());
    let pair = (prop::sample::select(vec!["a", "b", "A", "a1", "a10", "z"]), value)
        .prop_map(|(k, v)| format!("{k}={v}"));
    let query = proptest::collection::vec(pair, 0..5).prop_map(|p| p.join("&"));
    let base = prop::sample::select(vec!["", "/wiki", "/jira/base"]).prop_map(str::to_owned);
    (method, path, query, base).prop_map(|(m, p, q, base)| {
        let url = if q.is_empty() {
            format!("{base}{p}")
        } else {
            format!("{base}{p}?{q}")
        };
        (m, url, format!("https://acme.atlassian.net{base}"))
    })
}

#[test]
fn canonical_requests_agree_with_npm() {
    let Some(_dir) = npm_dir() else { return };
    // Every shared case, then the generated corpus.
    let mut cases: Vec<(String, String, String)> = crate::conformance::conformance_cases()
        .iter()
        .map(|c| {
            let base = format!(
                "https://acme.atlassian.net{}",
                c["base_path"].as_str().expect("base_path")
            );
            (
                c["method"].as_str().expect("method").to_owned(),
                c["url"].as_str().expect("url").to_owned(),
                base,
            )
        })
        .collect();
    let shared = cases.len();
    let mut runner = TestRunner::new(Config {
        cases: 1,
        failure_persistence: None,
        ..Config::default()
    });
    let mut batch = Vec::new();
    for _ in 0..500 {
        batch.push(corpus().new_tree(&mut runner).expect("generates").current());
    }
    cases.extend(batch);
    let node = node_canonical(&cases);
    for ((method, url, base), node) in cases.iter().zip(&node) {
        let ours = canonical_request(method, url, base).expect("canonical");
        assert_eq!(&ours, node, "{method} {url} (base {base})");
    }
    eprintln!(
        "{shared} shared cases and {} generated requests agree with npm",
        cases.len() - shared
    );
}

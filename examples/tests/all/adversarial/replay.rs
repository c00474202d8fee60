//! Replay: concurrent uses of one token with replay protection on.

use std::sync::Arc;

use asap_core::{Algorithm, InMemoryReplayGuard};
use asap_testkit::forge;
use serde_json::json;

use super::stack::{NOW, Stack, claims, es256_header, signed};

#[tokio::test]
async fn replay_races_let_exactly_one_request_through() {
    let guard = Arc::new(InMemoryReplayGuard::new(10_000));
    let s = Arc::new(Stack::start_with(|b| b.replay_guard(guard)).await);
    let token = signed(&es256_header(), &claims(), &s.key, Algorithm::ES256);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (s, token) = (s.clone(), token.clone());
        tasks.push(tokio::spawn(async move { s.bearer(&token).await }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    let passed = answers.iter().filter(|a| a.status == 200).count();
    assert_eq!(passed, 1, "{answers:?}");
    for answer in answers.iter().filter(|a| a.status != 200) {
        assert_eq!((answer.status, answer.refusal.as_str()), (401, "Replayed"));
    }
    // The same jti in a freshly signed token (new iat) is still a replay of (iss, jti).
    let mut again = forge::claims_of(&token);
    again["iat"] = json!(NOW - 1);
    s.refused(
        "same jti, new signature",
        &signed(&es256_header(), &again, &s.key, Algorithm::ES256),
        401,
        "Replayed",
    )
    .await;
}

//! A bounded load test on loopback: requests per second and p50/p99 latency through the ASAP
//! layer (with and without the verified-token cache) next to the same server without the layer,
//! and a cold-cache key stampede against a counting key repository.
//!
//! `cargo run --release --example load [-- --seconds S --concurrency C --out FILE]`
//! (`cargo xtask bench` runs it). Traffic goes to 127.0.0.1 only; every phase stops after S
//! seconds or 1,000,000 requests, whichever comes first.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asap_core::*;
use asap_keys::HttpKeyRepository;
use asap_tower::AsapLayer;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

const MAX_REQUESTS: usize = 1_000_000;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn app() -> Router {
    Router::new().route("/", get(|| async { "ok" }))
}

/// Sends requests from `concurrency` tasks for `seconds`; returns rps, p50 and p99 (ms).
async fn drive(addr: SocketAddr, token: &str, concurrency: usize, seconds: f64) -> Value {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let url = format!("http://{addr}/");
    let sent = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, sent) = (client.clone(), url.clone(), sent.clone());
            let auth = format!("Bearer {token}");
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0usize;
                while Instant::now() < deadline && sent.fetch_add(1, Ordering::Relaxed) < MAX_REQUESTS {
                    let t = Instant::now();
                    match client.get(&url).header("authorization", &auth).send().await {
                        Ok(r) if r.status() == 200 => latencies.push(t.elapsed()),
                        _ => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (l, f) = task.await.expect("task");
        all.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    // The p-th percentile by rank: index ⌊len × p / 100⌋.
    let pct = |p: usize| {
        all.get((all.len() * p / 100).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    json!({
        "requests": all.len(), "failures": failures, "seconds": elapsed,
        "rps": all.len() as f64 / elapsed, "p50_ms": pct(50), "p99_ms": pct(99),
    })
}

/// 10,000 concurrent verifications of fresh tokens with one kid against a cold repository.
async fn stampede() -> Value {
    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    let pem = key.public_key().expect("public").to_pem();
    let fetches = Arc::new(AtomicUsize::new(0));
    let repo = Router::new()
        .route(
            "/{*kid}",
            get(
                |State((pem, fetches)): State<(String, Arc<AtomicUsize>)>| async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    // A slow repository, so that every verification arrives while the fetch is out.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    ([("content-type", "application/x-pem-file")], pem)
                },
            ),
        )
        .with_state((pem, fetches.clone()));
    let repo_addr = serve(repo).await;
    let keys = HttpKeyRepository::builder(format!("http://{repo_addr}/"))
        .allow_insecure_loopback(true)
        .build()
        .expect("repo");
    let verifier = Verifier::builder(keys)
        .audience(Audience::new("svc").expect("aud"))
        .build()
        .expect("v");
    let kid = KeyId::parse("billing/k1").expect("kid");
    let signer = Signer::builder("billing")
        .key(SigningKey::new(kid, key, None).expect("sk"))
        .build()
        .expect("s");
    let tokens: Vec<String> = (0..10_000)
        .map(|_| {
            signer
                .sign(&Audience::new("svc").expect("aud"))
                .expect("token")
                .to_string()
        })
        .collect();
    let started = Instant::now();
    let tasks: Vec<_> = tokens
        .into_iter()
        .map(|t| {
            let v = verifier.clone();
            tokio::spawn(async move { v.verify(&t).await.is_ok() })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        ok += usize::from(task.await.expect("task"));
    }
    json!({"verifications": 10_000, "succeeded": ok, "fetches": fetches.load(Ordering::SeqCst),
           "seconds": started.elapsed().as_secs_f64()})
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut seconds, mut concurrency, mut out) = (3.0f64, 32usize, None::<String>);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).expect("--seconds S"),
            "--concurrency" => {
                concurrency = args.next().and_then(|s| s.parse().ok()).expect("--concurrency C");
            }
            "--out" => out = args.next(),
            other => panic!("unknown argument {other}"),
        }
    }

    let key = PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("key");
    let kid = KeyId::parse("billing/k1").expect("kid");
    let keys = StaticKeySource::new().with_key(kid.clone(), key.public_key().expect("public"));
    // Clients reuse their token, as asap-reqwest does by default.
    let signer = Signer::builder("billing")
        .key(SigningKey::new(kid, key, None).expect("sk"))
        .lifetime(Duration::from_secs(3600))
        .build()
        .expect("signer");
    let token = signer
        .sign(&Audience::new("svc").expect("aud"))
        .expect("token")
        .to_string();
    let verifier = |cache: usize| {
        Verifier::builder(keys.clone())
            .audience(Audience::new("svc").expect("aud"))
            .cache_verified_tokens(cache)
            .build()
            .expect("verifier")
    };

    let plain = serve(app()).await;
    let layered = serve(app().layer(AsapLayer::new(verifier(0)))).await;
    let cached = serve(app().layer(AsapLayer::new(verifier(10_000)))).await;

    let mut report = serde_json::Map::new();
    for (name, addr) in [
        ("no_layer", plain),
        ("layer", layered),
        ("layer_with_token_cache", cached),
    ] {
        let result = drive(addr, &token, concurrency, seconds).await;
        eprintln!("{name:<24} {result}");
        report.insert(name.into(), result);
    }
    let stampede = stampede().await;
    eprintln!("{:<24} {stampede}", "cold_key_stampede");
    report.insert("cold_key_stampede".into(), stampede);
    report.insert("concurrency".into(), json!(concurrency));

    let text = serde_json::to_string_pretty(&Value::Object(report)).expect("json");
    match out {
        Some(path) => std::fs::write(path, text).expect("write"),
        None => println!("{text}"),
    }
}

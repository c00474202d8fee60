//! A bounded load test on loopback: what a request costs the server through the ASAP layer
//! (with and without the verified-token cache) next to the same route without the layer, and a
//! cold-cache key stampede against a counting key repository.
//!
//! `cargo run --release --example load [-- --seconds S --concurrency C --pin --out FILE]`
//! (`cargo xtask bench` runs it). Traffic goes to 127.0.0.1 only; every phase stops after S
//! seconds or 1,000,000 requests, whichever comes first, split into rounds that alternate with
//! the other phases.
//!
//! Requests per second and latency move with whatever else the machine runs, and the client
//! shares the cores with the server; they are reported, not relied on. The figures to rely on are
//! CPU times read from the server thread's own clock (`CLOCK_THREAD_CPUTIME_ID`): every route is
//! served by one current-thread tokio runtime on a thread of its own, so
//! - the thread's CPU time over a phase divided by the requests served is what a request costs
//!   the whole server (hyper, tokio and the kernel's share included), the client excluded;
//! - a layer around each route reads the clock around its `call` and every poll of its future:
//!   the CPU inside the route with and without `AsapLayer` is the layer's own cost, hyper and the
//!   kernel left out;
//! - while a phase runs, a task on the same thread times one raw aws-lc-rs verification of the
//!   same tokens every 2 ms, so the signature check is measured under the same load from
//!   elsewhere as the requests (CPU time per operation moves by a third between moments here).
//!
//! The clock reads themselves cost about half a microsecond each; they are measured too and
//! taken off. `--pin` puts the server thread on the last core and the client on the others.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use asap_core::*;
use asap_keys::HttpKeyRepository;
use asap_tower::AsapLayer;
use aws_lc_rs::signature::{self, ParsedPublicKey};
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

const MAX_REQUESTS: usize = 1_000_000;
/// Every phase runs in this many rounds, alternating with the other phases, so that a burst of
/// load from elsewhere hurts all of them alike; the cheapest round of each is kept.
const ROUNDS: usize = 5;
/// Distinct fresh tokens the client cycles through for the layer without the cache.
const POOL: usize = 1024;
/// The algorithms measured through the layer without the cache (ES256 also with the cache).
const ALGORITHMS: [Algorithm; 3] = [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256];

/// The calling thread's CPU time (user and system).
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Restricts the calling thread to `cpus`.
fn pin(cpus: &[usize]) {
    let mut set = rustix::thread::CpuSet::new();
    for &cpu in cpus {
        set.set(cpu);
    }
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        eprintln!("note: cannot pin to cores {cpus:?}: {e}");
    }
}

/// CPU time (the server thread's clock) spent inside a route's service, and the requests it
/// took: what [`CpuTimed`] adds up.
#[derive(Clone, Default)]
struct CpuMeter(Arc<(AtomicU64, AtomicU64)>);

impl CpuMeter {
    fn add(&self, since: Duration) {
        let spent = (thread_cpu() - since).as_nanos();
        self.0
            .1
            .fetch_add(u64::try_from(spent).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// (requests, CPU) so far.
    fn read(&self) -> (u64, Duration) {
        let (requests, nanos) = &*self.0;
        (
            requests.load(Ordering::Relaxed),
            Duration::from_nanos(nanos.load(Ordering::Relaxed)),
        )
    }

    /// Wraps `inner` so that its `call` and every poll of its futures count here.
    fn layer<S>(&self, inner: S) -> CpuTimed<S> {
        CpuTimed {
            inner,
            meter: self.clone(),
        }
    }
}

#[derive(Clone)]
struct CpuTimed<S> {
    inner: S,
    meter: CpuMeter,
}

impl<S: tower::Service<R>, R> tower::Service<R> for CpuTimed<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = TimedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let start = thread_cpu();
        let future = Box::pin(self.inner.call(request));
        self.meter.0.0.fetch_add(1, Ordering::Relaxed);
        self.meter.add(start);
        TimedFuture {
            future,
            meter: self.meter.clone(),
        }
    }
}

struct TimedFuture<F> {
    future: Pin<Box<F>>,
    meter: CpuMeter,
}

impl<F: Future> Future for TimedFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let start = thread_cpu();
        let out = this.future.as_mut().poll(cx);
        this.meter.add(start);
        out
    }
}

/// The signing inputs and decoded signatures of some tokens, and the key that verifies them, as
/// a user of aws-lc-rs alone would hold them.
struct RawVerify {
    key: ParsedPublicKey,
    tokens: Vec<(Vec<u8>, Vec<u8>)>,
}

impl RawVerify {
    fn new(alg: Algorithm, public: &PublicKey, tokens: &[String]) -> RawVerify {
        let algorithm: &'static dyn signature::VerificationAlgorithm = match alg {
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::EdDSA => &signature::ED25519,
            other => panic!("no raw verifier for {other}"),
        };
        let tokens = tokens
            .iter()
            .map(|t| {
                let (input, sig) = t.rsplit_once('.').expect("jws");
                (
                    input.as_bytes().to_vec(),
                    URL_SAFE_NO_PAD.decode(sig).expect("b64"),
                )
            })
            .collect();
        RawVerify {
            key: ParsedPublicKey::new(algorithm, public.spki_der()).expect("parsed key"),
            tokens,
        }
    }

    /// Verifies the `i`-th token (cycling).
    fn verify(&self, i: usize) {
        let (input, sig) = &self.tokens[i % self.tokens.len()];
        self.key
            .verify_sig(std::hint::black_box(input), std::hint::black_box(sig))
            .expect("raw verify");
    }
}

/// What a [`sample`] task measured while a phase ran.
#[derive(Clone, Copy, Default)]
struct Samples {
    n: u32,
    /// Summed CPU of one raw verification per sample, one clock read's cost taken off.
    raw: Duration,
    /// Summed cost of one clock read, as seen between two consecutive reads.
    clock_read: Duration,
    /// The sampler's own CPU, to take off the server thread's.
    spent: Duration,
}

impl Samples {
    fn clock_read_us(&self) -> f64 {
        self.clock_read.as_secs_f64() * 1e6 / f64::from(self.n.max(1))
    }

    fn raw_us(&self) -> f64 {
        self.raw.as_secs_f64() * 1e6 / f64::from(self.n.max(1))
    }
}

/// Runs on the server thread next to the requests of a phase, every 2 ms until `stop`: times
/// one clock read and, with `raw`, one raw verification. Sampled in the same moments as the
/// requests, the raw verification sees the same load from elsewhere (it moves by a third between
/// moments on this machine), so that layer minus raw is a difference of like things. Each timed
/// verification follows an untimed one, so that it finds the caches and branch predictors as a
/// tight loop would: the raw side is the cheapest a verification gets, and whatever the layer
/// loses to running between other work counts against the layer.
async fn sample(raw: Option<Arc<RawVerify>>, stop: Arc<std::sync::atomic::AtomicBool>) -> Samples {
    let mut s = Samples::default();
    while !stop.load(Ordering::Relaxed) {
        let t0 = thread_cpu();
        if let Some(raw) = &raw {
            raw.verify(s.n as usize);
        }
        let t1 = thread_cpu();
        let t2 = thread_cpu();
        if let Some(raw) = &raw {
            raw.verify(s.n as usize + 1);
        }
        let t3 = thread_cpu();
        s.clock_read += t2 - t1;
        s.raw += (t3 - t2).saturating_sub(t2 - t1);
        // The reads' halves outside [t0, t3]: one read's cost more.
        s.spent += (t3 - t0) + (t2 - t1);
        s.n += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    s
}

/// What the server thread is asked between phases; it answers on `reply`.
enum Command {
    CpuTime(std::sync::mpsc::Sender<Duration>),
    /// Starts a [`sample`] task (with the raw verifications of a phase's algorithm, if any).
    StartSampling(Option<Arc<RawVerify>>, std::sync::mpsc::Sender<()>),
    /// Stops it and answers with what it measured.
    StopSampling(std::sync::mpsc::Sender<Samples>),
}

/// Routes served by one current-thread runtime on a thread of its own.
struct Server {
    /// `None` once dropping: closing the channel ends the server's runtime, and every route.
    commands: Option<tokio::sync::mpsc::UnboundedSender<Command>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves each router on its own 127.0.0.1 port; returns the addresses in the same order.
    fn start(apps: Vec<Router>, cpus: Option<Vec<usize>>) -> (Server, Vec<SocketAddr>) {
        let listeners: Vec<std::net::TcpListener> = apps
            .iter()
            .map(|_| {
                let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                l.set_nonblocking(true).expect("nonblocking");
                l
            })
            .collect();
        let addrs = listeners.iter().map(|l| l.local_addr().expect("addr")).collect();
        let (commands, mut received) = tokio::sync::mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("server".into())
            .spawn(move || {
                if let Some(cpus) = cpus {
                    pin(&cpus);
                }
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("server runtime");
                runtime.block_on(async move {
                    for (listener, app) in listeners.into_iter().zip(apps) {
                        let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                        tokio::spawn(async move { axum::serve(listener, app).await });
                    }
                    let mut sampler = None;
                    while let Some(command) = received.recv().await {
                        match command {
                            Command::CpuTime(reply) => {
                                let _ = reply.send(thread_cpu());
                            }
                            Command::StartSampling(raw, reply) => {
                                let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                                sampler = Some((stop.clone(), tokio::spawn(sample(raw, stop))));
                                let _ = reply.send(());
                            }
                            Command::StopSampling(reply) => {
                                let (stop, task) = sampler.take().expect("sampling");
                                stop.store(true, Ordering::Relaxed);
                                let _ = reply.send(task.await.expect("sampler"));
                            }
                        }
                    }
                });
            })
            .expect("server thread");
        let server = Server {
            commands: Some(commands),
            thread: Some(thread),
        };
        (server, addrs)
    }

    fn ask<T>(&self, command: impl FnOnce(std::sync::mpsc::Sender<T>) -> Command) -> T {
        let (reply, answer) = std::sync::mpsc::channel();
        let commands = self.commands.as_ref().expect("server running");
        commands.send(command(reply)).expect("server running");
        answer.recv().expect("server answer")
    }

    /// The server thread's CPU time so far.
    fn cpu_time(&self) -> Duration {
        self.ask(Command::CpuTime)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.commands = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn app() -> Router {
    Router::new().route("/", get(|| async { "ok" }))
}

/// The latencies of one round of one phase and its failures.
#[derive(Default)]
struct Round {
    latencies: Vec<Duration>,
    failures: usize,
    seconds: f64,
}

/// Sends requests from `concurrency` tasks for `seconds` or `max` requests, cycling through
/// `headers` (one `authorization` value per request).
async fn drive(
    client: &reqwest::Client,
    addr: SocketAddr,
    headers: &Arc<Vec<HeaderValue>>,
    concurrency: usize,
    seconds: f64,
    max: usize,
) -> Round {
    let url = format!("http://{addr}/");
    let sent = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, sent, headers) = (client.clone(), url.clone(), sent.clone(), headers.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0usize;
                loop {
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    if n >= max || Instant::now() >= deadline {
                        break;
                    }
                    let auth = headers[n % headers.len()].clone();
                    let t = Instant::now();
                    match client.get(&url).header("authorization", auth).send().await {
                        Ok(r) if r.status() == 200 => latencies.push(t.elapsed()),
                        _ => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut round = Round::default();
    for task in tasks {
        let (l, f) = task.await.expect("task");
        round.latencies.extend(l);
        round.failures += f;
    }
    round.seconds = started.elapsed().as_secs_f64();
    round
}

/// One phase: a route, the `authorization` values its client sends and, behind the layer
/// without the cache, the raw verification of the same tokens sampled while it runs.
struct Phase {
    name: String,
    addr: SocketAddr,
    headers: Arc<Vec<HeaderValue>>,
    raw: Option<Arc<RawVerify>>,
    /// Counts the CPU spent inside the route's service (the layer's included).
    meter: CpuMeter,
    rounds: Vec<Round>,
    /// Per round, µs per request: the server thread's CPU (the sampler's and the meter's clock
    /// reads taken off), the CPU inside the route's service (the meter's reads taken off), and
    /// one raw verification sampled meanwhile.
    server_us: Vec<f64>,
    service_us: Vec<f64>,
    raw_us: Vec<f64>,
    clock_read_us: Vec<f64>,
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl Phase {
    fn new(name: String, addr: SocketAddr, headers: Arc<Vec<HeaderValue>>, meter: CpuMeter) -> Phase {
        Phase {
            name,
            addr,
            headers,
            raw: None,
            meter,
            rounds: Vec::new(),
            server_us: Vec::new(),
            service_us: Vec::new(),
            raw_us: Vec::new(),
            clock_read_us: Vec::new(),
        }
    }

    /// One round of `seconds` (or `max` requests) from `concurrency` clients.
    fn run(
        &mut self,
        server: &Server,
        client_runtime: &tokio::runtime::Runtime,
        client: &reqwest::Client,
        (concurrency, seconds, max): (usize, f64, usize),
    ) {
        server.ask(|reply| Command::StartSampling(self.raw.clone(), reply));
        let (cpu_before, (requests_before, service_before)) = (server.cpu_time(), self.meter.read());
        let round =
            client_runtime.block_on(drive(client, self.addr, &self.headers, concurrency, seconds, max));
        let cpu = server.cpu_time() - cpu_before;
        let (requests, service) = self.meter.read();
        let samples = server.ask(Command::StopSampling);
        let clock = samples.clock_read_us();
        let served = (round.latencies.len() + round.failures).max(1) as f64;
        let requests = (requests - requests_before).max(1) as f64;
        // The meter reads the clock four times a request, two of them inside what it measures.
        self.server_us
            .push(cpu.saturating_sub(samples.spent).as_secs_f64() * 1e6 / served - 4.0 * clock);
        self.service_us
            .push((service - service_before).as_secs_f64() * 1e6 / requests - 2.0 * clock);
        if self.raw.is_some() {
            self.raw_us.push(samples.raw_us());
        }
        self.clock_read_us.push(clock);
        self.rounds.push(round);
    }

    fn report(&self) -> Value {
        let mut all: Vec<Duration> = self
            .rounds
            .iter()
            .flat_map(|r| r.latencies.iter().copied())
            .collect();
        all.sort_unstable();
        let seconds: f64 = self.rounds.iter().map(|r| r.seconds).sum();
        let failures: usize = self.rounds.iter().map(|r| r.failures).sum();
        // The p-th percentile by rank: index ⌊len × p / 100⌋.
        let pct = |p: usize| {
            all.get((all.len() * p / 100).min(all.len().saturating_sub(1)))
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        let mut report = json!({
            "requests": all.len(), "failures": failures, "seconds": seconds,
            "rps": all.len() as f64 / seconds, "p50_ms": pct(50), "p99_ms": pct(99),
            "server_cpu_us_per_request": median(&self.server_us),
            "server_cpu_us_per_request_by_round": self.server_us,
            "service_cpu_us_per_request": median(&self.service_us),
            "service_cpu_us_per_request_by_round": self.service_us,
            "clock_read_us": median(&self.clock_read_us),
        });
        if self.raw.is_some() {
            report["raw_verify_us"] = json!(median(&self.raw_us));
            report["raw_verify_us_by_round"] = json!(self.raw_us);
        }
        report
    }
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

/// A key of `alg`'s kind, a verifier for it (with `cache` verified-token entries) and `n`
/// fresh tokens signed with it.
struct Issuer {
    public: PublicKey,
    keys: StaticKeySource,
    tokens: Vec<String>,
}

impl Issuer {
    fn new(alg: Algorithm, n: usize) -> Issuer {
        let spec = match alg.key_kind() {
            KeyKind::Rsa => KeySpec::Rsa(2048),
            kind => KeySpec::Curve(kind),
        };
        let key = PrivateKey::generate(spec).expect("key");
        let public = key.public_key().expect("public");
        let kid = KeyId::parse("billing/k1").expect("kid");
        let keys = StaticKeySource::new().with_key(kid.clone(), public.clone());
        let signer = Signer::builder("billing")
            .key(SigningKey::new(kid, key, Some(alg)).expect("sk"))
            .lifetime(Duration::from_secs(3600))
            .build()
            .expect("signer");
        let audience = Audience::new("svc").expect("aud");
        let tokens = (0..n)
            .map(|_| signer.sign(&audience).expect("token").to_string())
            .collect();
        Issuer { public, keys, tokens }
    }

    fn verifier(&self, cache: usize) -> Verifier {
        Verifier::builder(self.keys.clone())
            .audience(Audience::new("svc").expect("aud"))
            .enable_eddsa(true)
            .cache_verified_tokens(cache)
            .build()
            .expect("verifier")
    }
}

fn bearer(tokens: &[String]) -> Arc<Vec<HeaderValue>> {
    Arc::new(
        tokens
            .iter()
            .map(|t| HeaderValue::from_str(&format!("Bearer {t}")).expect("header"))
            .collect(),
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut seconds, mut concurrency, mut out, mut pinned) = (3.0f64, 32usize, None::<String>, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).expect("--seconds S"),
            "--concurrency" => {
                concurrency = args.next().and_then(|s| s.parse().ok()).expect("--concurrency C");
            }
            "--pin" => pinned = true,
            "--out" => out = args.next(),
            other => panic!("unknown argument {other}"),
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let pinned = pinned && cores >= 2;
    let (server_cpus, client_cpus) = if pinned {
        (Some(vec![cores - 1]), Some((0..cores - 1).collect::<Vec<_>>()))
    } else {
        (None, None)
    };
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(move || {
            if let Some(cpus) = &client_cpus {
                pin(cpus);
            }
        })
        .build()
        .expect("client runtime");

    let issuers: Vec<(Algorithm, Issuer)> = ALGORITHMS.map(|alg| (alg, Issuer::new(alg, POOL))).into();
    let es256 = &issuers[0].1;
    // The route alone, behind the layer for each algorithm, behind it with the cache; each
    // inside a meter of its own.
    let mut routes = vec![app()];
    for (_, issuer) in &issuers {
        routes.push(app().layer(AsapLayer::new(issuer.verifier(0))));
    }
    routes.push(app().layer(AsapLayer::new(es256.verifier(10_000))));
    let meters: Vec<CpuMeter> = routes.iter().map(|_| CpuMeter::default()).collect();
    let apps = routes
        .into_iter()
        .zip(&meters)
        .map(|(route, meter)| {
            let meter = meter.clone();
            route.layer(tower::layer::layer_fn(move |inner| meter.layer(inner)))
        })
        .collect();
    let (server, addrs) = Server::start(apps, server_cpus);

    // Clients reuse their token, as asap-reqwest does by default: the route without the layer
    // and the layer with the cache see one token; the layer without it a fresh one per request
    // (from a pool), so nothing the server remembers can stand in for the signature check.
    let reused = bearer(&es256.tokens[..1]);
    let mut phases = vec![Phase::new(
        "no_layer".into(),
        addrs[0],
        reused.clone(),
        meters[0].clone(),
    )];
    for (i, (alg, issuer)) in issuers.iter().enumerate() {
        let mut p = Phase::new(
            format!("layer_{alg}"),
            addrs[1 + i],
            bearer(&issuer.tokens),
            meters[1 + i].clone(),
        );
        p.raw = Some(Arc::new(RawVerify::new(*alg, &issuer.public, &issuer.tokens)));
        phases.push(p);
    }
    let last = 1 + issuers.len();
    phases.push(Phase::new(
        "layer_with_token_cache".into(),
        addrs[last],
        reused,
        meters[last].clone(),
    ));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let load = (concurrency, seconds / ROUNDS as f64, MAX_REQUESTS / ROUNDS);
    for _ in 0..ROUNDS {
        for p in &mut phases {
            p.run(&server, &client_runtime, &client, load);
        }
    }
    drop(server);

    let mut report = serde_json::Map::new();
    for p in &phases {
        let result = p.report();
        eprintln!("{:<24} {result}", p.name);
        report.insert(p.name.clone(), result);
    }
    // Each round ran every phase once, a few seconds apart: the layer's figures are taken
    // against the same round's route and raw verification, and the median over rounds kept.
    let route = &phases[0];
    let per_round = |f: &dyn Fn(usize) -> f64| median(&(0..ROUNDS).map(f).collect::<Vec<_>>());
    let mut cpu = serde_json::Map::new();
    for (i, (alg, _)) in issuers.iter().enumerate() {
        let p = &phases[1 + i];
        let beyond_route = |r: usize| p.service_us[r] - route.service_us[r];
        cpu.insert(
            alg.as_str().into(),
            json!({
                "raw_verify_us": median(&p.raw_us),
                // Inside the route's service: the layer's own cost.
                "route_us": median(&route.service_us),
                "layer_us": median(&p.service_us),
                "layer_us_beyond_route": per_round(&beyond_route),
                "layer_us_beyond_crypto": per_round(&|r| beyond_route(r) - p.raw_us[r]),
                "layer_us_beyond_crypto_by_round":
                    (0..ROUNDS).map(|r| beyond_route(r) - p.raw_us[r]).collect::<Vec<_>>(),
                // The whole server thread: hyper, tokio and the kernel's share included.
                "server_route_us": median(&route.server_us),
                "server_layer_us": median(&p.server_us),
                "server_layer_us_beyond_crypto":
                    per_round(&|r| p.server_us[r] - route.server_us[r] - p.raw_us[r]),
                "route_and_crypto_over_layer":
                    per_round(&|r| (route.server_us[r] + p.raw_us[r]) / p.server_us[r]),
            }),
        );
    }
    let cached = &phases[last];
    let rps = |name: &str| report[name]["rps"].as_f64().unwrap_or(f64::NAN);
    let cache = json!({
        "layer_us_beyond_route": per_round(&|r| cached.service_us[r] - route.service_us[r]),
        "server_route_over_layer": per_round(&|r| route.server_us[r] / cached.server_us[r]),
        "rps_ratio": rps("layer_with_token_cache") / rps("no_layer"),
    });
    eprintln!("server CPU per request: {}", Value::Object(cpu.clone()));
    eprintln!("with the token cache:   {cache}");
    report.insert("server_cpu_by_algorithm".into(), Value::Object(cpu));
    report.insert("server_cpu_with_token_cache".into(), cache);

    let stampede = client_runtime.block_on(stampede());
    eprintln!("{:<24} {stampede}", "cold_key_stampede");
    report.insert("cold_key_stampede".into(), stampede);
    report.insert("concurrency".into(), json!(concurrency));
    report.insert("rounds".into(), json!(ROUNDS));
    report.insert("pinned".into(), json!(pinned));

    let text = serde_json::to_string_pretty(&Value::Object(report)).expect("json");
    match out {
        Some(path) => std::fs::write(path, text).expect("write"),
        None => println!("{text}"),
    }
}

//! The load: honest ASAP and Connect callers, and hostile ones (replays, forgeries, unknown
//! kids, a removed key, a wrong tenant secret, replayed install callbacks, connections that
//! trickle their headers). Every request's outcome goes to [`Tally`] under the phase it
//! started in.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use asap_core::{Algorithm, Audience, KeyId, KeyKind, KeySpec, PrivateKey, Signer, encode_compact};
use connect_qsh::{ConnectSigner, SharedSecret, qsh};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::fleet::{
    APP_BASE_URL, AUDIENCE, HEADER_READ_TIMEOUT, INSTALL_KID, ISSUER, LEEWAY, TOKEN_LIFETIME,
};

/// Who sent a request, and so what answer is right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// A fresh token from the current key: 200, or 503 while a dependency is away.
    AsapValid,
    /// A token that was already accepted once: never 2xx.
    AsapReplay,
    /// An accepted token sent again, over and over, around the last second in which its time
    /// claims still pass (`exp` + leeway), when a replay store forgets it: never 2xx.
    AsapReplayAtExpiry,
    /// Signed by an attacker's key under the issuer's current kid: never 2xx.
    AsapForged,
    /// Signed by an attacker's key under a kid nobody published: never 2xx.
    AsapUnknownKid,
    /// Signed by a key that was removed from the repositories at the rotation: 2xx only until
    /// the cached copy runs out.
    AsapRemovedKey,
    /// A tenant's request signed with its shared secret: 200, or 503 while Redis is away.
    ConnectValid,
    /// A tenant's client key with a wrong secret: never 2xx.
    ConnectForged,
    /// A signed install callback for a new tenant: 204, or 503 while Redis is away.
    Install,
    /// An install callback that was already accepted once: never 2xx.
    InstallReplay,
    /// A connection that sends its headers one line a second: the server must cut it off.
    SlowHeaders,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::AsapValid => "asap_valid",
            Kind::AsapReplay => "asap_replay",
            Kind::AsapReplayAtExpiry => "asap_replay_at_expiry",
            Kind::AsapForged => "asap_forged",
            Kind::AsapUnknownKid => "asap_unknown_kid",
            Kind::AsapRemovedKey => "asap_removed_key",
            Kind::ConnectValid => "connect_valid",
            Kind::ConnectForged => "connect_forged",
            Kind::Install => "install",
            Kind::InstallReplay => "install_replay",
            Kind::SlowHeaders => "slow_headers",
        }
    }

    /// Whether a 2xx for this caller is an accepted forgery.
    pub(crate) fn is_forgery(self) -> bool {
        matches!(
            self,
            Kind::AsapForged | Kind::AsapUnknownKid | Kind::ConnectForged
        )
    }

    /// Whether a 2xx for this caller is an accepted replay.
    pub(crate) fn is_replay(self) -> bool {
        matches!(
            self,
            Kind::AsapReplay | Kind::AsapReplayAtExpiry | Kind::InstallReplay
        )
    }

    /// Whether this caller is honest (its latency is the service's latency).
    pub(crate) fn is_honest(self) -> bool {
        matches!(self, Kind::AsapValid | Kind::ConnectValid | Kind::Install)
    }
}

/// How often an accepted token is kept for the replayer at expiry.
const EXPIRY_SAMPLE: Duration = Duration::from_millis(500);
/// How long before and after a token's end of life the replayer at expiry sends it.
const EXPIRY_WINDOW: Duration = Duration::from_millis(1500);

/// What came back: an HTTP status, or no answer at all (connect error, timeout).
pub(crate) const NO_ANSWER: u16 = 0;

/// One phase's outcomes.
#[derive(Debug, Default)]
pub(crate) struct PhaseTally {
    /// Requests by caller and status.
    pub(crate) counts: BTreeMap<(Kind, u16), u64>,
    /// Honest callers' latencies.
    pub(crate) latencies: Vec<Duration>,
    /// 2xx answers to requests that started and ended in this phase, by caller: what a phase
    /// in which a dependency is away must not have.
    pub(crate) successes_within: BTreeMap<Kind, u64>,
    /// When (since the phase started) each honest caller kind first got a 2xx.
    pub(crate) first_success: BTreeMap<Kind, Duration>,
    /// Longest time a slow-header connection stayed open.
    pub(crate) longest_slow_connection: Duration,
}

/// Every outcome of the run, by phase.
pub(crate) struct Tally {
    started: Instant,
    phase: AtomicUsize,
    phase_started: Mutex<Instant>,
    phases: Mutex<Vec<PhaseTally>>,
    /// Accepts of the removed key later than the cache allows, as seconds after the rotation.
    pub(crate) late_removed_key_accepts: Mutex<Vec<f64>>,
    rotated_at: Mutex<Option<Instant>>,
}

impl Tally {
    pub(crate) fn new(phases: usize) -> Tally {
        Tally {
            started: Instant::now(),
            phase: AtomicUsize::new(0),
            phase_started: Mutex::new(Instant::now()),
            // One more for the transitions: requests started while a fault is being applied.
            phases: Mutex::new((0..=phases).map(|_| PhaseTally::default()).collect()),
            late_removed_key_accepts: Mutex::new(Vec::new()),
            rotated_at: Mutex::new(None),
        }
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Until the next [`Tally::enter_phase`], requests count as started in a transition (the
    /// tally after the last phase), so that no phase counts a request that saw a dependency
    /// come or go.
    pub(crate) fn enter_transition(&self) {
        let transition = lock(&self.phases).len() - 1;
        self.phase.store(transition, Ordering::SeqCst);
    }

    pub(crate) fn enter_phase(&self, index: usize) {
        *lock(&self.phase_started) = Instant::now();
        self.phase.store(index, Ordering::SeqCst);
    }

    pub(crate) fn rotated(&self) {
        *lock(&self.rotated_at) = Some(Instant::now());
    }

    pub(crate) fn take(&self) -> Vec<PhaseTally> {
        std::mem::take(&mut *lock(&self.phases))
    }

    /// Records a request that started in phase `phase`.
    fn record(&self, phase: usize, kind: Kind, status: u16, latency: Duration) {
        let ended_in = self.phase.load(Ordering::SeqCst);
        let since_phase = lock(&self.phase_started).elapsed();
        let mut phases = lock(&self.phases);
        let Some(tally) = phases.get_mut(phase) else {
            return;
        };
        *tally.counts.entry((kind, status)).or_default() += 1;
        let success = (200..300).contains(&status);
        if success && ended_in == phase {
            *tally.successes_within.entry(kind).or_default() += 1;
        }
        if kind.is_honest() {
            tally.latencies.push(latency);
            if success && ended_in == phase {
                tally.first_success.entry(kind).or_insert(since_phase);
            }
        }
        if kind == Kind::SlowHeaders {
            tally.longest_slow_connection = tally.longest_slow_connection.max(latency);
        }
        drop(phases);
        if kind == Kind::AsapRemovedKey
            && success
            && let Some(rotated) = *lock(&self.rotated_at)
            && rotated.elapsed() > crate::REMOVED_KEY_BOUND
        {
            lock(&self.late_removed_key_accepts).push(rotated.elapsed().as_secs_f64());
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the issuer signs with.
#[derive(Clone)]
pub(crate) struct Signers {
    /// The published key.
    pub(crate) current: Signer,
    /// Its kid.
    pub(crate) kid: KeyId,
    /// A key that was published once and removed at the rotation.
    pub(crate) removed: Option<Signer>,
}

/// What the callers share: where to send, what to sign with, and what was accepted before.
pub(crate) struct Shared {
    pub(crate) service: SocketAddr,
    pub(crate) client: reqwest::Client,
    pub(crate) tally: Tally,
    /// Stops every caller.
    pub(crate) stop: AtomicBool,
    /// Stops the burst callers.
    pub(crate) burst_stop: AtomicBool,
    /// The issuer's signers.
    pub(crate) signers: RwLock<Signers>,
    /// An attacker's key.
    pub(crate) attacker: PrivateKey,
    /// Tokens the service accepted: what replayers send again.
    pub(crate) accepted_tokens: Mutex<Vec<String>>,
    /// One accepted token every [`EXPIRY_SAMPLE`], with when it was accepted: what the
    /// replayer at expiry sends again.
    pub(crate) expiring_tokens: Mutex<VecDeque<(Instant, String)>>,
    /// Tenants whose install the service acknowledged (client key, shared secret).
    pub(crate) installed: Mutex<Vec<(String, String)>>,
    /// Install callbacks the service accepted (token, body): what install replayers send again.
    pub(crate) accepted_installs: Mutex<Vec<(String, Vec<u8>)>>,
    pub(crate) install_key: Arc<PrivateKey>,
    counter: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        service: SocketAddr,
        signers: Signers,
        install_key: Arc<PrivateKey>,
        phases: usize,
    ) -> Shared {
        Shared {
            service,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(256)
                // Below the server's idle cut-off (hyper's header read timeout also runs while
                // a kept-alive connection waits for its next request): a client that keeps
                // idle connections longer races the server's close and loses a request now
                // and then (the first 300 s soak lost 2 of 120,000 that way).
                .pool_idle_timeout(HEADER_READ_TIMEOUT / 2)
                .build()
                .expect("a plain HTTP client builds"),
            tally: Tally::new(phases),
            stop: AtomicBool::new(false),
            burst_stop: AtomicBool::new(false),
            signers: RwLock::new(signers),
            attacker: PrivateKey::generate(KeySpec::Curve(KeyKind::P256)).expect("P-256 generates"),
            accepted_tokens: Mutex::new(Vec::new()),
            expiring_tokens: Mutex::new(VecDeque::new()),
            installed: Mutex::new(Vec::new()),
            accepted_installs: Mutex::new(Vec::new()),
            install_key,
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Picks the `n`-th element of a shared list, wrapping.
    fn pick<T: Clone>(list: &Mutex<Vec<T>>, n: u64) -> Option<T> {
        let list = lock(list);
        if list.is_empty() {
            return None;
        }
        let index = usize::try_from(n % list.len() as u64).unwrap_or(0);
        list.get(index).cloned()
    }
}

/// Runs one caller of `kind` until `stop` (or, for a burst caller, `burst_stop`).
pub(crate) async fn run(shared: Arc<Shared>, kind: Kind, burst: bool) {
    let pause = match kind {
        Kind::AsapValid | Kind::ConnectValid => Duration::from_millis(2),
        Kind::Install => Duration::from_millis(150),
        Kind::AsapReplayAtExpiry => Duration::from_millis(100),
        _ => Duration::from_millis(25),
    };
    loop {
        if shared.stop.load(Ordering::Relaxed) || (burst && shared.burst_stop.load(Ordering::Relaxed)) {
            return;
        }
        let phase = shared.tally.phase.load(Ordering::SeqCst);
        let started = Instant::now();
        if let Some(status) = once(&shared, kind, phase).await {
            shared.tally.record(phase, kind, status, started.elapsed());
        }
        tokio::time::sleep(pause).await;
    }
}

/// One request of `kind` (the replayer at expiry records all but its last itself); `None` when
/// there is nothing to send yet (no accepted token to replay).
async fn once(shared: &Shared, kind: Kind, phase: usize) -> Option<u16> {
    let n = shared.next();
    let audience = Audience::new(AUDIENCE).expect("valid audience");
    match kind {
        Kind::AsapValid => {
            let token = read(&shared.signers).current.sign(&audience).ok()?.to_string();
            let status = get(shared, "/asap", "Bearer", &token).await;
            if status == 200 {
                let mut accepted = lock(&shared.accepted_tokens);
                // A bounded window of recent tokens: replays aim at what is still unexpired.
                if accepted.len() >= 1024 {
                    accepted.remove(0);
                }
                accepted.push(token.clone());
                drop(accepted);
                let mut expiring = lock(&shared.expiring_tokens);
                if expiring
                    .back()
                    .is_none_or(|(at, _)| at.elapsed() >= EXPIRY_SAMPLE)
                {
                    expiring.push_back((Instant::now(), token));
                }
            }
            Some(status)
        }
        Kind::AsapReplayAtExpiry => {
            // Every token whose end of life is within a second and a half, once each pass.
            let end_of_life = TOKEN_LIFETIME + LEEWAY;
            let due: Vec<String> = {
                let mut expiring = lock(&shared.expiring_tokens);
                while expiring
                    .front()
                    .is_some_and(|(at, _)| at.elapsed() > end_of_life + EXPIRY_WINDOW)
                {
                    expiring.pop_front();
                }
                expiring
                    .iter()
                    .take_while(|(at, _)| at.elapsed() + EXPIRY_WINDOW >= end_of_life)
                    .map(|(_, token)| token.clone())
                    .collect()
            };
            let (last, rest) = due.split_last()?;
            for token in rest {
                let started = Instant::now();
                let status = get(shared, "/asap", "Bearer", token).await;
                shared.tally.record(phase, kind, status, started.elapsed());
            }
            Some(get(shared, "/asap", "Bearer", last).await)
        }
        Kind::AsapReplay => {
            let token = Shared::pick(&shared.accepted_tokens, n)?;
            Some(get(shared, "/asap", "Bearer", &token).await)
        }
        Kind::AsapForged => {
            let kid = read(&shared.signers).kid.clone();
            Some(get(shared, "/asap", "Bearer", &forge(&shared.attacker, &kid, n)).await)
        }
        Kind::AsapUnknownKid => {
            let kid = KeyId::parse(&format!("{ISSUER}/unknown-{n}")).ok()?;
            Some(get(shared, "/asap", "Bearer", &forge(&shared.attacker, &kid, n)).await)
        }
        Kind::AsapRemovedKey => {
            let token = read(&shared.signers)
                .removed
                .as_ref()?
                .sign(&audience)
                .ok()?
                .to_string();
            Some(get(shared, "/asap", "Bearer", &token).await)
        }
        Kind::ConnectValid | Kind::ConnectForged => {
            let (client_key, secret) = Shared::pick(&shared.installed, n)?;
            let secret = if kind == Kind::ConnectValid {
                secret
            } else {
                format!("{secret}-guessed")
            };
            let path = format!("/page?n={n}");
            let token = ConnectSigner::new(client_key)
                .sign(&SharedSecret::new(secret).expect("secret"), "GET", &path, "")
                .ok()?;
            Some(get(shared, &path, "JWT", &token).await)
        }
        Kind::Install => {
            let client_key = format!("tenant-{n}");
            let secret = format!("secret-{n}-{}", now_nanos());
            let body = serde_json::to_vec(&json!({
                "key": "soak-app",
                "clientKey": client_key,
                "sharedSecret": secret,
                "baseUrl": format!("https://{client_key}.example.net"),
                "productType": "jira",
                "eventType": "installed",
            }))
            .ok()?;
            let token = install_token(&shared.install_key, &client_key)?;
            let status = post(shared, "/installed", &token, body.clone()).await;
            if (200..300).contains(&status) {
                lock(&shared.installed).push((client_key, secret));
                lock(&shared.accepted_installs).push((token, body));
            }
            Some(status)
        }
        Kind::InstallReplay => {
            let (token, body) = Shared::pick(&shared.accepted_installs, n)?;
            Some(post(shared, "/installed", &token, body).await)
        }
        Kind::SlowHeaders => Some(slow_headers(shared.service).await),
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An ES256 token for the service, signed by `key` whoever owns `kid`.
fn forge(key: &PrivateKey, kid: &KeyId, n: u64) -> String {
    let now = now_secs();
    let header = json!({"alg": "ES256", "kid": kid.as_str()});
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "jti": format!("forged-{n}-{}", now_nanos()),
        "iat": now, "exp": now + 60,
    });
    let sign = |input: &[u8]| key.sign(Algorithm::ES256, input);
    encode_compact(header.to_string().as_bytes(), claims.to_string().as_bytes(), sign)
        .expect("a P-256 key signs ES256")
}

/// A signed install callback as the product makes it: RS256 with the install key, `aud` = the
/// app's base URL, `qsh` over `POST /installed`.
fn install_token(key: &PrivateKey, client_key: &str) -> Option<String> {
    let now = now_secs();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": INSTALL_KID});
    let claims = json!({
        "iss": client_key, "aud": APP_BASE_URL, "iat": now, "exp": now + 180,
        "qsh": qsh("POST", "/installed", "").ok()?,
    });
    let sign = |input: &[u8]| key.sign(Algorithm::RS256, input);
    encode_compact(header.to_string().as_bytes(), claims.to_string().as_bytes(), sign).ok()
}

async fn get(shared: &Shared, path: &str, scheme: &str, token: &str) -> u16 {
    let url = format!("http://{}{path}", shared.service);
    let request = shared
        .client
        .get(url)
        .header("authorization", format!("{scheme} {token}"));
    answer(request.send().await)
}

async fn post(shared: &Shared, path: &str, token: &str, body: Vec<u8>) -> u16 {
    let url = format!("http://{}{path}", shared.service);
    let request = shared
        .client
        .post(url)
        .header("authorization", format!("JWT {token}"))
        .header("content-type", "application/json")
        .body(body);
    answer(request.send().await)
}

/// The status, or [`NO_ANSWER`]; the first few failures are printed with their cause.
fn answer(sent: reqwest::Result<reqwest::Response>) -> u16 {
    static PRINTED: AtomicUsize = AtomicUsize::new(0);
    match sent {
        Ok(response) => response.status().as_u16(),
        Err(error) => {
            if PRINTED.fetch_add(1, Ordering::Relaxed) < 5 {
                let mut cause = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(inner) = source {
                    cause = format!("{cause}: {inner}");
                    source = inner.source();
                }
                eprintln!("no answer: {cause}");
            }
            NO_ANSWER
        }
    }
}

/// Opens a connection and sends one header line every half second until the server hangs up.
/// Returns 408-like `NO_ANSWER` when cut off in time; the time held is the latency recorded.
async fn slow_headers(service: SocketAddr) -> u16 {
    let Ok(mut stream) = TcpStream::connect(service).await else {
        return NO_ANSWER;
    };
    let give_up = Instant::now() + HEADER_READ_TIMEOUT * 5;
    if stream
        .write_all(b"GET /asap HTTP/1.1\r\nhost: soak\r\n")
        .await
        .is_err()
    {
        return NO_ANSWER;
    }
    let mut buf = [0u8; 512];
    while Instant::now() < give_up {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                // Closed (or answered 408 and closed): cut off, as it should be.
                Ok(0) | Err(_) => return NO_ANSWER,
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                if stream.write_all(b"x-slow: 1\r\n").await.is_err() {
                    return NO_ANSWER;
                }
            }
        }
    }
    // Still open long after the header timeout: the server did not cut it off.
    SLOW_NOT_CUT_OFF
}

/// The status recorded for a slow connection the server kept open.
pub(crate) const SLOW_NOT_CUT_OFF: u16 = 1;

fn now_secs() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
    .unwrap_or(0)
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

//! The figures: requests by status and phase, latency, time to recover, memory and file
//! descriptors; and the checks that fail the run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use connect_qsh::TenantStore;
use serde_json::{Map, Value, json};

use crate::callers::{Kind, NO_ANSWER, PhaseTally, SLOW_NOT_CUT_OFF};

/// Resident memory of this process (servers and load together), in KiB.
pub(crate) fn resident_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// Open file descriptors of this process.
pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// The descriptor count once closing connections have settled: polled for up to five seconds
/// until it is back to `before`.
pub(crate) async fn settled_fds(before: usize) -> usize {
    let mut now = open_fds();
    for _ in 0..50 {
        if now <= before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = open_fds();
    }
    now
}

/// Samples resident memory every 100 ms for the peak.
pub(crate) struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    pub(crate) fn start() -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(resident_kib()));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(resident_kib(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Sampler { stop, peak, thread }
    }

    /// The peak resident memory in KiB.
    pub(crate) fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        self.peak.load(Ordering::Relaxed)
    }
}

/// Tenants whose install was acknowledged but that the store does not hold with their secret.
pub(crate) async fn lost_installs(
    store: &dyn TenantStore,
    installed: &Mutex<Vec<(String, String)>>,
) -> usize {
    let installed = installed
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut lost = 0;
    for (client_key, secret) in &installed {
        match store.tenant(client_key).await {
            Ok(Some(tenant)) if tenant.shared_secret().expose() == secret => {}
            Ok(_) | Err(_) => lost += 1,
        }
    }
    lost
}

/// What the run measured.
pub(crate) struct Inputs<'a> {
    pub(crate) seconds: u64,
    /// Name, length and resident memory (KiB) at its end, of each phase.
    pub(crate) phases: &'a [(&'static str, Duration, u64)],
    pub(crate) tallies: &'a [PhaseTally],
    pub(crate) late_removed_key_accepts: &'a [f64],
    pub(crate) lost_installs: usize,
    /// Resident memory: after the warm phase, peak, at the end of the load.
    pub(crate) memory_kib: (u64, u64, u64),
    /// Open file descriptors before the fleet started and after it stopped.
    pub(crate) fds: (usize, usize),
}

/// How much the resident memory may grow from the end of the warm phase to the end of the run.
const MEMORY_GROWTH_BOUND_KIB: u64 = 64 * 1024;

/// The p99 latency of honest requests while Redis is down must stay below this: a reconnect
/// that waits on backoff holds every request (it held them 1.5 s before asap-redis stopped
/// retrying inside a reconnect).
const FAIL_FAST_BOUND_MS: f64 = 1000.0;

/// The report: JSON, and the checks.
pub(crate) struct Report {
    pub(crate) json: Value,
    checks: Vec<(String, bool, String)>,
}

impl Report {
    pub(crate) fn new(inputs: &Inputs<'_>) -> Report {
        let mut checks = Vec::new();
        let mut check = |name: &str, ok: bool, detail: String| checks.push((name.to_owned(), ok, detail));
        let phase = |name: &str| {
            inputs
                .phases
                .iter()
                .position(|(n, _, _)| *n == name)
                .and_then(|i| inputs.tallies.get(i))
        };
        let count = |tally: Option<&PhaseTally>, kind: Kind, want: &dyn Fn(u16) -> bool| -> u64 {
            tally.map_or(0, |t| {
                t.counts
                    .iter()
                    .filter(|((k, s), _)| *k == kind && want(*s))
                    .map(|(_, n)| n)
                    .sum()
            })
        };
        let all = |want: &dyn Fn(Kind, u16) -> bool| -> u64 {
            inputs
                .tallies
                .iter()
                .flat_map(|t| t.counts.iter())
                .filter(|((k, s), _)| want(*k, *s))
                .map(|(_, n)| n)
                .sum()
        };
        let success = |s: u16| (200..300).contains(&s);

        // Must be zero.
        let server_errors = all(&|_, s| s >= 500 && s != 503);
        check(
            "no 5xx but 503",
            server_errors == 0,
            format!("{server_errors} answers"),
        );
        let forgeries = all(&|k, s| k.is_forgery() && success(s));
        check(
            "no accepted forgery",
            forgeries == 0,
            format!("{forgeries} accepted"),
        );
        let replays = all(&|k, s| k.is_replay() && success(s));
        check("no accepted replay", replays == 0, format!("{replays} accepted"));
        check(
            "no lost install",
            inputs.lost_installs == 0,
            format!(
                "{} acknowledged installs missing from the store",
                inputs.lost_installs
            ),
        );
        let late = inputs.late_removed_key_accepts.len();
        check(
            "removed key refused after the cache bound",
            late == 0,
            format!(
                "{late} accepted later than {}s after the rotation",
                crate::REMOVED_KEY_BOUND.as_secs()
            ),
        );
        let not_cut_off = all(&|k, s| k == Kind::SlowHeaders && s == SLOW_NOT_CUT_OFF);
        check(
            "slow-header connections cut off",
            not_cut_off == 0,
            format!("{not_cut_off} left open"),
        );
        let honest_refused = all(&|k, s| k.is_honest() && (400..500).contains(&s));
        check(
            "no honest caller refused",
            honest_refused == 0,
            format!("{honest_refused} refused (4xx)"),
        );
        let unanswered = all(&|k, s| k != Kind::SlowHeaders && s == NO_ANSWER);
        check(
            "every request answered",
            unanswered == 0,
            format!("{unanswered} without an answer"),
        );
        let (fds_before, fds_after) = inputs.fds;
        check(
            "no leaked file descriptor",
            // A leak is more descriptors after than before; one open at the start (a runtime's
            // or the harness's) may be closed by the end.
            fds_after <= fds_before,
            format!("{fds_before} before, {fds_after} after"),
        );
        let (warm, peak, end) = inputs.memory_kib;
        check(
            "memory bounded once warm",
            end <= warm + MEMORY_GROWTH_BOUND_KIB,
            format!("{warm} KiB warm, {peak} KiB peak, {end} KiB end"),
        );

        // The faults did what docs/reliability.md says.
        let rotate = phase("rotate");
        let new_kid_served = count(rotate, Kind::AsapValid, &success);
        check(
            "mirror serves the new kid while the primary is down",
            new_kid_served > 0,
            format!("{new_kid_served} accepted"),
        );
        let down = phase("repositories_down");
        let (stale, refused) = (
            count(down, Kind::AsapValid, &success),
            count(down, Kind::AsapValid, &|s| s == 503),
        );
        check(
            "stale-if-error answers, then 503",
            stale > 0 && refused > 0,
            format!("{stale} accepted from the stale key, {refused} refused with 503"),
        );
        let redis_down = phase("redis_down");
        // A request that started during the outage and ended after the restart may succeed.
        let failed_open = [Kind::AsapValid, Kind::ConnectValid, Kind::Install]
            .iter()
            .map(|k| {
                redis_down
                    .and_then(|t| t.successes_within.get(k))
                    .copied()
                    .unwrap_or(0)
            })
            .sum::<u64>();
        let closed = count(redis_down, Kind::AsapValid, &|s| s == 503);
        check(
            "replay guard and tenant store fail closed without Redis",
            failed_open == 0 && closed > 0,
            format!("{failed_open} accepted, {closed} refused with 503"),
        );

        // Without Redis the answer is a quick 503, not a wait on reconnect backoff.
        let (_, redis_down_p99) = percentiles(redis_down.map_or(&[][..], |t| &t.latencies));
        check(
            "503 at once without Redis",
            redis_down_p99 < FAIL_FAST_BOUND_MS,
            format!("honest p99 {redis_down_p99:.1} ms (bound {FAIL_FAST_BOUND_MS} ms)"),
        );

        let mut phases_json = Vec::new();
        let mut at = 0.0;
        for ((name, length, resident), tally) in inputs.phases.iter().zip(inputs.tallies) {
            let mut by_kind: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
            for ((kind, status), n) in &tally.counts {
                let status = match *status {
                    NO_ANSWER => "no_answer".to_owned(),
                    SLOW_NOT_CUT_OFF => "not_cut_off".to_owned(),
                    s => s.to_string(),
                };
                by_kind.entry(kind.name()).or_default().insert(status, json!(n));
            }
            let (p50, p99) = percentiles(&tally.latencies);
            let recovered: Map<String, Value> = tally
                .first_success
                .iter()
                .map(|(k, d)| (k.name().to_owned(), json!(millis(*d))))
                .collect();
            phases_json.push(json!({
                "name": name,
                "start_s": at,
                "seconds": length.as_secs_f64(),
                "requests": by_kind,
                "honest_p50_ms": p50,
                "honest_p99_ms": p99,
                "first_success_ms": recovered,
                "longest_slow_connection_ms": millis(tally.longest_slow_connection),
                "resident_kib_at_end": resident,
            }));
            at += length.as_secs_f64();
        }
        let transitions = inputs.tallies.get(inputs.phases.len()).map(|t| {
            t.counts
                .iter()
                .map(|((kind, status), n)| (format!("{} {status}", kind.name()), json!(n)))
                .collect::<Map<String, Value>>()
        });
        let recovery: Map<String, Value> = ["primary_back", "repositories_back", "redis_back"]
            .iter()
            .map(|name| {
                let ms = phase(name)
                    .and_then(|t| t.first_success.get(&Kind::AsapValid))
                    .map(|d| millis(*d));
                ((*name).to_owned(), json!(ms))
            })
            .collect();
        let json = json!({
            "seconds": inputs.seconds,
            "phases": phases_json,
            "started_during_a_fault_change": transitions,
            "must_be_zero": {
                "server_errors": server_errors,
                "accepted_forgeries": forgeries,
                "accepted_replays": replays,
                "lost_installs": inputs.lost_installs,
                "removed_key_accepted_late": late,
                "slow_connections_not_cut_off": not_cut_off,
                "honest_refused": honest_refused,
                "unanswered": unanswered,
            },
            "recovery_ms": recovery,
            "memory_kib": {"warm": warm, "peak": peak, "end": end},
            "open_fds": {"start": fds_before, "end": fds_after},
            "checks": checks.iter().map(|(name, ok, detail)| json!({"check": name, "ok": ok, "detail": detail})).collect::<Vec<_>>(),
        });
        Report { json, checks }
    }

    pub(crate) fn print(&self) {
        println!();
        for phase in self.json["phases"].as_array().into_iter().flatten() {
            println!(
                "{:<18} p50 {:>7.2} ms  p99 {:>7.2} ms  {}",
                phase["name"].as_str().unwrap_or(""),
                phase["honest_p50_ms"].as_f64().unwrap_or(0.0),
                phase["honest_p99_ms"].as_f64().unwrap_or(0.0),
                phase["requests"]
            );
        }
        println!(
            "recovery (first honest ASAP 200 after the restart): {}",
            self.json["recovery_ms"]
        );
        println!();
        for (name, ok, detail) in &self.checks {
            println!("{} {name}: {detail}", if *ok { "ok  " } else { "FAIL" });
        }
    }

    pub(crate) fn passed(&self) -> bool {
        self.checks.iter().all(|(_, ok, _)| *ok)
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// p50 and p99 by rank, in milliseconds.
fn percentiles(latencies: &[Duration]) -> (f64, f64) {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let at = |p: usize| {
        sorted
            .get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1)))
            .map_or(0.0, |d| millis(*d))
    };
    (at(50), at(99))
}

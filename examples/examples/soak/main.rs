//! A soak under faults: the ASAP layer with the Redis replay guard, the HTTPS key repository
//! client with a primary and a mirror, and the Connect lifecycle with the Redis tenant store,
//! under load from honest and hostile callers while, on a schedule, the primary repository dies
//! and comes back, a key is rotated, both repositories are away longer than the cache's
//! freshness, Redis is killed and restarted, and the load bursts to 10×.
//!
//! `cargo xtask soak [--seconds S]` runs it (`cargo run --example soak -- --seconds S --out FILE`
//! directly; `--volatile-redis` runs Redis without its append-only file, to show what a restart
//! then forgets). Every server is started by the run, on 127.0.0.1. It prints each phase as it
//! starts and ends, writes the report as JSON, and exits non-zero when a figure that must be
//! zero is not (5xx other than 503, accepted forgeries or replays, lost installs, a removed key
//! accepted past the cache bound, a slow connection left open, leaked file descriptors) or when
//! a fault did not behave as documented (the mirror did not serve, stale-if-error did not
//! answer, the bound did not end in 503). docs/reliability.md explains the figures.

mod callers;
mod fleet;
mod report;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use callers::{Kind, Shared, Signers};
use fleet::Fleet;

/// Anything that can go wrong setting the run up.
type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long after the rotation a token from the removed key may still be accepted: the key's
/// freshness, the stale-while-revalidate window in which one refresh runs, and a second for
/// that refresh to land.
const REMOVED_KEY_BOUND: Duration =
    Duration::from_secs(fleet::KEY_MAX_AGE.as_secs() + fleet::STALE_WHILE_REVALIDATE.as_secs() + 2);

/// The shortest run: the both-repositories-down phase must outlast freshness + stale-if-error.
const MIN_SECONDS: u64 = 60;

/// What happens when a phase starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    KillPrimary,
    Rotate,
    RestartPrimary,
    KillBothRepositories,
    RestartBothRepositories,
    KillRedis,
    RestartRedis,
    Burst,
    EndBurst,
}

/// One phase of the schedule: its name, its share of the run, what starts it.
struct Phase {
    name: &'static str,
    share: f64,
    fault: Fault,
    says: &'static str,
}

const SCHEDULE: &[Phase] = &[
    Phase {
        name: "warm",
        share: 0.10,
        fault: Fault::None,
        says: "every server up",
    },
    Phase {
        name: "primary_down",
        share: 0.10,
        fault: Fault::KillPrimary,
        says: "primary key repository killed; the mirror serves",
    },
    Phase {
        name: "rotate",
        share: 0.10,
        fault: Fault::Rotate,
        says: "key rotated while the primary is down: new kid published, old one removed",
    },
    Phase {
        name: "primary_back",
        share: 0.08,
        fault: Fault::RestartPrimary,
        says: "primary restarted",
    },
    Phase {
        name: "repositories_down",
        share: 0.20,
        fault: Fault::KillBothRepositories,
        says: "both repositories unreachable past the cache's freshness: stale-if-error, then 503",
    },
    Phase {
        name: "repositories_back",
        share: 0.08,
        fault: Fault::RestartBothRepositories,
        says: "both repositories restarted",
    },
    Phase {
        name: "redis_down",
        share: 0.10,
        fault: Fault::KillRedis,
        says: "Redis killed: replay guard and tenant store fail closed (503)",
    },
    Phase {
        name: "redis_back",
        share: 0.08,
        fault: Fault::RestartRedis,
        says: "Redis restarted (from its append-only file unless --volatile-redis)",
    },
    Phase {
        name: "burst",
        share: 0.08,
        fault: Fault::Burst,
        says: "10x the honest ASAP load",
    },
    Phase {
        name: "cool",
        share: 0.08,
        fault: Fault::EndBurst,
        says: "back to the base load",
    },
];

/// Honest ASAP callers at base load (the burst adds nine times as many).
const ASAP_CALLERS: usize = 8;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

async fn run() -> Result<bool, Error> {
    let mut args = std::env::args().skip(1);
    let (mut seconds, mut out, mut persistent_redis) = (MIN_SECONDS, None::<String>, true);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // Shows why the replay store must persist: expect accepted replays and lost installs.
            "--volatile-redis" => persistent_redis = false,
            "--seconds" => seconds = args.next().and_then(|s| s.parse().ok()).ok_or("--seconds S")?,
            "--out" => out = args.next(),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if seconds < MIN_SECONDS {
        return Err(format!("--seconds must be at least {MIN_SECONDS}").into());
    }

    let sampler = report::Sampler::start();
    let fds_before = report::open_fds();
    let Some(mut fleet) = Fleet::start(persistent_redis).await? else {
        eprintln!("soak: skipped (redis-server is missing; CI=1 makes this a failure)");
        return Ok(true);
    };
    let signers = Signers {
        current: fleet.keys.current.clone(),
        kid: fleet.keys.current_kid.clone(),
        removed: None,
    };
    let shared = Arc::new(Shared::new(
        fleet.service,
        signers,
        fleet.install_key.clone(),
        SCHEDULE.len(),
    ));

    let mut tasks = Vec::new();
    let mut spawn = |kind: Kind, count: usize, burst: bool| {
        for _ in 0..count {
            tasks.push(tokio::spawn(callers::run(shared.clone(), kind, burst)));
        }
    };
    spawn(Kind::AsapValid, ASAP_CALLERS, false);
    spawn(Kind::AsapReplay, 2, false);
    spawn(Kind::AsapReplayAtExpiry, 1, false);
    spawn(Kind::AsapForged, 1, false);
    spawn(Kind::AsapUnknownKid, 1, false);
    spawn(Kind::AsapRemovedKey, 1, false);
    spawn(Kind::ConnectValid, 4, false);
    spawn(Kind::ConnectForged, 1, false);
    spawn(Kind::Install, 1, false);
    spawn(Kind::InstallReplay, 1, false);
    spawn(Kind::SlowHeaders, 2, false);

    let mut memory_warm = 0;
    let mut phases = Vec::new();
    for (index, phase) in SCHEDULE.iter().enumerate() {
        let length = Duration::from_secs_f64(seconds as f64 * phase.share);
        let started = Instant::now();
        shared.tally.enter_transition();
        match phase.fault {
            Fault::None | Fault::EndBurst => {}
            Fault::KillPrimary => fleet.primary.kill().await,
            Fault::Rotate => {
                fleet.keys.rotate()?;
                *shared
                    .signers
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Signers {
                    current: fleet.keys.current.clone(),
                    kid: fleet.keys.current_kid.clone(),
                    removed: fleet.keys.removed.clone(),
                };
                shared.tally.rotated();
            }
            Fault::RestartPrimary => fleet.primary.restart().await?,
            Fault::KillBothRepositories => {
                fleet.primary.kill().await;
                fleet.mirror.kill().await;
            }
            Fault::RestartBothRepositories => {
                fleet.primary.restart().await?;
                fleet.mirror.restart().await?;
            }
            Fault::KillRedis => fleet.redis.stop(),
            Fault::RestartRedis => fleet.redis.restart(),
            Fault::Burst => {
                shared.burst_stop.store(false, Ordering::SeqCst);
                for _ in 0..ASAP_CALLERS * 9 {
                    tasks.push(tokio::spawn(callers::run(shared.clone(), Kind::AsapValid, true)));
                }
            }
        }
        if phase.fault == Fault::EndBurst {
            shared.burst_stop.store(true, Ordering::SeqCst);
        }
        shared.tally.enter_phase(index);
        println!(
            "[{:6.1}s] {:<18} {}",
            shared.tally.elapsed().as_secs_f64(),
            phase.name,
            phase.says
        );
        tokio::time::sleep(length.saturating_sub(started.elapsed())).await;
        let resident = report::resident_kib();
        phases.push((phase.name, length, resident));
        if index == 0 {
            memory_warm = resident;
        }
    }
    let memory_end = report::resident_kib();

    shared.stop.store(true, Ordering::SeqCst);
    shared.burst_stop.store(true, Ordering::SeqCst);
    for task in tasks {
        let _ = task.await;
    }
    let lost_installs = report::lost_installs(&*fleet.tenants, &shared.installed).await;
    let tallies = shared.tally.take();
    let late_removed = std::mem::take(
        &mut *shared
            .tally
            .late_removed_key_accepts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    drop(shared);
    fleet.shutdown().await;
    let fds_after = report::settled_fds(fds_before).await;
    let peak = sampler.stop();

    let report = report::Report::new(&report::Inputs {
        seconds,
        phases: &phases,
        tallies: &tallies,
        late_removed_key_accepts: &late_removed,
        lost_installs,
        memory_kib: (memory_warm, peak, memory_end),
        fds: (fds_before, fds_after),
    });
    report.print();
    let text = serde_json::to_string_pretty(&report.json)?;
    if let Some(path) = out {
        if let Some(dir) = std::path::Path::new(&path).parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, text)?;
        println!("report: {path}");
    }
    Ok(report.passed())
}

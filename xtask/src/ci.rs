//! `cargo xtask ci`: the checks a change must pass, in the order that fails fastest.
//!
//! [`STEPS`] is the one list: `.ci/run` installs the tools and test peers on a fresh machine and
//! then runs `cargo xtask ci`, so CI runs exactly what this prints with `--list`. Every step
//! shares one target directory (`CARGO_TARGET_DIR`, or `target/`): clippy, rustdoc and the
//! feature checks reuse each other's dependency metadata, and the test builds reuse each other.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{Failure, Result, cargo, has_cargo_subcommand, in_ci, run_step, run_step_within};

/// One check: a cargo command line, its environment, and the cargo plugin it needs.
struct Step {
    /// What the summary calls it.
    name: &'static str,
    /// The arguments after `cargo`.
    args: &'static [&'static str],
    /// Whether this is `cargo deny check`, which leaves out advisories (and says so) when their
    /// database cannot be fetched.
    advisories_may_be_unreachable: bool,
    /// Extra environment (rustdoc flags only: a changed `RUSTFLAGS` would rebuild everything).
    env: &'static [(&'static str, &'static str)],
    /// A plugin that is not part of a Rust toolchain (`cargo install --locked cargo-<name>`).
    plugin: Option<&'static str>,
}

/// The checks, cheapest and most likely to fail first.
const STEPS: &[Step] = &[
    Step {
        name: "fmt",
        args: &["fmt", "--all", "--", "--check"],
        advisories_may_be_unreachable: false,
        env: &[],
        plugin: None,
    },
    // Licences, bans and advisories read only the dependency graph: seconds, before any build.
    Step {
        name: "deny",
        args: &["deny", "check"],
        advisories_may_be_unreachable: true,
        env: &[],
        plugin: Some("deny"),
    },
    Step {
        name: "clippy",
        args: &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        advisories_may_be_unreachable: false,
        env: &[],
        plugin: None,
    },
    Step {
        name: "doc",
        args: &["doc", "--workspace", "--no-deps", "--all-features"],
        advisories_may_be_unreachable: false,
        env: &[("RUSTDOCFLAGS", "-Dwarnings")],
        plugin: None,
    },
    // Each feature of each crate on its own (and none, and all): a feature that only compiles
    // together with another one fails here. No `--no-dev-deps`: with the workspace's feature
    // resolver dev-dependencies do not leak features into `cargo check`, and that flag rewrites
    // the manifests while it runs.
    Step {
        name: "features",
        args: &["hack", "check", "--workspace", "--each-feature"],
        advisories_may_be_unreachable: false,
        env: &[],
        plugin: Some("hack"),
    },
    // The README's test command.
    Step {
        name: "test",
        args: &["test", "--workspace"],
        advisories_may_be_unreachable: false,
        env: &[],
        plugin: None,
    },
    // connect-qsh without its default features is a build users can choose: its tests run too.
    Step {
        name: "test connect-qsh (no default features)",
        args: &["test", "-p", "connect-qsh", "--no-default-features"],
        advisories_may_be_unreachable: false,
        env: &[],
        plugin: None,
    },
    // The short soak: faults together under load; its must-be-zero figures fail CI.
    Step {
        name: "soak",
        args: &["xtask", "soak", "--seconds", crate::soak::CI_SECONDS],
        advisories_may_be_unreachable: false,
        env: &[],
        plugin: None,
    },
];

/// How long fetching the RustSec advisory database may take before it counts as unreachable.
const ADVISORY_FETCH_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) fn run(args: &[String]) -> Result {
    match args {
        [] => {}
        [flag] if flag == "--list" => {
            for step in STEPS {
                println!("{}", shown(step));
            }
            return Ok(());
        }
        [arg, ..] => return Err(Failure(format!("`ci` takes only `--list` (got `{arg}`)"))),
    }
    let mut timings = Vec::new();
    for step in STEPS {
        let started = Instant::now();
        let outcome = run_one(step);
        timings.push((step.name, started.elapsed(), outcome.is_ok()));
        if let Err(e) = outcome {
            print_timings(&timings);
            return Err(e);
        }
    }
    print_timings(&timings);
    eprintln!("\nci: all checks passed");
    Ok(())
}

fn run_one(step: &Step) -> Result {
    if let Some(plugin) = step.plugin
        && !has_cargo_subcommand(plugin)
    {
        let reason = format!("cargo-{plugin} is not installed (cargo install --locked cargo-{plugin})");
        if in_ci() {
            return Err(Failure(format!("{reason}; CI is set, so this is a failure")));
        }
        eprintln!("\n==> skipping `{}`: {reason}", shown(step));
        return Ok(());
    }
    if step.advisories_may_be_unreachable {
        return deny(step);
    }
    run_step(&mut command(step))
}

/// `cargo deny check`, or without advisories when their database cannot be fetched.
fn deny(step: &Step) -> Result {
    // The advisory database is a git repository outside the package registries: check
    // advisories whenever it can be fetched, and say plainly when it cannot.
    let fetched = run_step_within(cargo().args(["deny", "fetch", "db"]), ADVISORY_FETCH_TIMEOUT);
    if fetched.is_ok() {
        run_step(&mut command(step))
    } else {
        eprintln!("note: the RustSec advisory database is unreachable; advisories NOT checked");
        run_step(cargo().args(["deny", "check", "bans", "licenses", "sources"]))
    }
}

fn command(step: &Step) -> Command {
    let mut cmd = cargo();
    cmd.args(step.args);
    cmd.envs(step.env.iter().copied());
    cmd
}

fn shown(step: &Step) -> String {
    let env: String = step.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    format!("{env}cargo {}", step.args.join(" "))
}

fn print_timings(timings: &[(&str, Duration, bool)]) {
    eprintln!("\nci: step timings");
    for (name, took, ok) in timings {
        let mark = if *ok { "ok" } else { "FAILED" };
        eprintln!("  {:>7.1} s  {mark:<6}  {name}", took.as_secs_f64());
    }
}

//! `cargo xtask soak [--seconds S]`: the soak under faults of `examples/examples/soak/`, which
//! starts every server it needs on 127.0.0.1, prints each phase, writes
//! `target/soak/report.json` and fails when a figure that must be zero is not
//! (docs/reliability.md).

use crate::util::{Failure, Result, cargo, run_step, workspace_root};

/// The run CI makes: the shortest the schedule allows.
pub(crate) const CI_SECONDS: &str = "60";

pub(crate) fn run(args: &[String]) -> Result {
    let mut seconds = CI_SECONDS.to_owned();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .cloned()
                    .ok_or_else(|| Failure("--seconds needs a value".into()))?;
            }
            other => return Err(Failure(format!("`soak` does not take `{other}`"))),
        }
    }
    let report = workspace_root().join("target").join("soak").join("report.json");
    // The dev profile: CI has just built the examples for the tests, so this is a link step.
    run_step(
        cargo()
            .args(["run", "--quiet", "-p", "asap-examples", "--example", "soak", "--"])
            .args(["--seconds", &seconds, "--out", &report.display().to_string()]),
    )
}

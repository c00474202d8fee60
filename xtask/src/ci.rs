//! `cargo xtask ci`: the checks a change must pass, in the order that fails fastest.

use crate::util::{Failure, Result, cargo, has_cargo_subcommand, in_ci, run_step};

pub(crate) fn run(args: &[String]) -> Result {
    if let Some(arg) = args.first() {
        return Err(Failure(format!("`ci` takes no arguments (got `{arg}`)")));
    }
    run_step(cargo().args(["fmt", "--all", "--check"]))?;
    run_step(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    run_step(cargo().args(["test", "--workspace"]))?;
    deny()?;
    eprintln!("\nci: all checks passed");
    Ok(())
}

fn deny() -> Result {
    if !has_cargo_subcommand("deny") {
        let reason = "cargo-deny is not installed (cargo install --locked cargo-deny)";
        if in_ci() {
            return Err(Failure(format!("{reason}; CI is set, so this is a failure")));
        }
        eprintln!("\n==> skipping cargo deny check: {reason}");
        return Ok(());
    }
    // The advisory database lives outside the package registries; when it cannot be fetched,
    // say so and check the rest.
    if run_step(cargo().args(["deny", "fetch", "db"])).is_ok() {
        run_step(cargo().args(["deny", "check"]))
    } else {
        eprintln!("note: the RustSec advisory database is unreachable; advisories NOT checked");
        run_step(cargo().args(["deny", "check", "bans", "licenses", "sources"]))
    }
}

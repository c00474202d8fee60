//! `cargo xtask fuzz --seconds N [--target NAME]...`: runs every cargo-fuzz target in `fuzz/`
//! (or the ones named) for N seconds each, one after the other, and prints the executions of
//! each run.
//!
//! The targets need a nightly toolchain and `cargo-fuzz` (`cargo install cargo-fuzz`). Inputs
//! the fuzzer finds go to `fuzz/corpus-work/<target>` (ignored by git); the committed seeds in
//! `fuzz/corpus/<target>` are only read. Crashes are written to `fuzz/artifacts/<target>`.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::util::{Failure, Result, run_step, workspace_root};

const USAGE: &str = "usage: cargo xtask fuzz --seconds N [--target NAME]... [--sanitizer address|none]";

/// What `fuzz` was asked to do.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    seconds: u64,
    targets: Vec<String>,
    sanitizer: String,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut seconds = None;
    let mut targets = Vec::new();
    // Our targets are safe Rust over a C crypto library that ASan does not instrument; without
    // ASan the fuzzer runs several times faster.
    let mut sanitizer = "none".to_owned();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| Failure(format!("`{name}` needs a value\n{USAGE}")))
        };
        match arg.as_str() {
            "--seconds" => {
                let text = value("--seconds")?;
                let n =
                    text.parse::<u64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                        Failure(format!("--seconds wants a positive integer, got `{text}`"))
                    })?;
                seconds = Some(n);
            }
            "--target" => targets.push(value("--target")?),
            "--sanitizer" => sanitizer = value("--sanitizer")?,
            other => return Err(Failure(format!("unknown argument `{other}`\n{USAGE}"))),
        }
    }
    let seconds = seconds.ok_or_else(|| Failure(format!("--seconds is required\n{USAGE}")))?;
    Ok(Options {
        seconds,
        targets,
        sanitizer,
    })
}

pub(crate) fn run(args: &[String]) -> Result {
    let options = parse_args(args)?;
    let fuzz_dir = workspace_root().join("fuzz");
    if !nightly_cargo(&fuzz_dir)
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Err(Failure(
            "`cargo +nightly fuzz` does not run: install a nightly toolchain \
             (rustup toolchain install nightly) and cargo-fuzz (cargo install cargo-fuzz)"
                .to_owned(),
        ));
    }
    let available = list_targets(&fuzz_dir)?;
    let targets = if options.targets.is_empty() {
        available
    } else {
        if let Some(unknown) = options.targets.iter().find(|t| !available.contains(t)) {
            return Err(Failure(format!(
                "no fuzz target `{unknown}`; the targets are: {}",
                available.join(", ")
            )));
        }
        options.targets.clone()
    };

    run_step(nightly_cargo(&fuzz_dir).args(["fuzz", "build", "--sanitizer", &options.sanitizer]))?;
    let mut results = Vec::new();
    for target in &targets {
        results.push((target.clone(), run_target(&fuzz_dir, target, &options)?));
    }

    eprintln!("\nfuzz: {} s per target", options.seconds);
    let mut failed = Vec::new();
    for (target, run) in &results {
        let executions = run.executions.map_or("?".to_owned(), |n| n.to_string());
        let verdict = if run.ok { "ok" } else { "FAILED" };
        eprintln!("  {target:<20} {executions:>12} executions  {verdict}");
        if !run.ok {
            failed.push(target.as_str());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure(format!(
            "fuzz targets failed: {} (inputs in fuzz/artifacts/<target>/)",
            failed.join(", ")
        )))
    }
}

/// `cargo +nightly` in `fuzz/`, building into `fuzz/target` whatever target directory the caller
/// uses for the workspace.
fn nightly_cargo(fuzz_dir: &Path) -> Command {
    // Through the rustup proxy on PATH (not `$CARGO`, which is the stable cargo running us),
    // so that `+nightly` selects the toolchain.
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly")
        .current_dir(fuzz_dir)
        .env("CARGO_TARGET_DIR", fuzz_dir.join("target"))
        .env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

fn list_targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let output = nightly_cargo(fuzz_dir)
        .args(["fuzz", "list"])
        .output()
        .map_err(|e| Failure(format!("cannot run `cargo fuzz list`: {e}")))?;
    if !output.status.success() {
        return Err(Failure(format!(
            "`cargo fuzz list` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    let targets: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if targets.is_empty() {
        return Err(Failure("`cargo fuzz list` found no targets".to_owned()));
    }
    Ok(targets)
}

struct TargetRun {
    ok: bool,
    executions: Option<u64>,
}

fn run_target(fuzz_dir: &Path, target: &str, options: &Options) -> Result<TargetRun> {
    let work: PathBuf = fuzz_dir.join("corpus-work").join(target);
    let seeds: PathBuf = fuzz_dir.join("corpus").join(target);
    std::fs::create_dir_all(&work).map_err(|e| Failure(format!("cannot create {}: {e}", work.display())))?;
    let mut cmd = nightly_cargo(fuzz_dir);
    cmd.args(["fuzz", "run", "--sanitizer", &options.sanitizer, target])
        .arg(&work)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={}", options.seconds))
        // A single input that takes this long is a hang worth reporting.
        .arg("-timeout=30")
        .arg("-rss_limit_mb=2048")
        .arg("-print_final_stats=1")
        .stderr(Stdio::piped());
    eprintln!("\n==> fuzz {target} for {} s", options.seconds);
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure(format!("cannot start the fuzzer for {target}: {e}")))?;
    let mut executions = None;
    if let Some(stderr) = child.stderr.take() {
        for line in BufReader::new(stderr).lines().map_while(std::io::Result::ok) {
            if let Some(n) = executions_in(&line) {
                executions = Some(n);
            }
            eprintln!("{line}");
        }
    }
    let status = child
        .wait()
        .map_err(|e| Failure(format!("the fuzzer for {target} did not finish: {e}")))?;
    Ok(TargetRun {
        ok: status.success(),
        executions,
    })
}

/// The execution count in libFuzzer's final statistics.
fn executions_in(line: &str) -> Option<u64> {
    line.strip_prefix("stat::number_of_executed_units:")?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn seconds_is_required_and_positive() {
        assert!(parse_args(&args(&[])).is_err());
        assert!(parse_args(&args(&["--seconds", "0"])).is_err());
        assert!(parse_args(&args(&["--seconds", "ten"])).is_err());
        assert!(parse_args(&args(&["--seconds"])).is_err());
        assert_eq!(
            parse_args(&args(&["--seconds", "600"])).ok(),
            Some(Options {
                seconds: 600,
                targets: Vec::new(),
                sanitizer: "none".to_owned()
            })
        );
    }

    #[test]
    fn targets_and_sanitizer_are_taken_and_unknown_flags_refused() {
        let parsed = parse_args(&args(&[
            "--target",
            "kid",
            "--seconds",
            "5",
            "--target",
            "data_uri",
            "--sanitizer",
            "address",
        ]))
        .ok();
        assert_eq!(
            parsed,
            Some(Options {
                seconds: 5,
                targets: args(&["kid", "data_uri"]),
                sanitizer: "address".to_owned()
            })
        );
        assert!(parse_args(&args(&["--seconds", "5", "--jobs", "2"])).is_err());
    }

    #[test]
    fn executions_are_read_from_the_final_statistics() {
        assert_eq!(
            executions_in("stat::number_of_executed_units: 123456"),
            Some(123_456)
        );
        assert_eq!(executions_in("#2048 pulse  cov: 10 exec/s: 512"), None);
    }
}

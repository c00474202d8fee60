//! `cargo xtask bench [--seconds S]`: the performance table of `docs/performance.md`.
//!
//! Runs, in one go and on this machine: the Python reference's sign/verify rates (when python3
//! with atlassian-jwt-auth is there), the loopback load test through the tower layer, the peers
//! bench (`bench/peers`, outside the workspace: jsonwebtoken, jwt-simple, Connect HS256 against
//! raw HMAC and the Python and npm atlassian-jwt), and the asap-core throughput bench, which
//! prints the table and writes `target/bench/report.json`.

use std::process::Command;

use std::path::PathBuf;

use crate::util::{Failure, Result, cargo, run_step, workspace_root};

/// The workspace's target directory (`$CARGO_TARGET_DIR` when set).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

pub(crate) fn run(args: &[String]) -> Result {
    let mut seconds = "3".to_owned();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .cloned()
                    .ok_or_else(|| Failure("--seconds needs a value".into()))?;
            }
            other => return Err(Failure(format!("`bench` does not take `{other}`"))),
        }
    }
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| Failure(format!("cannot create {}: {e}", dir.display())))?;
    let python = dir.join("python.json");
    let load = dir.join("load.json");
    let report = dir.join("report.json");

    let script = workspace_root()
        .join("xtask")
        .join("scripts")
        .join("python_reference_bench.py");
    eprintln!("\n==> python3 {} {seconds}", script.display());
    match Command::new("python3").arg(&script).arg(&seconds).output() {
        Ok(out) if out.status.success() => {
            std::fs::write(&python, &out.stdout)
                .map_err(|e| Failure(format!("cannot write python.json: {e}")))?;
        }
        Ok(out) => {
            eprintln!(
                "note: the Python reference was not measured: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            let _ = std::fs::remove_file(&python);
        }
        Err(e) => {
            eprintln!("note: the Python reference was not measured (python3: {e})");
            let _ = std::fs::remove_file(&python);
        }
    }

    let load_secs = seconds.clone();
    run_step(
        cargo()
            .args([
                "run",
                "--release",
                "--quiet",
                "-p",
                "asap-examples",
                "--example",
                "load",
                "--",
            ])
            .args(["--seconds", &load_secs, "--out", &load.display().to_string()]),
    )?;
    // The peers (jsonwebtoken, jwt-simple; Connect against raw HMAC, Python and npm
    // atlassian-jwt) live in a package outside the workspace; built into the workspace's target
    // directory so that there is one.
    let peers = dir.join("peers.json");
    let manifest = workspace_root().join("bench").join("peers").join("Cargo.toml");
    run_step(
        cargo()
            .env("CARGO_TARGET_DIR", target_dir())
            .args(["run", "--release", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .args(["--", "--seconds", &seconds, "--out", &peers.display().to_string()]),
    )?;
    run_step(
        cargo()
            .args([
                "bench",
                "--quiet",
                "-p",
                "asap-core",
                "--bench",
                "throughput",
                "--",
            ])
            .args(["--seconds", &seconds])
            .args(["--python", &python.display().to_string()])
            .args(["--load", &load.display().to_string()])
            .args(["--peers", &peers.display().to_string()])
            .args(["--out", &report.display().to_string()]),
    )?;
    eprintln!("\nreport: {}", report.display());
    Ok(())
}

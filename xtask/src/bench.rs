//! `cargo xtask bench [--seconds S]`: the performance table of `docs/performance.md`.
//!
//! Runs, in one go and on this machine: the Python reference's sign/verify rates (when python3
//! with atlassian-jwt-auth is there), the loopback load test through the tower layer, and the
//! asap-core throughput bench, which prints the table and writes `target/bench/report.json`.

use std::process::Command;

use crate::util::{Failure, Result, cargo, run_step, workspace_root};

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
    let dir = workspace_root().join("target").join("bench");
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
            .args(["--out", &report.display().to_string()]),
    )?;
    eprintln!("\nreport: {}", report.display());
    Ok(())
}

//! `cargo xtask bench [--seconds S] [--instructions]`: the performance table of
//! `docs/performance.md`.
//!
//! Runs, in one go and on this machine: the Python reference's sign/verify rates (when python3
//! with atlassian-jwt-auth is there), the loopback load test through the tower layer, the peers
//! bench (`bench/peers`, outside the workspace: jsonwebtoken, jwt-simple, Connect HS256 against
//! raw HMAC and the Python and npm atlassian-jwt), and the asap-core throughput bench, which
//! prints the table and writes `target/bench/report.json`. With `--instructions`, also the
//! instruction counts per operation of the benches' `--profile` modes under callgrind (when
//! valgrind is installed), merged into the same table and report.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::instructions;
use crate::util::{Failure, Result, cargo, run_step, workspace_root};

/// The workspace's target directory (`$CARGO_TARGET_DIR` when set).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

pub(crate) fn run(args: &[String]) -> Result {
    let mut seconds = "3".to_owned();
    let mut count_instructions = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--instructions" => count_instructions = true,
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
    let manifest = peers_manifest();
    run_step(
        cargo()
            .env("CARGO_TARGET_DIR", target_dir())
            .args(["run", "--release", "--quiet", "--manifest-path"])
            .arg(&manifest)
            .args(["--", "--seconds", &seconds, "--out", &peers.display().to_string()]),
    )?;
    let instructions = dir.join("instructions.json");
    let _ = std::fs::remove_file(&instructions);
    if count_instructions {
        count_profiled_instructions(&manifest, &dir, &instructions)?;
    }
    let mut throughput = cargo();
    throughput
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
        .args(["--out", &report.display().to_string()]);
    if instructions.exists() {
        throughput.args(["--instructions", &instructions.display().to_string()]);
    }
    run_step(&mut throughput)?;
    eprintln!("\nreport: {}", report.display());
    Ok(())
}

/// `bench/peers/Cargo.toml`.
fn peers_manifest() -> PathBuf {
    workspace_root().join("bench").join("peers").join("Cargo.toml")
}

/// The executable `cargo` builds for the target `name`, read from its JSON messages.
fn built_executable(cmd: &mut Command, name: &str) -> Result<PathBuf> {
    let output = cmd
        .args(["--message-format=json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Failure(format!("cannot start cargo: {e}")))?;
    if !output.status.success() {
        return Err(Failure(format!("cannot build `{name}` ({})", output.status)));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| l.contains(&format!("\"name\":\"{name}\"")))
        .find_map(executable_in_message)
        .ok_or_else(|| Failure(format!("cargo named no executable for `{name}`")))
}

/// The `"executable"` path of one of cargo's JSON messages, when it names one.
fn executable_in_message(line: &str) -> Option<PathBuf> {
    let rest = &line[line.find("\"executable\":\"")? + "\"executable\":\"".len()..];
    let mut path = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(PathBuf::from(path)),
            '\\' => path.push(chars.next()?),
            c => path.push(c),
        }
    }
    None
}

/// Builds the throughput bench and the peers bench, and counts the instructions of their
/// `--profile` modes under callgrind into `out`; without valgrind, a note and nothing.
fn count_profiled_instructions(peers_manifest: &Path, dir: &Path, out: &Path) -> Result {
    if !instructions::valgrind_available() {
        eprintln!("note: instruction counts skipped: valgrind is not on PATH");
        return Ok(());
    }
    eprintln!("\n==> instruction counts under callgrind");
    let throughput = built_executable(
        cargo().args(["bench", "--no-run", "-p", "asap-core", "--bench", "throughput"]),
        "throughput",
    )?;
    let peers = built_executable(
        cargo()
            .env("CARGO_TARGET_DIR", target_dir())
            .args(["build", "--release", "--manifest-path"])
            .arg(peers_manifest),
        "asap-bench-peers",
    );
    let peers = match peers {
        Ok(path) => Some(path),
        Err(e) => {
            eprintln!("note: the peers bench's modes are not counted: {e}");
            None
        }
    };
    instructions::measure(&throughput, peers.as_deref(), dir, out)
}

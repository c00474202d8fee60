//! Helpers shared by the subcommands.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Why a subcommand failed, in words for the person at the terminal.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) type Result<T = ()> = std::result::Result<T, Failure>;

/// The workspace root (the parent of this crate's directory).
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Whether this run is in CI, where a missing tool is a failure rather than a skipped step.
pub(crate) fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// `cargo`, as the one that runs us (`$CARGO`), so toolchain overrides carry through.
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs `cmd` with inherited stdio, announcing it first; an error if it does not succeed.
pub(crate) fn run_step(cmd: &mut Command) -> Result {
    let shown = show(cmd);
    eprintln!("\n==> {shown}");
    let status = cmd
        .status()
        .map_err(|e| Failure(format!("cannot start `{shown}`: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Failure(format!("`{shown}` failed ({status})")))
    }
}

/// Like [`run_step`], but stops the command and fails when it runs longer than `limit` (for
/// steps that wait on the network).
pub(crate) fn run_step_within(cmd: &mut Command, limit: Duration) -> Result {
    let shown = show(cmd);
    eprintln!("\n==> {shown} (at most {} s)", limit.as_secs());
    let mut child = cmd
        .spawn()
        .map_err(|e| Failure(format!("cannot start `{shown}`: {e}")))?;
    let started = Instant::now();
    loop {
        let waited = child
            .try_wait()
            .map_err(|e| Failure(format!("cannot wait for `{shown}`: {e}")))?;
        match waited {
            Some(status) if status.success() => return Ok(()),
            Some(status) => return Err(Failure(format!("`{shown}` failed ({status})"))),
            None if started.elapsed() > limit => {
                // Best effort: the child may have exited in the meantime.
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure(format!("`{shown}` took more than {} s", limit.as_secs())));
            }
            None => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Whether `cargo <subcommand> --version` runs, i.e. the cargo plugin is installed.
pub(crate) fn has_cargo_subcommand(subcommand: &str) -> bool {
    cargo()
        .args([subcommand, "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn show(cmd: &Command) -> String {
    let program = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(OsStr::new("?"))
        .to_string_lossy()
        .into_owned();
    std::iter::once(program)
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

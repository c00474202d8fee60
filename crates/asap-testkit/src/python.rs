//! The Python reference implementations, run as `python3 -c SCRIPT ARGS...`.
//!
//! The interpreter is `$ASAP_PYTHON` when set, otherwise `python3` from `PATH`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A Python interpreter in which the modules asked for in [`require`] are importable.
#[derive(Debug, Clone)]
pub struct Python {
    interpreter: PathBuf,
}

/// Returns python3 with all `modules` importable.
///
/// When python3 or a module is missing: prints a clear reason to stderr and returns `None` (the
/// caller skips), or panics with the reason when the `CI` environment variable is set.
pub fn require(modules: &[&str]) -> Option<Python> {
    let interpreter = PathBuf::from(std::env::var_os("ASAP_PYTHON").unwrap_or_else(|| "python3".into()));
    // Each module is imported separately so that the reason names every missing one.
    let probe = "import importlib, sys\n\
                 missing = []\n\
                 for m in sys.argv[1:]:\n\
                 \x20   try:\n\
                 \x20       importlib.import_module(m)\n\
                 \x20   except Exception as e:\n\
                 \x20       missing.append(f'{m} ({type(e).__name__}: {e})')\n\
                 print('; '.join(missing))\n";
    let output = match Command::new(&interpreter)
        .arg("-c")
        .arg(probe)
        .args(modules)
        .output()
    {
        Ok(output) => output,
        Err(e) => {
            return crate::missing(&format!("cannot run {}: {e}", interpreter.display()));
        }
    };
    if !output.status.success() {
        return crate::missing(&format!(
            "{} failed ({}): {}",
            interpreter.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let missing = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !missing.is_empty() {
        return crate::missing(&format!(
            "python modules not importable with {}: {missing}; install them with pip \
             (the packages and versions .ci/run installs)",
            interpreter.display()
        ));
    }
    Some(Python { interpreter })
}

impl Python {
    /// Runs `python3 -c script args...` with `stdin`; returns stdout, trimmed.
    ///
    /// # Panics
    ///
    /// When the interpreter cannot be started or exits non-zero; the message holds its stderr.
    pub fn run(&self, script: &str, args: &[&str], stdin: &str) -> String {
        let mut child = Command::new(&self.interpreter)
            .arg("-c")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", self.interpreter.display()));
        // Written from another thread: a script that prints a lot before reading its stdin
        // would otherwise deadlock against us.
        let mut input = child.stdin.take().expect("stdin is piped");
        let stdin = stdin.to_owned();
        let writer = std::thread::spawn(move || {
            // A script that never reads stdin closes the pipe early; that is not an error.
            let _ = input.write_all(stdin.as_bytes());
        });
        let output = child.wait_with_output().expect("wait for python");
        writer.join().expect("stdin writer thread");
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            panic!(
                "python script failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{}\n--- script ---\n{script}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim(),
                stdout.trim()
            );
        }
        stdout.trim().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_passes_args_and_stdin_and_trims_stdout() {
        let Some(py) = require(&["json"]) else { return };
        let out = py.run("import sys; print(sys.argv[1] + sys.stdin.read())\n", &["a"], "b");
        assert_eq!(out, "ab");
    }

    #[test]
    #[should_panic(expected = "boom")]
    fn run_panics_with_stderr_on_failure() {
        let Some(py) = require(&[]) else {
            panic!("boom (no python)")
        };
        py.run("import sys; sys.stderr.write('boom'); sys.exit(3)", &[], "");
    }

    #[test]
    fn require_reports_a_missing_module_as_none_outside_ci() {
        if crate::in_ci() {
            return;
        }
        assert!(require(&["surely_not_a_module_xyz"]).is_none());
    }
}

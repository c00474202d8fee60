//! Repository rules, checked as ordinary tests so `cargo test --workspace` enforces them.

use std::fs;
use std::path::{Path, PathBuf};

/// Crates allowed to depend on `anyhow`: binaries whose errors end at a terminal.
/// Libraries expose their own error enums (DESIGN.md, "Errors").
const ANYHOW_ALLOWED: &[&str] = &["asap-cli", "xtask"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Every package of the workspace, present or in progress: `crates/*`, `examples`, `xtask`.
fn manifests() -> Vec<(String, PathBuf)> {
    let root = root();
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .expect("read crates/")
        .map(|e| e.expect("dir entry").path())
        .collect();
    dirs.push(root.join("examples"));
    dirs.push(root.join("xtask"));
    let mut found: Vec<(String, PathBuf)> = dirs
        .into_iter()
        .map(|d| d.join("Cargo.toml"))
        .filter(|m| m.is_file())
        .map(|m| {
            let name = m
                .parent()
                .and_then(Path::file_name)
                .expect("crate directory name")
                .to_string_lossy()
                .into_owned();
            (name, m)
        })
        .collect();
    found.sort();
    assert!(
        found.iter().any(|(n, _)| n == "asap-core"),
        "the scan must find crates/asap-core: {found:?}"
    );
    found
}

/// A TOML document as `(table header, key, value)` triples: enough for these checks without a
/// TOML parser (xtask keeps no dependencies). Full-line comments are dropped; keys and values are
/// trimmed; the root table's header is "".
fn entries(text: &str) -> Vec<(String, String, String)> {
    let mut table = String::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            table = header
                .trim_start_matches('[')
                .trim_end_matches(']')
                .trim()
                .to_owned();
        } else if let Some((key, value)) = line.split_once('=') {
            out.push((
                table.clone(),
                key.trim().trim_matches('"').to_owned(),
                value.trim().to_owned(),
            ));
        }
    }
    out
}

fn opts_into_workspace_lints(text: &str) -> bool {
    entries(text).iter().any(|(table, key, value)| {
        let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        (table == "lints" && key == "workspace" && compact == "true")
            || (table.is_empty() && key == "lints.workspace" && compact == "true")
            || (table.is_empty() && key == "lints" && compact.contains("workspace=true"))
    })
}

fn is_dependency_table(table: &str) -> bool {
    ["dependencies", "dev-dependencies", "build-dependencies"]
        .iter()
        .any(|kind| table == *kind || table.ends_with(&format!(".{kind}")))
}

/// The names of all dependencies (normal, dev, build, target-specific), renamed ones included.
fn dependency_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (table, key, value) in entries(text) {
        if is_dependency_table(&table) {
            names.push(key.split('.').next().unwrap_or_default().to_owned());
            if let Some(package) = inline_package(&value) {
                names.push(package);
            }
        } else if let Some((parent, dep)) = table.rsplit_once('.')
            && is_dependency_table(parent)
        {
            // `[dependencies.NAME]` with a `package = "..."` rename inside.
            names.push(dep.to_owned());
            if key == "package" {
                names.push(value.trim_matches('"').to_owned());
            }
        }
    }
    names
}

fn inline_package(value: &str) -> Option<String> {
    let (_, rest) = value.split_once("package")?;
    let rest = rest
        .trim_start()
        .strip_prefix('=')?
        .trim_start()
        .strip_prefix('"')?;
    Some(rest.split('"').next()?.to_owned())
}

#[test]
fn every_crate_opts_into_the_workspace_lints() {
    let missing: Vec<String> = manifests()
        .into_iter()
        .filter(|(_, path)| !opts_into_workspace_lints(&fs::read_to_string(path).expect("read manifest")))
        .map(|(name, _)| name)
        .collect();
    assert!(
        missing.is_empty(),
        "add `[lints]\\nworkspace = true` to the Cargo.toml of: {missing:?}"
    );
}

#[test]
fn only_binaries_depend_on_anyhow() {
    let offenders: Vec<String> = manifests()
        .into_iter()
        .filter(|(name, _)| !ANYHOW_ALLOWED.contains(&name.as_str()))
        .filter(|(_, path)| {
            dependency_names(&fs::read_to_string(path).expect("read manifest")).contains(&"anyhow".to_owned())
        })
        .map(|(name, _)| name)
        .collect();
    assert!(
        offenders.is_empty(),
        "library crates expose their own error enums, not anyhow (DESIGN.md, Errors); \
         remove anyhow from: {offenders:?}"
    );
}

#[test]
fn the_scanner_sees_lints_and_dependencies_in_every_spelling() {
    // The checks above must not pass because the scanner misses what it looks for.
    assert!(opts_into_workspace_lints(
        "[package]\nname = \"a\"\n\n[lints]\nworkspace = true\n"
    ));
    assert!(opts_into_workspace_lints("lints.workspace = true\n[package]\n"));
    assert!(opts_into_workspace_lints("lints = { workspace = true }\n"));
    assert!(!opts_into_workspace_lints("[lints]\n# workspace = true\n"));
    assert!(!opts_into_workspace_lints("[lints.rust]\nworkspace = true\n"));

    let manifest = "\
[dependencies]
serde.workspace = true
[dev-dependencies]
oops = { package = \"anyhow\", version = \"1\" }
[target.'cfg(unix)'.build-dependencies]
cc = \"1\"
[dependencies.err]
package = \"anyhow\"
";
    let names = dependency_names(manifest);
    for expected in ["serde", "oops", "cc", "err"] {
        assert!(names.contains(&expected.to_owned()), "{expected} in {names:?}");
    }
    assert_eq!(names.iter().filter(|n| *n == "anyhow").count(), 2, "{names:?}");
    assert!(dependency_names("[dependencies]\n# anyhow = \"1\"\n").is_empty());
}

/// What the standalone qsh (`connect-qsh` without default features) may not pull in: it is the
/// canonical request and `qsh` alone, pure Rust, for add-ons that need nothing else.
const STANDALONE_QSH_FORBIDDEN: &[&str] = &["aws-lc-rs", "aws-lc-sys", "tokio", "asap-core"];

#[test]
fn the_standalone_qsh_is_pure_rust_without_a_runtime_or_the_core() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .current_dir(root())
        .args([
            "tree",
            "-p",
            "connect-qsh",
            "--no-default-features",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).expect("cargo tree prints UTF-8");
    let packages: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    for forbidden in STANDALONE_QSH_FORBIDDEN {
        assert!(
            !packages.contains(forbidden),
            "connect-qsh --no-default-features depends on {forbidden}:\n{tree}"
        );
    }
    // Not vacuous: the tree is the crate on the three dependencies it is built on.
    for expected in ["connect-qsh", "sha2", "hex", "url"] {
        assert!(packages.contains(&expected), "{expected} missing from:\n{tree}");
    }
}

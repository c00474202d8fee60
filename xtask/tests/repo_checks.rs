//! Repository rules, checked as ordinary tests so `cargo test --workspace` enforces them.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// Crates allowed to depend on `anyhow`: binaries whose errors end at a terminal.
/// Libraries expose their own error enums (docs/decisions.md, "Errors").
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

/// The names of the directories under `crates/` that hold a package.
fn library_crates() -> Vec<String> {
    let crates = root().join("crates");
    manifests()
        .into_iter()
        .filter(|(_, path)| path.starts_with(&crates))
        .map(|(name, _)| name)
        .collect()
}

fn parse(text: &str) -> Table {
    text.parse::<Table>()
        .unwrap_or_else(|e| panic!("not a TOML document: {e}\n{text}"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn opts_into_workspace_lints(text: &str) -> bool {
    let manifest = parse(text);
    let lints = manifest.get("lints").and_then(Value::as_table);
    lints.and_then(|l| l.get("workspace")).and_then(Value::as_bool) == Some(true)
}

/// Every dependency table of a manifest, named as a reader finds it: `dependencies`,
/// `dev-dependencies`, `build-dependencies`, and each of them under `target.<cfg>`.
fn dependency_tables(manifest: &Table) -> Vec<(String, &Table)> {
    fn kinds<'a>(owner: &'a Table, prefix: &str, out: &mut Vec<(String, &'a Table)>) {
        for kind in ["dependencies", "dev-dependencies", "build-dependencies"] {
            if let Some(deps) = owner.get(kind).and_then(Value::as_table) {
                out.push((format!("{prefix}{kind}"), deps));
            }
        }
    }
    let mut tables = Vec::new();
    kinds(manifest, "", &mut tables);
    let targets = manifest.get("target").and_then(Value::as_table);
    for (cfg, target) in targets.into_iter().flatten() {
        if let Some(target) = target.as_table() {
            kinds(target, &format!("target.{cfg}."), &mut tables);
        }
    }
    tables
}

/// The names of all dependencies (normal, dev, build, target-specific), renamed ones included.
fn dependency_names(text: &str) -> Vec<String> {
    let manifest = parse(text);
    let mut names = Vec::new();
    for (_, deps) in dependency_tables(&manifest) {
        for (name, spec) in deps {
            names.push(name.clone());
            if let Some(package) = spec.get("package").and_then(Value::as_str) {
                names.push(package.to_owned());
            }
        }
    }
    names
}

/// The dependencies that name their own version, path or git source instead of inheriting
/// the one in the root's `[workspace.dependencies]`, as `table.name`.
fn dependencies_outside_the_workspace_table(text: &str) -> Vec<String> {
    let manifest = parse(text);
    let mut offenders = Vec::new();
    for (table, deps) in dependency_tables(&manifest) {
        for (name, spec) in deps {
            if spec.get("workspace").and_then(Value::as_bool) != Some(true) {
                offenders.push(format!("[{table}] {name}"));
            }
        }
    }
    offenders
}

/// The repository's files whose path ends with one of `endings`, outside build output and
/// fuzzer corpora.
fn files_ending_with(endings: &[&str]) -> Vec<PathBuf> {
    fn walk(dir: &Path, endings: &[&str], out: &mut Vec<PathBuf>) {
        const SKIPPED: [&str; 6] = [
            "target",
            ".git",
            "node_modules",
            "corpus",
            "corpus-work",
            "artifacts",
        ];
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
            let path = entry.expect("dir entry").path();
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if path.is_dir() {
                if !SKIPPED.contains(&name.as_str()) {
                    walk(&path, endings, out);
                }
            } else if endings.iter().any(|e| path.to_string_lossy().ends_with(e)) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), endings, &mut out);
    out.sort();
    out
}

/// Every Markdown file of the repository.
fn markdown_files() -> Vec<PathBuf> {
    let found = files_ending_with(&[".md"]);
    assert!(
        found.iter().any(|p| p.ends_with("docs/architecture.md")),
        "the scan must find docs/architecture.md: {found:?}"
    );
    found
}

/// The `*.md` file names a text mentions anywhere (comments, prose, code), as written.
fn markdown_names(text: &str) -> Vec<&str> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-');
    text.split(|c: char| !is_name(c))
        .map(|word| word.trim_end_matches('.'))
        .filter(|word| word.len() > ".md".len() && word.ends_with(".md") && !word.starts_with("//"))
        .collect()
}

/// The Markdown text without fenced code blocks and inline code, where `[a](b)` is not a link.
fn prose(markdown: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if !fenced {
            // Backticks pair up within a line in these documents.
            let mut in_code = false;
            for c in line.chars() {
                if c == '`' {
                    in_code = !in_code;
                } else if !in_code {
                    out.push(c);
                }
            }
        }
        out.push('\n');
    }
    out
}

/// The destinations of the inline links (`[text](dest)`, images too) and reference
/// definitions (`[label]: dest`) of a Markdown text, titles dropped.
fn link_destinations(markdown: &str) -> Vec<String> {
    let text = prose(markdown);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let end = rest.find(')').unwrap_or(rest.len());
        let dest = rest[..end].split_whitespace().next().unwrap_or_default();
        out.push(dest.trim_matches(['<', '>']).to_owned());
    }
    for line in text.lines() {
        let line = line.trim_start();
        if let Some(label_end) = line.strip_prefix('[').and_then(|l| l.find("]:"))
            && let Some(dest) = line[label_end + 3..].split_whitespace().next()
        {
            out.push(dest.trim_matches(['<', '>']).to_owned());
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-`.
fn anchor_of(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors a Markdown file offers: one per heading, repeated headings numbered `-1`, `-2`.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let Some(heading) = line.strip_prefix('#').filter(|_| !fenced) else {
            continue;
        };
        let base = anchor_of(heading.trim_start_matches('#'));
        let mut anchor = base.clone();
        let mut n = 0;
        while !seen.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
    }
    seen
}

/// What is wrong with the relative links of the Markdown file at `path`, one line each.
fn broken_links(path: &Path, markdown: &str) -> Vec<String> {
    let mut broken = Vec::new();
    for dest in link_destinations(markdown) {
        if dest.contains("://") || dest.starts_with("mailto:") {
            continue;
        }
        let (file, anchor) = dest.split_once('#').unwrap_or((&dest, ""));
        let target = if file.is_empty() {
            path.to_path_buf()
        } else {
            path.parent().expect("a file's directory").join(file)
        };
        if !target.exists() {
            broken.push(format!("`{dest}`: no such file"));
        } else if !anchor.is_empty()
            && target.extension().is_some_and(|e| e == "md")
            && !anchors(&read(&target)).contains(anchor)
        {
            broken.push(format!("`{dest}`: no heading with anchor #{anchor}"));
        }
    }
    broken
}

/// The crate names in the first column of a Markdown table (`| `name` | … |`).
fn table_crates(markdown: &str) -> BTreeSet<String> {
    markdown
        .lines()
        .filter_map(|line| line.trim().strip_prefix("| `"))
        .filter_map(|cell| cell.split_once('`'))
        .filter(|(_, after)| after.trim_start().starts_with('|'))
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// Whether `name` occurs in `text` as a whole word (crate names contain `-`, which counts as
/// part of the word here, so `asap-core` does not match inside `asap-core-extra`).
fn mentions(text: &str, name: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '-' || c == '_';
    text.match_indices(name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

#[test]
fn every_crate_opts_into_the_workspace_lints() {
    let missing: Vec<String> = manifests()
        .into_iter()
        .filter(|(_, path)| !opts_into_workspace_lints(&read(path)))
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
        .filter(|(_, path)| dependency_names(&read(path)).contains(&"anyhow".to_owned()))
        .map(|(name, _)| name)
        .collect();
    assert!(
        offenders.is_empty(),
        "library crates expose their own error enums, not anyhow (docs/decisions.md, Errors); \
         remove anyhow from: {offenders:?}"
    );
}

#[test]
fn every_dependency_comes_from_the_workspace_dependencies() {
    // One version of each dependency, chosen in one place (the root Cargo.toml), so that two
    // crates cannot drift apart and deny.toml's view of the tree is the root's.
    let offenders: Vec<String> = manifests()
        .into_iter()
        .flat_map(|(name, path)| {
            dependencies_outside_the_workspace_table(&read(&path))
                .into_iter()
                .map(move |dep| format!("{name}: {dep}"))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "declare these in the root Cargo.toml's [workspace.dependencies] and write \
         `NAME.workspace = true` (features may be added per crate):\n  {}",
        offenders.join("\n  ")
    );
}

#[test]
fn every_crate_is_in_the_readme_table_and_the_architecture() {
    let readme = read(&root().join("README.md"));
    let architecture = read(&root().join("docs/architecture.md"));
    let in_table = table_crates(&readme);
    let crates = library_crates();
    let missing_in_readme: Vec<&String> = crates.iter().filter(|c| !in_table.contains(*c)).collect();
    let missing_in_architecture: Vec<&String> =
        crates.iter().filter(|c| !mentions(&architecture, c)).collect();
    assert!(
        missing_in_readme.is_empty() && missing_in_architecture.is_empty(),
        "a crate under crates/ needs a row in README.md's crate table (| `name` | what it is for |) \
         and a place in docs/architecture.md; missing from README.md: {missing_in_readme:?}; \
         missing from docs/architecture.md: {missing_in_architecture:?}"
    );
    let unknown: Vec<&String> = in_table.iter().filter(|c| !crates.contains(*c)).collect();
    assert!(
        unknown.is_empty(),
        "README.md's crate table names crates that are not under crates/: {unknown:?}"
    );
}

#[test]
fn every_relative_link_in_the_markdown_files_points_at_a_file() {
    let root = root();
    let broken: Vec<String> = markdown_files()
        .iter()
        .flat_map(|path| {
            let shown = path.strip_prefix(&root).unwrap_or(path).display().to_string();
            broken_links(path, &read(path))
                .into_iter()
                .map(move |why| format!("{shown}: {why}"))
        })
        .collect();
    assert!(broken.is_empty(), "broken links:\n  {}", broken.join("\n  "));
}

#[test]
fn every_document_the_sources_mention_is_in_the_repository() {
    // A comment or doc that sends the reader to a document outside the repository (a design
    // note, a style guide) points at nothing for everyone else.
    let root = root();
    let documents = markdown_files();
    let names: BTreeSet<String> = documents
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    // This file names missing documents on purpose, as fixtures of the scanners.
    let this_file = root.join("xtask/tests/repo_checks.rs");
    let mut missing = Vec::new();
    for path in files_ending_with(&[".rs", ".toml", ".md", ".py", ".sh", ".ci/run"]) {
        if path == this_file {
            continue;
        }
        let text = read(&path);
        for name in markdown_names(&text) {
            let found = if name.contains('/') {
                let here = path.parent().expect("a file's directory").join(name);
                here.exists() || root.join(name.trim_start_matches("./")).exists()
            } else {
                names.contains(name)
            };
            if !found {
                let shown = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
                missing.push(format!("{shown}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "these name a document that is not in the repository; point at docs/ instead:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn ci_runs_every_check_that_cargo_xtask_ci_lists() {
    // `.ci/run` installs, then hands over to `cargo xtask ci`: the list of checks lives once.
    let ci_run = read(&root().join(".ci/run"));
    let last_command = ci_run
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_default();
    assert_eq!(
        last_command, "cargo xtask ci",
        ".ci/run must end by running the checks"
    );

    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["ci", "--list"])
        .output()
        .expect("run xtask ci --list");
    assert!(listed.status.success(), "{listed:?}");
    let listed = String::from_utf8(listed.stdout).expect("UTF-8");
    let steps: Vec<&str> = listed.lines().collect();
    // What README.md and issue 12 promise CI enforces.
    for promised in [
        "cargo fmt --all -- --check",
        "cargo deny check",
        "cargo clippy --workspace --all-targets --all-features -- -D warnings",
        "RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps --all-features",
        "cargo hack check --workspace --each-feature",
        "cargo test --workspace",
    ] {
        assert!(
            steps.contains(&promised),
            "`{promised}` is not a CI step: {steps:#?}"
        );
    }
    let readme = read(&root().join("README.md"));
    assert!(
        readme.contains("cargo test --workspace") && readme.contains("cargo xtask ci"),
        "README.md names the test command and `cargo xtask ci`"
    );
}

#[test]
fn the_link_and_crate_scanners_see_what_they_look_for() {
    // The checks above must not pass because a scanner misses what it looks for.
    let markdown = "\
See [the rules](asap-rules.md#the-rules), ![a diagram](img/d.png \"title\") and [x][ref].
`[not a link](code.md)`

```text
[also not](fenced.md)
```
[ref]: <other.md>
";
    assert_eq!(
        link_destinations(markdown),
        ["asap-rules.md#the-rules", "img/d.png", "other.md"]
    );

    let headings = "# Title\n## The `asap` command, line\n## Tests\n```\n# not a heading\n```\n## Tests\n";
    let found = anchors(headings);
    for expected in ["title", "the-asap-command-line", "tests", "tests-1"] {
        assert!(found.contains(expected), "{expected} in {found:?}");
    }
    assert!(!found.contains("not-a-heading"), "{found:?}");

    let dir = std::env::temp_dir().join(format!("repo-checks-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    let doc = dir.join("doc.md");
    fs::write(&doc, "# Here\n").expect("write");
    let links =
        "[ok](doc.md) [ok](#here) [ok](https://example.invalid/x.md) [no](gone.md) [no](doc.md#nowhere)";
    let broken = broken_links(&doc, links);
    fs::remove_dir_all(&dir).expect("clean up");
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(broken[0].starts_with("`gone.md`"), "{broken:?}");
    assert!(broken[1].starts_with("`doc.md#nowhere`"), "{broken:?}");

    let table =
        "| crate | for |\n|---|---|\n| `asap-core` | rules |\n| `asap-keys` | keys |\nsee `asap-tower` | x\n";
    assert_eq!(
        table_crates(table),
        BTreeSet::from(["asap-core".to_owned(), "asap-keys".to_owned()])
    );
    assert_eq!(
        markdown_names("see STYLE.md. Or [x](../docs/a-b.md#h), `docs/c_d.md`, https://x.example/e.md"),
        ["STYLE.md", "../docs/a-b.md", "docs/c_d.md"]
    );
    assert!(mentions("  ├── asap-keys   where keys", "asap-keys"));
    assert!(!mentions("asap-keys-extra", "asap-keys"));
    assert!(!mentions("the asap-keyset", "asap-keys"));

    let manifest = "\
[dependencies]
serde.workspace = true
tokio = { workspace = true, features = [\"rt\"] }
papaya = \"0.2\"
[dev-dependencies.local]
path = \"../local\"
[target.'cfg(unix)'.build-dependencies]
cc = { version = \"1\" }
";
    assert_eq!(
        dependencies_outside_the_workspace_table(manifest),
        [
            "[dependencies] papaya",
            "[dev-dependencies] local",
            "[target.cfg(unix).build-dependencies] cc"
        ]
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

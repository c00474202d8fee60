//! `cargo xtask bench --instructions`: instruction counts per operation under callgrind.
//!
//! Wall clock moves 2–3× on a shared machine; instruction counts do not, so performance
//! decisions are taken on them. Each `--profile` mode of the throughput bench (and of
//! `bench/peers`) runs one operation N times inside a function named `profiled`; callgrind,
//! told to collect only inside it (`--toggle-collect=*profiled*`), counts its instructions.
//! Every mode runs twice, once with 1 operation and once with N + 1, and the difference divided
//! by N is the count per operation: what runs once (a key parsed on first use, the random
//! generator's first seeding) drops out, as it would in a long-running server.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{Failure, Result};

/// The throughput bench's algorithms, with N for the verify and the sign modes: enough
/// operations that the count per operation is stable, few enough that callgrind (≈ 50× slower)
/// takes seconds per mode. RSA signing blinds with fresh randomness, so its count varies a
/// little from run to run.
const ALGORITHMS: [(&str, u64, u64); 6] = [
    ("RS256", 100, 10),
    ("PS256", 100, 10),
    ("ES256", 50, 50),
    ("ES384", 20, 20),
    ("ES512", 10, 10),
    ("EdDSA", 100, 100),
];

/// The repeated-operation modes (ES256), and their N.
const REPEATED: [(&str, u64); 2] = [("cached-verify", 1000), ("reused-sign", 1000)];

/// The peers bench's modes when its usage text cannot be read.
const PEERS_MODES: [&str; 2] = ["connect-sign", "connect-verify"];
const PEERS_N: u64 = 200;

/// How many operations to count for a `bench/peers` mode: few for an RSA signature (6 M
/// instructions each, slow under valgrind) and for the four-key and key-set modes.
fn peers_n(mode: &str) -> u64 {
    let rsa_sign = mode.contains("sign") && !mode.contains("eddsa") && !mode.starts_with("connect");
    if rsa_sign {
        3
    } else if mode.contains("-4") || mode.starts_with("jwks") {
        50
    } else {
        PEERS_N
    }
}

/// Whether valgrind can be run.
pub(crate) fn valgrind_available() -> bool {
    Command::new("valgrind")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The first event's total (`Ir`, instructions) of a callgrind output file: its `summary:`
/// line, or the `totals:` line when there is no summary.
pub(crate) fn callgrind_total(output: &str) -> Option<u64> {
    let line = |prefix: &str| {
        output
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    line("summary:").or_else(|| line("totals:"))
}

/// Instructions inside `profiled` of `program --profile ARGS... N`.
fn collected(program: &Path, args: &[&str], n: u64, scratch: &Path) -> std::result::Result<u64, String> {
    let out_file = scratch.join("callgrind.out");
    let output = Command::new("valgrind")
        .args(["--tool=callgrind", "--toggle-collect=*profiled*"])
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(program)
        .arg("--profile")
        .args(args)
        .arg(n.to_string())
        .stdout(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start valgrind: {e}"))?;
    let text = std::fs::read_to_string(&out_file);
    let _ = std::fs::remove_file(&out_file);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.starts_with("==") && !l.trim().is_empty());
        return Err(format!("{} ({})", last.unwrap_or("failed"), output.status));
    }
    let text = text.map_err(|e| format!("no callgrind output: {e}"))?;
    callgrind_total(&text).ok_or_else(|| "no summary line in the callgrind output".into())
}

/// Instructions per operation of a `--profile` mode: (count at N + 1 − count at 1) / N.
fn per_operation(program: &Path, args: &[&str], n: u64, scratch: &Path) -> std::result::Result<u64, String> {
    eprintln!(
        "  callgrind: {} --profile {} {n}",
        file_name(program),
        args.join(" ")
    );
    let once = collected(program, args, 1, scratch)?;
    let many = collected(program, args, n + 1, scratch)?;
    Ok(many.saturating_sub(once).div_ceil(n))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |f| f.to_string_lossy().into_owned(),
    )
}

/// The `--profile` modes `bench/peers` names in its usage text (what it prints when `--profile`
/// comes without arguments: `--profile a|b|c N`), or [`PEERS_MODES`] when that cannot be read.
fn peers_modes(peers: &Path) -> Vec<String> {
    let usage = Command::new(peers)
        .arg("--profile")
        .stdout(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    modes_in_usage(&usage).unwrap_or_else(|| PEERS_MODES.map(String::from).into())
}

/// `a|b|c` from a usage text holding `--profile a|b|c N`.
pub(crate) fn modes_in_usage(usage: &str) -> Option<Vec<String>> {
    let after = &usage[usage.find("--profile ")? + "--profile ".len()..];
    let list = after.split_whitespace().next()?;
    let modes: Vec<String> = list.split('|').map(str::to_owned).collect();
    let plausible = |m: &String| {
        !m.is_empty()
            && m.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    (modes.len() > 1 && modes.iter().all(plausible)).then_some(modes)
}

/// A JSON number, or `null` for a mode that could not be measured.
fn number(v: Option<u64>) -> String {
    v.map_or_else(|| "null".into(), |n| n.to_string())
}

/// `raw / ours` to four places: the share of our cost that is the crypto alone.
fn ratio(ours: Option<u64>, raw: Option<u64>) -> String {
    match (ours, raw) {
        (Some(o), Some(r)) if o > 0 => format!("{:.4}", r as f64 / o as f64),
        _ => "null".into(),
    }
}

/// A JSON string of `s`, which holds no characters that need escaping but `"` and `\`.
fn string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Measures every mode and writes the counts per operation to `out` as JSON: under
/// `algorithms`, per algorithm, `sign`, `raw_sign`, `sign_ratio`, `verify`, `raw_verify`,
/// `verify_ratio` (ratio = raw / ours); the repeated-operation modes; and under `peers`, each
/// mode of `bench/peers` with, when it has a `raw` twin (`x-raw-y` next to `x-y`), the ratio.
/// A mode that fails is left `null`, with a note.
pub(crate) fn measure(throughput: &Path, peers: Option<&Path>, scratch: &Path, out: &Path) -> Result {
    let mut notes = Vec::new();
    let mut run = |program: &Path, args: &[&str], n: u64| match per_operation(program, args, n, scratch) {
        Ok(count) => Some(count),
        Err(e) => {
            let note = format!("{} --profile {}: {e}", file_name(program), args.join(" "));
            eprintln!("  note: {note}");
            notes.push(note);
            None
        }
    };
    let mut json =
        String::from("{\n  \"tool\": \"valgrind --tool=callgrind --toggle-collect=*profiled*\",\n");
    json.push_str("  \"per\": \"operation: (count at N + 1 - count at 1) / N\",\n  \"algorithms\": {");
    for (i, (alg, verify_n, sign_n)) in ALGORITHMS.into_iter().enumerate() {
        let verify = run(throughput, &["verify", alg], verify_n);
        let raw_verify = run(throughput, &["raw-verify", alg], verify_n);
        let sign = run(throughput, &["sign", alg], sign_n);
        let raw_sign = run(throughput, &["raw-sign", alg], sign_n);
        let _ = write!(
            json,
            "{}\n    \"{alg}\": {{\"verify\": {}, \"raw_verify\": {}, \"verify_ratio\": {}, \
             \"sign\": {}, \"raw_sign\": {}, \"sign_ratio\": {}}}",
            if i == 0 { "" } else { "," },
            number(verify),
            number(raw_verify),
            ratio(verify, raw_verify),
            number(sign),
            number(raw_sign),
            ratio(sign, raw_sign),
        );
    }
    json.push_str("\n  },\n");
    for (mode, n) in REPEATED {
        let count = run(throughput, &[mode, "ES256"], n);
        let _ = writeln!(json, "  {}: {},", string(&format!("{mode}_ES256")), number(count));
    }
    json.push_str("  \"peers\": {");
    if let Some(peers) = peers {
        let modes = peers_modes(peers);
        let counts: Vec<(String, Option<u64>)> = modes
            .iter()
            .map(|m| (m.clone(), run(peers, &[m], peers_n(m))))
            .collect();
        let mut first = true;
        for (mode, count) in &counts {
            let twin = counts
                .iter()
                .find(|(m, _)| m.replacen("raw-", "", 1) == *mode && m != mode);
            let ratio_field = twin.map_or_else(String::new, |(_, raw)| {
                format!(", \"ratio\": {}", ratio(*count, *raw))
            });
            let _ = write!(
                json,
                "{}\n    {}: {{\"count\": {}{ratio_field}}}",
                if first { "" } else { "," },
                string(mode),
                number(*count)
            );
            first = false;
        }
    }
    json.push_str("\n  },\n  \"notes\": [");
    let notes: Vec<String> = notes.iter().map(|n| string(n)).collect();
    json.push_str(&notes.join(", "));
    json.push_str("]\n}\n");
    std::fs::write(out, json).map_err(|e| Failure(format!("cannot write {}: {e}", out.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head and tail of a callgrind output file as valgrind 3.19 writes it (captured from
    /// `valgrind --tool=callgrind --toggle-collect='*main*' /bin/true`).
    const CAPTURED: &str = "\
# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 1724
cmd:  /bin/true
part: 1


desc: I1 cache: 
desc: D1 cache: 
desc: LL cache: 

desc: Timerange: Basic block 0 - 29623
desc: Trigger: Program termination

positions: line
events: Ir
summary: 96419


ob=(1) /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
fl=(1) ???
fn=(1) 0x0000000000001c50
0 3

totals: 96419
";

    #[test]
    fn callgrind_total_reads_the_summary_line() {
        assert_eq!(callgrind_total(CAPTURED), Some(96_419));
    }

    #[test]
    fn callgrind_total_falls_back_to_the_totals_line() {
        let without_summary = CAPTURED.replace("summary: 96419\n", "");
        assert_eq!(callgrind_total(&without_summary), Some(96_419));
    }

    #[test]
    fn callgrind_total_is_none_without_either_line() {
        assert_eq!(callgrind_total("events: Ir\nfn=(1) main\n0 3\n"), None);
    }

    #[test]
    fn modes_in_usage_reads_the_profile_list_of_a_panic_message() {
        let usage = "thread 'main' panicked at src/main.rs:522:44:\n\
                     --profile connect-sign|connect-verify|connect-raw-sign N\n";
        assert_eq!(
            modes_in_usage(usage),
            Some(vec![
                "connect-sign".to_owned(),
                "connect-verify".to_owned(),
                "connect-raw-sign".to_owned()
            ])
        );
    }

    #[test]
    fn modes_in_usage_refuses_a_usage_without_a_list() {
        assert_eq!(modes_in_usage("--profile WHAT N"), None);
        assert_eq!(modes_in_usage("no usage here"), None);
    }

    #[test]
    fn ratio_is_raw_over_ours() {
        assert_eq!(ratio(Some(298_217), Some(283_684)), "0.9513");
        assert_eq!(ratio(None, Some(1)), "null");
    }
}

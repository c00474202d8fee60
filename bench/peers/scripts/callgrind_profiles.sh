#!/usr/bin/env bash
# Instructions per operation under callgrind for the profiles' rows (ours and raw aws-lc-rs), the
# numbers that decide performance on a shared machine (they are the same on every run).
#
#   bench/peers/scripts/callgrind_profiles.sh [N] [OPERATION...]
#
# Builds nothing: run `cargo build --release --manifest-path bench/peers/Cargo.toml` first (with
# the workspace's CARGO_TARGET_DIR, or target/ of the workspace). Each operation runs once outside
# the collected frame, then N times (default 20) inside it; prints "operation instructions/op".
# Keep the callgrind files with KEEP=dir.
set -euo pipefail
here="$(cd "$(dirname "$0")/../../.." && pwd)"
bin="${CARGO_TARGET_DIR:-$here/target}/release/asap-bench-peers"
n="${1:-20}"
shift || true
ops=("$@")
if [[ ${#ops[@]} -eq 0 ]]; then
  ops=(forge-verify forge-verify-static forge-raw-verify forge-verify-jsonwebtoken
    jwks-parse jwks-parse-jsonwebtoken)
  for alg in rs256 rs384 rs512 eddsa; do
    ops+=("user-verify-$alg" "user-raw-verify-$alg" "user-sign-$alg" "user-raw-sign-$alg")
  done
  ops+=(issuer-verify-1 issuer-raw-verify-1 issuer-verify-4 issuer-raw-verify-4 issuer-sign issuer-raw-sign)
fi
out="${KEEP:-$(mktemp -d)}"
mkdir -p "$out"
for op in "${ops[@]}"; do
  file="$out/callgrind.$op"
  valgrind --tool=callgrind --toggle-collect='*profiled*' --callgrind-out-file="$file" \
    "$bin" --profile "$op" "$n" >/dev/null 2>&1
  total=$(sed -n 's/^summary: //p' "$file")
  printf '%-28s %12d\n' "$op" $((total / n))
done
[[ -n "${KEEP:-}" ]] || rm -rf "$out"

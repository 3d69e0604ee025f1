#!/usr/bin/env bash
# Fuzzes sendout's parsers with cargo-fuzz (libFuzzer): the payload template parser, the ingest
# body and the management bodies (see fuzz/src/lib.rs for what each checks). Each target runs
# for a bounded time; a finding stops the script with the crashing input in fuzz/artifacts/.
#
#   scripts/fuzz.sh [seconds per target, default 60] [target ...]
#   scripts/fuzz.sh --smoke    # CI: every target, stable toolchain, a bounded number of runs
#
# The smoke run builds the targets as plain binaries (libFuzzer's driver, no sanitizers or
# coverage instrumentation, so it needs no nightly) into the workspace's target directory and
# runs each on its committed corpus for SMOKE_RUNS mutated inputs: it proves the targets build
# and that the checks hold on inputs beyond the corpus, in seconds. Real fuzzing is the timed
# mode above.
#
# Needs a nightly toolchain for the sanitizer flags; without one it uses the stable toolchain
# with RUSTC_BOOTSTRAP=1. New inputs go to fuzz/corpus-work/ (not committed); a finding worth
# keeping is minimised (`cargo fuzz tmin`) and copied into fuzz/corpus/<target>/, which CI
# replays in crates/sendout/tests/it/hostile_input.rs.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

if [ "${1:-}" = "--smoke" ]; then
  runs="${SMOKE_RUNS:-200000}"
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/../target}"
  cargo build --locked --bins
  for target in template ingest_body management_body; do
    echo "==> $target: $runs runs"
    "$CARGO_TARGET_DIR/debug/$target" "corpus/$target" -runs="$runs" -max_len=65536 \
      -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 2>&1 | tail -3
    # libFuzzer exits non-zero on a finding; pipefail carries it here.
  done
  echo "fuzz smoke: no findings in 3 targets, $runs runs each"
  exit 0
fi

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(template ingest_body management_body)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  echo "no nightly toolchain: using stable with RUSTC_BOOTSTRAP=1"
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi

for target in "${targets[@]}"; do
  mkdir -p "corpus-work/$target"
  echo "==> fuzzing $target for ${seconds}s"
  # corpus-work/ first: libFuzzer adds what it finds there; corpus/ is read as seeds only.
  "${fuzz[@]}" run "$target" "corpus-work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 -timeout=10 -print_final_stats=1
done
echo "no findings in ${#targets[@]} target(s), ${seconds}s each"

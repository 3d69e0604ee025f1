#!/usr/bin/env bash
# Fuzzes sendout's parsers with cargo-fuzz (libFuzzer): the payload template parser, the ingest
# body and the management bodies (see fuzz/src/lib.rs for what each checks). Each target runs
# for a bounded time; a finding stops the script with the crashing input in fuzz/artifacts/.
#
#   scripts/fuzz.sh [seconds per target, default 60] [target ...]
#
# Needs a nightly toolchain for the sanitizer flags; without one it uses the stable toolchain
# with RUSTC_BOOTSTRAP=1. New inputs go to fuzz/corpus-work/ (not committed); a finding worth
# keeping is minimised (`cargo fuzz tmin`) and copied into fuzz/corpus/<target>/, which CI
# replays in crates/sendout/tests/hostile_input.rs.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

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

#!/usr/bin/env bash
# Fuzz smoke run: builds every target of fuzz/ with libFuzzer's coverage instrumentation on the
# stable toolchain (no cargo-fuzz, no nightly: see fuzz/README.md) and runs each one for
# FUZZ_SECONDS seconds (default 15) over its committed seed corpus. A crash, a failed
# assertion, a timeout or an out-of-memory in any target fails the script, leaving the
# reproducer in fuzz/artifacts/<target>/.
#
#   bash scripts/fuzz-smoke.sh                 # all targets, 15 s each
#   FUZZ_SECONDS=600 bash scripts/fuzz-smoke.sh server client
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${FUZZ_SECONDS:-15}
host=$(rustc -vV | sed -n 's/^host: //p')
# The flags `cargo fuzz build --sanitizer none` passes (cargo-fuzz 0.13), so both share builds.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Cllvm-args=-sanitizer-coverage-stack-depth -Cdebug-assertions -Ccodegen-units=1"
unset CARGO_TARGET_DIR
cargo build --release --locked --target "$host" --bins

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    # The names of the [[bin]] sections: each `name =` line right after a `[[bin]]` header.
    mapfile -t targets < <(sed -n '/^\[\[bin\]\]$/{n;s/^name = "\(.*\)"$/\1/p}' Cargo.toml)
fi
bin_dir="target/$host/release"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
    mkdir -p "$work/$t" "artifacts/$t"
    log="$work/$t.log"
    # New inputs go to the scratch directory (first); the committed corpus is only read.
    if "$bin_dir/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" \
        "$work/$t" "corpus/$t" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        echo "fuzz $t: ok, $runs executions in ${seconds}s, $cov"
    else
        echo "fuzz $t: FAILED"
        tail -n 40 "$log"
        failed+=("$t")
    fi
done
passed=$((${#targets[@]} - ${#failed[@]}))
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz smoke failed: ${failed[*]}"
fi
echo "fuzz: $passed passed, ${#failed[@]} failed"
[ "${#failed[@]}" -eq 0 ]

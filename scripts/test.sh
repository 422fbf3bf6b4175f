#!/usr/bin/env bash
# The project's test command: installs the interop peers, builds the
# `reprise` binary (dev profile, dependencies optimised) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

cargo test --workspace --no-fail-fast

# Fuzz smoke run: builds every fuzz target (fuzz/, outside the workspace) and runs each one
# briefly over its committed corpus; a crash fails the run. FUZZ_SMOKE=0 skips it.
if [ "${FUZZ_SMOKE:-1}" != 0 ]; then
    bash scripts/fuzz-smoke.sh
fi

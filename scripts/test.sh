#!/usr/bin/env bash
# The project's test command: installs the interop peers, builds the
# `reprise` binary (dev profile, dependencies optimised) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

cargo test --workspace --no-fail-fast

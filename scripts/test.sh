#!/usr/bin/env bash
# The project's test command: installs the interop peers, builds the release
# `reprise` binary the integration tests drive, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh
cargo build --release -p reprise-cli
cargo test --workspace --release --no-fail-fast

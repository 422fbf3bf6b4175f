#!/usr/bin/env bash
# The project's test command: installs the interop peers, runs the README's main command
# verbatim, checks formatting and lints, runs every test of the workspace (the `reprise`
# binary under test is the dev profile's, dependencies optimised), checks the crates as
# published (docs, packages, the README's embedding snippet, the public API listing), the
# benchmark harness's quick run and the fuzz smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-test-deps.sh

# The README's main command, taken from the README itself and run verbatim, so a change
# that breaks it on a fresh clone (as a second binary once did) fails here. Bounded: the
# release build included, it must finish within 30 minutes.
main_command=$(awk '/^Run the main job/ { found = 1 } found && /^```sh/ { getline; print; exit }' README.md)
if [ -z "$main_command" ]; then
    echo "test.sh: no main command found in README.md" >&2
    exit 1
fi
echo "test.sh: the README's main command: $main_command" >&2
demo_out=$(timeout 1800 bash -c "$main_command")
ladders=$(grep -c '^TLS round trips:' <<<"$demo_out" || true)
if [ "$ladders" != 3 ]; then
    echo "$demo_out"
    echo "test.sh: '$main_command' printed $ladders ladders, not 3" >&2
    exit 1
fi
echo "test.sh: '$main_command' printed its 3 ladders" >&2

cargo fmt --all --check
cargo clippy --workspace --all-targets -q -- -D warnings

cargo test --workspace --no-fail-fast
# reprise-tls-tokio's system roots, behind their feature.
cargo test -q -p reprise-tls-tokio --features native-roots --test native_roots

# The default build of the `reprise` binary links no benchmark-only crate.
heavy=$(cargo tree -p reprise-tls-cli -e normal --prefix none | awk '{print $1}' |
    grep -xE 'rustls|criterion|allocation-counter|tokio-rustls' | sort -u || true)
if [ -n "$heavy" ]; then
    echo "test.sh: the default reprise binary links $heavy" >&2
    exit 1
fi

# The crates as they would be published: documentation without warnings, every library
# crate packaged and built from its package, the README's Embedding section built from a
# crate outside the workspace, and the public API against its committed listing.
RUSTDOCFLAGS="-D warnings" cargo doc -q --workspace --no-deps
# The verify step takes our crates from a local registry, and cargo treats a registry crate
# of a given name and version as immutable: it extracts it once under $CARGO_HOME/registry/src
# and keeps what it compiled. So a second run in the same checkout would verify against the
# first run's code. The verify builds go to a target directory of their own, and before each
# run the extracted sources and the compiled artifacts of our crates are removed there (the
# third-party dependencies stay compiled).
package_target=target/package-check
rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/reprise-tls-* \
    "$package_target"/debug/.fingerprint/reprise-tls-* "$package_target"/debug/deps/*reprise* \
    "$package_target"/debug/build/reprise-tls-*
CARGO_TARGET_DIR=$package_target cargo package -q --workspace --exclude reprise-tls-cli \
    --exclude reprise-tls-benches --exclude reprise-tls-driver-suite --allow-dirty
bash scripts/readme-embedding.sh
for package in reprise-tls reprise-tls-tokio; do
    bash scripts/public-api.sh --check "$package"
    # The check itself: a listing missing one item (as if the item were added without
    # updating the listing) must fail, naming the item.
    if cargo +nightly --version >/dev/null 2>&1; then
        stale=$(mktemp)
        sed '$d' "docs/api/$package.txt" >"$stale"
        missing=$(tail -n 1 "docs/api/$package.txt")
        if out=$(bash scripts/public-api.sh --check "$package" "$stale" 2>&1); then
            echo "test.sh: the public-API check passed a stale listing" >&2
            rm -f "$stale"
            exit 1
        fi
        rm -f "$stale"
        grep -qF "added:   $missing" <<<"$out" || {
            echo "test.sh: the public-API check did not name the added item: $out" >&2
            exit 1
        }
    fi
done

# The benchmark command the README documents (a build with the `bench` feature) still
# prints one verdict line per goal. Whether each goal is met on this machine is the
# benchmark's to say, not this script's: the run is short and the machine shared.
if [ "${BENCH_SMOKE:-1}" != 0 ]; then
    bench_out=$(timeout 1800 cargo run --release --features bench -- bench --quick)
    goals=$(grep -c '^goal ' <<<"$bench_out" || true)
    if [ "$goals" -lt 1 ]; then
        echo "$bench_out"
        echo "test.sh: 'reprise bench --quick' printed no goal lines" >&2
        exit 1
    fi
    grep '^goal ' <<<"$bench_out" >&2
fi

# Fuzz smoke run: builds every fuzz target (fuzz/, outside the workspace) and runs each one
# briefly over its committed corpus; a crash fails the run. FUZZ_SMOKE=0 skips it.
if [ "${FUZZ_SMOKE:-1}" != 0 ]; then
    bash scripts/fuzz-smoke.sh
fi

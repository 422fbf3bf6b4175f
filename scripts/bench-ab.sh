#!/usr/bin/env bash
# A/B of two builds of `reprise serve`: the working tree ("new") against another revision
# ("old", OLD=REV, default HEAD~1), paired so that the host's drift cancels out. For each
# driver and handshake kind, an old and a new server (one worker each, both pinned to CPU 0)
# are loaded at the same time by two `reprise load` runs pinned to CPU 1; each round gives one
# new/old ratio of server CPU per handshake measured over the same seconds. Prints every
# round's ratio and their median (≤ 1.03 is "no regression" for the serving-core issue).
#
#   OLD=d928322 bash scripts/bench-ab.sh            # ROUNDS=6 DURATION=3s CONNECTIONS=64
#   DRIVERS="mio uring" MODES="none id ticket"        # what is measured (these defaults)
#   BACKEND=nginx         # both as terminators in front of one nginx, one GET per connection
#   OLD=none NEW_ARGS="--access-log /tmp/access.log"   # one build, a setting on against off
#   LOAD_ARGS="--client-cert c.pem --client-key c.key"  # further `reprise load` arguments
#
# The old revision is built in a git worktree of its own (its own target directory, under
# target/bench-ab/), with the same release profile; the load generator is the new build's.
set -euo pipefail
cd "$(dirname "$0")/.."

OLD=${OLD:-HEAD~1}
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-3s}
CONNECTIONS=${CONNECTIONS:-64}
DRIVERS=${DRIVERS:-mio uring}
MODES=${MODES:-none id ticket}
BACKEND=${BACKEND:-}
# Further `serve` arguments for the new side only (a setting's cost: OLD=none, both sides
# then run the working tree's binary).
read -r -a NEW_ARGS <<<"${NEW_ARGS:-}"
read -r -a LOAD_ARGS <<<"${LOAD_ARGS:-}"
SUITE=ECDHE-ECDSA-AES128-GCM-SHA256
GROUP=X25519,P-256

if ! command -v taskset >/dev/null 2>&1 || [ "$(nproc)" -lt 2 ]; then
  echo "bench-ab: needs taskset and 2 CPUs" >&2
  exit 1
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
AB_DIR=$CARGO_TARGET_DIR/bench-ab

echo "bench-ab: building new (working tree)${OLD:+ and old ($OLD)} release binaries" >&2
cargo build --release -q -p reprise-tls-cli
NEW_BIN=$CARGO_TARGET_DIR/release/reprise
if [ "$OLD" = none ]; then
  OLD_REV="the same build without ${NEW_ARGS[*]}"
  OLD_BIN=$NEW_BIN
else
OLD_REV=$(git rev-parse --short "$OLD")
OLD_TREE=$AB_DIR/tree-$OLD_REV
if [ ! -d "$OLD_TREE" ]; then
  mkdir -p "$AB_DIR"
  git worktree add --detach -f "$OLD_TREE" "$OLD_REV" >/dev/null
fi
# Old revisions had the counting allocator as a default feature: leave it out if so.
if grep -q 'default = \["count-allocations"\]' "$OLD_TREE/cli/Cargo.toml"; then
  OLD_FEATURES=--no-default-features
else
  OLD_FEATURES=
fi
# The binary's package was `reprise-cli` before the crates took the `reprise-tls` prefix.
OLD_PACKAGE=reprise-tls-cli
grep -q '^name = "reprise-tls-cli"' "$OLD_TREE/cli/Cargo.toml" || OLD_PACKAGE=reprise-cli
(cd "$OLD_TREE" && CARGO_TARGET_DIR=$AB_DIR/target cargo build --release -q -p "$OLD_PACKAGE" $OLD_FEATURES)
OLD_BIN=$AB_DIR/target/release/reprise
fi

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh bench-ab

serve_extra=() load_extra=("${LOAD_ARGS[@]}")
if [ "$BACKEND" = nginx ]; then
  start_nginx_backend "$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)"
  serve_extra=(--backend "127.0.0.1:$BACKEND_PORT")
  load_extra+=(--http-get /)
fi

for DRIVER in $DRIVERS; do
  for side in old new; do
    bin=$OLD_BIN side_extra=()
    [ "$side" = new ] && bin=$NEW_BIN side_extra=("${NEW_ARGS[@]}")
    # Builds that log failed handshakes are told not to (the old one may predate the log).
    quiet=()
    if "$bin" serve --help | grep -q -- '--quiet'; then quiet=(--quiet); fi
    port=$(free_port)
    taskset -c 0 "$bin" serve --driver "$DRIVER" --listen "127.0.0.1:$port" --workers 1 "${quiet[@]}" \
      --cert "$TMP/cert.pem" --key "$TMP/key.pem" --tickets on --session-cache 64MiB \
      "${serve_extra[@]}" "${side_extra[@]}" >"$TMP/$DRIVER-$side.log" 2>&1 &
    PID_OF[$DRIVER-$side]=$!
    PORT_OF[$DRIVER-$side]=$port
    wait_port "$port"
  done
done

echo "bench-ab: new (working tree) vs old ($OLD_REV)${BACKEND:+ in front of $BACKEND}, $ROUNDS paired rounds of $DURATION per mode, $CONNECTIONS connections each, servers on CPU 0, clients on CPU 1"
for DRIVER in $DRIVERS; do
  for mode in $MODES; do
    ratios=() olds=() news=() errors=0
    for _ in $(seq "$ROUNDS"); do
      declare -A before=() count=()
      for side in old new; do before[$side]=$(cpu_total "${PID_OF[$DRIVER-$side]}"); done
      load_pids=()
      for side in old new; do
        taskset -c 1 "$NEW_BIN" load "127.0.0.1:${PORT_OF[$DRIVER-$side]}" --insecure --sni localhost \
          --connections "$CONNECTIONS" --duration "$DURATION" --resume "$mode" --suites "$SUITE" \
          --groups "$GROUP" "${load_extra[@]}" >"$TMP/load-$side.txt" &
        load_pids+=($!)
      done
      wait "${load_pids[@]}"
      for side in old new; do
        count[$side]=$(awk '/^handshakes: /{h=$2} /^warm-up: /{w=$2} END {print h + w}' "$TMP/load-$side.txt")
        ticks=$(($(cpu_total "${PID_OF[$DRIVER-$side]}") - before[$side]))
        cpu=$(awk -v t="$ticks" -v hz="$clk_tck" -v n="${count[$side]}" \
          'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "nan" }')
        if [ "$side" = old ]; then olds+=("$cpu"); else news+=("$cpu"); fi
        errors=$((errors + $(awk '/^handshakes\/s: /{print $6}' "$TMP/load-$side.txt")))
      done
      ratios+=("$(awk -v n="${news[-1]}" -v o="${olds[-1]}" 'BEGIN { printf "%.3f", n / o }')")
    done
    printf '%-6s %-22s new/old per round: %s  median %s   (CPU us/hs medians: old %s, new %s; errors %s)\n' \
      "$DRIVER" "$(mode_name "$mode")" "${ratios[*]}" "$(median "${ratios[@]}")" \
      "$(median "${olds[@]}")" "$(median "${news[@]}")" "$errors"
  done
done

#!/usr/bin/env bash
# reprise-tokio against tokio-rustls: the same hyper "hello" app (benches/src/bin/tokio_hello.rs)
# over each, TLS 1.2, the same ECDSA P-256 certificate, suite ECDHE-ECDSA-AES128-GCM-SHA256
# (X25519), session IDs and tickets on in both, a multi-thread tokio runtime of WORKERS threads
# pinned to CPU 0, loaded from CPU 1 by `reprise load --http-get /` with full, session-ID and
# ticket handshakes (every connection a new TLS connection and one request).
#
# Both servers stay up and the runs are interleaved (ROUNDS rounds of every mode against
# both). Printed: each run, then per stack and mode the medians of connections/s and of the
# server's CPU per connection (utime+stime from /proc before and after, divided by the
# connections), and reprise-tokio's ratio to tokio-rustls (goals: <= 0.80 resumed,
# <= 0.95 full).
#
#   bash scripts/bench-tokio.sh          # ROUNDS=5 DURATION=3s CONNECTIONS=32 WORKERS=1
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3s}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-1}
MODES="none id ticket"
SUITE=ECDHE-ECDSA-AES128-GCM-SHA256
GROUP=X25519,P-256
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

if ! command -v taskset >/dev/null 2>&1 || [ "$(nproc)" -lt 2 ]; then
  echo "bench-tokio: needs taskset and 2 CPUs" >&2
  exit 1
fi

echo "bench-tokio: building (release)" >&2
cargo build --release -q -p reprise-cli -p reprise-benches --bin reprise --bin tokio-hello
BIN=$CARGO_TARGET_DIR/release/reprise
HELLO=$CARGO_TARGET_DIR/release/tokio-hello

TMP=$(mktemp -d /tmp/reprise-tokio-bench.XXXXXX)
declare -A PID_OF PORT_OF
STACKS=(reprise rustls)
cleanup() {
  local pid
  for pid in "${PID_OF[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "bench-tokio: nothing listens on port $1" >&2
  return 1
}

clk_tck=$(getconf CLK_TCK)
cpu_ticks() {
  sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

mode_name() {
  case $1 in none) echo "full" ;; id) echo "resumed, session ID" ;; ticket) echo "resumed, ticket" ;; esac
}

for stack in "${STACKS[@]}"; do
  port=$(free_port)
  taskset -c 0 "$HELLO" --stack "$stack" --listen "127.0.0.1:$port" --cert "$TMP/cert.pem" \
    --key "$TMP/key.pem" --workers "$WORKERS" >"$TMP/$stack.log" 2>&1 &
  PID_OF[$stack]=$!
  PORT_OF[$stack]=$port
  wait_port "$port"
  # Like for like: what each negotiates, and that a request gets the page.
  "$BIN" connect "127.0.0.1:$port" --insecure --sni localhost --suites "$SUITE" \
    --groups "$GROUP" --resume ticket --http-get / \
    | awk -v t="$stack" '/^suite: /{s=$2} /^group: /{g=$2} /^resumed/{r=$0} /hello from hyper/{ok="page ok"} END {print t ": " s ", " g ", " ok}'
done

declare -A RATES CPUS
echo "bench-tokio: $ROUNDS rounds of $DURATION per run, $CONNECTIONS connections, $WORKERS worker thread(s), $SUITE"
for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS"
  for mode in $MODES; do
    for stack in "${STACKS[@]}"; do
      before=$(cpu_ticks "${PID_OF[$stack]}")
      taskset -c 1 "$BIN" load "127.0.0.1:${PORT_OF[$stack]}" --insecure --sni localhost \
        --connections "$CONNECTIONS" --duration "$DURATION" --resume "$mode" --suites "$SUITE" \
        --groups "$GROUP" --http-get / >"$TMP/load.txt"
      after=$(cpu_ticks "${PID_OF[$stack]}")
      count=$(awk '/^handshakes: /{h=$2} /^warm-up: /{w=$2} END {print h + w}' "$TMP/load.txt")
      rate=$(awk '/^handshakes\/s: /{print $2}' "$TMP/load.txt")
      resumed=$(awk '/^handshakes\/s: /{print $4}' "$TMP/load.txt")
      errors=$(awk '/^handshakes\/s: /{print $6}' "$TMP/load.txt")
      cpu=$(awk -v t="$((after - before))" -v hz="$clk_tck" -v n="$count" \
        'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "nan" }')
      RATES[$stack-$mode]+="$rate "
      CPUS[$stack-$mode]+="$cpu "
      printf '  %-8s %-22s %8s conn/s  resumed %6s  errors %s  CPU %7s us/conn\n' \
        "$stack" "$(mode_name "$mode")" "$rate" "$resumed" "$errors" "$cpu"
    done
  done
done

echo
echo "medians (connections/s, server CPU per connection):"
declare -A MED
for mode in $MODES; do
  for stack in "${STACKS[@]}"; do
    # shellcheck disable=SC2086
    r=$(median ${RATES[$stack-$mode]})
    # shellcheck disable=SC2086
    c=$(median ${CPUS[$stack-$mode]})
    MED[$stack-$mode]=$c
    printf '  %-8s %-22s %8s conn/s  %7s us/conn\n' "$stack" "$(mode_name "$mode")" "$r" "$c"
  done
done
echo
echo "reprise-tokio CPU per connection / tokio-rustls (goals: <= 0.80 resumed, <= 0.95 full):"
for mode in $MODES; do
  goal=0.80
  [ "$mode" = none ] && goal=0.95
  awk -v m="$(mode_name "$mode")" -v r="${MED[reprise-$mode]}" -v b="${MED[rustls-$mode]}" -v g="$goal" \
    'BEGIN { ratio = r / b; printf "  %-22s %.2f  (%s vs %s us)  goal <= %.2f: %s\n", m, ratio, r, b, g, (ratio <= g) ? "met" : "not met" }'
done

#!/usr/bin/env bash
# Reprise as a TLS terminator against hitch and HAProxy (Debian packages, installed if
# missing), each in front of the same nginx backend serving a small page over plaintext HTTP
# on loopback: same ECDSA P-256 certificate, suite ECDHE-ECDSA-AES128-GCM-SHA256 (X25519),
# TLS 1.2 only, one worker each, session cache and tickets on. `reprise load --http-get /`
# drives full, session-ID and ticket handshakes, each followed by one request through to
# nginx and its answer; every connection is a new TLS connection and a new backend
# connection.
#
# The terminators stay up for the whole run and the runs are interleaved (ROUNDS rounds of
# every mode against every terminator). Printed: each run, then per terminator and mode the
# medians of connections/s and of the terminator's CPU per connection (utime+stime of its
# processes from /proc before and after the run, divided by the connections), and Reprise's
# ratio to the better of hitch and HAProxy (it must stay below 1).
#
# The floor: in the same rounds, `tcp-floor serve --backend` (benches/src/floor.rs) does a
# proxied connection's TCP part without TLS on each driver's operations: the same bytes from
# the client, the same connect, request and answer through the same nginx, the same relayed
# writes and closes. Reprise's CPU per connection is then printed as a multiple of the crypto
# floor (`tcp-floor crypto`) plus its driver's proxied-TCP floor, one line per driver and kind
# that a script can read:
#   floor mio ticket 1.07x
# and paired rounds (PAIRED_ROUNDS, default 6; 0 skips them) run a mio and a uring terminator
# on CPU 0 loaded at the same time from CPU 1, one line per kind:
#   paired uring/mio ticket 0.88
# (kinds: full, id, ticket).
#
#   bash scripts/bench-terminator.sh          # ROUNDS=3 DURATION=4s CONNECTIONS=64 PAIRED_ROUNDS=6
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4s}
CONNECTIONS=${CONNECTIONS:-64}
PAIRED_ROUNDS=${PAIRED_ROUNDS:-6}
MODES="none id ticket"
SUITE=ECDHE-ECDSA-AES128-GCM-SHA256
GROUP=X25519,P-256
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

missing=()
for cmd in nginx hitch haproxy; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("$cmd")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bench: installing ${missing[*]} (Debian packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
sbin() { command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"; }
NGINX=$(sbin nginx)
HITCH=$(sbin hitch)
HAPROXY=$(sbin haproxy)

echo "bench: building reprise and tcp-floor (release)" >&2
cargo build --release -q -p reprise-tls-cli
cargo build --release -q -p reprise-tls-benches --bin tcp-floor
BIN=$CARGO_TARGET_DIR/release/reprise
FLOOR_BIN=$CARGO_TARGET_DIR/release/tcp-floor

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh bench-terminator
chmod 755 "$TMP"
TERMINATORS=()
cat "$TMP/cert.pem" "$TMP/key.pem" >"$TMP/both.pem"
chmod 644 "$TMP"/*.pem

# --- the backend ---
start_nginx_backend "$NGINX"

# --- the terminators ---
# start_reprise DRIVER [NAME [PREFIX...]]: a Reprise terminator named NAME (reprise-DRIVER),
# its command line prefixed with PREFIX (e.g. taskset -c 0).
start_reprise() {
  local driver=$1 name=${2:-reprise-$1} port
  shift $(($# < 2 ? $# : 2))
  port=$(free_port)
  "$@" "$BIN" serve --driver "$driver" --listen "127.0.0.1:$port" --workers 1 --quiet \
    --backend "127.0.0.1:$BACKEND_PORT" --cert "$TMP/cert.pem" --key "$TMP/key.pem" \
    --tickets on --session-cache 64MiB >"$TMP/$name.log" 2>&1 &
  PID_OF[$name]=$!
  PORT_OF[$name]=$port
  wait_port "$port"
}

start_hitch() {
  local port
  port=$(free_port)
  cat >"$TMP/hitch.conf" <<EOF
frontend = "[127.0.0.1]:$port"
backend = "[127.0.0.1]:$BACKEND_PORT"
pem-file = "$TMP/both.pem"
tls-protos = TLSv1.2
ciphers = "$SUITE"
ecdh-curve = "X25519:P-256"
workers = 1
daemon = off
user = "nobody"
group = "nogroup"
EOF
  "$HITCH" --config="$TMP/hitch.conf" >"$TMP/hitch.log" 2>&1 &
  PID_OF[hitch]=$!
  PORT_OF[hitch]=$port
  TERMINATORS+=("hitch")
  wait_port "$port"
}

start_haproxy() {
  local port
  port=$(free_port)
  cat >"$TMP/haproxy.cfg" <<EOF
global
  nbthread 1
  tune.ssl.cachesize 100000
  ssl-default-bind-ciphers $SUITE
  ssl-default-bind-options ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.2
  ssl-default-bind-curves X25519:P-256
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend tls
  bind 127.0.0.1:$port ssl crt $TMP/both.pem
  default_backend app
backend app
  server nginx 127.0.0.1:$BACKEND_PORT
EOF
  "$HAPROXY" -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
  PID_OF[haproxy]=$!
  PORT_OF[haproxy]=$port
  TERMINATORS+=("haproxy")
  wait_port "$port"
}

start_reprise mio
start_reprise uring
TERMINATORS+=(reprise-mio reprise-uring)
start_hitch
start_haproxy

# Like for like: what each terminator negotiates, and that a request gets nginx's page.
for t in "${TERMINATORS[@]}"; do
  "$BIN" connect "127.0.0.1:${PORT_OF[$t]}" --insecure --sni localhost --suites "$SUITE" \
    --groups "$GROUP" --resume none --http-get / \
    | awk -v t="$t" '/^suite: /{s=$2} /^group: /{g=$2} /hello from nginx/{ok="page ok"} END {print t ": " s ", " g ", " ok}'
done

# --- the proxied-TCP floor servers, one per driver and mode ---
floor_pattern() {
  case $1 in none) echo proxied-full ;; id) echo proxied-id ;; *) echo proxied-ticket ;; esac
}
kind() {
  case $1 in none) echo full ;; *) echo "$1" ;; esac
}
FLOORS=()
for driver in mio uring; do
  for mode in $MODES; do
    start_floor "tcp-$driver-$mode" "$driver" --pattern "$(floor_pattern "$mode")" \
      --backend "127.0.0.1:$BACKEND_PORT" --host localhost
  done
  FLOORS+=("tcp-$driver")
done
CRYPTO_FLOORS=$("$FLOOR_BIN" crypto)
echo "$CRYPTO_FLOORS" | sed 's/^/crypto /'

# run_floor DRIVER MODE: one run of `tcp-floor load` against DRIVER's proxied floor of MODE.
run_floor() {
  local name=tcp-$1 mode=$2 out=$TMP/floor-load.txt
  local pid=${PID_OF[tcp-$1-$2]} user_before sys_before
  read -r user_before sys_before < <(cpu_ticks "$pid")
  "$FLOOR_BIN" load "127.0.0.1:${PORT_OF[tcp-$1-$2]}" --pattern "$(floor_pattern "$mode")" \
    --connections "$CONNECTIONS" --duration "$DURATION" >"$out" || { cat "$out" >&2; return 1; }
  tally "$name" "$mode" "$pid" "$user_before" "$sys_before" \
    "$(awk '/^exchanges: /{print $2}' "$out")" "$(awk '/^exchanges\/s: /{print $2}' "$out")"
  printf '  %-14s %-22s %8s conn/s  errors %s  CPU %7s us/conn (kernel %s)\n' "$name" \
    "$(mode_name "$mode")" "$(awk '/^exchanges\/s: /{print $2}' "$out")" \
    "$(awk '/^exchanges\/s: /{print $4}' "$out")" "$TALLY_CPU" "$TALLY_SYS"
}

declare -A RATES CPUS SYS
echo "bench: $ROUNDS rounds of $DURATION per run, $CONNECTIONS connections, one worker each, $SUITE"
for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS"
  for mode in $MODES; do
    for driver in mio uring; do run_floor "$driver" "$mode"; done
    for t in "${TERMINATORS[@]}"; do
      read -r user_before sys_before < <(cpu_ticks "${PID_OF[$t]}")
      "$BIN" load "127.0.0.1:${PORT_OF[$t]}" --insecure --sni localhost --connections "$CONNECTIONS" \
        --duration "$DURATION" --resume "$mode" --suites "$SUITE" --groups "$GROUP" \
        --http-get / >"$TMP/load.txt"
      count=$(awk '/^handshakes: /{h=$2} /^warm-up: /{w=$2} END {print h + w}' "$TMP/load.txt")
      rate=$(awk '/^handshakes\/s: /{print $2}' "$TMP/load.txt")
      tally "$t" "$mode" "${PID_OF[$t]}" "$user_before" "$sys_before" "$count" "$rate"
      printf '  %-14s %-22s %8s conn/s  resumed %6s  errors %s  CPU %7s us/conn (kernel %s)\n' \
        "$t" "$(mode_name "$mode")" "$rate" "$(awk '/^handshakes\/s: /{print $4}' "$TMP/load.txt")" \
        "$(awk '/^handshakes\/s: /{print $6}' "$TMP/load.txt")" "$TALLY_CPU" "$TALLY_SYS"
    done
  done
done

echo
echo "medians (connections/s, terminator CPU per connection):"
declare -A MED MED_SYS
for mode in $MODES; do
  for t in "${TERMINATORS[@]}" "${FLOORS[@]}"; do
    # shellcheck disable=SC2086
    r=$(median ${RATES[$t-$mode]})
    # shellcheck disable=SC2086
    c=$(median ${CPUS[$t-$mode]})
    # shellcheck disable=SC2086
    k=$(median ${SYS[$t-$mode]})
    MED[$t-$mode]=$c
    MED_SYS[$t-$mode]=$k
    printf '  %-14s %-22s %8s conn/s  %7s us/conn (kernel %s)\n' "$t" "$(mode_name "$mode")" "$r" "$c" "$k"
  done
done

# ratio_table MEDIANS WORD: each of Reprise's MEDIANS over the better of hitch's and HAProxy's
# whole CPU per connection.
ratio_table() {
  local -n values=$1
  local mode best t
  for mode in $MODES; do
    best=$(awk -v a="${MED[hitch-$mode]}" -v b="${MED[haproxy-$mode]}" 'BEGIN { print (a < b) ? a : b }')
    for t in reprise-mio reprise-uring; do
      awk -v name="$t" -v m="$(mode_name "$mode")" -v r="${values[$t-$mode]}" -v b="$best" -v w="$2" \
        'BEGIN { printf "  %-14s %-22s %.2f  (%s %s %s us)\n", name, m, r / b, r, w, b }'
    done
  done
}
echo
echo "reprise CPU per connection / the better of hitch and HAProxy (must stay below 1):"
ratio_table MED vs
echo
echo "reprise's kernel part alone (two sockets per connection: accept, connect, relay, close)"
echo "over the better of hitch and HAProxy's whole CPU: the ratio no user-space saving can go below:"
ratio_table MED_SYS of

# --- the floor: crypto + proxied TCP on the terminator's driver ---
echo
echo "reprise CPU per proxied connection / (crypto floor + its driver's proxied-TCP floor), medians"
echo "(issue #29's goal for resumed connections: <= 1.15x):"
for driver in mio uring; do
  for mode in $MODES; do
    crypto=$(echo "$CRYPTO_FLOORS" | awk -v m="$(kind "$mode")" '$2 == m ":" {print $3}')
    awk -v d="$driver" -v k="$(kind "$mode")" -v r="${MED[reprise-$driver-$mode]}" \
      -v c="$crypto" -v t="${MED[tcp-$driver-$mode]}" \
      'BEGIN { printf "floor %s %s %.2fx   (%s us of %.1f crypto + %s TCP)\n", d, k, r / (c + t), r, c, t }'
  done
done
echo "proxied-TCP floors, uring / mio (the most io_uring can save on these connections here):"
for mode in $MODES; do
  awk -v k="$(kind "$mode")" -v u="${MED[tcp-uring-$mode]}" -v m="${MED[tcp-mio-$mode]}" \
    'BEGIN { printf "  %-7s %s us vs %s us = %.2f\n", k, u, m, u / m }'
done

# --- paired rounds: a mio and a uring terminator loaded at the same time ---
if [ "$PAIRED_ROUNDS" -gt 0 ] && command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  echo
  echo "paired rounds: mio and uring terminators on CPU 0, loaded at the same time from CPU 1"
  echo "($PAIRED_ROUNDS rounds of $DURATION per kind; issue #29's goal for resumed: <= 0.90):"
  for driver in mio uring; do start_reprise "$driver" "paired-$driver" taskset -c 0; done
  for mode in $MODES; do
    ratios=() paired_errors=0
    for _ in $(seq "$PAIRED_ROUNDS"); do
      declare -A before=() cpu=()
      for driver in mio uring; do before[$driver]=$(cpu_total "${PID_OF[paired-$driver]}"); done
      load_pids=()
      for driver in mio uring; do
        taskset -c 1 "$BIN" load "127.0.0.1:${PORT_OF[paired-$driver]}" --insecure --sni localhost \
          --connections "$CONNECTIONS" --duration "$DURATION" --resume "$mode" --suites "$SUITE" \
          --groups "$GROUP" --http-get / >"$TMP/paired-load-$driver.txt" &
        load_pids+=($!)
      done
      wait "${load_pids[@]}"
      for driver in mio uring; do
        count=$(awk '/^handshakes: /{h=$2} /^warm-up: /{w=$2} END {print h + w}' \
          "$TMP/paired-load-$driver.txt")
        cpu[$driver]=$(per_conn "$(($(cpu_total "${PID_OF[paired-$driver]}") - before[$driver]))" "$count")
        paired_errors=$((paired_errors + $(awk '/^handshakes\/s: /{print $6}' "$TMP/paired-load-$driver.txt")))
      done
      ratios+=("$(awk -v u="${cpu[uring]}" -v m="${cpu[mio]}" 'BEGIN { printf "%.3f", u / m }')")
    done
    printf '  %-7s uring/mio per round: %s  (errors %s)\n' "$(kind "$mode")" "${ratios[*]}" "$paired_errors"
    echo "paired uring/mio $(kind "$mode") $(median "${ratios[@]}")"
  done
fi

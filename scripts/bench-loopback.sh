#!/usr/bin/env bash
# Benchmarking over loopback: full and resumed (session ID, ticket) TLS 1.2 handshakes per
# second and the server's CPU time per handshake, for `reprise serve --driver mio`, for
# `reprise serve --driver uring` and for nginx from Debian packages, all driven by
# `reprise load`; with ratios to nginx, and of uring to mio.
#
# Same for both servers: one ECDSA P-256 certificate, suite ECDHE-ECDSA-AES128-GCM-SHA256
# and group X25519 (the client offers only those), TLS 1.2 only, session cache and tickets
# on, the same number of workers, a loopback port. CPU time is the server's utime+stime
# (from /proc/PID/stat, summed over nginx's master and workers) across the run, divided by
# the handshakes done in it (warm-up handshakes included: with resumption each client's
# first, full handshake is done once, uncounted by the summary line; it is < 1% of a run).
#
# Environment: DURATION (5s), CONNECTIONS (64), WORKERS (server workers, 1), DRIVERS
# (reprise drivers, "mio uring"),
# LOAD_WORKERS (client event loops, 1), PERF=1 to record a perf profile of each reprise
# server under full-handshake load (perf.data in the temp dir; top entries printed).
# On a 2-core machine the client shares the cores: read the CPU-per-handshake columns.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}
WORKERS=${WORKERS:-1}
LOAD_WORKERS=${LOAD_WORKERS:-1}
PERF=${PERF:-0}
# The reprise drivers to measure, in this order.
DRIVERS=${DRIVERS:-mio uring}
SUITE=ECDHE-ECDSA-AES128-GCM-SHA256
# X25519 for the key exchange; P-256 offered too because the ECDSA certificate is on P-256
# (RFC 8422 §5.1: a server takes the client's curve list to constrain its ECDSA key as well).
GROUP=X25519,P-256
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "bench: installing nginx (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends nginx >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

echo "bench: building reprise (release)" >&2
cargo build --release -q -p reprise-cli
BIN=$CARGO_TARGET_DIR/release/reprise

TMP=$(mktemp -d /tmp/reprise-bench.XXXXXX)
chmod 755 "$TMP"
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# One ECDSA P-256 certificate for both servers.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
chmod 644 "$TMP/key.pem"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "bench: nothing listens on port $1" >&2
  return 1
}

clk_tck=$(getconf CLK_TCK)

# utime+stime (clock ticks) of a process and its children.
cpu_ticks() {
  local total=0 pid
  for pid in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    if [ -r "/proc/$pid/stat" ]; then
      # Fields after the ")" of comm: utime is the 12th, stime the 13th.
      total=$((total + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12 + $13}')))
    fi
  done
  echo "$total"
}

declare -A RATE CPU RESUMED

# Prints what one connection negotiates (suite and group), as a check of like for like.
negotiated() {
  "$BIN" connect "127.0.0.1:$2" --insecure --sni localhost --suites "$SUITE" --groups "$GROUP" \
    --resume none | awk -v l="$1" '/^suite: /{s=$2} /^group: /{g=$2} END {print l ": " s ", " g}'
}

# run_load LABEL MODE PORT
run_load() {
  local label=$1 mode=$2 port=$3 out=$TMP/load-$1-$2.txt
  local before after hs warm
  before=$(cpu_ticks "$SERVER_PID")
  "$BIN" load "127.0.0.1:$port" --insecure --sni localhost --connections "$CONNECTIONS" \
    --duration "$DURATION" --resume "$mode" --suites "$SUITE" --groups "$GROUP" \
    --workers "$LOAD_WORKERS" >"$out" || { cat "$out" >&2; return 1; }
  after=$(cpu_ticks "$SERVER_PID")
  hs=$(awk '/^handshakes: /{print $2}' "$out")
  warm=$(awk '/^warm-up: /{print $2}' "$out")
  warm=${warm:-0}
  RATE[$label-$mode]=$(awk '/^handshakes\/s: /{print $2}' "$out")
  RESUMED[$label-$mode]=$(awk '/^handshakes\/s: /{print $4}' "$out")
  CPU[$label-$mode]=$(awk -v t=$((after - before)) -v hz="$clk_tck" -v n=$((hs + warm)) \
    'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "n/a" }')
  printf '%-8s %-7s %s   server CPU: %s us/handshake\n' "$label" "$mode" \
    "$(grep '^handshakes/s: ' "$out")" "${CPU[$label-$mode]}"
  grep '^  ' "$out" || true
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

echo "bench: $DURATION per run, $CONNECTIONS connections, $WORKERS server worker(s), $LOAD_WORKERS client loop(s), $SUITE, $GROUP"

# --- reprise serve --driver mio, then --driver uring ---
for DRIVER in $DRIVERS; do
PORT=$(free_port)
"$BIN" serve --driver "$DRIVER" --listen "127.0.0.1:$PORT" --workers "$WORKERS" \
  --cert "$TMP/cert.pem" --key "$TMP/key.pem" --tickets on --session-cache 64MiB \
  >"$TMP/reprise-$DRIVER.log" 2>&1 &
SERVER_PID=$!
wait_port "$PORT"
if grep -q 'falling back' "$TMP/reprise-$DRIVER.log"; then
  grep 'falling back' "$TMP/reprise-$DRIVER.log" | head -1 >&2
fi
negotiated "$DRIVER" "$PORT"
for mode in none id ticket; do run_load "$DRIVER" "$mode" "$PORT"; done
if [ "$PERF" = 1 ]; then
  echo "bench: perf profile of the reprise $DRIVER server under full-handshake load" >&2
  "$BIN" load "127.0.0.1:$PORT" --insecure --sni localhost --connections "$CONNECTIONS" \
    --duration 6s --resume none --suites "$SUITE" --groups "$GROUP" >/dev/null &
  LOAD_PID=$!
  sleep 1
  if perf record -g -o "$TMP/perf-$DRIVER.data" -p "$SERVER_PID" -- sleep 4 2>"$TMP/perf.err"; then
    perf report -i "$TMP/perf-$DRIVER.data" --stdio --no-children --percent-limit 1.5 \
      -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30
  else
    echo "perf not permitted here:" >&2
    cat "$TMP/perf.err" >&2
  fi
  wait "$LOAD_PID" || true
fi
stop_server
done

# --- nginx ---
PORT=$(free_port)
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes $WORKERS;
daemon off;
master_process on;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log crit;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/tmp/body;
  proxy_temp_path $TMP/nginx/tmp/proxy;
  fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
  uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
  scgi_temp_path $TMP/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT ssl reuseport;
    ssl_certificate $TMP/cert.pem;
    ssl_certificate_key $TMP/key.pem;
    ssl_protocols TLSv1.2;
    ssl_ciphers $SUITE;
    ssl_ecdh_curve X25519:prime256v1;
    ssl_session_cache shared:SSL:64m;
    ssl_session_timeout 5m;
    ssl_session_tickets on;
    location / { return 200 "nginx\n"; }
  }
}
EOF
"$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/logs/error.log" -c "$TMP/nginx/nginx.conf" \
  >"$TMP/nginx.out" 2>&1 &
SERVER_PID=$!
wait_port "$PORT"
sleep 0.3
negotiated nginx "$PORT"
for mode in none id ticket; do run_load nginx "$mode" "$PORT"; done
stop_server

echo
for DRIVER in $DRIVERS; do
echo "ratios ($DRIVER / nginx):"
for mode in none id ticket; do
  awk -v m="$mode" -v rr="${RATE[$DRIVER-$mode]}" -v nr="${RATE[nginx-$mode]}" \
    -v rc="${CPU[$DRIVER-$mode]}" -v nc="${CPU[nginx-$mode]}" 'BEGIN {
      name = (m == "none") ? "full" : (m == "id") ? "resumed (session ID)" : "resumed (ticket)";
      printf "  %-22s handshakes/s %.2fx   server CPU per handshake %.1f us vs %.1f us = %.2f of nginx\n",
        name, rr / nr, rc, nc, rc / nc }'
done
done
if [ -n "${RATE[uring-none]:-}" ] && [ -n "${RATE[mio-none]:-}" ]; then
  echo "ratios (uring / mio):"
  for mode in none id ticket; do
    awk -v m="$mode" -v ur="${RATE[uring-$mode]}" -v mr="${RATE[mio-$mode]}" \
      -v uc="${CPU[uring-$mode]}" -v mc="${CPU[mio-$mode]}" 'BEGIN {
        name = (m == "none") ? "full" : (m == "id") ? "resumed (session ID)" : "resumed (ticket)";
        printf "  %-22s handshakes/s %.2fx   server CPU per handshake %.1f us vs %.1f us = %.2f of mio\n",
          name, ur / mr, uc, mc, uc / mc }'
  done
fi

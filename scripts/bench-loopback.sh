#!/usr/bin/env bash
# Benchmarking over loopback: full and resumed (session ID, ticket) TLS 1.2 handshakes per
# second and the server's CPU time per handshake, for `reprise serve --driver mio`, for
# `reprise serve --driver uring` and for nginx from Debian packages, all driven by
# `reprise load`; with ratios to nginx, and of uring to mio.
#
# Same for every server: one ECDSA P-256 certificate, suite ECDHE-ECDSA-AES128-GCM-SHA256
# and group X25519 (the client offers only those), TLS 1.2 only, session cache and tickets
# on, the same number of workers, a loopback port. CPU time is the server's utime+stime
# (from /proc/PID/stat, summed over nginx's master and workers) across a run, divided by
# the handshakes done in it (warm-up handshakes included: with resumption each client's
# first, full handshake is done once, uncounted by the summary line; it is < 1% of a run).
#
# Shared machines are noisy (one run's CPU per handshake can move by 20 %), so every server
# runs for the whole benchmark and the runs are interleaved: ROUNDS rounds, each running
# every mode against every server in turn. The tables give the median over the rounds (and
# the range); ratios are ratios of medians, so a slow minute hurts all servers alike.
#
# The floor: what a handshake must cost the server on this machine. Its TCP part is measured
# in the same rounds by `tcp-floor` (benches/src/floor.rs): a bare server and client that
# exchange exactly the bytes of each handshake, write for write, with the same close
# sequence, one floor server per driver doing that driver's operations (`--driver mio`:
# epoll, the same syscalls as the mio server; `--driver uring`: the uring server's
# operations, io-uring-driver/src/floor.rs), batching as the servers do; its crypto part is
# `tcp-floor crypto` (the primitives a server handshake cannot avoid). Each server's
# CPU per handshake is then also given as a multiple of crypto + its driver's TCP floor
# (nginx's: the mio one), and the two TCP floors' ratio bounds what io_uring can save here.
#
# Paired rounds (uring against mio): a second mio and uring server, both pinned to CPU 0,
# are loaded at the same time by two `reprise load` runs pinned to CPU 1, PAIRED_ROUNDS times
# per mode. Each round gives one uring/mio ratio of CPU per handshake measured over the same
# seconds, so the host's drift (which moves single runs by 10-20 %) cancels out: a mio-vs-mio
# pair agrees within about 1 % round by round. The regime differs from the runs above (each
# server gets about half a core), so these ratios are printed on their own.
#
# Environment: DURATION (4s per run), ROUNDS (3), CONNECTIONS (64), WORKERS (server
# workers, 1), DRIVERS (reprise drivers, "mio uring"), LOAD_WORKERS (client event loops, 1),
# FLOOR=0 to skip the floor, PAIRED_ROUNDS (6; 0 skips the paired rounds, which also need
# both drivers, taskset and 2 CPUs), PERF=1 to record a perf profile of each reprise server
# under full-handshake and session-ID load afterwards (top entries printed).
# On a 2-core machine the client shares the cores: read the CPU-per-handshake columns.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-4s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
WORKERS=${WORKERS:-1}
LOAD_WORKERS=${LOAD_WORKERS:-1}
PERF=${PERF:-0}
FLOOR=${FLOOR:-1}
PAIRED_ROUNDS=${PAIRED_ROUNDS:-6}
# The reprise drivers to measure, in this order.
DRIVERS=${DRIVERS:-mio uring}
MODES="none id ticket"
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

echo "bench: building reprise and tcp-floor (release)" >&2
# The production build (the default features: no benchmark harness, no counting allocator).
cargo build --release -q -p reprise-tls-cli
cargo build --release -q -p reprise-tls-benches --bin tcp-floor
BIN=$CARGO_TARGET_DIR/release/reprise
FLOOR_BIN=$CARGO_TARGET_DIR/release/tcp-floor

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh bench
chmod 755 "$TMP"
chmod 644 "$TMP/key.pem"
SERVERS=()
# The floor servers (stopped with the others).
SERVERS_EXTRA=()

# Per server and mode, the values of every round, space separated.
declare -A RATES CPUS RESUMEDS ERRORS

# Prints what one connection negotiates (suite and group), as a check of like for like.
negotiated() {
  "$BIN" connect "127.0.0.1:$2" --insecure --sni localhost --suites "$SUITE" --groups "$GROUP" \
    --resume none | awk -v l="$1" '/^suite: /{s=$2} /^group: /{g=$2} END {print l ": " s ", " g}'
}

# run_load SERVER MODE: one run of `reprise load` against SERVER, recording its rate, the
# resumed share, errors and the server's CPU per handshake.
run_load() {
  local name=$1 mode=$2 out=$TMP/load-$1-$2.txt
  local pid=${PID_OF[$1]} port=${PORT_OF[$1]}
  local before after hs warm cpu
  before=$(cpu_total "$pid")
  "$BIN" load "127.0.0.1:$port" --insecure --sni localhost --connections "$CONNECTIONS" \
    --duration "$DURATION" --resume "$mode" --suites "$SUITE" --groups "$GROUP" \
    --workers "$LOAD_WORKERS" >"$out" || { cat "$out" >&2; return 1; }
  after=$(cpu_total "$pid")
  hs=$(awk '/^handshakes: /{print $2}' "$out")
  warm=$(awk '/^warm-up: /{print $2}' "$out")
  warm=${warm:-0}
  cpu=$(awk -v t=$((after - before)) -v hz="$clk_tck" -v n=$((hs + warm)) \
    'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "nan" }')
  RATES[$name-$mode]+="$(awk '/^handshakes\/s: /{print $2}' "$out") "
  RESUMEDS[$name-$mode]+="$(awk '/^handshakes\/s: /{sub("%", "", $4); print $4}' "$out") "
  ERRORS[$name-$mode]+="$(awk '/^handshakes\/s: /{print $6}' "$out") "
  CPUS[$name-$mode]+="$cpu "
  printf '  %-6s %-7s %s   server CPU: %s us/handshake\n' "$name" "$mode" \
    "$(grep '^handshakes/s: ' "$out")" "$cpu"
  grep '^  ' "$out" | sed 's/^/    /' || true
}

# The tcp-floor pattern that mirrors each mode's handshake on the wire.
floor_pattern() {
  case $1 in none) echo full ;; id) echo id ;; *) echo ticket ;; esac
}

# run_floor DRIVER MODE: one run of `tcp-floor load` against DRIVER's floor server of MODE,
# recording the server's CPU per exchange under the name "tcp-DRIVER".
run_floor() {
  local name=tcp-$1 mode=$2 out=$TMP/floor-$1-$2.txt
  local pid=${PID_OF[tcp-$1-$2]} port=${PORT_OF[tcp-$1-$2]}
  local before after n cpu
  before=$(cpu_total "$pid")
  "$FLOOR_BIN" load "127.0.0.1:$port" --pattern "$(floor_pattern "$mode")" \
    --connections "$CONNECTIONS" --duration "$DURATION" >"$out" || { cat "$out" >&2; return 1; }
  after=$(cpu_total "$pid")
  n=$(awk '/^exchanges: /{print $2}' "$out")
  cpu=$(awk -v t=$((after - before)) -v hz="$clk_tck" -v n="$n" \
    'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "nan" }')
  RATES[$name-$mode]+="$(awk '/^exchanges\/s: /{print $2}' "$out") "
  ERRORS[$name-$mode]+="$(awk '/^exchanges\/s: /{print $4}' "$out") "
  CPUS[$name-$mode]+="$cpu "
  printf '  %-9s %-7s %s   server CPU: %s us/exchange\n' "$name" "$mode" \
    "$(grep '^exchanges/s: ' "$out")" "$cpu"
}

# range VALUES... ("min-max"); median comes from bench-lib.sh
range() { printf '%s\n' "$@" | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {print lo "-" hi}'; }

# This script's tables name the modes in its own words (overriding bench-lib.sh's).
mode_name() {
  case $1 in none) echo full ;; id) echo "resumed (session ID)" ;; *) echo "resumed (ticket)" ;; esac
}

echo "bench: $ROUNDS rounds of $DURATION per run, $CONNECTIONS connections, $WORKERS server worker(s), $LOAD_WORKERS client loop(s), $SUITE, $GROUP"

# --- the servers, all up for the whole benchmark ---
for DRIVER in $DRIVERS; do
  PORT=$(free_port)
  "$BIN" serve --driver "$DRIVER" --listen "127.0.0.1:$PORT" --workers "$WORKERS" \
    --cert "$TMP/cert.pem" --key "$TMP/key.pem" --tickets on --session-cache 64MiB \
    >"$TMP/reprise-$DRIVER.log" 2>&1 &
  PID_OF[$DRIVER]=$!
  PORT_OF[$DRIVER]=$PORT
  SERVERS+=("$DRIVER")
  wait_port "$PORT"
  if grep -q 'falling back' "$TMP/reprise-$DRIVER.log"; then
    grep 'falling back' "$TMP/reprise-$DRIVER.log" | head -1 >&2
  fi
done

PORT=$(free_port)
mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
cat >"$TMP/nginx/nginx.conf" <<CONF
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
CONF
"$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/logs/error.log" -c "$TMP/nginx/nginx.conf" \
  >"$TMP/nginx.out" 2>&1 &
PID_OF[nginx]=$!
PORT_OF[nginx]=$PORT
SERVERS+=(nginx)
wait_port "$PORT"
sleep 0.3

for name in "${SERVERS[@]}"; do negotiated "$name" "${PORT_OF[$name]}"; done

if [ "$FLOOR" = 1 ]; then
  for DRIVER in $DRIVERS; do
    for mode in $MODES; do
      start_floor "tcp-$DRIVER-$mode" "$DRIVER" --pattern "$(floor_pattern "$mode")"
      SERVERS_EXTRA+=("tcp-$DRIVER-$mode")
    done
  done
  CRYPTO_FLOORS=$("$FLOOR_BIN" crypto)
  echo "$CRYPTO_FLOORS" | sed 's/^/crypto /'
fi

# --- interleaved rounds ---
for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS"
  for mode in $MODES; do
    for name in "${SERVERS[@]}"; do run_load "$name" "$mode"; done
    if [ "$FLOOR" = 1 ]; then
      for DRIVER in $DRIVERS; do run_floor "$DRIVER" "$mode"; done
    fi
  done
done

# --- medians ---
echo
echo "medians over $ROUNDS rounds (range in brackets):"
printf '  %-9s %-21s %12s %22s %10s %7s\n' server handshake "handshakes/s" "server CPU us/hs" resumed errors
declare -A RATE CPU
ROWS=("${SERVERS[@]}")
if [ "$FLOOR" = 1 ]; then
  for DRIVER in $DRIVERS; do ROWS+=("tcp-$DRIVER"); done
fi
for mode in $MODES; do
  for name in "${ROWS[@]}"; do
    # shellcheck disable=SC2086
    RATE[$name-$mode]=$(median ${RATES[$name-$mode]})
    # shellcheck disable=SC2086
    CPU[$name-$mode]=$(median ${CPUS[$name-$mode]})
    # shellcheck disable=SC2086
    printf '  %-9s %-21s %12s %8s [%11s] %10s %7s\n' "$name" "$(mode_name "$mode")" \
      "${RATE[$name-$mode]}" "${CPU[$name-$mode]}" "$(range ${CPUS[$name-$mode]})" \
      "$(if [ "${name#tcp-}" != "$name" ]; then echo -; else echo "$(range ${RESUMEDS[$name-$mode]})%"; fi)" "$(printf '%s\n' ${ERRORS[$name-$mode]} | awk '{s+=$1} END {print s}')"
  done
done

echo
for DRIVER in $DRIVERS; do
  echo "ratios ($DRIVER / nginx, medians):"
  for mode in $MODES; do
    awk -v name="$(mode_name "$mode")" -v rr="${RATE[$DRIVER-$mode]}" -v nr="${RATE[nginx-$mode]}" \
      -v rc="${CPU[$DRIVER-$mode]}" -v nc="${CPU[nginx-$mode]}" 'BEGIN {
        printf "  %-22s handshakes/s %.2fx   server CPU per handshake %.1f us vs %.1f us = %.2f of nginx\n",
          name, rr / nr, rc, nc, rc / nc }'
  done
done
if [ -n "${RATE[uring-none]:-}" ] && [ -n "${RATE[mio-none]:-}" ]; then
  echo "ratios (uring / mio, medians):"
  for mode in $MODES; do
    awk -v name="$(mode_name "$mode")" -v ur="${RATE[uring-$mode]}" -v mr="${RATE[mio-$mode]}" \
      -v uc="${CPU[uring-$mode]}" -v mc="${CPU[mio-$mode]}" 'BEGIN {
        printf "  %-22s handshakes/s %.2fx   server CPU per handshake %.1f us vs %.1f us = %.2f of mio\n",
          name, ur / mr, uc, mc, uc / mc }'
  done
fi

# --- floors ---
if [ "$FLOOR" = 1 ]; then
  echo "floors: crypto (tcp-floor crypto) + bare TCP on the server's driver (tcp-floor, medians above; nginx: the mio one):"
  first=${DRIVERS%% *}
  for mode in $MODES; do
    crypto=$(echo "$CRYPTO_FLOORS" | awk -v m="$mode" '$2 == (m == "none" ? "full:" : m ":") {print $3}')
    line="crypto $crypto us;"
    for name in "${SERVERS[@]}"; do
      tcp=${CPU[tcp-$name-$mode]:-${CPU[tcp-$first-$mode]}}
      line+=$(awk -v n="$name" -v s="${CPU[$name-$mode]}" -v c="$crypto" -v t="$tcp" \
        'BEGIN { printf " %s %.2fx (of %.1f + %.1f)", n, s / (c + t), c, t }')
    done
    printf '  %-22s %s\n' "$(mode_name "$mode")" "$line"
  done
  echo "  (issue #4's goal: reprise within about 10 % of crypto + TCP, i.e. <= 1.10x)"
  if [ -n "${CPU[tcp-uring-none]:-}" ] && [ -n "${CPU[tcp-mio-none]:-}" ]; then
    echo "TCP floors, uring / mio (the most io_uring can save on these exchanges here):"
    for mode in $MODES; do
      awk -v name="$(mode_name "$mode")" -v u="${CPU[tcp-uring-$mode]}" -v m="${CPU[tcp-mio-$mode]}" \
        'BEGIN { printf "  %-22s %.1f us vs %.1f us = %.2f\n", name, u, m, u / m }'
    done
  fi
fi

# --- paired rounds: uring and mio loaded at the same time ---
if [ "$PAIRED_ROUNDS" -gt 0 ] && [[ " $DRIVERS " == *" mio "* ]] && [[ " $DRIVERS " == *" uring "* ]] \
  && command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  echo
  echo "paired rounds: mio and uring servers on CPU 0, loaded at the same time by clients on CPU 1 ($PAIRED_ROUNDS rounds of $DURATION per mode)"
  for DRIVER in mio uring; do
    PORT=$(free_port)
    taskset -c 0 "$BIN" serve --driver "$DRIVER" --listen "127.0.0.1:$PORT" --workers 1 \
      --cert "$TMP/cert.pem" --key "$TMP/key.pem" --tickets on --session-cache 64MiB \
      >"$TMP/paired-$DRIVER.log" 2>&1 &
    PID_OF[paired-$DRIVER]=$!
    PORT_OF[paired-$DRIVER]=$PORT
    SERVERS_EXTRA+=("paired-$DRIVER")
    wait_port "$PORT"
  done
  for mode in $MODES; do
    ratios=() mios=() urings=() paired_errors=0
    for _ in $(seq "$PAIRED_ROUNDS"); do
      declare -A before=() count=()
      for DRIVER in mio uring; do before[$DRIVER]=$(cpu_total "${PID_OF[paired-$DRIVER]}"); done
      load_pids=()
      for DRIVER in mio uring; do
        taskset -c 1 "$BIN" load "127.0.0.1:${PORT_OF[paired-$DRIVER]}" --insecure --sni localhost \
          --connections "$CONNECTIONS" --duration "$DURATION" --resume "$mode" --suites "$SUITE" \
          --groups "$GROUP" >"$TMP/paired-load-$DRIVER.txt" &
        load_pids+=($!)
      done
      wait "${load_pids[@]}"
      for DRIVER in mio uring; do
        count[$DRIVER]=$(awk '/^handshakes: /{h=$2} /^warm-up: /{w=$2} END {print h + w}' \
          "$TMP/paired-load-$DRIVER.txt")
        ticks=$(($(cpu_total "${PID_OF[paired-$DRIVER]}") - before[$DRIVER]))
        cpu=$(awk -v t="$ticks" -v hz="$clk_tck" -v n="${count[$DRIVER]}" \
          'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "nan" }')
        if [ "$DRIVER" = mio ]; then mios+=("$cpu"); else urings+=("$cpu"); fi
        paired_errors=$((paired_errors + $(awk '/^handshakes\/s: /{print $6}' "$TMP/paired-load-$DRIVER.txt")))
      done
      ratios+=("$(awk -v u="${urings[-1]}" -v m="${mios[-1]}" 'BEGIN { printf "%.3f", u / m }')")
    done
    printf '  %-22s uring/mio per round: %s  median %s   (CPU us/hs medians: mio %s, uring %s; errors %s)\n' \
      "$(mode_name "$mode")" "${ratios[*]}" "$(median "${ratios[@]}")" "$(median "${mios[@]}")" \
      "$(median "${urings[@]}")" "$paired_errors"
  done
  echo "  (issue #5's goal: uring <= 0.9x mio per resumed handshake)"
fi

# --- profiles ---
if [ "$PERF" = 1 ]; then
  for DRIVER in $DRIVERS; do
    for mode in none id; do
      echo
      echo "perf profile of the reprise $DRIVER server, $(mode_name "$mode") handshakes:"
      "$BIN" load "127.0.0.1:${PORT_OF[$DRIVER]}" --insecure --sni localhost \
        --connections "$CONNECTIONS" --duration 6s --resume "$mode" --suites "$SUITE" \
        --groups "$GROUP" >/dev/null &
      LOAD_PID=$!
      sleep 1
      if perf record -g -o "$TMP/perf-$DRIVER-$mode.data" -p "${PID_OF[$DRIVER]}" -- sleep 4 \
        2>"$TMP/perf.err" >/dev/null; then
        perf report -i "$TMP/perf-$DRIVER-$mode.data" --stdio --no-children -g none \
          --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -4
        perf report -i "$TMP/perf-$DRIVER-$mode.data" --stdio --no-children --percent-limit 1.5 \
          -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25
      else
        echo "perf not permitted here:" >&2
        cat "$TMP/perf.err" >&2
      fi
      wait "$LOAD_PID" || true
    done
  done
fi

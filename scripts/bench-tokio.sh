#!/usr/bin/env bash
# reprise-tls-tokio against tokio-rustls: the same hyper "hello" app (benches/src/bin/tokio_hello.rs)
# over each, TLS 1.2, the same ECDSA P-256 certificate, suite ECDHE-ECDSA-AES128-GCM-SHA256
# (X25519), session IDs and tickets on in both, a multi-thread tokio runtime of WORKERS threads
# pinned to CPU 0, loaded from CPU 1 by `reprise load --http-get /` with full, session-ID and
# ticket handshakes (every connection a new TLS connection and one request).
#
# Both servers stay up and the runs are interleaved (ROUNDS rounds of every mode against
# both). Printed: each run, then per stack and mode the medians of connections/s and of the
# server's CPU per connection (utime+stime from /proc before and after, divided by the
# connections), and reprise-tls-tokio's ratio to tokio-rustls (issue #29's goals: <= 0.90
# resumed, <= 0.95 full, and kernel time per connection no higher than tokio-rustls's).
#
# Where each app's accept loop runs: ACCEPT_ON=worker (the default) runs it as a task on the
# runtime's worker, so with WORKERS=1 a connection never leaves the worker's thread;
# ACCEPT_ON=main runs it on the thread that called `block_on` (as a `#[tokio::main]` app
# does), so every connection is handed from that thread to the worker. On the one CPU both
# servers are pinned to, that handoff costs each stack context switches in proportion to the
# time its worker spends idle, which makes the faster stack pay more kernel time for being
# faster; the default measures the TLS stacks without it. Context switches per connection
# (all threads, voluntary and involuntary) are printed beside the CPU.
#
#   bash scripts/bench-tokio.sh  # ROUNDS=5 DURATION=3s CONNECTIONS=32 WORKERS=1 PERF=1 ACCEPT_ON=worker
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3s}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-1}
ACCEPT_ON=${ACCEPT_ON:-worker}
MODES="none id ticket"
SUITE=ECDHE-ECDSA-AES128-GCM-SHA256
GROUP=X25519,P-256
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}

if ! command -v taskset >/dev/null 2>&1 || [ "$(nproc)" -lt 2 ]; then
  echo "bench-tokio: needs taskset and 2 CPUs" >&2
  exit 1
fi

echo "bench-tokio: building (release)" >&2
cargo build --release -q -p reprise-tls-cli -p reprise-tls-benches --bin reprise --bin tokio-hello
BIN=$CARGO_TARGET_DIR/release/reprise
HELLO=$CARGO_TARGET_DIR/release/tokio-hello

# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh bench-tokio
STACKS=(reprise rustls)

for stack in "${STACKS[@]}"; do
  port=$(free_port)
  taskset -c 0 "$HELLO" --stack "$stack" --listen "127.0.0.1:$port" --cert "$TMP/cert.pem" \
    --key "$TMP/key.pem" --workers "$WORKERS" --accept-on "$ACCEPT_ON" >"$TMP/$stack.log" 2>&1 &
  PID_OF[$stack]=$!
  PORT_OF[$stack]=$port
  wait_port "$port"
  # Like for like: what each negotiates, and that a request gets the page.
  "$BIN" connect "127.0.0.1:$port" --insecure --sni localhost --suites "$SUITE" \
    --groups "$GROUP" --resume ticket --http-get / \
    | awk -v t="$stack" '/^suite: /{s=$2} /^group: /{g=$2} /^resumed/{r=$0} /hello from hyper/{ok="page ok"} END {print t ": " s ", " g ", " ok}'
done

declare -A RATES CPUS USR SYS SWITCHES
echo "bench-tokio: $ROUNDS rounds of $DURATION per run, $CONNECTIONS connections, $WORKERS worker thread(s), accept loop on $ACCEPT_ON, $SUITE"
for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS"
  for mode in $MODES; do
    for stack in "${STACKS[@]}"; do
      read -r user_before sys_before < <(cpu_ticks "${PID_OF[$stack]}")
      switches_before=$(context_switches "${PID_OF[$stack]}")
      taskset -c 1 "$BIN" load "127.0.0.1:${PORT_OF[$stack]}" --insecure --sni localhost \
        --connections "$CONNECTIONS" --duration "$DURATION" --resume "$mode" --suites "$SUITE" \
        --groups "$GROUP" --http-get / >"$TMP/load.txt"
      read -r user_after sys_after < <(cpu_ticks "${PID_OF[$stack]}")
      switches_after=$(context_switches "${PID_OF[$stack]}")
      count=$(awk '/^handshakes: /{h=$2} /^warm-up: /{w=$2} END {print h + w}' "$TMP/load.txt")
      rate=$(awk '/^handshakes\/s: /{print $2}' "$TMP/load.txt")
      resumed=$(awk '/^handshakes\/s: /{print $4}' "$TMP/load.txt")
      errors=$(awk '/^handshakes\/s: /{print $6}' "$TMP/load.txt")
      cpu=$(per_conn "$((user_after + sys_after - user_before - sys_before))" "$count")
      sys=$(per_conn "$((sys_after - sys_before))" "$count")
      SYS[$stack-$mode]+="$sys "
      switches=$(awk -v d="$((switches_after - switches_before))" -v n="$count" 'BEGIN { printf "%.2f", (n > 0) ? d / n : 0 }')
      SWITCHES[$stack-$mode]+="$switches "
      USR[$stack-$mode]+="$(per_conn "$((user_after - user_before))" "$count") "
      RATES[$stack-$mode]+="$rate "
      CPUS[$stack-$mode]+="$cpu "
      printf '  %-8s %-22s %8s conn/s  resumed %6s  errors %s  CPU %7s us/conn (kernel %s)  %s switches/conn\n' \
        "$stack" "$(mode_name "$mode")" "$rate" "$resumed" "$errors" "$cpu" "$sys" "$switches"
    done
  done
done

echo
echo "medians (connections/s, server CPU per connection = user + kernel):"
declare -A MED MED_SYS
for mode in $MODES; do
  for stack in "${STACKS[@]}"; do
    # shellcheck disable=SC2086
    r=$(median ${RATES[$stack-$mode]})
    # shellcheck disable=SC2086
    c=$(median ${CPUS[$stack-$mode]})
    MED[$stack-$mode]=$c
    # shellcheck disable=SC2086
    u=$(median ${USR[$stack-$mode]})
    # shellcheck disable=SC2086
    k=$(median ${SYS[$stack-$mode]})
    MED_SYS[$stack-$mode]=$k
    # shellcheck disable=SC2086
    w=$(median ${SWITCHES[$stack-$mode]})
    printf '  %-8s %-22s %8s conn/s  %7s us/conn = %s user + %s kernel  %s switches/conn\n' "$stack" "$(mode_name "$mode")" "$r" "$c" "$u" "$k" "$w"
  done
done
echo
echo "reprise-tls-tokio CPU per connection / tokio-rustls (goals: <= 0.90 resumed, <= 0.95 full):"
for mode in $MODES; do
  goal=0.90
  [ "$mode" = none ] && goal=0.95
  awk -v m="$(mode_name "$mode")" -v r="${MED[reprise-$mode]}" -v b="${MED[rustls-$mode]}" -v g="$goal" \
    'BEGIN { ratio = r / b; printf "  %-22s %.2f  (%s vs %s us)  goal <= %.2f: %s\n", m, ratio, r, b, g, (ratio <= g) ? "met" : "not met" }'
done
echo
echo "kernel time per connection, reprise-tls-tokio / tokio-rustls (goal: <= 1.00):"
for mode in $MODES; do
  awk -v m="$(mode_name "$mode")" -v r="${MED_SYS[reprise-$mode]}" -v b="${MED_SYS[rustls-$mode]}" \
    'BEGIN { ratio = r / b; printf "  %-22s %.2f  (%s vs %s us)  %s\n", m, ratio, r, b, (ratio <= 1.0) ? "met" : "not met" }'
done
echo
echo "the kernel's part alone (sockets, TCP, epoll: the same syscalls for both stacks), as a share"
echo "of tokio-rustls's whole CPU per connection: the ratio no user-space saving can go below:"
for mode in $MODES; do
  awk -v m="$(mode_name "$mode")" -v k="${MED_SYS[reprise-$mode]}" -v b="${MED[rustls-$mode]}" \
    'BEGIN { printf "  %-22s %.2f  (%s of %s us)\n", m, k / b, k, b }'
done

# What even a free TLS library could not remove: a perf profile of each server under ticket
# resumption splits its CPU into the kernel, the runtime (tokio, hyper, the syscall wrappers:
# the same code for both stacks) and the rest (the TLS library, allocation, copies); with the
# crypto a resumption cannot avoid (`tcp-floor crypto`), kernel + runtime + crypto is the floor.
if [ "${PERF:-1}" = 1 ] && command -v perf >/dev/null 2>&1 &&
   perf record -q -e cpu-clock -o "$TMP/probe.data" -- true 2>/dev/null; then
  cargo build --release -q -p reprise-tls-benches --bin tcp-floor
  crypto=$("$CARGO_TARGET_DIR/release/tcp-floor" crypto 2>/dev/null | awk '/^floor ticket:/{print $3}')
  echo
  echo "where a ticket-resumed connection's CPU goes (perf, 4 s of --resume ticket each; us from the medians):"
  for stack in "${STACKS[@]}"; do
    taskset -c 1 "$BIN" load "127.0.0.1:${PORT_OF[$stack]}" --insecure --sni localhost \
      --connections "$CONNECTIONS" --duration 6s --resume ticket --suites "$SUITE" \
      --groups "$GROUP" --http-get / >/dev/null &
    loader=$!
    sleep 1
    perf record -q -e cpu-clock -F 4999 -p "${PID_OF[$stack]}" -o "$TMP/$stack.perf" -- sleep 4 2>/dev/null
    wait "$loader"
    perf report -i "$TMP/$stack.perf" --no-children --sort dso,sym -q 2>/dev/null >"$TMP/$stack.report"
  done
  python3 - "$TMP" "${MED[reprise-ticket]}" "${MED[rustls-ticket]}" "${crypto:-0}" <<'PY'
import re, sys
tmp, totals, crypto = sys.argv[1], {"reprise": float(sys.argv[2]), "rustls": float(sys.argv[3])}, float(sys.argv[4])
runtime = re.compile(r"tokio|hyper|mio|http|syscall|send|recv|epoll|pthread|writev|readv|accept|close|futex|std::|core::|bytes::|__GI|clock|sched|write|read")
parts = {}
for stack in ("reprise", "rustls"):
    share = {"kernel": 0.0, "runtime": 0.0, "tls": 0.0}
    for line in open(f"{tmp}/{stack}.report"):
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
        if not m:
            continue
        p, dso, sym = float(m.group(1)), m.group(2), m.group(4)
        if dso.startswith("[kernel"):
            share["kernel"] += p
        elif re.search(r"aws_lc|aead_|reprise|rustls|gcm|sha256|HMAC|aes_|CRYPTO", sym):
            share["tls"] += p
        elif runtime.search(sym) or dso == "[vdso]":
            share["runtime"] += p
        else:  # allocation, copies and the rest: counted against the TLS library
            share["tls"] += p
    total = sum(share.values()) or 1
    us = {k: v / total * totals[stack] for k, v in share.items()}
    parts[stack] = us
    print(f"  {stack:8} {totals[stack]:6.1f} us = kernel {us['kernel']:.1f} + runtime {us['runtime']:.1f} + TLS, allocation, copies {us['tls']:.1f}")
floor = parts["reprise"]["kernel"] + parts["reprise"]["runtime"] + crypto
print(f"  floor for reprise-tls-tokio: kernel + runtime + crypto ({crypto} us, tcp-floor crypto) = {floor:.1f} us"
      f" = {floor / totals['rustls']:.2f} of tokio-rustls's {totals['rustls']} us (the goal asks <= 0.90)")
print(f"  reprise-tls-tokio's own part (TLS, allocation, copies): {parts['reprise']['tls'] / parts['rustls']['tls']:.2f} of tokio-rustls's")
PY
fi

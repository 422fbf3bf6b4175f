#!/usr/bin/env bash
# Fleet resumption over loopback: three `reprise serve` processes behind a round-robin
# "load balancer" (`reprise load --targets a,b,c`), every connection landing on the next
# server. Prints the resumption rate of each setup and checks it:
#   per-server ticket keys / per-server caches     ~ 1/3 resumed
#   shared ticket keys (central publisher)          >= 99% resumed, also across key rotations
#   session IDs in the shared Redis store           >= 99% resumed
#   Redis killed mid-run                            0 failed handshakes; resumption returns
# Usage: scripts/fleet.sh [seconds per run, default 3]. Needs redis-server (Debian package).
#
#   scripts/fleet.sh --sweep OUT.svg [seconds]   # N = $FLEET_SIZES (default "1 2 4 8")
# instead measures the resumption rate against the number of servers N for per-server ticket
# keys, per-server caches, shared ticket keys and the shared Redis session store, prints the
# table and draws it as an SVG.
# Every process it starts is stopped by its PID on exit. Exit status 1 if a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
SWEEP_SVG=""
if [ "${1:-}" = --sweep ]; then
  SWEEP_SVG="${2:?--sweep needs an output file}"
  shift 2
fi
SECS="${1:-3}"
BIN="${REPRISE_BIN:-target/debug/reprise}"
[ -x "$BIN" ] || cargo build -q -p reprise-cli
WORK="$(mktemp -d /tmp/reprise-fleet.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
failures=0

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_line() { # file pattern seconds
  local deadline=$((SECONDS + $3))
  until grep -q "$2" "$1" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1; }
    sleep 0.1
  done
}

start_redis() { # port
  redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!; PIDS+=("$REDIS_PID")
  wait_line "$WORK/redis.log" "Ready to accept connections" 10
}

SERVERS=()
start_servers() { # extra serve args... (FLEET_N servers, default 3)
  SERVERS=()
  for _ in $(seq "${FLEET_N:-3}"); do
    local port; port=$(free_port)
    "$BIN" serve --listen "127.0.0.1:$port" --driver "${FLEET_DRIVER:-mio}" "$@" >"$WORK/serve-$port.log" 2>&1 &
    PIDS+=("$!"); SERVER_PIDS+=("$!")
    wait_line "$WORK/serve-$port.log" "listening on" 20
    SERVERS+=("127.0.0.1:$port")
  done
}

stop_servers() {
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  SERVER_PIDS=()
}

load() { # resume-mode [duration]
  local targets; targets=$(IFS=,; echo "${SERVERS[*]}")
  "$BIN" load --targets "$targets" --connections 6 --duration "${2:-${SECS}s}" --resume "$1" --insecure --sni localhost \
    | grep '^handshakes/s:'
}

rate() { sed -E 's/.*resumed: ([0-9.]+)%.*/\1/' <<<"$1"; }
errors() { sed -E 's/.*errors: ([0-9]+).*/\1/' <<<"$1"; }

check() { # name line min max
  local r e; r=$(rate "$2"); e=$(errors "$2")
  if awk -v r="$r" -v lo="$3" -v hi="$4" 'BEGIN { exit !(r >= lo && r <= hi) }' && [ "$e" = 0 ]; then
    printf '%-44s %s   ok\n' "$1" "$2"
  else
    printf '%-44s %s   FAILED (want %s..%s%% resumed, 0 errors)\n' "$1" "$2" "$3" "$4"
    failures=$((failures + 1))
  fi
}

SERVER_PIDS=()
REDIS_PORT=$(free_port)
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
start_redis "$REDIS_PORT"
"$BIN" keys secret --out "$WORK/kek.bin" 2>/dev/null
"$BIN" keys secret --out "$WORK/store.key" 2>/dev/null

if [ -n "$SWEEP_SVG" ]; then
  "$BIN" keys publish --redis "$REDIS_URL" --rotate 1h --lifetime 1h --kek "$WORK/kek.bin" >"$WORK/publish.log" 2>&1 &
  PIDS+=("$!")
  wait_line "$WORK/publish.log" "published generation" 10
  TABLE="$WORK/sweep.tsv"
  printf 'n\tper-server keys\tper-server caches\tshared keys\tshared store\n' >"$TABLE"
  for n in ${FLEET_SIZES:-1 2 4 8}; do
    export FLEET_N=$n
    start_servers --session-cache off
    a=$(rate "$(load ticket)"); stop_servers
    start_servers --tickets off
    b=$(rate "$(load id)"); stop_servers
    start_servers --session-cache off --ticket-keys-from "$REDIS_URL" --kek "$WORK/kek.bin"
    c=$(rate "$(load ticket)"); stop_servers
    start_servers --tickets off --session-store "$REDIS_URL" --session-store-key "$WORK/store.key"
    d=$(rate "$(load id)"); stop_servers
    printf '%s\t%s\t%s\t%s\t%s\n' "$n" "$a" "$b" "$c" "$d" | tee -a "$TABLE"
  done
  python3 - "$TABLE" "$SWEEP_SVG" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
head, rows = rows[0], [[float(v) for v in r] for r in rows[1:]]
W, H, L, R, T, B = 640, 400, 60, 180, 30, 50
ns = [r[0] for r in rows]
x = lambda n: L + (W - L - R) * (ns.index(n) / max(1, len(ns) - 1))
y = lambda p: T + (H - T - B) * (1 - p / 100)
colors = ["#c0392b", "#e67e22", "#2471a3", "#1e8449"]
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<text x="{L}" y="18" font-size="14">Resumption rate against fleet size (round-robin, loopback)</text>']
for p in (0, 25, 50, 75, 100):
    out.append(f'<line x1="{L}" x2="{W - R}" y1="{y(p)}" y2="{y(p)}" stroke="#ddd"/>')
    out.append(f'<text x="{L - 8}" y="{y(p) + 4}" text-anchor="end">{p}%</text>')
for n in ns:
    out.append(f'<text x="{x(n)}" y="{H - B + 18}" text-anchor="middle">{int(n)}</text>')
out.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">servers (N)</text>')
ideal = " ".join(f"{x(n)},{y(100 / n)}" for n in ns)
out.append(f'<polyline points="{ideal}" fill="none" stroke="#999" stroke-dasharray="4 4"/>')
out.append(f'<text x="{W - R + 10}" y="{T + 4 * 18 + 12}" fill="#999">1/N</text>')
for i, name in enumerate(head[1:]):
    pts = " ".join(f"{x(r[0])},{y(r[i + 1])}" for r in rows)
    out.append(f'<polyline points="{pts}" fill="none" stroke="{colors[i]}" stroke-width="2"/>')
    for r in rows:
        out.append(f'<circle cx="{x(r[0])}" cy="{y(r[i + 1])}" r="3" fill="{colors[i]}"/>')
    out.append(f'<text x="{W - R + 10}" y="{T + i * 18 + 12}" fill="{colors[i]}">{name}</text>')
out.append("</svg>")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
PY
  echo "fleet: wrote $SWEEP_SVG"
  exit 0
fi

# 1. Every server with its own ticket keys and its own cache.
start_servers --session-cache off
check "tickets, per-server keys (~1/3)" "$(load ticket)" 20 50
stop_servers
start_servers --tickets off
check "session IDs, per-server caches (~1/3)" "$(load id)" 20 50
stop_servers

# 2. Shared ticket keys from the central publisher, rotating every 3 s during the run.
"$BIN" keys publish --redis "$REDIS_URL" --rotate 3s --lifetime 1h --kek "$WORK/kek.bin" >"$WORK/publish.log" 2>&1 &
PUBLISHER=$!; PIDS+=("$PUBLISHER")
wait_line "$WORK/publish.log" "published generation" 10
start_servers --session-cache off --ticket-keys-from "$REDIS_URL" --kek "$WORK/kek.bin"
check "tickets, fleet keys, rotating (>=99%)" "$(load ticket "$((SECS + 4))s")" 99 100
rotations=$(grep -c "published generation" "$WORK/publish.log" || true)
echo "  (the publisher published $rotations generations during the runs)"
stop_servers
kill "$PUBLISHER"; wait "$PUBLISHER" 2>/dev/null || true

# 3. Session IDs in the shared Redis store.
start_servers --tickets off --session-store "$REDIS_URL" --session-store-key "$WORK/store.key"
check "session IDs, Redis store (>=99%)" "$(load id)" 99 100

# 4. Redis killed mid-run, then restarted: no failed handshake; resumption comes back. The
# servers' L1 caches are off here, so every resumption depends on Redis (with L1 on, sessions
# already fetched keep resuming through the outage).
stop_servers
start_servers --tickets off --session-store "$REDIS_URL" --session-store-key "$WORK/store.key" --redis-l1 0
( sleep 1; kill "$REDIS_PID" ) &
KILLER=$!
outage=$(load id "$((SECS + 1))s")
wait "$KILLER" 2>/dev/null || true
wait "$REDIS_PID" 2>/dev/null || true
check "session IDs, no L1, Redis killed mid-run" "$outage" 0 95
start_redis "$REDIS_PORT"
sleep 1.5
check "session IDs, no L1, Redis back (>=99%)" "$(load id)" 99 100
stop_servers

if [ "$failures" -gt 0 ]; then
  echo "fleet: $failures check(s) failed"; exit 1
fi
echo "fleet: all checks passed"

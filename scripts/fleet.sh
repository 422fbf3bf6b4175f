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
#
#   scripts/fleet.sh --ha cluster|sentinel|publishers|tls [seconds]
# instead runs one high-availability scenario, with the same checks:
#   cluster     a 3-master/3-replica Redis Cluster (ACL user) holds sessions and the ring; a master is
#               killed mid-run (0 errors), and the seconds until >= 99% resumption are reported
#   sentinel    one master, one replica, three sentinels (ACL user on the nodes, a password on
#               the sentinels); the master is killed, Sentinel fails
#               over, the same checks
#   publishers  two `reprise keys publish` share a lease; the leader is SIGKILLed mid-run, the
#               standby leads within a rotation period and continues the ring; no ticket lost
#   tls         `rediss://` with an ACL user to a TLS-only redis-server (a test CA, trusted
#               through SSL_CERT_FILE); a wrong password gets full handshakes, never errors
# Every process it starts is stopped by its PID on exit. Exit status 1 if a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
SWEEP_SVG=""
HA=""
if [ "${1:-}" = --sweep ]; then
  SWEEP_SVG="${2:?--sweep needs an output file}"
  shift 2
elif [ "${1:-}" = --ha ]; then
  HA="${2:?--ha needs cluster, sentinel, publishers or tls}"
  shift 2
fi
SECS="${1:-3}"
BIN="${REPRISE_BIN:-target/debug/reprise}"
[ -x "$BIN" ] || cargo build -q -p reprise-tls-cli
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

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# After a failure at time $2: 1-second runs until one resumes >= 99% (at most 30), each
# with 0 errors; reports the seconds from the failure to the end of that run.
recovery() { # name killed-at resume-mode
  local line r e
  for _ in $(seq 30); do
    line=$(load "$3" 1s)
    r=$(rate "$line"); e=$(errors "$line")
    if [ "$e" != 0 ]; then
      printf '%-44s %s   FAILED (errors while recovering)\n' "$1" "$line"; failures=$((failures + 1)); return
    fi
    if awk -v r="$r" 'BEGIN { exit !(r >= 99) }'; then
      printf '%-44s >= 99%% again %s s after the kill   ok\n' "$1" "$(since "$2")"; return
    fi
  done
  printf '%-44s FAILED (not >= 99%% within 30 runs)\n' "$1"; failures=$((failures + 1))
}

SERVER_PIDS=()
"$BIN" keys secret --out "$WORK/kek.bin" 2>/dev/null
"$BIN" keys secret --out "$WORK/store.key" 2>/dev/null

publisher() { # url log-name [extra env]
  "$BIN" keys publish --redis "$1" --rotate 3s --lifetime 1h --kek "$WORK/kek.bin" >"$WORK/$2" 2>&1 &
  PUBLISHER=$!; PIDS+=("$PUBLISHER")
}

# Sessions and the ring through $1 (no L1: every resumption by ID asks Redis); a Redis node
# killed by the function $2 mid-run; recovery measured.
failover_checks() { # url kill-function label
  publisher "$1" publish.log
  wait_line "$WORK/publish.log" "published generation" 20
  start_servers --session-store "$1" --session-store-key "$WORK/store.key" --redis-l1 0 \
    --ticket-keys-from "$1" --kek "$WORK/kek.bin" --metrics 127.0.0.1:0
  check "$3: session IDs (>=99%)" "$(load id)" 99 100
  check "$3: tickets, rotating (>=99%)" "$(load ticket)" 99 100
  local killed_at
  ( sleep 1; "$2" ) &
  local killer=$!
  local during; during=$(load id "$((SECS + 2))s")
  wait "$killer" 2>/dev/null || true
  killed_at=$(cat "$WORK/killed-at")
  check "$3: master killed mid-run (0 errors)" "$during" 0 100
  recovery "$3: session IDs after the failover" "$killed_at" id
  check "$3: tickets after the failover (>=99%)" "$(load ticket)" 99 100
  fleet_metrics "$3"
  stop_servers
}

# The first server's /metrics page has the fleet's series: lookups by result, the latency
# histogram, the followed ring (fresh, not overdue).
fleet_metrics() { # label
  local addr page missing=""
  addr=$(grep -ho 'metrics on http://[^ ]*' "$WORK"/serve-*.log | head -1 | sed 's/metrics on //')
  page=$(curl -s --max-time 5 "$addr")
  for series in 'reprise_session_store_lookups_total{result="hit"}' 'reprise_session_store_lookups_total{result="timeout"}' \
      'reprise_session_store_lookup_seconds_bucket{le="0.001"}' 'reprise_ticket_ring_refresh_age_seconds' \
      'reprise_ticket_key_age_seconds{key=' 'reprise_ticket_key_encrypting_overdue 0'; do
    grep -qF "$series" <<<"$page" || missing="$missing $series"
  done
  if [ -z "$missing" ]; then
    printf '%-44s %s lookups answered by Redis   ok\n' "$1: fleet metrics" \
      "$(grep -F 'reprise_session_store_lookup_seconds_count' <<<"$page" | awk '{print $2}')"
  else
    printf '%-44s FAILED (missing:%s)\n' "$1: fleet metrics" "$missing"; failures=$((failures + 1))
  fi
}

redis_node() { # port log extra-args...
  local port=$1 log=$2; shift 2
  mkdir -p "$WORK/node-$port"
  (cd "$WORK/node-$port" && exec redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no "$@") >"$WORK/$log" 2>&1 &
  PIDS+=("$!"); NODE_PID[$port]=$!
  wait_line "$WORK/$log" "Ready to accept connections" 10
}
declare -A NODE_PID

# The cluster and Sentinel scenarios run with ACLs on: the default user off, one user for
# Reprise, replication and Sentinel; the sentinels want their own password.
ACL=(--user default off --user reprise on '>s3cret' '~*' '&*' '+@all' --masteruser reprise --masterauth s3cret)
rcli() { redis-cli --no-auth-warning --user reprise --pass s3cret "$@"; }
scli() { redis-cli --no-auth-warning -a sentinel-pw "$@"; }

if [ "$HA" = cluster ]; then
  # A cluster node also listens on its port + 10000 (the cluster bus): pick ports that leave
  # room for it, both free.
  cluster_port() { python3 -c '
import random, socket
for _ in range(200):
    p = random.randint(20000, 45000)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass'; }
  ports=(); for _ in 1 2 3 4 5 6; do ports+=("$(cluster_port)"); done
  for p in "${ports[@]}"; do
    redis_node "$p" "cluster-$p.log" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000 "${ACL[@]}"
  done
  rcli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 1 --cluster-yes >"$WORK/create.log" 2>&1
  deadline=$((SECONDS + 30))
  for p in "${ports[@]}"; do
    until rcli -p "$p" cluster info | grep -q 'cluster_state:ok'; do
      [ "$SECONDS" -lt "$deadline" ] || { echo "cluster did not form"; cat "$WORK/create.log"; exit 1; }; sleep 0.2
    done
  done
  until [ "$(rcli -p "${ports[0]}" cluster nodes | grep -c slave)" = 3 ] && \
        ! rcli -p "${ports[0]}" cluster nodes | grep -q handshake; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "replicas did not join"; exit 1; }; sleep 0.2
  done
  for p in "${ports[@]}"; do
    if rcli -p "$p" role | head -1 | grep -q slave; then
      until rcli -p "$p" info replication | grep -q 'master_link_status:up'; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "replica $p did not sync"; exit 1; }; sleep 0.2
      done
    fi
  done
  URL="redis+cluster://reprise:s3cret@127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}/"
  kill_ring_master() { # the master owning the ring's slot: the ring and a third of the sessions
    local slot owner
    slot=$(rcli -p "${ports[0]}" cluster keyslot reprise:ticket-keys)
    owner=$(rcli -p "${ports[0]}" cluster nodes | awk -v s="$slot" '$3 ~ /master/ {
      for (i = 9; i <= NF; i++) { split($i, r, "-"); if (s >= r[1] && s <= (r[2] == "" ? r[1] : r[2])) print $2 } }' | cut -d@ -f1 | cut -d: -f2)
    now >"$WORK/killed-at"
    kill "${NODE_PID[$owner]}"
    echo "  (killed the master on port $owner, which holds slot $slot)" >&2
  }
  failover_checks "$URL" kill_ring_master cluster
elif [ "$HA" = sentinel ]; then
  master=$(free_port); replica=$(free_port)
  redis_node "$master" master.log "${ACL[@]}"
  redis_node "$replica" replica.log --replicaof 127.0.0.1 "$master" "${ACL[@]}"
  sentinels=()
  for _ in 1 2 3; do
    s=$(free_port); sentinels+=("$s")
    printf 'port %s\nbind 127.0.0.1\ndir %s\nrequirepass sentinel-pw\nsentinel sentinel-pass sentinel-pw\nsentinel monitor reprise 127.0.0.1 %s 2\nsentinel auth-user reprise reprise\nsentinel auth-pass reprise s3cret\nsentinel down-after-milliseconds reprise 1000\nsentinel failover-timeout reprise 3000\n' \
      "$s" "$WORK" "$master" >"$WORK/sentinel-$s.conf"
    redis-server "$WORK/sentinel-$s.conf" --sentinel >"$WORK/sentinel-$s.log" 2>&1 &
    PIDS+=("$!")
  done
  deadline=$((SECONDS + 30))
  until rcli -p "$replica" info replication | grep -q 'master_link_status:up' && \
        scli -p "${sentinels[0]}" sentinel master reprise | grep -A1 '^num-other-sentinels$' | tail -1 | grep -q '^2$' && \
        scli -p "${sentinels[0]}" sentinel master reprise | grep -A1 '^num-slaves$' | tail -1 | grep -q '^1$'; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "sentinels did not settle"; exit 1; }; sleep 0.2
  done
  URL="redis+sentinel://reprise:s3cret@127.0.0.1:${sentinels[0]},127.0.0.1:${sentinels[1]},127.0.0.1:${sentinels[2]}/reprise?sentinel_password=sentinel-pw"
  kill_master() { now >"$WORK/killed-at"; kill "${NODE_PID[$master]}"; }
  failover_checks "$URL" kill_master sentinel
  promoted=$(scli -p "${sentinels[0]}" sentinel get-master-addr-by-name reprise | tail -1)
  echo "  (Sentinel promoted the replica on port $promoted)"
  [ "$promoted" = "$replica" ] || { echo "sentinel: the replica was not promoted   FAILED"; failures=$((failures + 1)); }
elif [ "$HA" = publishers ]; then
  REDIS_PORT=$(free_port); URL="redis://127.0.0.1:$REDIS_PORT/"
  start_redis "$REDIS_PORT"
  publisher "$URL" publish-a.log; A=$PUBLISHER
  disown "$A"  # it is SIGKILLed below: no "Killed" job notice from this shell
  wait_line "$WORK/publish-a.log" "published generation" 10
  publisher "$URL" publish-b.log; B=$PUBLISHER
  wait_line "$WORK/publish-b.log" "standing by" 10
  start_servers --session-cache off --ticket-keys-from "$URL" --kek "$WORK/kek.bin"
  ( sleep 1.5; now >"$WORK/killed-at"; kill -KILL "$A"
    until grep -q "^leading" "$WORK/publish-b.log"; do sleep 0.05; done; since "$(cat "$WORK/killed-at")" >"$WORK/took-over" ) &
  watcher=$!
  check "publishers: tickets, leader killed (>=99%)" "$(load ticket "$((SECS + 6))s")" 99 100
  wait "$watcher" 2>/dev/null || true
  took=$(cat "$WORK/took-over" 2>/dev/null || echo never)
  last_a=$(grep -o 'published generation [0-9]*' "$WORK/publish-a.log" | tail -1 | grep -o '[0-9]*$')
  first_b=$(grep -o 'continuing generation [0-9]*' "$WORK/publish-b.log" | head -1 | grep -o '[0-9]*$' || true)
  if awk -v t="$took" 'BEGIN { exit !(t + 0 == t && t <= 3) }' && [ "$first_b" = "$last_a" ]; then
    printf '%-44s %s s after the kill, continuing generation %s   ok\n' "publishers: the standby leads" "$took" "$first_b"
  else
    printf '%-44s took %s s; A published %s, B continued %s   FAILED (want <= 3 s, the same)\n' \
      "publishers: the standby leads" "$took" "$last_a" "${first_b:-nothing}"
    failures=$((failures + 1))
  fi
  rotated=$(grep -c "published generation" "$WORK/publish-b.log" || true)
  if [ "$rotated" -ge 1 ]; then
    printf '%-44s %s generation(s) since   ok\n' "publishers: the new leader rotates" "$rotated"
  else
    printf '%-44s FAILED\n' "publishers: the new leader rotates"; failures=$((failures + 1))
  fi
  stop_servers
elif [ "$HA" = tls ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=reprise-test-ca \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$WORK/redis.key" -out "$WORK/redis.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$WORK/san.ext"
  openssl x509 -req -in "$WORK/redis.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
    -days 2 -extfile "$WORK/san.ext" -out "$WORK/redis.pem" 2>/dev/null
  port=$(free_port)
  redis_node "$port" tls.log --port 0 --tls-port "$port" --tls-cert-file "$WORK/redis.pem" \
    --tls-key-file "$WORK/redis.key" --tls-ca-cert-file "$WORK/ca.pem" --tls-auth-clients no \
    --user default off --user reprise on '>s3cret' '~reprise:*' '~{reprise:*' '&reprise:*' '+@all' '-@dangerous'
  export SSL_CERT_FILE="$WORK/ca.pem"
  URL="rediss://reprise:s3cret@127.0.0.1:$port/"
  publisher "$URL" publish.log
  wait_line "$WORK/publish.log" "published generation" 20
  start_servers --session-store "$URL" --session-store-key "$WORK/store.key" --redis-l1 0 \
    --ticket-keys-from "$URL" --kek "$WORK/kek.bin"
  check "tls: session IDs over rediss:// + ACL (>=99%)" "$(load id)" 99 100
  check "tls: tickets over rediss:// + ACL (>=99%)" "$(load ticket)" 99 100
  grep -q 'reprise:\*\*\*@' "$WORK"/serve-*.log && ! grep -q s3cret "$WORK"/serve-*.log "$WORK/publish.log" \
    && printf '%-44s ok\n' "tls: logs show the URL without its password" \
    || { printf '%-44s FAILED\n' "tls: logs show the URL without its password"; failures=$((failures + 1)); }
  stop_servers
  start_servers --tickets off --session-store "rediss://reprise:wrong@127.0.0.1:$port/" \
    --session-store-key "$WORK/store.key" --redis-l1 0
  check "tls: a wrong password: full handshakes" "$(load id)" 0 60
  stop_servers
  unset SSL_CERT_FILE
  start_servers --tickets off --session-store "$URL" --session-store-key "$WORK/store.key" --redis-l1 0
  check "tls: an untrusted CA: full handshakes" "$(load id)" 0 60
  stop_servers
elif [ -n "$HA" ]; then
  echo "unknown --ha scenario $HA (cluster, sentinel, publishers, tls)"; exit 2
fi
if [ -n "$HA" ]; then
  if [ "$failures" -gt 0 ]; then echo "fleet: $failures check(s) failed"; exit 1; fi
  echo "fleet: all checks passed"; exit 0
fi

REDIS_PORT=$(free_port)
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
start_redis "$REDIS_PORT"

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

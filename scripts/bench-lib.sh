# Helpers the benchmark scripts share (sourced, not run): `source scripts/bench-lib.sh NAME`,
# NAME prefixing messages and the temporary folder. It sets TMP (removed on exit), declares
# PID_OF and PORT_OF (name -> server PID / port; every PID_OF is stopped by its PID on exit),
# and writes an ECDSA P-256 certificate for localhost to $TMP/cert.pem and $TMP/key.pem.
BENCH_NAME=${1:?bench-lib.sh needs the name of the script}
TMP=$(mktemp -d "/tmp/reprise-$BENCH_NAME.XXXXXX")
declare -A PID_OF PORT_OF
bench_cleanup() {
  local pid
  for pid in "${PID_OF[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$TMP"
}
trap bench_cleanup EXIT

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
  echo "$BENCH_NAME: nothing listens on port $1" >&2
  return 1
}

clk_tck=$(getconf CLK_TCK)
# "user system" clock ticks of a process and its children so far (fields 14 and 15 of
# /proc/PID/stat: the 12th and 13th after the command's ")").
cpu_ticks() {
  local user=0 sys=0 pid u k
  for pid in "$1" $(ps -o pid= --ppid "$1" 2>/dev/null); do
    if [ -r "/proc/$pid/stat" ]; then
      read -r u k < <(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $12, $13}')
      user=$((user + u)); sys=$((sys + k))
    fi
  done
  echo "$user $sys"
}

# user + system clock ticks of a process and its children so far.
cpu_total() {
  local u k
  read -r u k < <(cpu_ticks "$1")
  echo $((u + k))
}

# per_conn TICKS COUNT: microseconds of CPU per connection.
# Context switches (voluntary + involuntary) of all threads of a process so far.
context_switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^(voluntary|nonvoluntary)_ctxt_switches:/ {n += $2} END {print n + 0}'
}

per_conn() {
  awk -v t="$1" -v hz="$clk_tck" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "nan" }'
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

mode_name() {
  case $1 in none) echo "full" ;; id) echo "resumed, session ID" ;; ticket) echo "resumed, ticket" ;; esac
}

# Starts nginx ($1) serving a small page ("hello from nginx") over plaintext HTTP on a free
# loopback port: sets BACKEND_PORT; stopped on exit with the rest (PID_OF[backend]).
start_nginx_backend() {
  local nginx=$1
  BACKEND_PORT=$(free_port)
  mkdir -p "$TMP/www" "$TMP/nginx"
  echo "hello from nginx" >"$TMP/www/index.html"
  cat >"$TMP/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $TMP/nginx/nginx.pid; error_log $TMP/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx; proxy_temp_path $TMP/nginx;
  fastcgi_temp_path $TMP/nginx; uwsgi_temp_path $TMP/nginx; scgi_temp_path $TMP/nginx;
  server { listen 127.0.0.1:$BACKEND_PORT; root $TMP/www; }
}
EOF
  "$nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx.conf" &
  PID_OF[backend]=$!
  wait_port "$BACKEND_PORT"
}

# start_floor NAME DRIVER ARGS...: a `tcp-floor serve` ($FLOOR_BIN) on DRIVER on a free port,
# with ARGS (its pattern, a backend); sets PID_OF[NAME] and PORT_OF[NAME] once it listens.
start_floor() {
  local name=$1 driver=$2 log=$TMP/floor-serve-$1.log
  shift 2
  "$FLOOR_BIN" serve --driver "$driver" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
  PID_OF[$name]=$!
  for _ in $(seq 100); do
    grep -q '^listening on ' "$log" && break
    sleep 0.05
  done
  PORT_OF[$name]=$(awk '/^listening on /{n = split($3, a, ":"); print a[n]}' "$log")
  if [ -z "${PORT_OF[$name]}" ]; then
    echo "$BENCH_NAME: the $driver floor server did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
}

# tally NAME MODE PID USER SYS COUNT RATE: records a run of COUNT connections at RATE per
# second in RATES, CPUS and SYS under NAME-MODE, with PID's CPU since the clock ticks USER and
# SYS (from cpu_ticks); leaves the microseconds per connection in TALLY_CPU and TALLY_SYS.
tally() {
  local user_after sys_after
  read -r user_after sys_after < <(cpu_ticks "$3")
  TALLY_CPU=$(per_conn "$((user_after + sys_after - $4 - $5))" "$6")
  TALLY_SYS=$(per_conn "$((sys_after - $5))" "$6")
  RATES[$1-$2]+="$7 "
  CPUS[$1-$2]+="$TALLY_CPU "
  SYS[$1-$2]+="$TALLY_SYS "
}

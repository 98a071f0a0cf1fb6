#!/usr/bin/env bash
# Side-by-side benchmark of evcluster against nginx, lighttpd and h2o, by the method of the
# handbook ("Measuring performance"): each server is one process (one worker) pinned to CPU 0,
# wrk is pinned to CPU 1, all serve the same generated docroot with access logs off, rounds are
# interleaved, and the table reports the median requests/s per server and workload plus ratios
# (and the lowest and highest per-round ratio to the best peer, to tell a lead from noise).
# Every server runs in the foreground under its own session with all files in a temp dir, and is
# stopped (with its children) on exit. evcluster is built and included when it answers requests.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/bench.sh [options]
  -d SECONDS        duration of each wrk run (default 5)
  -r ROUNDS         rounds; each round runs every server once per workload (default 3)
  -c CONNS          wrk connections (default 50; always one wrk thread)
  -o FILE           also write the table(s) as markdown to FILE
  --only NAME[,..]  servers to run, among evcluster,nginx,lighttpd,h2o (default all)
  --workloads ID[,..]  the throughput rows to run, among 1k,64k,1m,close (default all)
  --pipeline        add a row: 1 KiB, 16 pipelined requests per write (scripts/bench/pipeline.lua)
  --logs            add a row: 1 KiB keep-alive with access logs on for every server
  --latency         also report the median p99 latency per server and workload, evcluster's
                    over the lowest peer's, and in how many rounds evcluster's was lowest
  --memory          RSS per idle keep-alive connection (10,000 connections; evcluster, nginx)
  --multi           evcluster with 1 and 2 workers, nothing pinned, wrk -t2: requests/s and
                    how evenly the 2 workers share the load (max/min requests, from status)
  --client-stats    also report what each server makes the client and itself do per
                    response: wrk's read() calls and CPU time (perf stat), and the server's
                    sleeps (voluntary context switches of its processes) and CPU time
  --timers          instead of the servers: timer lateness of our loop beside node's
                    (a repeating 100 ms timer on an idle loop, -r rounds of 50 ticks,
                    interleaved), and the loop lag an idle worker's status reports
  --tls             every server over TLS with the same ECDSA P-256 certificate (made here):
                    1 KiB and 1 MiB keep-alive, Connection: close (wrk offers its last session
                    again on each reconnection: resumed handshakes where the server allows),
                    and Connection: close with resumption off on every server (full
                    handshakes); --memory then counts idle TLS connections
  --h2              HTTP/2 with h2load -c 10 -m 32 (one thread, pinned like wrk) instead of
                    wrk: 1 KiB, 64 KiB and 1 MiB over TLS (ALPN h2, the certificate --tls
                    makes) and over h2c with prior knowledge (nginx: listen ... http2;
                    lighttpd: server.h2proto; h2o and evcluster: by default)
  --gzip            64 KiB of HTML asked with Accept-Encoding: gzip: compressed on the fly
                    (evcluster: once, then from its cache; nginx gzip on: every time, its
                    default level 1; lighttpd mod_deflate: once, into its cache-dir) and
                    precompressed (page.html.gz beside it: evcluster, nginx gzip_static);
                    prints evcluster's compression cache (status --json)
  --keep            keep the temp dir (configs, logs) and print its path
  -h                this help
Environment: EVCLUSTER=BINARY benchmarks that binary instead of building build/evcluster.
EOF
}

DURATION=5 ROUNDS=3 CONNS=50 OUT="" ONLY="" PIPELINE=0 LOGS=0 LATENCY=0 MEMORY=0 KEEP=0 MULTI=0
TIMERS=0 CSTATS=0 ONLY_W="" TLS=0 H2=0 GZIP=0
while (($#)); do
  case $1 in
    -d) DURATION=${2:?-d needs SECONDS}; shift 2 ;;
    -r) ROUNDS=${2:?-r needs ROUNDS}; shift 2 ;;
    -c) CONNS=${2:?-c needs CONNS}; shift 2 ;;
    -o) OUT=${2:?-o needs FILE}; shift 2 ;;
    --only) ONLY=${2:?--only needs NAME[,NAME]}; shift 2 ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    --pipeline) PIPELINE=1; shift ;;
    --logs) LOGS=1; shift ;;
    --latency) LATENCY=1; shift ;;
    --memory) MEMORY=1; shift ;;
    --multi) MULTI=1; shift ;;
    --timers) TIMERS=1; shift ;;
    --client-stats) CSTATS=1; shift ;;
    --workloads) ONLY_W=${2:?--workloads needs ID[,ID]}; shift 2 ;;
    --tls) TLS=1; shift ;;
    --h2) H2=1; TLS=1; shift ;;
    --gzip) GZIP=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench: unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done
for v in DURATION ROUNDS CONNS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v must be a positive integer" >&2; exit 2; }
done
[[ -z $OUT || $OUT == /* ]] || OUT=$PWD/$OUT # before the cd below

cd "$(dirname "$0")/.."
REPO=$PWD
BENCH_DIR=$REPO/scripts/bench

# --- timers: how late timers fire on an idle loop, ours beside node's (issue 18) -------------
# Both sides run the same thing (scripts/bench/timers.c on loop.h, timers.js on node): a
# repeating 100 ms timer; each tick's lateness is how much more than 100 ms after the previous
# tick it ran. Rounds alternate, and the median of each round's p50, p99 and max is reported.
bench_timers() {
  local tmp r evc node rows=() conf pid lag
  command -v node >/dev/null || { echo "bench: --timers needs node" >&2; exit 1; }
  [[ -f build/CMakeCache.txt ]] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build --target bench_timers evcluster -j "$(nproc)" >/dev/null
  for ((r = 1; r <= ROUNDS; r++)); do
    evc=$(build/bench_timers 100 50)
    node=$(node "$BENCH_DIR/timers.js" 100 50)
    echo "bench: round $r: evcluster loop $evc | node $node" >&2
    rows+=("$evc $node")
  done
  # An idle worker: what its status says after 24 samples of its 250 ms lag probe.
  tmp=$(mktemp -d /tmp/evctimers.XXXXXX)
  mkdir "$tmp/www"
  printf 'listen = "127.0.0.1:0";\nroot = "www";\naccess_log = "off";\n' >"$tmp/evc.conf"
  build/evcluster -c "$tmp/evc.conf" 2>"$tmp/err.log" &
  pid=$!
  sleep 6.5
  lag=$(build/evcluster -c "$tmp/evc.conf" status --json 2>/dev/null | python3 -c '
import json, sys
w = json.load(sys.stdin)["workers"][0]["loop_lag_ms"]
print("%.3f %.3f %.3f" % (w["p50"], w["p99"], w["max"]))' || echo "- - -")
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
  printf '%s\n' "${rows[@]}" | LAG="$lag" HOST="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -r)" \
    NODE="$(node --version)" python3 -c '
import os, statistics, sys
rows = [list(map(str, l.split())) for l in sys.stdin if l.strip()]
med = lambda i: statistics.median(float(r[i]) for r in rows)
print("host: %s; node %s; %d rounds of 50 ticks of a 100 ms timer, idle" % (os.environ["HOST"], os.environ["NODE"], len(rows)))
print()
print("| ms late (median of rounds) | p50 | p99 | max |")
print("|---|---:|---:|---:|")
print("| evcluster loop, tick to tick | %.3f | %.3f | %.3f |" % (med(0), med(1), med(2)))
print("| node, tick to tick | %.3f | %.3f | %.3f |" % (med(7), med(8), med(9)))
print("| evcluster loop, after its deadline (the loop lag figure) | %.3f | %.3f | %.3f |" % (med(4), med(5), med(6)))
print("| idle worker, status loop_lag_ms (250 ms probe, 6 s) | %s | %s | %s |" % tuple(os.environ["LAG"].split()))
' | tee ${OUT:+"$OUT"}
}
if ((TIMERS)); then
  bench_timers
  exit 0
fi

ALL_SERVERS=(evcluster nginx lighttpd h2o)
SERVERS=()
if [[ -n $ONLY ]]; then
  IFS=, read -ra wanted <<<"$ONLY"
  for s in "${wanted[@]}"; do
    [[ " ${ALL_SERVERS[*]} " == *" $s "* ]] || { echo "bench: unknown server: $s" >&2; exit 2; }
  done
  for s in "${ALL_SERVERS[@]}"; do # keep the canonical column order
    [[ ",$ONLY," == *",$s,"* ]] && SERVERS+=("$s")
  done
else
  SERVERS=("${ALL_SERVERS[@]}")
fi

log() { echo "bench: $*" >&2; }
has() { local x; for x in "${@:2}"; do [[ $x == "$1" ]] && return 0; done; return 1; }

scripts/deps.sh --bench
for tool in wrk taskset curl setsid python3 $( ((H2)) && echo h2load); do
  command -v "$tool" >/dev/null || { log "missing $tool"; exit 1; }
done

# Pinning: servers on CPU 0, the load generator on CPU 1, so that wrk never steals the server's
# core. With a single CPU there is nothing to separate: say so and share it.
NPROC=$(nproc)
SERVER_CPU=0 CLIENT_CPU=1
if ((NPROC < 2)); then
  log "only one CPU: wrk shares CPU 0 with the servers; figures are not comparable to the method"
  CLIENT_CPU=0
fi

# 10,000 idle connections need 10,000 descriptors in the client and in the server.
if ((MEMORY)); then
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  # The servers' own limits (bench/*.conf.in) stop at 16,384 descriptors.
  (($(ulimit -n) >= 10100)) || { log "--memory needs ulimit -n >= 10100 (have $(ulimit -n))"; exit 1; }
fi

TMP=$(mktemp -d /tmp/evcbench.XXXXXX)
# h2o started as root drops to "nobody": the docroot must be readable by everyone.
chmod 755 "$TMP"
ROOT=$TMP/www

declare -A PID=()  # instance -> pid of its session leader (the server's main process)
declare -A PORT=() # instance -> port on 127.0.0.1

# Processes of the session led by $1, excluding zombies: "pid rss_kib" per line.
session_procs() { ps -e -o sid=,pid=,rss=,stat= | awk -v s="$1" '$1 == s && $4 !~ /^Z/ { print $2, $3 }'; }
alive() { ps -o stat= -p "$1" 2>/dev/null | grep -qv '^Z'; }

# Stops one instance: SIGTERM to the main process only (evcluster's supervisor then stops its own
# workers, as in production), up to 5 s for the whole session to go, then SIGKILL to the session.
stop_instance() {
  local inst=$1 pid=${PID[$1]:-} i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    [[ -z $(session_procs "$pid") ]] && break
    sleep 0.1
  done
  if [[ -n $(session_procs "$pid") ]]; then
    log "$inst did not stop within 5 s: killing its session"
    session_procs "$pid" | while read -r p _; do kill -KILL "$p" 2>/dev/null || true; done
  fi
  wait "$pid" 2>/dev/null || true
  unset "PID[$inst]"
}

MEM_CLIENT=""
cleanup() {
  local rc=$? inst
  trap - EXIT INT TERM HUP PIPE
  [[ -n $MEM_CLIENT ]] && { kill "$MEM_CLIENT" 2>/dev/null || true; wait "$MEM_CLIENT" 2>/dev/null || true; }
  for inst in "${!PID[@]}"; do stop_instance "$inst"; done
  if ((KEEP)); then log "temp dir kept: $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE # output piped into head and the like: still stop the servers

# --- docroot: the same bytes for everyone --------------------------------------------------
mkdir -p "$ROOT"
head -c 1024 /dev/urandom >"$ROOT/1k.bin"
head -c 65536 /dev/urandom >"$ROOT/64k.bin"
head -c 1048576 /dev/urandom >"$ROOT/1m.bin"
echo '<!doctype html><title>bench</title>' >"$ROOT/index.html"
if ((GZIP)); then # 64 KiB of HTML that compresses as pages do (about 8:1 with gzip -6)
  python3 -c '
import random, sys
r = random.Random(17)
words = ["evcluster", "static", "server", "cache", "request", "worker", "pool", "loop", "file",
         "answer", "header", "compression", "site", "page", "link", "item", "list", "table"]
out = ["<!doctype html><html><head><title>bench</title></head><body>\n"]
while sum(map(len, out)) < 65536:
    out.append("<div class=\"row r%d\"><a href=\"/p/%d.html\">%s</a> %s</div>\n" % (
        r.randrange(50), r.randrange(100000), " ".join(r.choice(words) for _ in range(3)),
        " ".join(r.choice(words) for _ in range(8))))
sys.stdout.write("".join(out)[:65536])' >"$ROOT/page.html"
  gzip -9 -k -n "$ROOT/page.html" # page.html.gz: for the precompressed row
fi
chmod -R a+rX "$ROOT"

# --- TLS: one ECDSA P-256 certificate for every server ----------------------------------------
SCHEME=http CURL_TLS=()
if ((TLS)); then
  SCHEME=https
  mkdir -p "$TMP/tls"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$TMP/tls/key.pem" \
    -out "$TMP/tls/cert.pem" 2>/dev/null || { log "openssl could not make a certificate"; exit 1; }
  chmod 644 "$TMP/tls/key.pem" # h2o reads it after dropping to nobody (a throw-away key)
  CURL_TLS=(--cacert "$TMP/tls/cert.pem")
fi

# The TLS settings of SERVER for render's placeholders, KEY=VALUE per line; empty values
# without --tls. full=1: session resumption off (no tickets, no session cache).
tls_conf() { # SERVER PORT FULL H2C
  local s=$1 port=$2 full=$3 h2c=${4:-0} c=$TMP/tls/cert.pem k=$TMP/tls/key.pem
  if ((H2)); then # HTTP/2 everywhere: nginx 1.22 says so on the listen line, lighttpd by flag
    case $s in
      # nginx 1.22 ends an h2 connection after keepalive_requests (1000) streams with GOAWAY,
      # and h2load counts the requests it had not sent yet as failed: no limit here.
      nginx) ((h2c)) && echo "NGINX_LISTEN= http2" || echo "NGINX_LISTEN= ssl http2"
             echo "NGINX_H2=keepalive_requests 100000000;" ;;
      lighttpd) echo 'LIGHTTPD_H2=server.feature-flags += ( "server.h2proto" => "enable" )' ;;
    esac
  fi
  if ((!TLS || h2c)); then
    echo "EVC_LISTEN=\"127.0.0.1:$port\""
    return 0
  fi
  case $s in
    nginx) ((H2)) || echo "NGINX_LISTEN= ssl"
           if ((full)); then echo "NGINX_TLS=ssl_certificate $c; ssl_certificate_key $k; ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache off; ssl_session_tickets off;"
           else echo "NGINX_TLS=ssl_certificate $c; ssl_certificate_key $k; ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m; ssl_session_timeout 1h;"; fi ;;
    lighttpd) printf 'LIGHTTPD_TLS=server.modules += ( "mod_openssl" )\\nssl.engine = "enable"\\nssl.pemfile = "%s"\\nssl.privkey = "%s"' "$c" "$k"
              ((full)) && printf '\\nssl.openssl.ssl-conf-cmd = ( "Options" => "-SessionTicket" )'
              echo ;;
    h2o) printf 'H2O_LISTEN_TLS=  ssl:\\n    certificate-file: %s\\n    key-file: %s\n' "$c" "$k"
         ((full)) && printf 'H2O_TLS=ssl-session-resumption:\\n  mode: off\n' ;;
    evcluster) echo "EVC_LISTEN=( { address = \"127.0.0.1:$port\"; tls = true; } )"
               printf 'EVC_TLS=tls = { certificates = ( { cert = "%s"; key = "%s"; } ); session_tickets = %s; };\n' \
                 "$c" "$k" "$( ((full)) && echo false || echo true)" ;;
  esac
  return 0
}

# --- evcluster: build it if asked for; leave it out, saying why, if it cannot be built --------
# EVCLUSTER=/path/to/binary benchmarks that binary as it is (no build).
EVC_BIN=${EVCLUSTER:-$REPO/build/evcluster}
EVC_NOTE=""
if [[ -n ${EVCLUSTER:-} ]]; then
  [[ -x $EVC_BIN ]] || { log "EVCLUSTER=$EVC_BIN is not executable"; exit 1; }
elif has evcluster "${SERVERS[@]}"; then
  build_ok=1
  if [[ ! -f build/CMakeCache.txt ]]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >"$TMP/build.log" 2>&1 || build_ok=0
  fi
  if ((build_ok)) && cmake --build build --target evcluster -j "$NPROC" >>"$TMP/build.log" 2>&1 \
    && [[ -x $EVC_BIN ]]; then
    # A sanitizer or debug build would measure the wrong thing: keep it, but say so.
    btype=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' build/CMakeCache.txt)
    san=$(sed -n 's/^EVC_SANITIZE:[A-Z]*=//p' build/CMakeCache.txt)
    [[ $btype == Release || $btype == RelWithDebInfo ]] || EVC_NOTE+=" build type ${btype:-none};"
    [[ -z $san ]] || EVC_NOTE+=" sanitizer $san;"
    [[ -z $EVC_NOTE ]] || log "warning: evcluster is a${EVC_NOTE%;} build: its figures are not representative"
  else
    log "evcluster: 'cmake --build build --target evcluster' gave no binary; skipped. Last lines:"
    tail -n 5 "$TMP/build.log" | sed 's/^/  | /' >&2
    kept=()
    for s in "${SERVERS[@]}"; do [[ $s == evcluster ]] || kept+=("$s"); done
    SERVERS=("${kept[@]}")
  fi
fi

# --- instances --------------------------------------------------------------------------------
# An instance is one running server: "nginx" (logs off), "nginx+log" (--logs), "nginx+mem"
# (--memory). Each has a folder $TMP/<instance> for its config, pid, logs and temp files.

# A port below the ephemeral range (wrk's close workload uses thousands of ephemeral ports) that
# nothing listens on and that no other instance of ours took.
NEXT_PORT=$((20000 + RANDOM % 10000))
free_port() {
  while [[ -n $(ss -Htln "sport = :$NEXT_PORT") ]] || has "$NEXT_PORT" "${PORT[@]}"; do
    NEXT_PORT=$((NEXT_PORT + 1))
  done
  echo "$NEXT_PORT"
  NEXT_PORT=$((NEXT_PORT + 1))
}

# render TEMPLATE OUT KEY=VALUE...: copies TEMPLATE with every @KEY@ replaced by VALUE.
render() {
  local text kv
  text=$(<"$1")
  for kv in "${@:3}"; do text=${text//@${kv%%=*}@/${kv#*=}}; done
  printf '%s\n' "$text" >"$2"
}

# The access-log setting for a server's config: off, or a file in the instance's folder.
access_log_conf() { # SERVER DIR LOGGING
  local s=$1 dir=$2 on=$3
  case $s in
    nginx) ((on)) && echo "access_log $dir/access.log;" || echo "access_log off;" ;;
    lighttpd) ((on)) && printf 'server.modules += ( "mod_accesslog" )\naccesslog.filename = "%s"' "$dir/access.log" ;;
    h2o) ((on)) && echo "access-log: $dir/access.log" ;;
    evcluster) ((on)) && echo "$dir/access.log" || echo "off" ;;
  esac
  return 0
}

# The compression settings of SERVER for the +gz (on the fly) and +gzs (precompressed)
# instances, for render's GZIP placeholder; SKIP: the server has no such variant here.
gzip_conf() { # SERVER SUFFIX
  case $1$2 in
    nginx+gz) echo "gzip on; gzip_types text/html; gzip_min_length 256;" ;;
    nginx+gzs) echo "gzip_static on;" ;;
    lighttpd+gz) printf '%s' 'server.modules += ( "mod_deflate" )\ndeflate.mimetypes = ( "text/html" )\ndeflate.allowed-encodings = ( "gzip" )\ndeflate.cache-dir = "'"$TMP/$1$2/deflate-cache"'"' ;;
    evcluster+gz) echo "compression = { precompressed = false; on_the_fly = true; min_size = 256; cache_mb = 64; };" ;;
    evcluster+gzs) echo "compression = { precompressed = true; };" ;;
    *+gz | *+gzs) echo SKIP ;;
    *) echo "" ;;
  esac
}

# start_instance INSTANCE: writes the config, starts the server pinned to SERVER_CPU in its own
# session (so that it and its children can be found and stopped), waits until it serves the
# docroot correctly. Returns 1, with the server's log, if it does not within 10 s.
start_instance() {
  local inst=$1 s=${1%%+*} dir=$TMP/$1 port logging=0 cmd pid i f gz
  [[ $inst == *+log ]] && logging=1
  gz=$(gzip_conf "$s" "${inst#"$s"}")
  [[ $gz == SKIP ]] && return 1
  port=$(free_port)
  mkdir -p "$dir" "$dir/deflate-cache"
  chmod 777 "$dir" # h2o (dropped to nobody) writes its pid and logs here
  local -a tlskv=()
  mapfile -t tlskv < <(tls_conf "$s" "$port" "$([[ $inst == *+full ]] && echo 1 || echo 0)" \
                         "$([[ $inst == *+h2c ]] && echo 1 || echo 0)")
  render "$BENCH_DIR/$s.conf.in" "$dir/$s.conf" "PORT=$port" "ROOT=$ROOT" "TMP=$dir" \
    "ACCESS_LOG=$(access_log_conf "$s" "$dir" "$logging")" "${tlskv[@]}" "GZIP=$gz" \
    NGINX_LISTEN= NGINX_TLS= NGINX_H2= LIGHTTPD_TLS= LIGHTTPD_H2= H2O_LISTEN_TLS= H2O_TLS= EVC_TLS=
  local scheme=$SCHEME
  local -a curlx=("${CURL_TLS[@]}")
  [[ $inst == *+h2c ]] && scheme=http curlx=(--http2-prior-knowledge)
  # tls_conf writes a value's line breaks as \n (one value per line for mapfile)
  ((TLS || GZIP)) && sed -i 's/\\n/\n/g' "$dir/$s.conf"
  case $s in
    nginx) mkdir -p "$dir/nginx-tmp"
           cmd=(nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/nginx-error.log") ;;
    lighttpd) cmd=(lighttpd -D -f "$dir/lighttpd.conf") ;;
    h2o) cmd=(h2o -c "$dir/h2o.conf") ;;
    evcluster) cmd=("$EVC_BIN" -c "$dir/evcluster.conf") ;;
  esac
  # Not a job-control shell: the background child is no group leader, so setsid makes it the
  # leader of a new session without forking again, and $! is the server's own pid.
  setsid taskset -c "$SERVER_CPU" "${cmd[@]}" </dev/null >"$dir/console.log" 2>&1 &
  pid=$!
  PID[$inst]=$pid PORT[$inst]=$port
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || break
    curl -sf "${curlx[@]}" -o /dev/null --max-time 1 "$scheme://127.0.0.1:$port/1k.bin" && break
    sleep 0.1
  done
  local why=""
  if ! alive "$pid"; then why="exited"
  elif ((i == 100)); then why="did not answer within 10 s"
  else
    # Sanity: every file comes back byte for byte, so a server serving the wrong thing fast
    # cannot win.
    for f in 1k.bin 64k.bin 1m.bin; do
      curl -sf "${curlx[@]}" --max-time 5 "$scheme://127.0.0.1:$port/$f" | cmp -s - "$ROOT/$f" || { why="served a wrong /$f"; break; }
    done
    # and a compressing instance really sends gzip that decodes to the page
    if [[ -z $why && $inst == *+gz* ]]; then
      curl -sf -D "$dir/gz.head" -H 'Accept-Encoding: gzip' --max-time 5 -o "$dir/gz.body" "$scheme://127.0.0.1:$port/page.html" &&
        grep -qi '^content-encoding: gzip' "$dir/gz.head" && gzip -dc "$dir/gz.body" | cmp -s - "$ROOT/page.html" ||
        why="served no gzip of /page.html"
    fi
  fi
  if [[ -n $why ]]; then
    log "$inst: $why; skipped. Its output:"
    tail -n 5 "$dir"/*.log 2>/dev/null | sed 's/^/  | /' >&2
    stop_instance "$inst"
    return 1
  fi
  return 0
}

# --- workloads ------------------------------------------------------------------------------
# id|label|file|instance suffix|wrk extras (mode)
WORKLOADS=(
  "1k|1 KiB keep-alive|1k.bin||"
  "64k|64 KiB keep-alive|64k.bin||"
  "1m|1 MiB keep-alive|1m.bin||"
  "close|1 KiB Connection: close|1k.bin||close"
)
# Pipelining: nginx with the method's tcp_nopush on stalls here (its TCP_CORK is only lifted when
# a connection goes idle, and pipelined requests never let it): ~6x below its keep-alive rate,
# 40 ms p99. That is nginx as configured by the method, not a harness error.
((PIPELINE)) && WORKLOADS+=("pipe|1 KiB pipelined x16|1k.bin||pipeline")
((LOGS)) && WORKLOADS+=("log|1 KiB keep-alive, access log on|1k.bin|+log|")
# Over TLS: 64 KiB is left out (the brief's rows are 1 KiB and 1 MiB); wrk keeps its last session
# on a reconnection (SSL_clear) and offers it again, so its Connection: close row is resumed
# handshakes where the server allows one (98% of them for evcluster and nginx in a check: a
# TLS 1.3 server must send a new ticket on each resumption, as clients use one once); the +full
# instances turn resumption off for full handshakes.
if ((TLS)); then
  WORKLOADS=(
    "1k|1 KiB keep-alive, TLS|1k.bin||"
    "1m|1 MiB keep-alive, TLS|1m.bin||"
    "close|1 KiB Connection: close, TLS (resumption on)|1k.bin||close"
    "full|1 KiB Connection: close, TLS full handshakes|1k.bin|+full|close"
  )
  ((PIPELINE)) && WORKLOADS+=("pipe|1 KiB pipelined x16, TLS|1k.bin||pipeline")
  ((LOGS)) && WORKLOADS+=("log|1 KiB keep-alive, TLS, access log on|1k.bin|+log|")
fi
# Compression: the same 64 KiB page, gzip asked for, on the fly and precompressed.
if ((GZIP)); then
  WORKLOADS=(
    "gz|64 KiB HTML, gzip on the fly|page.html|+gz|gzip"
    "gzs|64 KiB HTML, gzip precompressed|page.html|+gzs|gzip"
  )
fi
# HTTP/2: h2load -c 10 -m 32 over TLS (ALPN h2) and over h2c (the +h2c instances, plain).
if ((H2)); then
  WORKLOADS=(
    "1k|1 KiB, h2 over TLS|1k.bin||h2"
    "64k|64 KiB, h2 over TLS|64k.bin||h2"
    "1m|1 MiB, h2 over TLS|1m.bin||h2"
    "1kc|1 KiB, h2c|1k.bin|+h2c|h2"
    "64kc|64 KiB, h2c|64k.bin|+h2c|h2"
    "1mc|1 MiB, h2c|1m.bin|+h2c|h2"
  )
fi

if [[ -n $ONLY_W ]]; then
  kept=()
  for w in "${WORKLOADS[@]}"; do [[ ",$ONLY_W," == *",${w%%|*},"* ]] && kept+=("$w"); done
  ((${#kept[@]})) || { echo "bench: --workloads: none of $ONLY_W is a row here (1k, 64k, 1m, close, full, pipe, log, 1kc, 64kc, 1mc)" >&2; exit 2; }
  WORKLOADS=("${kept[@]}")
fi

# inst_url INSTANCE FILE: the URL of FILE on that instance (h2c instances are plain).
inst_url() {
  local scheme=$SCHEME
  [[ $1 == *+h2c ]] && scheme=http
  echo "$scheme://127.0.0.1:${PORT[$1]}/$2"
}

# run_h2load INSTANCE FILE [PERF...]: "RPS - REQUESTS" or "ERR reason"; any failed or errored
# stream is an error. PERF, if given, is the perf stat command line to run h2load under.
run_h2load() {
  local out rps bad inst=$1 file=$2
  shift 2
  if ! out=$(taskset -c "$CLIENT_CPU" "$@" h2load -t1 -c10 -m32 -D "$DURATION" "$(inst_url "$inst" "$file")" 2>&1); then
    echo "ERR h2load failed: $(tail -n 1 <<<"$out")"; return
  fi
  bad=$(awk '/^requests:/ { gsub(",", ""); if ($10 + $12 + $14 > 0) print $10 " failed, " $12 " errored, " $14 " timeout" }' <<<"$out")
  [[ -n $bad ]] && { echo "ERR $bad"; return; }
  grep -q "h2c\|h2" <<<"$(grep -i 'application protocol' <<<"$out")" || { echo "ERR not HTTP/2: $(grep -i 'application protocol' <<<"$out")"; return; }
  rps=$(awk '/^finished in/ { gsub(",", ""); print $4 }' <<<"$out")
  if [[ -z $rps ]] || ! awk -v r="$rps" 'BEGIN { exit !(r > 0) }'; then echo "ERR no requests"; return; fi
  echo "$rps - $(awk '/^requests:/ { gsub(",", ""); print $8 }' <<<"$out")"
}

# run_wrk INSTANCE FILE MODE: prints "RPS P99_MS" or "ERR reason". A run that saw non-2xx/3xx
# responses, socket errors or no requests at all is an error, whatever its rate.
# With --client-stats four more fields: wrk's read() calls and CPU microseconds per response
# (perf stat on wrk), and the server's sleeps (voluntary context switches of every process of
# its session) and CPU microseconds per response: which side is saturated, and what each
# server makes the client do.
server_totals() { # "SLEEPS TICKS": voluntary context switches and utime + stime (clock ticks),
  local p sl=0 ct=0 a b # summed over a session's processes
  for p in $(session_procs "$1" | awk '{ print $1 }'); do
    read -r a b < <({ awk '/^voluntary_ctxt_switches/ { print $2 }' "/proc/$p/status"
                      awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat"; } 2>/dev/null | paste -sd' ')
    sl=$((sl + ${a:-0})) ct=$((ct + ${b:-0}))
  done
  echo "$sl $ct"
}
run_wrk() {
  local inst=$1 file=$2 mode=$3 out args rps p99 bad perfw=() cs="" sl0=0 sl1 reqs ct0=0 ct1
  ((CSTATS)) && perfw=(perf stat -x, -o "$TMP/perf.out" -e syscalls:sys_enter_read,task-clock --)
  ((CSTATS)) && read -r sl0 ct0 < <(server_totals "${PID[$inst]}")
  if [[ $mode == h2 ]]; then # the same figures, h2load in wrk's place (its read() calls)
    read -r rps p99 reqs < <(run_h2load "$inst" "$file" "${perfw[@]}")
    [[ $rps == ERR ]] && { echo "$rps $p99 $reqs"; return; }
  else
    args=(-t1 "-c$CONNS" "-d${DURATION}s")
    ((LATENCY)) && args+=(--latency)
    [[ $mode == close ]] && args+=(-H 'Connection: close')
    [[ $mode == gzip ]] && args+=(-H 'Accept-Encoding: gzip')
    [[ $mode == pipeline ]] && args+=(-s "$BENCH_DIR/pipeline.lua")
    args+=("$SCHEME://127.0.0.1:${PORT[$inst]}/$file")
    [[ $mode == pipeline ]] && args+=(-- 16)
    if ! out=$(taskset -c "$CLIENT_CPU" "${perfw[@]}" wrk "${args[@]}" 2>&1); then
      echo "ERR wrk failed: $(tail -n 1 <<<"$out")"; return
    fi
    bad=$(awk '/Non-2xx or 3xx responses:/ { print "non-2xx " $NF }
               /Socket errors:/ { gsub(",", ""); if ($4 + $6 + $8 + $10 > 0) print "socket errors " $4 "/" $6 "/" $8 "/" $10 " (connect/read/write/timeout)" }' <<<"$out")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    [[ -n $bad ]] && { echo "ERR ${bad//$'\n'/, }"; return; }
    if [[ -z $rps ]] || ! awk -v r="$rps" 'BEGIN { exit !(r > 0) }'; then echo "ERR no requests"; return; fi
    p99=-
    if ((LATENCY)); then # "     99%    1.23ms": wrk prints us, ms or s
      p99=$(awk '$1 == "99%" { v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v);
                               f = (u == "us") ? 0.001 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1;
                               printf "%.3f", v * f }' <<<"$out")
      # wrk 4.1 prints "99% 0.00us" when its histogram lost the tail (seen with pipelining at
      # over a million responses/s): no figure, rather than a zero that would win the row.
      [[ -n $p99 && $p99 != 0.000 ]] || p99=-
    fi
    reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
  fi
  if ((CSTATS)); then
    read -r sl1 ct1 < <(server_totals "${PID[$inst]}")
    cs=$(awk -F, -v n="$reqs" -v sl=$((sl1 - sl0)) -v ct=$((ct1 - ct0)) -v hz="$(getconf CLK_TCK)" '
      $3 == "syscalls:sys_enter_read" { r = $1 } $3 == "task-clock" { c = $1 }
      END { if (n > 0) printf "%.2f %.2f %.4f %.2f", r / n, c * 1000 / n, sl / n, ct * 1e6 / hz / n
            else print "- - - -" }' "$TMP/perf.out")
  fi
  echo "$rps $p99 $cs"
}

# median V...: the median of numbers, "-" values left out; ERR if any value is ERR (a server
# that failed requests in any round gets no figure for that workload).
median() {
  local v
  for v in "$@"; do [[ $v == ERR ]] && { echo ERR; return; }; done
  { printf '%s\n' "$@" | grep -vx -- - || true; } | sort -g | awk '{ a[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    # an even count averages the middle two: printf, as print would give 1.0041e+06
    if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# highest V...: the largest number, ERR and "-" left out; "-" when none is left.
highest() {
  { printf '%s\n' "$@" | grep -vxE -- 'ERR|-' || true; } | sort -g | tail -n 1 | grep . || echo -
}
lowest() {
  { printf '%s\n' "$@" | grep -vxE -- 'ERR|-' || true; } | sort -g | head -n 1 | grep . || echo -
}

# --- start everything -------------------------------------------------------------------------
RUNNING=()
for s in "${SERVERS[@]}"; do
  if start_instance "$s"; then
    if ((LOGS)) && ! start_instance "$s+log"; then stop_instance "$s"; continue; fi
    if ((TLS && !H2)) && ! start_instance "$s+full"; then stop_instance "$s"; stop_instance "$s+log"; continue; fi
    if ((H2)) && ! start_instance "$s+h2c"; then log "$s: no h2c: its h2c rows stay empty"; fi
    if ((GZIP)); then
      start_instance "$s+gz" || log "$s: no on-the-fly gzip here: its row stays empty"
      start_instance "$s+gzs" || log "$s: no precompressed gzip here: its row stays empty"
    fi
    RUNNING+=("$s")
  elif [[ $s != evcluster ]]; then
    log "peer $s failed to start: the comparison lacks it"
  fi
done
((${#RUNNING[@]})) || { log "no server could be started"; exit 1; }

version_of() {
  case $1 in
    nginx) nginx -v 2>&1 | sed 's/.*version: //' ;;
    lighttpd) lighttpd -v | awk 'NR == 1 { print $1 }' ;;
    h2o) h2o -v | awk 'NR == 1 { print "h2o/" $3 }' ;;
    evcluster) { "$EVC_BIN" -v 2>&1 || true; } | head -n 1 | tr -s ' ' ;;
  esac
}
VERSIONS=""
for s in "${RUNNING[@]}"; do
  v=$(version_of "$s")
  [[ $s == evcluster && -n $EVC_NOTE ]] && v+=" (${EVC_NOTE# })"
  VERSIONS+="${v:-$s}, "
done
CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
# How an idle CPU waits sets the price of waking a sleeping server, and the client pays it: a
# guest that halts without polling first (haltpoll with guest_halt_poll_ns 0) needs an IPI per
# wake-up. Results from machines that differ here do not compare.
IDLE=$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo unknown)
HALT_POLL=/sys/module/haltpoll/parameters/guest_halt_poll_ns
[[ -r $HALT_POLL ]] && IDLE+=" (halt poll $(cat "$HALT_POLL") ns)"
# The congestion control sets the 1 MiB tail on loopback more than any server does (BBR's
# there is about twice cubic's, for every server): another reason figures may not compare.
CC=$(cat /proc/sys/net/ipv4/tcp_congestion_control 2>/dev/null || echo unknown)
HEADER="$(date '+%Y-%m-%d %H:%M %Z') | nproc $NPROC | ${CPU_MODEL:-unknown CPU} | Linux $(uname -r) | cpuidle $IDLE | tcp $CC | load $(cut -d' ' -f1-3 /proc/loadavg)"
HEADER2="${VERSIONS%, } | $({ wrk -v 2>&1 || true; } | awk 'NR == 1 { print $1, $2 }') -t1 -c$CONNS -d${DURATION}s, $ROUNDS rounds, servers on CPU $SERVER_CPU, wrk on CPU $CLIENT_CPU"
((H2)) && HEADER2="${VERSIONS%, } | $(h2load --version 2>&1 | awk 'NR == 1 { print $1, $2 }') -t1 -c10 -m32 -D ${DURATION}, $ROUNDS rounds, servers on CPU $SERVER_CPU, h2load on CPU $CLIENT_CPU"
log "$HEADER"
log "$HEADER2"

# Warm-up (not recorded): caches, allocators and the page cache see the files once.
for s in "${RUNNING[@]}"; do
  for inst in "$s" "$s+log" "$s+full" "$s+h2c" "$s+gz" "$s+gzs"; do
    [[ -n ${PID[$inst]:-} ]] || continue
    if ((H2)); then
      taskset -c "$CLIENT_CPU" h2load -t1 -c10 -m32 -n 5000 "$(inst_url "$inst" 1k.bin)" >/dev/null 2>&1 || true
    else
      taskset -c "$CLIENT_CPU" wrk -t1 "-c$CONNS" -d1s "$SCHEME://127.0.0.1:${PORT[$inst]}/1k.bin" >/dev/null 2>&1 || true
    fi
    [[ $inst == *+log ]] && : >"$TMP/$inst/access.log"
  done
done

# --- the rounds -------------------------------------------------------------------------------
# Interleaved: in each round every workload runs on every server in turn, so slow drift of the
# machine (other jobs, thermal) spreads over all servers instead of favouring one. The server
# order rotates from round to round so that no server always runs first.
declare -A RPS=() P99=() WHY=() CRD=() CCPU=() CSL=() SCPU=()
n=${#RUNNING[@]}
for ((r = 0; r < ROUNDS; r++)); do
  for w in "${WORKLOADS[@]}"; do
    IFS='|' read -r wid label file suffix mode <<<"$w"
    for ((k = 0; k < n; k++)); do
      s=${RUNNING[$(((k + r) % n))]}
      inst=$s$suffix
      if [[ -z ${PID[$inst]:-} ]]; then # a server without this variant (h2c): no figure
        RPS[$wid|$s]+="- " P99[$wid|$s]+="- "
        continue
      fi
      read -r a b cr cc csl scpu <<<"$(run_wrk "$inst" "$file" "$mode")"
      # A server that did not actually log must not win the logging row.
      if [[ $suffix == +log && $a != ERR && ! -s $TMP/$inst/access.log ]]; then
        a=ERR b="access log stayed empty"
      fi
      if [[ $a == ERR ]]; then
        RPS[$wid|$s]+="ERR " P99[$wid|$s]+="ERR "
        WHY[$wid|$s]=$b
        log "round $((r + 1))/$ROUNDS  $label  $s: ERR $b"
      else
        RPS[$wid|$s]+="$a " P99[$wid|$s]+="$b "
        ((CSTATS)) && CRD[$wid|$s]+="$cr " CCPU[$wid|$s]+="$cc " CSL[$wid|$s]+="$csl " SCPU[$wid|$s]+="$scpu "
        lat=""
        ((LATENCY)) && lat=", p99 $b ms"
        log "round $((r + 1))/$ROUNDS  $label  $s: $a req/s$lat"
      fi
      # Logs grow by ~100 bytes a request: start every run from an empty file.
      [[ $suffix == +log ]] && : >"$TMP/$inst/access.log"
    done
  done
done

# --- the table --------------------------------------------------------------------------------
# Ratio columns: evcluster over each peer and over the best peer. Without evcluster (validating
# the harness) each peer over nginx instead, the first peer in the method.
RATIOS=()
PEERS_RUN=()
for s in "${RUNNING[@]}"; do [[ $s != evcluster ]] && PEERS_RUN+=("$s"); done
if has evcluster "${RUNNING[@]}"; then
  for p in "${PEERS_RUN[@]}"; do RATIOS+=("evcluster/$p"); done
  ((${#PEERS_RUN[@]})) && RATIOS+=("evcluster/best" "evcluster/best-rounds")
elif has nginx "${RUNNING[@]}"; then
  for p in "${PEERS_RUN[@]}"; do [[ $p != nginx ]] && RATIOS+=("$p/nginx"); done
fi

fmt_num() { [[ $1 == ERR || $1 == - ]] && echo "$1" || LC_ALL=C printf "%.${2:-0}f" "$1"; }
ratio() { # A B -> A/B as "1.23x", or "-" when either is missing
  [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }' || echo "-"
}
# best_peer WORKLOAD: the highest median among the peers, or "-" if none has a figure.
best_peer() {
  local wid=$1 p vals meds=()
  for p in "${PEERS_RUN[@]}"; do
    read -ra vals <<<"${RPS[$wid|$p]}"
    meds+=("$(median "${vals[@]}")")
  done
  highest "${meds[@]}"
}

# peers_of_round TABLE WORKLOAD ROUND: each peer's figure of that round, one a line (ERR when
# it has none); TABLE is RPS or P99.
peers_of_round() {
  local -n tbl=$1
  local p
  local -a vals
  for p in "${PEERS_RUN[@]}"; do
    read -ra vals <<<"${tbl[$2|$p]}"
    echo "${vals[$3]:-ERR}"
  done
}

# round_ratios WORKLOAD: evcluster over the best peer of the same round, lowest and highest
# over the rounds ("0.97-1.06"): whether a median ratio near 1 is a lead or noise. Rounds are
# interleaved, so the servers of one round saw the same machine.
round_ratios() {
  local wid=$1 r best sorted
  local -a evc_vals peers ratios=()
  read -ra evc_vals <<<"${RPS[$wid|evcluster]}"
  for ((r = 0; r < ${#evc_vals[@]}; r++)); do
    mapfile -t peers < <(peers_of_round RPS "$wid" "$r")
    best=$(highest "${peers[@]}")
    [[ ${evc_vals[$r]} == ERR || $best == - ]] && continue
    ratios+=("$(awk -v a="${evc_vals[$r]}" -v b="$best" 'BEGIN { printf "%.2f", a / b }')")
  done
  ((${#ratios[@]})) || { echo -; return; }
  sorted=$(printf '%s\n' "${ratios[@]}" | sort -g)
  echo "$(head -n 1 <<<"$sorted")-$(tail -n 1 <<<"$sorted")"
}

# p99_columns WORKLOAD: evcluster's median p99 over the lowest peer median ("0.92x", below 1
# is better), and in how many rounds evcluster's p99 was the lowest of all ("6/9"). A tail
# percentile of a 3 s run moves by several ms from round to round; the count says whether a
# median difference is a lead or a coin toss.
p99_columns() {
  local wid=$1 r p best won=0 rounds=0 meds=()
  local -a evc_vals vals peers
  for p in "${PEERS_RUN[@]}"; do
    read -ra vals <<<"${P99[$wid|$p]}"
    meds+=("$(median "${vals[@]}")")
  done
  read -ra evc_vals <<<"${P99[$wid|evcluster]}"
  echo "$(ratio "$(median "${evc_vals[@]}")" "$(lowest "${meds[@]}")")"
  for ((r = 0; r < ${#evc_vals[@]}; r++)); do
    mapfile -t peers < <(peers_of_round P99 "$wid" "$r")
    best=$(lowest "${peers[@]}")
    [[ ${evc_vals[$r]} =~ ^[0-9.]+$ && $best != - ]] || continue
    rounds=$((rounds + 1))
    awk -v a="${evc_vals[$r]}" -v b="$best" 'BEGIN { exit !(a <= b) }' && won=$((won + 1))
  done
  ((rounds)) && echo "$won/$rounds" || echo -
}

# table KIND: KIND rps (requests/s, ratios) or p99 (ms, lower is better, no ratios). Prints a
# plain-text table to stdout and appends a markdown one to $MD.
MD=""
table() {
  local kind=$1 w wid label cells=() s m vals col extra
  local -A med=()
  local head=("workload") unit="req/s"
  [[ $kind == p99 ]] && unit="p99 ms"
  for s in "${RUNNING[@]}"; do head+=("$s"); done
  # Ratio headers shortened ("evc/nginx") to keep the table within a terminal.
  [[ $kind == rps ]] && for col in "${RATIOS[@]}"; do head+=("${col/#evcluster\//evc/}"); done
  [[ $kind == p99 ]] && has evcluster "${RUNNING[@]}" && ((${#PEERS_RUN[@]})) &&
    head+=("evc/best" "evc-lowest")
  printf '%-34s' "${head[0]} ($unit, median of $ROUNDS)"
  for col in "${head[@]:1}"; do printf ' %14s' "$col"; done
  echo
  MD+=$'\n'"| workload ($unit, median of $ROUNDS) |$(printf ' %s |' "${head[@]:1}")"$'\n'
  MD+="|---|$(printf -- '---:|%.0s' "${head[@]:1}")"$'\n'
  for w in "${WORKLOADS[@]}"; do
    IFS='|' read -r wid label _ <<<"$w"
    med=()
    cells=()
    for s in "${RUNNING[@]}"; do
      if [[ $kind == rps ]]; then read -ra vals <<<"${RPS[$wid|$s]}"; m=$(median "${vals[@]}")
      else read -ra vals <<<"${P99[$wid|$s]}"; m=$(median "${vals[@]}"); fi
      med[$s]=$m
      if [[ $kind == rps ]]; then cells+=("$(fmt_num "$m")"); else cells+=("$(fmt_num "$m" 2)"); fi
    done
    if [[ $kind == rps ]]; then
      for col in "${RATIOS[@]}"; do
        case $col in
          */best) cells+=("$(ratio "${med[evcluster]}" "$(best_peer "$wid")")") ;;
          */best-rounds) cells+=("$(round_ratios "$wid")") ;;
          *) cells+=("$(ratio "${med[${col%/*}]}" "${med[${col#*/}]}")") ;;
        esac
      done
    elif ((${#head[@]} > ${#RUNNING[@]} + 1)); then
      mapfile -t extra < <(p99_columns "$wid")
      cells+=("${extra[@]}")
    fi
    printf '%-34s' "$label"
    printf ' %14s' "${cells[@]}"
    echo
    MD+="| $label |$(printf ' %s |' "${cells[@]}")"$'\n'
  done
}

echo
echo "# $HEADER"
echo "# $HEADER2"
table rps
((LATENCY)) && { echo; table p99; }
if ((CSTATS)); then # per response, median of the rounds: client reads, client CPU us, server sleeps
  echo
  cl=wrk
  ((H2)) && cl=h2load
  echo "# per response (median of $ROUNDS): $cl read() calls / $cl CPU us / server sleeps / server CPU us"
  MD+=$'\n'"| workload (per response: $cl reads / $cl CPU us / server sleeps / server CPU us) |$(printf ' %s |' "${RUNNING[@]}")"$'\n'
  MD+="|---|$(printf -- '---:|%.0s' "${RUNNING[@]}")"$'\n'
  for w in "${WORKLOADS[@]}"; do
    IFS='|' read -r wid label _ <<<"$w"
    cells=()
    for s in "${RUNNING[@]}"; do
      read -ra v1 <<<"${CRD[$wid|$s]:-}"; read -ra v2 <<<"${CCPU[$wid|$s]:-}"; read -ra v3 <<<"${CSL[$wid|$s]:-}"
      read -ra v4 <<<"${SCPU[$wid|$s]:-}"
      cells+=("$(median "${v1[@]:--}") / $(median "${v2[@]:--}") / $(median "${v3[@]:--}") / $(median "${v4[@]:--}")")
    done
    printf '%-34s' "$label"; printf ' %22s' "${cells[@]}"; echo
    MD+="| $label |$(printf ' %s |' "${cells[@]}")"$'\n'
  done
fi
# The memory evcluster's compression cache holds after the rounds (one page in one coding).
if ((GZIP)) && [[ -n ${PID[evcluster+gz]:-} ]]; then
  zc=$("$EVC_BIN" -c "$TMP/evcluster+gz/evcluster.conf" status --json | python3 -c '
import json, sys
z = json.load(sys.stdin)["workers"][0]["compression"]
print("%d entries, %d bytes of %d, %d hits, %d compressions" % (z["entries"], z["bytes"],
      z["max_bytes"], z["hits"], z["compressions"]))' 2>/dev/null || echo "status failed")
  echo
  echo "# evcluster compression cache: $zc"
  MD+=$'\n'"evcluster compression cache after the rounds: $zc"$'\n'
fi
if ((${#WHY[@]})); then
  echo
  echo "ERR cells (workload, server: the last error seen):"
  for key in "${!WHY[@]}"; do echo "  ${key%%|*}, ${key#*|}: ${WHY[$key]}"; done
fi

# --- memory per idle keep-alive connection --------------------------------------------------
# Fresh instances (allocators not warmed by the throughput runs, which would hide growth): RSS
# of the whole server (every process of its session) after one request, then with 10,000 idle
# keep-alive connections that each served one request.
if ((MEMORY)); then
  NCONN=10000
  echo
  echo "# resident memory, $NCONN idle keep-alive connections (each after one 1 KiB request)"
  printf '%-12s %14s %14s %14s\n' server "before KiB" "after KiB" "bytes/conn"
  MD+=$'\n'"| server | RSS before (KiB) | RSS with $NCONN idle (KiB) | bytes per connection |"$'\n|---|---:|---:|---:|\n'
  for s in evcluster nginx; do
    has "$s" "${RUNNING[@]}" || continue
    inst=$s+mem
    start_instance "$inst" || continue
    sleep 0.5
    before=$(session_procs "${PID[$inst]}" | awk '{ t += $2 } END { print t + 0 }')
    taskset -c "$CLIENT_CPU" python3 "$BENCH_DIR/idle_conns.py" 127.0.0.1 "${PORT[$inst]}" "$NCONN" /1k.bin \
      "$( ((TLS)) && echo "$TMP/tls/cert.pem")" \
      >"$TMP/$inst/client.out" 2>&1 &
    MEM_CLIENT=$!
    for ((i = 0; i < 600; i++)); do
      grep -qE '^(ready|failed)' "$TMP/$inst/client.out" && break
      alive "$MEM_CLIENT" || break
      sleep 0.1
    done
    if grep -q '^ready' "$TMP/$inst/client.out"; then
      sleep 1 # let the server finish whatever it does after the last response
      after=$(session_procs "${PID[$inst]}" | awk '{ t += $2 } END { print t + 0 }')
      per=$(((after - before) * 1024 / NCONN))
      printf '%-12s %14s %14s %14s\n' "$s" "$before" "$after" "$per"
      MD+="| $s | $before | $after | $per |"$'\n'
    else
      printf '%-12s %14s %14s %14s\n' "$s" "$before" ERR ERR
      MD+="| $s | $before | ERR | ERR |"$'\n'
      log "$s: idle connections failed: $(tail -n 1 "$TMP/$inst/client.out")"
    fi
    kill "$MEM_CLIENT" 2>/dev/null || true
    wait "$MEM_CLIENT" 2>/dev/null || true
    MEM_CLIENT=""
    stop_instance "$inst"
  done
fi

# --- several workers -------------------------------------------------------------------------
# The same 1 KiB keep-alive load on 1 and on 2 workers, nothing pinned (wrk -t2): the cluster
# must not lose throughput to a second worker, and the shared listener must spread the
# connections evenly (max/min of the workers' request counts in `status --json`).
if ((MULTI)) && has evcluster "${RUNNING[@]}"; then
  echo
  echo "# evcluster, 1 KiB keep-alive, wrk -t2 -c$CONNS, nothing pinned (median of $ROUNDS)"
  printf '%-10s %12s %22s\n' workers "req/s" "max/min requests"
  MD+=$'\n'"| workers | req/s | max/min requests per worker |"$'\n|---:|---:|---:|\n'
  for n in 1 2; do
    dir=$TMP/multi$n
    mkdir -p "$dir"
    port=$(free_port)
    render "$BENCH_DIR/evcluster.conf.in" "$dir/evcluster.conf" "PORT=$port" "ROOT=$ROOT" \
      "TMP=$dir" "ACCESS_LOG=off" "EVC_LISTEN=\"127.0.0.1:$port\"" EVC_TLS= GZIP=
    sed -i "s/^workers = 1;/workers = $n;/" "$dir/evcluster.conf"
    setsid "$EVC_BIN" -c "$dir/evcluster.conf" </dev/null >"$dir/console.log" 2>&1 &
    mpid=$!
    for ((i = 0; i < 100; i++)); do
      curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port/1k.bin" && break
      sleep 0.1
    done
    vals=()
    for ((r = 1; r <= ROUNDS; r++)); do
      out=$(wrk -t2 "-c$CONNS" "-d${DURATION}s" "http://127.0.0.1:$port/1k.bin" 2>&1)
      vals+=("$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")")
    done
    rps=$(median "${vals[@]}")
    spread=$("$EVC_BIN" -c "$dir/evcluster.conf" status --json | python3 -c '
import json, sys
w = [x["requests"] for x in json.load(sys.stdin)["workers"] if x["state"] == "running"]
print("%.2f" % (max(w) / max(1, min(w))) if len(w) > 1 else "-")')
    printf '%-10s %12s %22s\n' "$n" "$(fmt_num "$rps")" "$spread"
    MD+="| $n | $(fmt_num "$rps") | $spread |"$'\n'
    kill -TERM -- "-$mpid" 2>/dev/null || true
    wait "$mpid" 2>/dev/null || true
  done
fi

if [[ -n $OUT ]]; then
  { echo "$HEADER  "; echo "$HEADER2"; echo "$MD"; } >"$OUT"
  log "markdown written to $OUT"
fi

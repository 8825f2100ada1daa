#!/usr/bin/env bash
# The load balancer's HTTP mode: requests per second and p99 latency through `switchboard
# balance` and its peers (HAProxy, nginx), each in front of the same three nginx backends,
# measured with wrk. Method: bench/README.md.
#
#   bash bench/balance/run.sh                   # 5 rounds of 5 s per peer, 50 connections
#   ROUNDS=3 SECONDS_PER_RUN=3 bash bench/balance/run.sh
#   SERVERS="switchboard haproxy" BUILD=0 bash bench/balance/run.sh
#
# Needs wrk, nginx, haproxy, curl, taskset, python3 (apt-get install wrk nginx haproxy).
# Skips switchboard while its binary has no `balance` subcommand.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$root/bench/out}
rounds=${ROUNDS:-5}
secs=${SECONDS_PER_RUN:-5}
conns=${CONNS:-50}
threads=${THREADS:-1}
servers=${SERVERS:-switchboard haproxy nginx switchboard-rr}
warmup=${WARMUP:-1}
build=${BUILD:-1}
port_lo=${PORT:-21001}
port_hi=$((port_lo + 999))
server_core=${SERVER_CORE:-1}
load_core=${LOAD_CORE:-0}
backend_core=${BACKEND_CORE:-$load_core}
path=/

for tool in wrk nginx haproxy curl taskset python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install wrk nginx haproxy curl)" >&2; exit 2; }
done

stamp=$(date +%Y%m%d-%H%M%S)
work="$out/balance-$stamp.d"
results="$out/balance-$stamp.tsv"
mkdir -p "$work"
# shellcheck source=common.sh
. "$here/common.sh"

case " $servers " in *" switchboard"*)
  if [ "$build" = 1 ]; then (cd "$root" && cargo build --release --quiet); fi
  if ! have_balance; then
    echo "skipping switchboard: $bin has no 'balance' subcommand yet" >&2
    servers=$(echo " $servers " | sed 's/ switchboard-rr / /; s/ switchboard / /; s/^ *//; s/ *$//')
  fi
esac

clk=$(getconf CLK_TCK)

# One wrk run against the current peer; prints the TSV fields from rps on, and keeps wrk's own
# output beside the results.
measure() {
  local duration=$1 tag=$2
  local wout="$work/wrk-$tag.txt" tout="$work/time-$tag.txt" t0 t1 b0 b1 c0 c1
  c0=$(backend_counts)
  t0=$(cpu_ticks "$pid")
  b0=$(backends_cpu_ticks)
  { TIMEFORMAT='%R %U %S'; time taskset -c "$load_core" wrk -t"$threads" -c"$conns" \
      -d"${duration}s" --latency "http://127.0.0.1:$port$path" >"$wout" 2>&1 || true; } 2>"$tout"
  t1=$(cpu_ticks "$pid")
  b1=$(backends_cpu_ticks)
  c1=$(backend_counts)
  # wrk's text: "Requests/sec: N", the "99%" line of --latency, "N requests in",
  # "Non-2xx or 3xx responses: N", "Socket errors: connect N, read N, write N, timeout N".
  awk -v ticks=$((t1 - t0)) -v bticks=$((b1 - b0)) -v clk="$clk" -v times="$(cat "$tout")" \
      -v c0="$c0" -v c1="$c1" '
    /Requests\/sec:/ { rps = $2 }
    /^ *99%/ { p = $2 }
    / requests in / { req = $1 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(",", ""); sock = $4 + $6 + $8 + $10 }
    END {
      if (rps == "") { rps = "failed" }
      if (p ~ /us$/) p99 = p / 1000; else if (p ~ /ms$/) p99 = p + 0;
      else if (p ~ /m$/) p99 = p * 60000; else if (p ~ /s$/) p99 = p * 1000; else p99 = "";
      split(times, t, " ")
      scpu = t[1] > 0 ? 100 * ticks / clk / t[1] : ""
      bcpu = t[1] > 0 ? 100 * bticks / clk / t[1] : ""
      wcpu = t[1] > 0 ? 100 * (t[2] + t[3]) / t[1] : ""
      # each backend'"'"'s share of the requests answered during the run, in percent, and the
      # connections the backends accepted meanwhile (less the later status request'"'"'s own)
      n = split(c0, a, " "); split(c1, b, " "); total = 0; opened = 0
      for (i = 1; i <= n; i++) {
        split(a[i], x, ":"); split(b[i], y, ":")
        d[i] = y[2] - x[2] - 1; if (d[i] < 0) d[i] = 0; total += d[i]
        opened += y[1] - x[1] - 1
      }
      spread = ""
      for (i = 1; i <= n; i++) spread = spread (i > 1 ? "/" : "") (total ? sprintf("%.0f", 100 * d[i] / total) : "?")
      printf "%s\t%s\t%s\t%d\t%d\t%.0f\t%.0f\t%.0f\t%s\t%d\n", rps, p99, req, non2xx, sock, scpu, bcpu, wcpu, spread, opened
    }' "$wout"
}

# The idle part of a mixed load: IDLE_CONNS keep-alive connections (each answered once, then
# silent) held open through the measured run beside wrk's busy ones.
idle=${IDLE_CONNS:-0}
room=$(((idle + conns) * 5 / 4 + 1024))
[ "$room" -lt 4096 ] && room=4096
want=$((room * 2 + 2048))
if [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
fi
holder=""
hold_idle() {
  local tag=$1
  [ "$idle" -gt 0 ] || return 0
  taskset -c "$load_core" python3 "$root/bench/app/hold_conns.py" --port "$port" --pid "$pid" \
    --conns "$idle" --path "$path" --settle 0.5 --hold $((secs + warmup + 60)) \
    >"$work/hold-$tag.txt" 2>&1 &
  holder=$!
  for _ in $(seq 600); do
    [ -s "$work/hold-$tag.txt" ] && break
    kill -0 "$holder" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q $'\t' "$work/hold-$tag.txt"; then
    echo "the $idle idle connections were not all held: $(cat "$work/hold-$tag.txt")" >&2
    exit 1
  fi
}
release_idle() {
  [ -n "$holder" ] || return 0
  kill -TERM "$holder" 2>/dev/null || true
  wait "$holder" 2>/dev/null || true
  holder=""
}

settings="rounds=$rounds seconds=$secs conns=$conns idle conns=$idle wrk threads=$threads path=$path servers=($servers) balancer core $server_core, wrk core $load_core, 3 nginx backends core $backend_core"
echo "$settings" >&2

# The three backends serve every peer in every round; they run for the whole benchmark.
start_backends 3 "$room"
echo "backends: ${backend_ports[*]}" >&2

printf 'round\tserver\trps\tp99_ms\trequests\tnon2xx\tsock_errors\tserver_cpu\tbackends_cpu\twrk_cpu\tspread\tbackend_conns\n' >"$results"
for round in $(seq "$rounds"); do
  for name in $servers; do
    start_peer "$name" "$room" http
    seen=$(python3 "$here/probe.py" "$port" 3) || {
      echo "$name failed its check; its directory: $work/$name-$port/" >&2
      exit 1
    }
    echo "$seen" >"$work/$name-$port/probe.txt"
    hold_idle "$round-$name"
    [ "$warmup" != 0 ] && measure "$warmup" "warmup-$round-$name" >/dev/null
    row=$(measure "$secs" "$round-$name")
    release_idle
    stop_peer
    printf '%s\t%s\t%s\n' "$round" "$name" "$row" >>"$results"
    IFS=$'\t' read -r rps p99 _ non2xx sock scpu bcpu wcpu spread opened <<<"$row"
    flag=""
    if [ "$non2xx" != 0 ] || [ "$sock" != 0 ]; then flag="  ERRORS: $non2xx non-2xx, $sock socket"; fi
    printf 'round %s  %-15s %10s req/s  p99 %8s ms  cpu balancer %3s%% backends %3s%% wrk %3s%%  spread %s  backend conns opened %s%s\n' \
      "$round" "$name" "$rps" "$p99" "$scpu" "$bcpu" "$wcpu" "$spread" "$opened" "$flag" >&2
  done
done
stop_backends

echo >&2
python3 "$here/report.py" http "$results"
echo
echo "$settings; wrk -t$threads -c$conns -d${secs}s --latency; raw: $results"

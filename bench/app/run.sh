#!/usr/bin/env bash
# The application-server benchmark: requests per second and p99 latency on four routes, for
# `switchboard serve` and its peers (nginx, the classic tutorial's Flask app under gunicorn),
# measured with wrk. Method: bench/README.md.
#
#   bash bench/app/run.sh                    # 5 rounds of 5 s per point, 50 connections
#   ROUNDS=3 SECONDS_PER_RUN=3 ROUTES="add index" bash bench/app/run.sh
#   SERVERS="nginx flask" BUILD=0 bash bench/app/run.sh
#
# Needs wrk, nginx, taskset, python3 (apt-get install wrk nginx); makes a venv with flask and
# gunicorn under bench/out. Skips switchboard while its binary has no `serve` subcommand.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$root/bench/out}
rounds=${ROUNDS:-5}
secs=${SECONDS_PER_RUN:-5}
conns=${CONNS:-50}
threads=${THREADS:-1}
routes=${ROUTES:-add process index profile}
servers=${SERVERS:-switchboard nginx flask}
warmup=${WARMUP:-1}
build=${BUILD:-1}
port=${PORT:-18801}
server_core=${SERVER_CORE:-1}
load_core=${LOAD_CORE:-0}

for tool in wrk nginx taskset python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install wrk nginx)" >&2; exit 2; }
done

stamp=$(date +%Y%m%d-%H%M%S)
work="$out/app-$stamp.d"
results="$out/app-$stamp.tsv"
mkdir -p "$work"
# shellcheck source=common.sh
. "$here/common.sh"

case " $servers " in *" switchboard "*)
  if [ "$build" = 1 ]; then (cd "$root" && cargo build --release --quiet); fi
  if ! have_switchboard; then
    echo "skipping switchboard: $bin has no 'serve' subcommand yet" >&2
    servers=$(echo " $servers " | sed 's/ switchboard / /; s/^ *//; s/ *$//')
  fi
esac
case " $servers " in *" flask "*) setup_venv ;; esac
prepare_site

route_path() {
  case $1 in
    add) echo "/add?a=5&b=3" ;;
    process) echo "/api/process" ;;
    index) echo "/index.html" ;;
    profile) echo "/api/profile" ;;
    *) echo "unknown route $1 (add process index profile)" >&2; exit 2 ;;
  esac
}

# nginx serves only the constant /add and the static page.
serves() {
  case $1 in
    nginx) case $2 in add|index) return 0 ;; *) return 1 ;; esac ;;
    *) return 0 ;;
  esac
}

for r in $routes; do route_path "$r" >/dev/null; done
clk=$(getconf CLK_TCK)

# One wrk run against the current server; prints the TSV fields from rps on, and keeps wrk's
# own output beside the results.
measure() {
  local name=$1 route=$2 auth=$3 duration=$4 tag=$5
  local args=(-t"$threads" -c"$conns" -d"${duration}s" --latency)
  [ "$route" = process ] && args+=(-s "$here/process.lua")
  [ "$route" = profile ] && args+=(-H "$auth")
  local wout="$work/wrk-$tag.txt" tout="$work/time-$tag.txt" t0 t1
  t0=$(cpu_ticks "$pid")
  { TIMEFORMAT='%R %U %S'; time taskset -c "$load_core" wrk "${args[@]}" \
      "http://127.0.0.1:$port$(route_path "$route")" >"$wout" 2>&1 || true; } 2>"$tout"
  t1=$(cpu_ticks "$pid")
  # wrk's text: "Requests/sec: N", the "99%" line of --latency, "N requests in",
  # "Non-2xx or 3xx responses: N", "Socket errors: connect N, read N, write N, timeout N".
  awk -v ticks=$((t1 - t0)) -v clk="$clk" -v times="$(cat "$tout")" '
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
      wcpu = t[1] > 0 ? 100 * (t[2] + t[3]) / t[1] : ""
      printf "%s\t%s\t%s\t%d\t%d\t%.0f\t%.0f\n", rps, p99, req, non2xx, sock, scpu, wcpu
    }' "$wout"
}

printf 'round\troute\tserver\trps\tp99_ms\trequests\tnon2xx\tsock_errors\tserver_cpu\twrk_cpu\n' >"$results"
settings="rounds=$rounds seconds=$secs conns=$conns wrk threads=$threads routes=($routes) servers=($servers) server core $server_core, load core $load_core"
echo "$settings" >&2
for round in $(seq "$rounds"); do
  for name in $servers; do
    port=$((port + 1))
    [ "$port" -gt 19300 ] && port=18801
    start_server "$name" "$port"
    mine=()
    for r in $routes; do serves "$name" "$r" && mine+=("$r"); done
    [ "${#mine[@]}" -gt 0 ] || { stop_server; continue; }
    auth=$(python3 "$here/probe.py" "$port" "$work/site/index.html" "${mine[@]}") || {
      echo "$name failed its checks; its log: $work/$name-$port/stderr.log" >&2
      exit 1
    }
    [ "$warmup" != 0 ] && measure "$name" "${mine[0]}" "$auth" "$warmup" "warmup" >/dev/null
    for r in "${mine[@]}"; do
      row=$(measure "$name" "$r" "$auth" "$secs" "$round-$name-$r")
      printf '%s\t%s\t%s\t%s\n' "$round" "$(route_path "$r" | sed 's/?.*//')" "$name" "$row" >>"$results"
      IFS=$'\t' read -r rps p99 _ non2xx sock scpu wcpu <<<"$row"
      flag=""
      [ "$non2xx" != 0 ] || [ "$sock" != 0 ] && flag="  ERRORS: $non2xx non-2xx, $sock socket"
      printf 'round %s  %-12s %-11s %12s req/s  p99 %8s ms  cpu server %3s%% wrk %3s%%%s\n' \
        "$round" "$r" "$name" "$rps" "$p99" "$scpu" "$wcpu" "$flag" >&2
    done
    stop_server
  done
done

echo >&2
python3 "$here/report.py" "$results"
echo
echo "$settings; wrk -t$threads -c$conns -d${secs}s --latency; raw: $results"

#!/usr/bin/env bash
# The load generator's benchmark: how many requests per second `switchboard bench` can make,
# side by side with wrk, against the same nginx `return 200` (the fastest server at hand, so
# the figure is the client's); and round trips per second of `switchboard bench echo` beside
# the C reference client (echo_load) against the C epoll echo server. Method: bench/README.md.
#
#   bash bench/client/run.sh                    # 5 rounds of 5 s per point
#   ROUNDS=3 SECONDS_PER_RUN=3 POINTS="1:50" bash bench/client/run.sh
#   PARTS=http BUILD=0 bash bench/client/run.sh
#
# Needs wrk, nginx, gcc, taskset, python3, and ../shared/bench beside the repository (or
# SHARED_BENCH) for the echo part.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$root/bench/out}
shared=${SHARED_BENCH:-$root/../shared/bench}
rounds=${ROUNDS:-5}
secs=${SECONDS_PER_RUN:-5}
points=${POINTS:-1:50 2:100}   # THREADS:CONNECTIONS, the same for both load generators
echo_conns=${ECHO_CONNS:-1 50}
size=${SIZE:-64}
parts=${PARTS:-http echo}
build=${BUILD:-1}
port=${PORT:-19401}
server_core=${SERVER_CORE:-1}
load_core=${LOAD_CORE:-0}

for tool in wrk nginx taskset python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install wrk nginx)" >&2; exit 2; }
done

stamp=$(date +%Y%m%d-%H%M%S)
work="$out/client-$stamp.d"
mkdir -p "$work"
# shellcheck source=../app/common.sh
. "$root/bench/app/common.sh"
bin="${CARGO_TARGET_DIR:-$root/target}/release/switchboard"
if [ "$build" = 1 ]; then (cd "$root" && cargo build --release --quiet); fi
"$bin" bench --help >/dev/null 2>&1 || { echo "$bin has no 'bench' subcommand" >&2; exit 1; }
prepare_site

# Per point and client, the median CPU time per request (microseconds): on a busy machine,
# where neither side reaches 100% of its core, this says more about a client's cost than req/s.
cpu_per_request() {
  python3 - "$1" <<'PY'
import csv, statistics, sys
from collections import defaultdict
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
group = [c for c in rows[0] if c not in ("round", "server")][0]
figure = [c for c in rows[0] if c not in ("round", "server", group)][0]
costs = defaultdict(list)
for r in rows:
    try:
        costs[(r[group], r["server"])].append(10000 * float(r["client_cpu"]) / float(r[figure]))
    except (ValueError, ZeroDivisionError):
        pass
for (g, s), v in costs.items():
    print(f"{group} {g}: {s} {statistics.median(v):.2f} us of client CPU per request (median of {len(v)})")
PY
}

# The CPU a client used, as a share of one core: "%R %U %S" from bash's time in $1.
cpu_share() {
  awk '{ if ($1 > 0) printf "%.0f", 100 * ($2 + $3) / $1 }' "$1"
}

# Prints "RPS<TAB>CPU%"; RPS is "failed" for a run with errors or non-2xx answers.
run_wrk() {
  local t=$1 c=$2 url=$3 tag=$4
  { TIMEFORMAT='%R %U %S'; time taskset -c "$load_core" wrk -t"$t" -c"$c" -d"${secs}s" "$url" \
      >"$work/$tag.txt" 2>&1 || true; } 2>"$work/$tag.time"
  printf '%s\t%s\n' "$(awk '/Requests\/sec:/ { rps = $2 } /Non-2xx|Socket errors/ { bad = 1 }
       END { print (rps == "" || bad) ? "failed" : rps }' "$work/$tag.txt")" \
    "$(cpu_share "$work/$tag.time")"
}

run_switchboard() {
  local tag=$1; shift
  { TIMEFORMAT='%R %U %S'; time taskset -c "$load_core" "$bin" bench "$@" -d "${secs}s" --json \
      >"$work/$tag.json" 2>&1 || true; } 2>"$work/$tag.time"
  printf '%s\t%s\n' "$(python3 - "$work/$tag.json" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except ValueError:
    print("failed"); sys.exit()
ok = r["errors"]["total"] == 0 and all(200 <= int(s) < 300 for s in r["status"])
print(f'{r["requests_per_sec"]:.0f}' if ok else "failed")
PY
)" "$(cpu_share "$work/$tag.time")"
}

if [[ " $parts " == *" http "* ]]; then
  results="$out/client-http-$stamp.tsv"
  printf 'round\tpoint\tserver\trps\tclient_cpu\n' >"$results"
  echo "http: rounds=$rounds seconds=$secs points=($points) nginx on core $server_core, load on core $load_core" >&2
  for round in $(seq "$rounds"); do
    port=$((port + 1))
    start_server nginx "$port" 4096
    url="http://127.0.0.1:$port/add?a=5&b=3"
    run_wrk 1 10 "$url" "warmup-$round" >/dev/null
    for point in $points; do
      t=${point%%:*} c=${point##*:}
      for name in wrk switchboard; do
        tag="$round-$name-t$t-c$c"
        if [ "$name" = wrk ]; then
          row=$(run_wrk "$t" "$c" "$url" "$tag")
        else
          row=$(run_switchboard "$tag" "$url" --threads "$t" -c "$c")
        fi
        IFS=$'\t' read -r rps cpu <<<"$row"
        printf '%s\tt%s-c%s\t%s\t%s\t%s\n' "$round" "$t" "$c" "$name" "$rps" "$cpu" >>"$results"
        printf 'round %s  t%s c%-4s %-12s %12s req/s  client cpu %3s%%\n' \
          "$round" "$t" "$c" "$name" "$rps" "$cpu" >&2
      done
    done
    stop_server
  done
  python3 "$root/bench/summary.py" "$results" wrk
  cpu_per_request "$results"
  echo
fi

if [[ " $parts " == *" echo "* ]]; then
  for tool in echo_epoll echo_load; do
    if [ ! -x "$out/$tool" ] || [ "$shared/$tool.c" -nt "$out/$tool" ]; then
      gcc -O2 -o "$out/$tool" "$shared/$tool.c"
    fi
  done
  results="$out/client-echo-$stamp.tsv"
  printf 'round\tconns\tserver\trtps\tclient_cpu\n' >"$results"
  echo "echo: rounds=$rounds seconds=$secs size=$size conns=($echo_conns) c-epoll on core $server_core, load on core $load_core" >&2
  for round in $(seq "$rounds"); do
    for c in $echo_conns; do
      for name in echo_load switchboard; do
        port=$((port + 1))
        taskset -c "$server_core" "$out/echo_epoll" "$port" >/dev/null 2>&1 &
        pid=$!
        started_pids+=("$pid")
        for _ in $(seq 200); do
          (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
          sleep 0.05
        done
        tag="$round-echo-$name-c$c"
        if [ "$name" = echo_load ]; then
          { TIMEFORMAT='%R %U %S'; time taskset -c "$load_core" "$out/echo_load" "$port" "$c" \
              "$size" "$secs" >"$work/$tag.txt" 2>/dev/null || echo failed >"$work/$tag.txt"; } \
            2>"$work/$tag.time"
          row="$(cat "$work/$tag.txt")"$'\t'"$(cpu_share "$work/$tag.time")"
        else
          row=$(run_switchboard "$tag" echo "127.0.0.1:$port" --threads 1 -c "$c" --size "$size")
        fi
        stop_server
        IFS=$'\t' read -r rtps cpu <<<"$row"
        printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$c" "$name" "$rtps" "$cpu" >>"$results"
        printf 'round %s  %5s conns  %-12s %12s  client cpu %3s%%\n' "$round" "$c" "$name" "$rtps" "$cpu" >&2
      done
    done
  done
  python3 "$root/bench/summary.py" "$results" echo_load
  cpu_per_request "$results"
fi

#!/usr/bin/env bash
# The load balancer's TCP mode: round trips per second with 64-byte messages through
# `switchboard balance --mode tcp` in front of `switchboard echo serve` backends, against the
# echo server reached directly. Method: bench/README.md.
#
#   bash bench/balance/tcp.sh                   # 5 rounds of 5 s per point, 50 connections
#   ROUNDS=3 SECONDS_PER_RUN=3 CONNS="1 50" bash bench/balance/tcp.sh
#   SERVERS="direct switchboard" BUILD=0 bash bench/balance/tcp.sh
#
# Needs gcc, taskset, python3, haproxy (for its peer), and ../shared/bench beside the repository
# (or SHARED_BENCH) for the load client.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${SHARED_BENCH:-$root/../shared/bench}
out=${OUT:-$root/bench/out}
rounds=${ROUNDS:-5}
secs=${SECONDS_PER_RUN:-5}
conns_list=${CONNS:-50}
size=${SIZE:-64}
servers=${SERVERS:-direct switchboard switchboard-2 haproxy}
build=${BUILD:-1}
port_lo=${PORT:-22001}
port_hi=$((port_lo + 999))
server_core=${SERVER_CORE:-1}
load_core=${LOAD_CORE:-0}
backend_core=${BACKEND_CORE:-$load_core}

for tool in gcc taskset python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done
case " $servers " in *" haproxy "*)
  command -v haproxy >/dev/null || { echo "needs haproxy (apt-get install haproxy)" >&2; exit 2; }
esac

stamp=$(date +%Y%m%d-%H%M%S)
work="$out/balance-tcp-$stamp.d"
results="$out/balance-tcp-$stamp.tsv"
mkdir -p "$work"
# shellcheck source=common.sh
. "$here/common.sh"

if [ ! -x "$out/echo_load" ] || [ "$shared/echo_load.c" -nt "$out/echo_load" ]; then
  gcc -O2 -o "$out/echo_load" "$shared/echo_load.c"
fi
if [ "$build" = 1 ]; then (cd "$root" && cargo build --release --quiet); fi
# The echo servers are switchboard's too: without the balancer there is nothing to compare.
have_balance || { echo "$bin has no 'balance' subcommand yet" >&2; exit 1; }

# Starts n echo servers (switchboard echo serve --no-udp, the async model) on a core; sets
# backend_ports and backend_pids.
start_echo() {
  local n=$1 core=$2 i dir
  backend_ports=()
  backend_pids=()
  for i in $(seq "$n"); do
    take_port
    dir="$work/echo-e$i-$P"
    mkdir -p "$dir"
    spawn "$core" "$dir/stderr.log" "$bin" -q echo serve --no-udp --listen "127.0.0.1:$P"
    wait_listening "echo e$i" "$P" "$spid" "$dir/stderr.log"
    backend_ports+=("$P")
    backend_pids+=("$spid")
  done
}

clk=$(getconf CLK_TCK)
settings="rounds=$rounds seconds=$secs size=$size conns=($conns_list) servers=($servers) server core $server_core, load core $load_core, echo backends core $backend_core"
echo "$settings" >&2
printf 'round\tconns\tserver\trtps\tserver_cpu\tbackends_cpu\tload_cpu\n' >"$results"
for round in $(seq "$rounds"); do
  for c in $conns_list; do
    for name in $servers; do
      case $name in
        direct)
          # The echo server alone, on the server core: what the balancer is measured against.
          start_echo 1 "$server_core"
          pid=${backend_pids[0]}
          port=${backend_ports[0]}
          ;;
        switchboard) start_echo 1 "$backend_core"; start_peer switchboard 4096 tcp ;;
        switchboard-2) start_echo 2 "$backend_core"; start_peer switchboard 4096 tcp ;;
        haproxy) start_echo 1 "$backend_core"; start_peer haproxy 4096 tcp ;;
        *) echo "unknown server $name (direct switchboard switchboard-2 haproxy)" >&2; exit 2 ;;
      esac
      tag="$round-$c-$name"
      t0=$(cpu_ticks "$pid")
      b0=0
      [ "$name" != direct ] && b0=$(backends_cpu_ticks)
      { TIMEFORMAT='%R %U %S'; time taskset -c "$load_core" "$out/echo_load" "$port" "$c" "$size" \
          "$secs" >"$work/load-$tag.out" 2>"$work/load-$tag.err" || echo failed >"$work/load-$tag.out"; } \
        2>"$work/time-$tag.txt"
      t1=$(cpu_ticks "$pid")
      b1=0
      [ "$name" != direct ] && b1=$(backends_cpu_ticks)
      rtps=$(head -n 1 "$work/load-$tag.out")
      [ -n "$rtps" ] || rtps=failed
      # CPU over the run as shares of one core: the process on the server core (the balancer,
      # or the echo server for direct), the echo servers behind a balancer, the load client.
      read -r scpu bcpu lcpu < <(awk -v t=$((t1 - t0)) -v b=$((b1 - b0)) -v clk="$clk" \
        '{ printf "%.0f %.0f %.0f\n", 100 * t / clk / $1, 100 * b / clk / $1, 100 * ($2 + $3) / $1 }' \
        "$work/time-$tag.txt")
      [ "$name" = direct ] && { pid=""; bcpu=-; }
      stop_peer
      stop_backends
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$c" "$name" "$rtps" "$scpu" "$bcpu" "$lcpu" >>"$results"
      printf 'round %s  %5s conns  %-14s %10s round trips/s  cpu server core %3s%%  echo backends %3s%%  load %3s%%\n' \
        "$round" "$c" "$name" "$rtps" "$scpu" "$bcpu" "$lcpu" >&2
    done
  done
done

echo >&2
python3 "$here/report.py" tcp "$results"
echo
echo "$settings; echo_load PORT CONNS $size ${secs}; raw: $results"

#!/usr/bin/env bash
# The load balancer's memory: resident memory (VmRSS) of `switchboard balance` (HTTP mode) once
# started and idle, then with 10,000 idle keep-alive client connections open, each having had
# one GET / answered through it by one of three nginx backends; HAProxy's (and nginx's, if
# asked) for reference. Target for switchboard: <= 16 KiB per idle client connection. Method:
# bench/README.md.
#
#   bash bench/balance/memory.sh
#   HOLD_CONNS=2000 SERVERS="switchboard haproxy nginx" BUILD=0 bash bench/balance/memory.sh
#
# Needs nginx, haproxy, curl, taskset, python3. Uses bench/app/hold_conns.py to hold the
# connections. Skips switchboard while its binary has no `balance` subcommand.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$root/bench/out}
hold=${HOLD_CONNS:-10000}
servers=${SERVERS:-switchboard haproxy}
settle=${SETTLE:-1}
build=${BUILD:-1}
port_lo=${PORT:-23001}
port_hi=$((port_lo + 999))
server_core=${SERVER_CORE:-1}
load_core=${LOAD_CORE:-0}
backend_core=${BACKEND_CORE:-$load_core}

for tool in nginx haproxy curl taskset python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install nginx haproxy curl)" >&2; exit 2; }
done

stamp=$(date +%Y%m%d-%H%M%S)
work="$out/balance-memory-$stamp.d"
results="$out/balance-memory-$stamp.tsv"
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

# Every process started here may hold $hold client connections plus its backend connections:
# the descriptors for them, as a deployment would give it (LimitNOFILE). HAProxy's maxconn and
# nginx's worker_connections get the same headroom.
room=$((hold * 5 / 4 + 1024))
want=$((room * 2 + 2048))
if [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  [ "$(ulimit -n)" -ge $((hold + 2048)) ] || {
    echo "cannot raise the open-file limit to $want (hard limit $(ulimit -Hn))" >&2
    exit 1
  }
fi

start_backends 3 4096
echo "backends: ${backend_ports[*]}" >&2
printf 'server\tidle_kib\tloaded_kib\tconns\n' >"$results"
echo "conns=$hold path=/ servers=($servers) balancer core $server_core, holder core $load_core, backends core $backend_core" >&2
for name in $servers; do
  start_peer "$name" "$room" http
  sleep "$settle"
  row=$(taskset -c "$load_core" python3 "$root/bench/app/hold_conns.py" --port "$port" --pid "$pid" \
    --conns "$hold" --path /) || {
    echo "$name: the connections were not all held; its directory: $work/$name-$port/" >&2
    row="failed	failed	0"
  }
  stop_peer
  printf '%s\t%s\n' "$name" "$row" >>"$results"
  printf '%-15s %s\n' "$name" "$row" >&2
done
stop_backends

echo >&2
python3 "$here/report.py" memory "$results"
echo
echo "conns=$hold; raw: $results"

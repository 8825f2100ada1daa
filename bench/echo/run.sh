#!/usr/bin/env bash
# The message-server benchmark: round trips per second at several concurrencies, 64-byte
# messages, for each switchboard model and its peers (a C epoll server, the classic tutorial's
# Python servers). Method: bench/README.md.
#
#   bash bench/echo/run.sh                  # 5 rounds of 5 s per point
#   ROUNDS=3 SECONDS_PER_RUN=3 CONNS="1 50" bash bench/echo/run.sh
#
# Needs gcc, python3, taskset, and ../shared/bench beside the repository (or SHARED_BENCH).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=${SHARED_BENCH:-$root/../shared/bench}
out=${OUT:-$root/bench/out}
rounds=${ROUNDS:-5}
secs=${SECONDS_PER_RUN:-5}
conns=${CONNS:-1 50 1000}
size=${SIZE:-64}
servers=${SERVERS:-c-epoll async threaded sequential py-asyncio py-threads}
port=${PORT:-17701}
server_core=${SERVER_CORE:-1}
load_core=${LOAD_CORE:-0}

mkdir -p "$out"
for tool in echo_epoll echo_load; do
  if [ ! -x "$out/$tool" ] || [ "$shared/$tool.c" -nt "$out/$tool" ]; then
    gcc -O2 -o "$out/$tool" "$shared/$tool.c"
  fi
done
(cd "$root" && cargo build --release --quiet)
# Cargo honours CARGO_TARGET_DIR when building; the binary is looked for there too.
bin="${CARGO_TARGET_DIR:-$root/target}/release/switchboard"

pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

start_server() {
  local name=$1 p=$2
  # `exec` in each arm: the background job is the server itself, so killing $pid stops it.
  case $name in
    c-epoll)    exec taskset -c "$server_core" "$out/echo_epoll" "$p" ;;
    async|threaded|sequential)
                exec taskset -c "$server_core" "$bin" -q echo serve --no-udp --model "$name" \
                  --listen "127.0.0.1:$p" ;;
    py-asyncio) exec taskset -c "$server_core" python3 "$here/py_asyncio_server.py" "$p" ;;
    py-threads) exec taskset -c "$server_core" python3 "$here/py_threads_server.py" "$p" ;;
    *) echo "unknown server $name" >&2; exit 2 ;;
  esac >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "$name did not start on port $p" >&2
  exit 1
}

stop_server() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}

results="$out/echo-$(date +%Y%m%d-%H%M%S).tsv"
printf 'round\tconns\tserver\trtps\n' >"$results"
echo "rounds=$rounds seconds=$secs size=$size conns=($conns) server core $server_core, load core $load_core" >&2
for round in $(seq "$rounds"); do
  for c in $conns; do
    for name in $servers; do
      port=$((port + 1))
      [ "$port" -gt 18700 ] && port=17701
      start_server "$name" "$port"
      rtps=$(taskset -c "$load_core" "$out/echo_load" "$port" "$c" "$size" "$secs" 2>/dev/null || echo failed)
      stop_server
      printf '%s\t%s\t%s\t%s\n' "$round" "$c" "$name" "$rtps" >>"$results"
      printf 'round %s  %5s conns  %-11s %s\n' "$round" "$c" "$name" "$rtps" >&2
    done
  done
done

python3 "$here/../summary.py" "$results" c-epoll

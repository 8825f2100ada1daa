#!/usr/bin/env bash
# The application server's memory: resident memory (VmRSS) once started and idle, then with
# 10,000 idle keep-alive connections open, each having sent one complete request (GET /healthz)
# and read its answer; nginx's figures beside it for reference. Targets for switchboard: idle
# <= 20 MiB, increase <= 80 MiB. Method: bench/README.md.
#
#   bash bench/app/memory.sh
#   HOLD_CONNS=2000 SERVERS=nginx BUILD=0 bash bench/app/memory.sh
#
# Needs nginx, taskset, python3. Skips switchboard while its binary has no `serve` subcommand.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$root/bench/out}
hold=${HOLD_CONNS:-10000}
servers=${SERVERS:-switchboard nginx}
settle=${SETTLE:-1}
build=${BUILD:-1}
port=${PORT:-19301}
server_core=${SERVER_CORE:-1}
load_core=${LOAD_CORE:-0}

for tool in nginx taskset python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install nginx)" >&2; exit 2; }
done

stamp=$(date +%Y%m%d-%H%M%S)
work="$out/app-memory-$stamp.d"
results="$out/app-memory-$stamp.tsv"
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
prepare_site

# Every server started here may hold $hold connections: the descriptors for them, as a
# deployment would give it (LimitNOFILE); the server itself is not asked to raise its limit.
want=$((hold * 5 / 4 + 2048))
if [ "$(ulimit -n)" -lt "$want" ]; then
  ulimit -n "$want" || { echo "cannot raise the open-file limit to $want" >&2; exit 1; }
fi

printf 'server\tidle_kib\tloaded_kib\tconns\n' >"$results"
echo "conns=$hold path=/healthz servers=($servers) server core $server_core, holder core $load_core" >&2
for name in $servers; do
  port=$((port + 1))
  [ "$port" -gt 19400 ] && port=19301
  # nginx starts closing idle keep-alive connections to reuse them once fewer than 1/16 of
  # worker_connections are free: give it room enough that it never does.
  start_server "$name" "$port" "$((hold * 5 / 4 + 1024))"
  sleep "$settle"
  row=$(taskset -c "$load_core" python3 "$here/hold_conns.py" --port "$port" --pid "$pid" \
    --conns "$hold" --path /healthz) || {
    echo "$name: the connections were not all held; its log: $work/$name-$port/" >&2
    row="failed	failed	0"
  }
  stop_server
  printf '%s\t%s\n' "$name" "$row" >>"$results"
  printf '%-12s %s\n' "$name" "$row" >&2
done

echo >&2
python3 - "$results" "$hold" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
hold = int(sys.argv[2])
mib = lambda kib: kib / 1024
verdict = lambda ok: "pass" if ok else "FAIL"
print(f"| server | idle RSS | RSS with {hold:,} idle connections | increase | per connection |")
print("|---|---|---|---|---|")
for r in rows:
    if r["idle_kib"] == "failed":
        print(f"| {r['server']} | failed | failed | | |")
        continue
    idle, loaded = int(r["idle_kib"]), int(r["loaded_kib"])
    grow = loaded - idle
    idle_cell = f"{mib(idle):.1f} MiB"
    grow_cell = f"{mib(grow):.1f} MiB"
    if r["server"] == "switchboard":
        idle_cell += f" (target <= 20 MiB: {verdict(mib(idle) <= 20)})"
        grow_cell += f" (target <= 80 MiB: {verdict(mib(grow) <= 80)})"
    print(f"| {r['server']} | {idle_cell} | {mib(loaded):.1f} MiB | {grow_cell} | "
          f"{grow * 1024 / hold:,.0f} B |")
print(f"\nVmRSS of the server process (nginx: master_process off, one process). Idle: after start"
      f" and before any request; loaded: every connection has had one GET /healthz answered and"
      f" was checked open before and after the reading.")
EOF
echo "raw: $results"

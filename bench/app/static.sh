#!/usr/bin/env bash
# Static files: `switchboard serve --site DIR` against nginx serving the same directory, for the
# home page (/index.html, about 2 KB) and a 1 MiB text file, each with and without
# `Accept-Encoding: gzip`, measured with wrk. Method: bench/README.md.
#
#   bash bench/app/static.sh                          # 5 rounds of 5 s per case
#   ROUNDS=3 SECONDS_PER_RUN=2 BUILD=0 bash bench/app/static.sh
#   NGINX_GZIP=off bash bench/app/static.sh           # nginx without its precompressed files
#
# Needs wrk, nginx, taskset, python3, gzip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$root/bench/out}
rounds=${ROUNDS:-5}
secs=${SECONDS_PER_RUN:-5}
conns=${CONNS:-50}
threads=${THREADS:-1}
cases=${CASES:-small small-gzip large large-gzip}
servers=${SERVERS:-switchboard nginx}
warmup=${WARMUP:-1}
build=${BUILD:-1}
port=${PORT:-19501}
server_core=${SERVER_CORE:-1}
load_core=${LOAD_CORE:-0}
nginx_gzip=${NGINX_GZIP:-static}

for tool in wrk nginx taskset python3 gzip curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done

stamp=$(date +%Y%m%d-%H%M%S)
work="$out/static-$stamp.d"
results="$out/static-$stamp.tsv"
mkdir -p "$work"
switchboard_args=(--site "$work/site")
# nginx's best for a static site: the .gz files made beforehand, sent as they are (sendfile).
nginx_extra=""
[ "$nginx_gzip" = static ] && nginx_extra="gzip_static on; gzip_vary on;"
# shellcheck source=common.sh
. "$here/common.sh"

case " $servers " in *" switchboard "*)
  if [ "$build" = 1 ]; then (cd "$root" && cargo build --release --quiet); fi
  have_switchboard || { echo "$bin has no 'serve' subcommand" >&2; exit 2; }
esac

# The site: the home page, and 1 MiB of text (words, so that it compresses as text does),
# both also as .gz beside them for nginx's gzip_static.
mkdir -p "$work/site"
cp "$site_src" "$work/site/index.html"
python3 - "$work/site/large.txt" <<'PY'
import random, sys
words = "switch board static page served from memory cache the of and to in is".split()
rng = random.Random(7)
out, size = [], 0
while size < 1 << 20:
    w = rng.choice(words) + ("\n" if rng.random() < 0.1 else " ")
    out.append(w)
    size += len(w)
open(sys.argv[1], "w").write("".join(out)[: 1 << 20])
PY
gzip -k -9 "$work/site/index.html" "$work/site/large.txt"

case_path() {
  case $1 in
    small | small-gzip) echo "/index.html" ;;
    large | large-gzip) echo "/large.txt" ;;
    *) echo "unknown case $1 (small small-gzip large large-gzip)" >&2; exit 2 ;;
  esac
}
case_file() { echo "$work/site$(case_path "$1")"; }

# Checks a server's answer for a case: the file's bytes, gzip'd when asked for and offered.
probe() {
  local c=$1 url="http://127.0.0.1:$port$(case_path "$1")" got="$work/probe.out" enc
  case $c in
    *-gzip)
      enc=$(curl -s -o "$got" -D - -H 'Accept-Encoding: gzip' "$url" | tr -d '\r' |
        awk -F': ' 'tolower($1) == "content-encoding" { print $2 }')
      if [ "$enc" = gzip ]; then gunzip -c "$got" >"$got.plain"; mv "$got.plain" "$got"; fi
      ;;
    *) curl -s -o "$got" "$url" ;;
  esac
  cmp -s "$got" "$(case_file "$c")" || { echo "$name answered $c wrongly" >&2; exit 1; }
}

measure() {
  local c=$1 tag=$2 duration=$3
  local args=(-t"$threads" -c"$conns" -d"${duration}s" --latency)
  case $c in *-gzip) args+=(-H "Accept-Encoding: gzip") ;; esac
  local wout="$work/wrk-$tag.txt"
  taskset -c "$load_core" wrk "${args[@]}" "http://127.0.0.1:$port$(case_path "$c")" \
    >"$wout" 2>&1 || true
  awk '
    /Requests\/sec:/ { rps = $2 }
    /Transfer\/sec:/ { tr = $2 }
    /^ *99%/ { p = $2 }
    /Non-2xx or 3xx responses:/ { bad += $NF }
    /Socket errors:/ { gsub(",", ""); bad += $4 + $6 + $8 + $10 }
    END { if (rps == "") rps = "failed"; printf "%s\t%s\t%s\t%d\n", rps, p, tr, bad }' "$wout"
}

printf 'round\tcase\tserver\trps\tp99\ttransfer\terrors\n' >"$results"
settings="rounds=$rounds seconds=$secs conns=$conns wrk threads=$threads cases=($cases) servers=($servers) nginx gzip=$nginx_gzip; server core $server_core, load core $load_core"
echo "$settings" >&2
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq "$rounds"); do
  for name in $servers; do
    port=$((port + 1))
    [ "$port" -gt 19900 ] && port=19501
    start_server "$name" "$port"
    for c in $cases; do probe "$c"; done
    for c in $cases; do
      [ "$warmup" != 0 ] && measure "$c" "warmup" "$warmup" >/dev/null
      row=$(measure "$c" "$round-$name-$c" "$secs")
      printf '%s\t%s\t%s\t%s\n' "$round" "$c" "$name" "$row" >>"$results"
      printf 'round %s  %-11s %-12s %s\n' "$round" "$c" "$name" "$row" >&2
    done
    stop_server
  done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$results" <<'PY'
import csv, statistics, sys
from collections import defaultdict
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
rps = defaultdict(dict)
cases, servers = [], []
for r in rows:
    ok = r["rps"] != "failed" and r["errors"] == "0"
    rps[(r["case"], r["server"])][r["round"]] = float(r["rps"]) if ok else None
    for seen, v in ((cases, r["case"]), (servers, r["server"])):
        if v not in seen:
            seen.append(v)
targets = {"small": 1.0, "small-gzip": 1.0, "large": 0.9, "large-gzip": 0.9}
print("| case | " + " | ".join(f"{s} req/s" for s in servers) + " | switchboard / nginx (median of rounds) | target |")
print("|---|" + "---|" * (len(servers) + 2))
for c in cases:
    cells = []
    for s in servers:
        vals = [v for v in rps[(c, s)].values() if v is not None]
        cells.append(f"{statistics.median(vals):,.0f}" if vals else "failed")
    ratios = [
        v / rps[(c, "nginx")][k]
        for k, v in rps[(c, "switchboard")].items()
        if v and rps[(c, "nginx")].get(k)
    ]
    ratio = f"{statistics.median(ratios):.2f}x" if ratios else "-"
    print(f"| {c} | " + " | ".join(cells) + f" | {ratio} | >= {targets.get(c, 1.0)}x |")
PY
echo
echo "$settings; wrk -t$threads -c$conns -d${secs}s --latency; raw: $results"

#!/usr/bin/env bash
# The backup benchmark: how long `switchboard backup now` takes, and how big its file is, for a
# database of 100,000 users on each engine, against the usual way of backing that engine up:
#
#   sqlite    switchboard backup now      vs  sqlite3 DB ".backup COPY" then zstd -3 COPY
#   postgres  switchboard backup now      vs  pg_dump --format=custom (its own compression)
#
# Each round runs every peer once, in turn, pinned to one core (taskset -c 1); the figure is
# the median of the per-round times, and the ratio the median of the per-round ratios to the
# peer (bench/README.md). The databases are filled fast, by direct inserts: 100,000 users, each
# with a password hash in Argon2id's PHC form whose salt and hash are random (so the data
# compresses as real hashes do; nothing verifies them). Restore times are the same file
# restored into a fresh database.
#
#   bash bench/backup/run.sh                       # 5 rounds, both engines
#   ROUNDS=3 ENGINES=sqlite USERS=20000 bash bench/backup/run.sh
#
# Needs sqlite3, zstd, taskset, python3; for PostgreSQL, pg_dump and psql and a server at
# $PG (default postgres://postgres@127.0.0.1:5432/postgres) where it may create databases.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$root/bench/out}
rounds=${ROUNDS:-5}
users=${USERS:-100000}
engines=${ENGINES:-sqlite postgres}
core=${CORE:-1}
pg=${PG:-postgres://postgres@127.0.0.1:5432/postgres}
build=${BUILD:-1}
bin=${BIN:-${CARGO_TARGET_DIR:-$root/target}/release/switchboard}

for tool in sqlite3 zstd taskset python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install sqlite3 zstd)" >&2; exit 2; }
done
if [ "$build" = 1 ]; then (cd "$root" && cargo build --release --quiet); fi

stamp=$(date +%Y%m%d-%H%M%S)
work="$out/backup-$stamp.d"
results="$out/backup-$stamp.tsv"
mkdir -p "$work"
export PGOPTIONS='-c client_min_messages=warning'
printf 'engine\tround\tpeer\tseconds\tbytes\n' >"$results"

# Seconds the command took, to the millisecond.
timed() {
  local start end
  start=$(date +%s.%N)
  taskset -c "$core" "$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; exit 1; }
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.3f}')"
}

one_file() { find "$1" -name '*.backup' | head -1; }

fill_sqlite() {
  local data=$work/sqlite/data
  mkdir -p "$data"
  printf 'a long passphrase\n' | "$bin" -q users create admin --admin --data "$data" >/dev/null
  python3 - "$data/switchboard.db" "$users" <<'PY'
import base64, os, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = int(sys.argv[2])
b64 = lambda k: base64.b64encode(os.urandom(k)).decode().rstrip("=")
def phc():
    return f"$argon2id$v=19$m=19456,t=2,p=1${b64(16)}${b64(32)}"
with db:
    db.executemany(
        "INSERT INTO users (username, username_key, password_hash, role, created_at) VALUES (?, ?, ?, 'user', ?)",
        ((f"user{i}", f"user{i}", phc(), 1_795_312_800_000 + i) for i in range(n)),
    )
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
PY
  echo "sqlite://$data/switchboard.db"
}

fill_postgres() {
  local db=sbbench_backup_$$
  psql -X -q -d "$pg" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  local url=${pg%/*}/$db
  printf 'a long passphrase\n' | "$bin" -q users create admin --admin --database "$url" >/dev/null
  psql -X -q -d "$url" -c "INSERT INTO users (username, username_key, password_hash, role, created_at)
    SELECT 'user' || g, 'user' || g,
           '\$argon2id\$v=19\$m=19456,t=2,p=1\$'
             || rtrim(encode(substr(sha256((random()::text || g)::bytea), 1, 16), 'base64'), '=') || '\$'
             || rtrim(encode(sha256((random()::text || g || 'h')::bytea), 'base64'), '='),
           'user', 1795312800000 + g FROM generate_series(1, $users) g" -c "VACUUM ANALYZE"
  echo "$url"
}

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

for engine in $engines; do
  case $engine in
    sqlite) url=$(fill_sqlite); db_file=${url#sqlite://}; db_bytes=$(stat -c %s "$db_file") ;;
    postgres)
      command -v pg_dump >/dev/null || { echo "skipping postgres: pg_dump is not on the PATH" >&2; continue; }
      url=$(fill_postgres)
      db_bytes=$(psql -X -At -d "$url" -c "SELECT pg_database_size(current_database())") ;;
    *) echo "unknown engine $engine (sqlite postgres)" >&2; exit 2 ;;
  esac
  echo "$engine: $users users, database $db_bytes bytes" >&2
  for round in $(seq 1 "$rounds"); do
    dir=$work/$engine/backups-$round
    rm -rf "$dir"
    s=$(timed "$bin" -q backup now --database "$url" --backup-dir "$dir")
    file=$(one_file "$dir")
    record "$engine" "$round" switchboard "$s" "$(stat -c %s "$file")"
    restored=$work/$engine/restored-$round
    case $engine in
      sqlite)
        r=$(timed "$bin" -q restore "$file" --database "sqlite://$restored.db")
        record "$engine" "$round" switchboard-restore "$r" 0
        copy=$work/sqlite/copy-$round.db
        rm -f "$copy" "$copy.zst"
        s=$(timed sh -c "sqlite3 '$db_file' \".backup '$copy'\" && zstd -q -3 '$copy'")
        record "$engine" "$round" sqlite3-backup+zstd "$s" "$(stat -c %s "$copy.zst")"
        rm -f "$copy" "$copy.zst" "$restored.db" ;;
      postgres)
        target=${url}_r$round
        psql -X -q -d "$pg" -c "DROP DATABASE IF EXISTS ${target##*/} WITH (FORCE)" -c "CREATE DATABASE ${target##*/}"
        r=$(timed "$bin" -q restore "$file" --database "$target")
        record "$engine" "$round" switchboard-restore "$r" 0
        psql -X -q -d "$pg" -c "DROP DATABASE ${target##*/} WITH (FORCE)"
        dump=$work/postgres/dump-$round.custom
        s=$(timed pg_dump --format=custom --no-owner --no-privileges --file "$dump" --dbname "$url")
        record "$engine" "$round" pg_dump-custom "$s" "$(stat -c %s "$dump")"
        rm -f "$dump" ;;
    esac
    rm -rf "$dir"
  done
  [ "$engine" = postgres ] && psql -X -q -d "$pg" -c "DROP DATABASE IF EXISTS ${url##*/} WITH (FORCE)"
  printf '%s\t0\tdatabase\t0\t%s\n' "$engine" "$db_bytes" >>"$results"
done

python3 - "$results" "$users" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
peer_of = {"sqlite": "sqlite3-backup+zstd", "postgres": "pg_dump-custom"}
print(f"Backups of a database of {int(sys.argv[2]):,} users (median of {max(int(r['round']) for r in rows)} rounds, one core)\n")
print("| engine | database | what | time (s) | file | time vs peer | size vs peer |")
print("|---|---|---|---|---|---|---|")
for engine in peer_of:
    mine = [r for r in rows if r["engine"] == engine]
    if not mine:
        continue
    db = next(int(r["bytes"]) for r in mine if r["peer"] == "database")
    rounds = sorted({r["round"] for r in mine if r["round"] != "0"})
    def get(peer, rnd):
        return next(r for r in mine if r["peer"] == peer and r["round"] == rnd)
    for peer in ["switchboard", peer_of[engine], "switchboard-restore"]:
        t = statistics.median(float(get(peer, r)["seconds"]) for r in rounds)
        size = statistics.median(int(get(peer, r)["bytes"]) for r in rounds)
        ref = peer_of[engine]
        if peer == "switchboard":
            tr = statistics.median(float(get(peer, r)["seconds"]) / float(get(ref, r)["seconds"]) for r in rounds)
            sr = statistics.median(int(get(peer, r)["bytes"]) / int(get(ref, r)["bytes"]) for r in rounds)
            ratios = f"{tr:.2f}x | {sr:.2f}x"
        else:
            ratios = "1.00x | 1.00x" if peer == ref else "– | –"
        shown = f"{size / 2**20:.1f} MiB" if size else "–"
        print(f"| {engine} | {db / 2**20:.1f} MiB | {peer} | {t:.3f} | {shown} | {ratios} |")
PY
echo "raw rows: $results" >&2

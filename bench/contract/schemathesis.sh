#!/usr/bin/env bash
# The contract, checked from outside: Schemathesis generates requests from the server's own
# /api/openapi.json, valid and invalid, for a fixed time, and checks every answer against the
# document (status, content type, body schema), that no answer is a 5xx, and that invalid
# data is refused. Not part of CI (it takes minutes and needs PyPI); run it when the routes or
# the document change.
#
#   bash bench/contract/schemathesis.sh                    # 120 s, debug build
#   SWITCHBOARD_BIN=target/release/switchboard DURATION=60 bash bench/contract/schemathesis.sh
#   bash bench/contract/schemathesis.sh --continue-on-failure --seed 1   # more flags for it
#
# It builds the binary unless SWITCHBOARD_BIN names one, starts `serve` on a free loopback port
# with a fresh SQLite data directory, creates an admin whose session the signed-in routes get
# (hooks.py), installs Schemathesis into a virtualenv (VENV, default bench/out/venv) if it is
# not there, runs it, and stops the server. The exit status is Schemathesis's: 0 only when it
# found nothing. Its reports (JUnit, and the server's log) go to bench/out/contract-STAMP/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$root/bench/out}
duration=${DURATION:-120}
workers=${WORKERS:-2}
venv=$(realpath -m "${VENV:-$out/venv}")
schemathesis_version=${SCHEMATHESIS_VERSION:-4.32.5}
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection

for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done

if [ -n "${SWITCHBOARD_BIN:-}" ]; then
  bin=$SWITCHBOARD_BIN
else
  (cd "$root" && cargo build --quiet --bin switchboard)
  bin=${CARGO_TARGET_DIR:-$root/target}/debug/switchboard
fi
[ -x "$bin" ] || { echo "no switchboard binary at $bin" >&2; exit 2; }

if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$schemathesis_version"
fi

stamp=$(date +%Y%m%d-%H%M%S)
work="$out/contract-$stamp"
mkdir -p "$work"
data=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
user=contract-admin
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
printf '%s\n' "$password" | "$bin" -q users create "$user" --admin --data "$data" >/dev/null

# The feed's limit (ten posts a minute per user) raised, so that POST /api/posts is tested past
# its 429.
"$bin" serve --listen "127.0.0.1:$port" --data "$data" --name contract --posts-per-minute 1000000 \
  >"$work/server.log" 2>&1 &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 100); do
  curl -fsS "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$base/readyz" >/dev/null

echo "schemathesis $("$venv/bin/schemathesis" --version | awk '{print $NF}') against $base for ${duration}s; checks: $checks"
status=0
(
  cd "$work"
  CONTRACT_HOST=127.0.0.1 CONTRACT_PORT=$port CONTRACT_USER=$user CONTRACT_PASSWORD=$password \
    SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$here" \
    "$venv/bin/schemathesis" run "$base/api/openapi.json" \
    --checks "$checks" \
    --max-time "$duration" \
    --workers "$workers" \
    --generation-database none \
    --report junit --report-dir "$work" \
    --no-color "$@"
) || status=$?
if ! kill -0 "$server" 2>/dev/null; then
  echo "the server died during the run; its log: $work/server.log" >&2
  status=1
fi
echo "reports: $work (exit status $status)"
exit "$status"

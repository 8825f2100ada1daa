# Shared by bench/app/run.sh and bench/app/memory.sh (sourced, not run): where things are, how
# each peer is set up, started, checked and stopped. Method: bench/README.md.
#
# The caller sets: here, root, out, work (this run's scratch directory), server_core.
# shellcheck shell=bash disable=SC2154

# Cargo honours CARGO_TARGET_DIR when building; the binary is looked for there too.
bin="${CARGO_TARGET_DIR:-$root/target}/release/switchboard"
# The peer `baseline`: another build of switchboard (say, main's), run exactly as `switchboard`
# is, so that a change is measured against what it changes in one interleaved run.
baseline_bin=${BASELINE_BIN:-}
venv=${VENV:-$out/app-venv}
site_src="$root/crates/app/site/index.html"

# What a caller adds: to switchboard's command line (static.sh: --site), and inside nginx's
# http block (static.sh: gzip_static).
switchboard_args=("${switchboard_args[@]}")
nginx_extra=${nginx_extra:-}
# The peers' processes or threads (nginx's worker_processes, gunicorn's workers): 1, the
# one-core method; 2 with SERVER_CORE=0,1 for the two-core figures (bench/README.md).
peer_workers=${PEER_WORKERS:-1}

# Every process we started, so that the trap can stop them all, whatever happened.
started_pids=()
pid=""

stop_pid() {
  local p=$1
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$p" 2>/dev/null || break
    sleep 0.05
  done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}

cleanup() {
  local p
  for p in "${started_pids[@]}"; do stop_pid "$p"; done
  started_pids=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Whether this build of switchboard has the application server. Until it does, it is skipped.
have_switchboard() {
  [ -x "$bin" ] && "$bin" serve --help >/dev/null 2>&1
}

# The Flask peer's virtual environment (flask, gunicorn), made once under bench/out.
setup_venv() {
  if [ ! -x "$venv/bin/gunicorn" ] || ! "$venv/bin/python" -c 'import flask' 2>/dev/null; then
    echo "making $venv (flask, gunicorn)" >&2
    python3 -m venv "$venv"
    nice -n 19 "$venv/bin/pip" install --quiet flask gunicorn >&2
  fi
}

# The static page every peer serves, copied from the source tree at run time.
prepare_site() {
  mkdir -p "$work/site"
  cp "$site_src" "$work/site/index.html"
}

# nginx: one process, the configuration written here under $1 so that nothing under /etc/nginx
# or /var is read or written. master_process off: the single process runs the same event loop
# a worker would (worker_processes 1), and it is the one process to measure and to stop. With
# PEER_WORKERS above 1, a master and that many workers (its children, measured with it).
write_nginx_conf() {
  local dir=$1 port=$2 conns=${3:-1024}
  mkdir -p "$dir/tmp"
  local nofile=$((conns + 256))
  local master=off
  [ "$peer_workers" -gt 1 ] && master=on
  cat >"$dir/nginx.conf" <<EOF
worker_processes $peer_workers;
master_process $master;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile $nofile;
events { worker_connections $conns; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    types { text/html html; text/css css; text/plain txt; }
    $nginx_extra
    default_type application/octet-stream;
    client_body_temp_path $dir/tmp/client_body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $work/site;
        location = /add { default_type text/plain; return 200 "8"; }
        location = /index.html { }
        location = /healthz { default_type application/json; return 200 '{"status":"ok"}'; }
    }
}
EOF
}

# Starts a peer on a port, pinned to the server core; sets $pid. $3: nginx's worker_connections.
start_server() {
  local name=$1 p=$2 dir="$work/$1-$2"
  rm -rf "$dir"
  mkdir -p "$dir"
  case $name in
    switchboard | baseline)
      local exe=$bin
      if [ "$name" = baseline ]; then
        [ -x "$baseline_bin" ] || { echo "the baseline peer needs BASELINE_BIN, a switchboard binary" >&2; exit 2; }
        exe=$baseline_bin
      fi
      taskset -c "$server_core" "$exe" -q serve --listen "127.0.0.1:$p" \
        --database "sqlite://$dir/app.db" --name bench "${switchboard_args[@]}" \
        >"$dir/stderr.log" 2>&1 &
      ;;
    nginx)
      write_nginx_conf "$dir" "$p" "${3:-1024}"
      taskset -c "$server_core" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
        >"$dir/stderr.log" 2>&1 &
      ;;
    flask)
      PYTHONDONTWRITEBYTECODE=1 BENCH_SITE="$work/site/index.html" BENCH_DB="$dir/flask.db" \
        taskset -c "$server_core" "$venv/bin/gunicorn" --chdir "$here" \
        --bind "127.0.0.1:$p" --workers "${FLASK_WORKERS:-$peer_workers}" -k gthread \
        --threads "${FLASK_THREADS:-4}" --log-level warning flask_app:app \
        >"$dir/stderr.log" 2>&1 &
      ;;
    *) echo "unknown server $name" >&2; exit 2 ;;
  esac
  pid=$!
  started_pids+=("$pid")
  for _ in $(seq 200); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited on start; its log ($dir/stderr.log):" >&2
      tail -n 20 "$dir/stderr.log" >&2
      exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "$name did not start on port $p; its log ($dir/stderr.log):" >&2
  tail -n 20 "$dir/stderr.log" >&2
  exit 1
}

stop_server() {
  [ -n "$pid" ] || return 0
  stop_pid "$pid"
  local keep=() p
  for p in "${started_pids[@]}"; do [ "$p" != "$pid" ] && keep+=("$p"); done
  started_pids=("${keep[@]}")
  pid=""
}

# CPU time, in clock ticks, of a process and its children (gunicorn's worker is a child).
cpu_ticks() {
  local total=0 p s f
  for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
    s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    s=${s##*) }
    read -r -a f <<<"$s"
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

# Shared by bench/balance/run.sh, tcp.sh and memory.sh (sourced, not run): the backends, how
# each balancer peer is configured, started and stopped. Method: bench/README.md.
#
# The caller sets: here, root, out, work (this run's scratch directory), server_core,
# backend_core, port_lo, port_hi. bench/app/common.sh gives stop_pid, cpu_ticks, the
# started_pids list and the trap that stops every process started here.
# shellcheck shell=bash disable=SC2154

# shellcheck source=../app/common.sh
. "$root/bench/app/common.sh"

# The next free port of the script's range, in $P: a port that something already listens on
# (another benchmark, a leftover process) is skipped.
next_port=""
take_port() {
  local tries=0
  [ -n "$next_port" ] || next_port=$port_lo
  while :; do
    P=$next_port
    next_port=$((next_port + 1))
    [ "$next_port" -gt "$port_hi" ] && next_port=$port_lo
    tries=$((tries + 1))
    [ "$tries" -gt $((port_hi - port_lo + 1)) ] && { echo "no free port in $port_lo-$port_hi" >&2; exit 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$P") 2>/dev/null || return 0
  done
}

# Waits until a process listens on a port; stops the run if it exits or does not.
wait_listening() {
  local name=$1 p=$2 q=$3 log=$4
  for _ in $(seq 200); do
    if ! kill -0 "$q" 2>/dev/null; then
      echo "$name exited on start; its log ($log):" >&2
      tail -n 20 "$log" >&2
      exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "$name did not start on port $p; its log ($log):" >&2
  tail -n 20 "$log" >&2
  exit 1
}

# Starts a command in the background, pinned to a core; sets $spid and records it for the trap.
spawn() {
  local core=$1 log=$2
  shift 2
  taskset -c "$core" "$@" >"$log" 2>&1 &
  spid=$!
  started_pids+=("$spid")
}

# Stops one process started by spawn and forgets it.
stop_one() {
  local q=$1 keep=() p
  stop_pid "$q"
  for p in "${started_pids[@]}"; do [ "$p" != "$q" ] && keep+=("$p"); done
  started_pids=("${keep[@]}")
}

# --- HTTP backends: nginx processes, each `return 200 "ok"` on its own port -------------------

# nginx, one process (master_process off), everything under $dir. $name goes out in an
# X-Backend header; /nginx_status (stub_status) counts the requests it answered, so the run can
# say how the balancer spread them. keepalive_requests 1000000: the balancers' pooled
# connections are never recycled by the backend.
write_backend_conf() {
  local dir=$1 p=$2 name=$3 conns=$4
  mkdir -p "$dir/tmp"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile $((conns + 256));
events { worker_connections $conns; }
http {
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    default_type text/plain;
    client_body_temp_path $dir/tmp/client_body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    server {
        listen 127.0.0.1:$p backlog=4096;
        location = /nginx_status { stub_status; }
        location / { add_header X-Backend $name; return 200 "ok"; }
    }
}
EOF
}

# Starts $1 (default 3) nginx backends on the backend core; sets backend_ports, backend_pids.
backend_ports=()
backend_pids=()
start_backends() {
  local n=${1:-3} conns=${2:-4096} i dir
  backend_ports=()
  backend_pids=()
  for i in $(seq "$n"); do
    take_port
    dir="$work/backend-b$i-$P"
    rm -rf "$dir"
    write_backend_conf "$dir" "$P" "b$i" "$conns"
    spawn "$backend_core" "$dir/stderr.log" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
    wait_listening "backend b$i" "$P" "$spid" "$dir/stderr.log"
    backend_ports+=("$P")
    backend_pids+=("$spid")
  done
}

stop_backends() {
  local q
  for q in "${backend_pids[@]}"; do stop_one "$q"; done
  backend_pids=()
  backend_ports=()
}

# Connections each backend has accepted and requests it has answered so far (its stub_status
# counts, which include the status request itself and its connection), as ACCEPTS:REQUESTS,
# space-separated in backend order.
backend_counts() {
  local p n counts=()
  for p in "${backend_ports[@]}"; do
    n=$(curl -s --max-time 2 "http://127.0.0.1:$p/nginx_status" | awk 'NR == 3 { print $1 ":" $3 }')
    counts+=("${n:-0:0}")
  done
  echo "${counts[*]}"
}

backends_cpu_ticks() {
  local total=0 q
  for q in "${backend_pids[@]}"; do total=$((total + $(cpu_ticks "$q"))); done
  echo "$total"
}

# --- the balancer peers -------------------------------------------------------------------------

# Whether this build of switchboard has the balancer.
have_balance() {
  [ -x "$bin" ] && "$bin" balance --help >/dev/null 2>&1
}

# HAProxy, Debian's 2.6: one thread, leastconn, idle server connections shared between clients
# (http-reuse always), keep-alive both sides, no log, X-Forwarded-For/Proto added as
# switchboard adds them, the same TCP health check switchboard does by default (2 s, rise 2,
# fall 3). -db keeps it in the foreground as one process (no master): the process to pin,
# measure and stop. $5: the tcp mode instead of http.
write_haproxy_conf() {
  local dir=$1 p=$2 maxconn=$3 mode=${4:-http} i=0 bp
  {
    cat <<EOF
global
    nbthread $peer_workers
    maxconn $maxconn
    pidfile $dir/haproxy.pid
EOF
    # HAProxy wants two descriptors per connection (client and server side) and stops when it
    # cannot raise its limit that far; where the hard limit is lower, it gets what there is
    # (idle clients with pooled backend connections need little more than one each), and
    # `no strict-limits` makes the shortfall a warning instead of a refusal to start.
    local nofile
    nofile=$(ulimit -n)
    if [ "$nofile" != unlimited ] && [ "$nofile" -lt $((maxconn * 2 + 256)) ]; then
      echo "    ulimit-n $nofile"
      echo "    no strict-limits"
    fi
    cat <<EOF

defaults
    mode $mode
    maxconn $maxconn
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
    timeout http-request 60s
EOF
    if [ "$mode" = http ]; then
      cat <<EOF
    option http-keep-alive
    option forwardfor
    http-reuse always
EOF
    fi
    cat <<EOF

frontend fe
    bind 127.0.0.1:$p
    default_backend be

backend be
    balance leastconn
EOF
    [ "$mode" = http ] && echo "    http-request set-header X-Forwarded-Proto http"
    for bp in "${backend_ports[@]}"; do
      i=$((i + 1))
      echo "    server b$i 127.0.0.1:$bp check inter 2s rise 2 fall 3"
    done
  } >"$dir/haproxy.cfg"
}

# nginx as the balancer: one process (worker_processes 1, master_process off), least_conn,
# keep-alive to the upstreams (keepalive 64, HTTP/1.1, the Connection header cleared),
# X-Forwarded-For/Proto added, no access log.
write_nginx_lb_conf() {
  local dir=$1 p=$2 conns=$3 bp master=off
  mkdir -p "$dir/tmp"
  [ "$peer_workers" -gt 1 ] && master=on
  {
    cat <<EOF
worker_processes $peer_workers;
master_process $master;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile $((conns * 2 + 256));
events { worker_connections $((conns * 2)); }
http {
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    client_body_temp_path $dir/tmp/client_body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    upstream backends {
        least_conn;
EOF
    for bp in "${backend_ports[@]}"; do echo "        server 127.0.0.1:$bp;"; done
    cat <<EOF
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$p backlog=4096;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
    }
}
EOF
  } >"$dir/nginx.conf"
}

# Starts a balancer peer on a fresh port in front of backend_ports, pinned to the server core;
# sets $pid and $port. $2: connections it must hold (HAProxy's maxconn, nginx's
# worker_connections). $3: http or tcp.
#   switchboard     switchboard balance --strategy least-connections
#   switchboard-rr  switchboard balance --strategy round-robin
#   haproxy, nginx  as configured above (nginx: HTTP mode only)
start_peer() {
  local name=$1 conns=${2:-4096} mode=${3:-http} dir args=() bp strategy admin
  take_port
  port=$P
  dir="$work/$name-$port"
  rm -rf "$dir"
  mkdir -p "$dir"
  case $name in
    switchboard|switchboard-rr|baseline)
      strategy=least-connections
      [ "$name" = switchboard-rr ] && strategy=round-robin
      local b=$bin
      # `baseline`: another build (BASELINE_BIN), to measure a change against its base.
      [ "$name" = baseline ] && b=${BASELINE_BIN:?set BASELINE_BIN to the other build}
      take_port
      admin=$P
      args=(balance --listen "127.0.0.1:$port" --admin "127.0.0.1:$admin" --mode "$mode"
        --strategy "$strategy" --log-format off --max-connections "$conns")
      for bp in "${backend_ports[@]}"; do args+=(--backend "127.0.0.1:$bp"); done
      echo "$b -q ${args[*]}" >"$dir/command"
      spawn "$server_core" "$dir/stderr.log" "$b" -q "${args[@]}"
      ;;
    haproxy)
      write_haproxy_conf "$dir" "$port" "$conns" "$mode"
      haproxy -c -q -f "$dir/haproxy.cfg" >"$dir/check.log" 2>&1 || {
        echo "haproxy rejects its configuration ($dir/haproxy.cfg):" >&2
        cat "$dir/check.log" >&2
        exit 1
      }
      spawn "$server_core" "$dir/stderr.log" haproxy -db -f "$dir/haproxy.cfg"
      ;;
    nginx)
      [ "$mode" = http ] || { echo "the nginx peer is HTTP mode only" >&2; exit 2; }
      write_nginx_lb_conf "$dir" "$port" "$conns"
      spawn "$server_core" "$dir/stderr.log" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf"
      ;;
    *) echo "unknown peer $name (switchboard switchboard-rr haproxy nginx)" >&2; exit 2 ;;
  esac
  pid=$spid
  wait_listening "$name" "$port" "$pid" "$dir/stderr.log"
}

stop_peer() {
  [ -n "$pid" ] || return 0
  stop_one "$pid"
  pid=""
}

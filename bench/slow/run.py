#!/usr/bin/env python3
"""Slow and hostile clients against `switchboard serve` and `switchboard balance` (and HAProxy,
as a reference for the balancer).

While 1,000 slowloris clients (each trickling its request head a byte a second) or 1,000 slow
readers (each asking for a 1 MiB file and never reading it) hold connections open, a normal
client (wrk -t1 -c10 on a small page) measures what throughput is left, as a ratio to its
throughput without them in the same round. Beside it: the server's peak RSS during the attack,
when its timers (header read; idle, which also lets a client go that takes nothing of its
answer) closed the attacking connections, from the server's side (`ss`), and the CPU the
server, its backend and the attackers took while wrk ran (in cores), with the load average.

    python3 bench/slow/run.py                      # 3 rounds, 1,000 attackers, serve and balance
    python3 bench/slow/run.py --targets "balance haproxy"
    python3 bench/slow/run.py --rounds 1 --conns 500 --targets serve

Method (bench/README.md): the server under test on core 1 (for `balance` and `haproxy`, their
backend, a `serve` or with `--backend nginx` an nginx, on core 0 with the load), wrk and the
attackers on core 0. Needs wrk, taskset, ss (and haproxy, nginx when asked for).

What makes it fair. The attackers share the load core with wrk and (for a balancer) with its
backend, so every cycle they spend is taken from the measured client, not from the server under
test: they are one selector loop (a trickled byte is one send(2), 0.01 of a core for 1,000
slowloris clients), not 1,000 asyncio coroutines each waking every second (0.12 of a core, about
a tenth of what wrk and the backend had). And slow readers are measured once their answers fill
their sockets' buffers, not while the server is still pushing them: on loopback the kernel takes
about 1 MiB of each answer into the send buffer, which for a proxy is 1 GiB read from the
backend and written again in the first seconds (a `serve` sends its file with sendfile(2) and
barely notices); that is the cost of 1,000 large downloads, not of slow readers holding
connections. `--no-settle` measures at once, as the first version of this script did.
"""
import argparse
import collections
import os
import re
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import free_port, rss_kib, stop, wait_port  # noqa: E402


# -- the attackers, run as a subprocess of this script pinned to the load core ----------------
#
# One selector loop for all of them, not a coroutine each: 1,000 asyncio coroutines each waking
# every second (a future, a timer handle and a wait per byte) took a sizeable share of the load
# core, where wrk (and, for `balance`, its backend) run, so the loss measured was partly the
# attackers' own CPU. Here a trickled byte costs one send(2), and a slow reader nothing at all
# once its request is sent.

HEAD = b"GET /index.html HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096


def connect(host, port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(2.0)
    try:
        s.connect((host, port))
    except OSError:
        s.close()
        return None
    s.setblocking(False)
    return s


def attack(kind, host, port, conns, seconds):
    """Opens `conns` attacking connections (one a millisecond) and keeps them going until
    `seconds` have passed or the server has closed them all.

    slowloris: a request head a byte a second per connection, each on its own phase (the
    connection's opening time), so that the bytes arrive spread over the second as 1,000
    independent clients would send them. slow readers: `GET /big.bin` with a 4 KiB receive
    buffer, never read; the socket is kept until the end."""
    sel = selectors.DefaultSelector()
    hold = time.monotonic() + seconds
    due = collections.deque()  # (when the next byte is due, socket, bytes sent so far)
    live = 0
    for _ in range(conns):
        s = connect(host, port, 4096 if kind == "readers" else None)
        if s is None:
            continue
        live += 1
        if kind == "readers":
            try:
                s.send(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            except OSError:
                pass
            due.append((float("inf"), s, 0))
        else:
            sel.register(s, selectors.EVENT_READ)
            due.append((time.monotonic(), s, 0))
        time.sleep(0.001)
    if kind == "readers":
        time.sleep(max(0.0, hold - time.monotonic()))
        for _, s, _ in due:
            s.close()
        return
    closed = set()
    while due and time.monotonic() < hold:
        timeout = max(0.0, min(due[0][0] - time.monotonic(), 0.05))
        for key, _ in sel.select(timeout):
            # Readable: the server answered (a 408 or 431) or closed; either way it let go.
            sel.unregister(key.fileobj)
            closed.add(key.fileobj)
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, s, sent = due.popleft()
            if s in closed:
                s.close()
                continue
            try:
                s.send(HEAD[sent:sent + 1])
            except OSError:
                sel.unregister(s)
                s.close()
                continue
            if sent + 1 < len(HEAD):
                due.append((now + 1.0, s, sent + 1))
            else:
                sel.unregister(s)
                s.close()
    for _, s, _ in due:
        s.close()


def run_attacker(argv):
    kind, host, port, conns, seconds = argv[0], argv[1], int(argv[2]), int(argv[3]), float(argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    attack(kind, host, port, conns, seconds)


# -- the benchmark ---------------------------------------------------------------------------


def established(port):
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
        capture_output=True, text=True).stdout
    return len([l for l in out.splitlines() if l.strip()])


def wrk(url, seconds, core):
    out = subprocess.run(
        ["taskset", "-c", str(core), "wrk", "-t1", "-c10", f"-d{seconds}s", url],
        capture_output=True, text=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return (float(m.group(1)) if m else 0.0), (sum(map(int, errors.groups())) if errors else 0)


def start(cmd, core, name, port, log):
    proc = subprocess.Popen(["taskset", "-c", str(core)] + cmd, stdout=subprocess.DEVNULL,
                            stderr=open(log, "w"))
    wait_port(port, proc, name)
    return proc


def send_queued(port):
    """Bytes the server at `port` has queued on its connections and not yet had taken."""
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
        capture_output=True, text=True).stdout
    return sum(int(l.split()[1]) for l in out.splitlines() if len(l.split()) > 1)


def settle(port, limit=10.0):
    """Waits (`limit` seconds at most) until the bytes queued to the slow readers stop
    growing: each got up to its socket's send buffer of the big file (about 1 MiB on loopback,
    where the kernel sizes it to the path) and takes no more. Returns the seconds waited."""
    started = time.monotonic()
    last = send_queued(port)
    while time.monotonic() - started < limit:
        time.sleep(0.5)
        now = send_queued(port)
        if now <= last * 1.01:
            break
        last = now
    return time.monotonic() - started


def cpu_ticks(pid):
    """User and system clock ticks used so far by process `pid` (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def one_attack(kind, port, pids, conns, hold, url, secs, load_core, settled):
    """Runs an attack of `kind`; returns (rps, errors, peak rss KiB, open at peak, seconds
    until the server held under a tenth of the attackers, or None, and the share of a core
    each of `pids` (server under test first, then its backend) and the attackers used while
    wrk ran)."""
    pid = pids[0]
    attacker = subprocess.Popen(
        ["taskset", "-c", str(load_core), sys.executable, __file__, "--attacker", kind,
         "127.0.0.1", str(port), str(conns), str(hold)])
    started = time.monotonic()
    # Let the connections open before measuring.
    while established(port) < conns * 0.9 and time.monotonic() - started < 10:
        time.sleep(0.2)
    if settled and kind == "readers":
        settle(port)
    peak_open = established(port)
    peak_rss = rss_kib(pid)
    watched = list(pids) + [attacker.pid]
    before = [cpu_ticks(p) for p in watched]
    t0 = time.monotonic()
    rps, errors = wrk(url, secs, load_core)
    elapsed = time.monotonic() - t0
    tick = os.sysconf("SC_CLK_TCK")
    cpu = [(cpu_ticks(p) - b) / tick / elapsed for p, b in zip(watched, before)]
    peak_rss = max(peak_rss, rss_kib(pid))
    closed_at = None
    while attacker.poll() is None:
        now = established(port)
        peak_rss = max(peak_rss, rss_kib(pid))
        if closed_at is None and now < conns / 10:
            closed_at = time.monotonic() - started
        time.sleep(0.25)
    if closed_at is None and established(port) < conns / 10:
        closed_at = time.monotonic() - started
    return rps, errors, peak_rss, peak_open, closed_at, cpu


def haproxy_conf(path, port, backend_port, timeout, conns):
    """HAProxy as bench/balance/common.sh runs it (one thread, keep-alive both sides, idle
    server connections shared), one backend, and the balancer's timers: `timeout
    http-request` is its header-read timeout, `timeout client` and `http-keep-alive` its idle
    timeout (a client that takes no byte of its answer for that long is let go)."""
    with open(path, "w") as f:
        f.write(f"""global
    nbthread 1
    maxconn {conns * 2 + 256}
    ulimit-n {conns * 4 + 512}

defaults
    mode http
    maxconn {conns * 2 + 256}
    timeout connect 5s
    timeout client {timeout}
    timeout server 30s
    timeout http-keep-alive {timeout}
    timeout http-request {timeout}
    option http-keep-alive
    option forwardfor
    http-reuse always

frontend fe
    bind 127.0.0.1:{port}
    default_backend be

backend be
    server b1 127.0.0.1:{backend_port}
""")


def start_backend(a, work, site, port):
    """The backend `balance` and `haproxy` forward to, on the backend core: a `serve` of the
    same site, or nginx serving its files (one process, sendfile, keep-alive)."""
    if a.backend == "serve":
        return start([a.bin, "-q", "serve", "--listen", f"127.0.0.1:{port}", "--data",
                      os.path.join(work, "backend"), "--site", site, "--name", "backend"],
                     a.backend_core, "backend", port, os.path.join(work, "backend.log"))
    d = os.path.join(work, "nginx")
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(f"""worker_processes 1;
master_process off;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
worker_rlimit_nofile {a.conns * 2 + 256};
events {{ worker_connections {a.conns * 2 + 256}; }}
http {{
    access_log off;
    sendfile on;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    client_body_temp_path {d}/tmp/client_body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {site};
    }}
}}
""")
    return start(["nginx", "-p", d, "-e", os.path.join(d, "error.log"), "-c",
                  os.path.join(d, "nginx.conf")], a.backend_core, "nginx", port,
                 os.path.join(d, "stderr.log"))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--attacker":
        return run_attacker(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "switchboard"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--conns", type=int, default=1000)
    p.add_argument("--seconds", type=int, default=5, help="wrk's run under each attack")
    p.add_argument("--timeout", default="8s", help="the servers' header-read and idle timeouts")
    p.add_argument("--targets", default="serve balance",
                   help="of serve, balance, haproxy (HAProxy in front of the same backend)")
    p.add_argument("--backend", default="serve", choices=("serve", "nginx"),
                   help="what balance and haproxy forward to")
    p.add_argument("--backend-core", type=int, default=None,
                   help="the backend's core (the load core unless told)")
    p.add_argument("--no-settle", action="store_true",
                   help="measure slow readers at once, while their answers are still being "
                   "pushed into the socket buffers, not once the buffers are full")
    p.add_argument("--server-core", type=int, default=1)
    p.add_argument("--load-core", type=int, default=0)
    p.add_argument("--tsv", help="also write the table here (bench/report.py reads it)")
    a = p.parse_args()
    if a.backend_core is None:
        a.backend_core = a.load_core
    for tool in ("wrk", "taskset", "ss") + (("haproxy",) if "haproxy" in a.targets else ()) + (
            ("nginx",) if a.backend == "nginx" else ()):
        if not shutil.which(tool):
            sys.exit(f"needs {tool} (apt-get install wrk util-linux iproute2)")
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"no binary at {a.bin}: cargo build --release")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = tempfile.mkdtemp(prefix="switchboard-slow-")
    site = os.path.join(work, "site")
    os.makedirs(site)
    with open(os.path.join(site, "index.html"), "w") as f:
        f.write("<!doctype html><title>slow</title><p>A small page for the normal client.</p>\n")
    with open(os.path.join(site, "big.bin"), "wb") as f:
        f.write(os.urandom(1024 * 1024))
    limits = ["--header-read-timeout", a.timeout, "--idle-timeout", a.timeout]
    hold = 25.0  # attackers give up by themselves after this

    rows = []
    for target in a.targets.split():
        if target not in ("serve", "balance", "haproxy"):
            sys.exit(f"unknown target {target} (serve balance haproxy)")
        procs = []
        port = free_port()
        if target == "serve":
            server = start([a.bin, "-q", "serve", "--listen", f"127.0.0.1:{port}", "--data",
                            os.path.join(work, "serve"), "--site", site, "--name", "slow"] + limits,
                           a.server_core, "serve", port, os.path.join(work, "serve.log"))
            procs.append(server)
        else:
            backend_port = free_port()
            backend = start_backend(a, work, site, backend_port)
            procs.append(backend)
            if target == "balance":
                cmd = [a.bin, "-q", "balance", "--listen", f"127.0.0.1:{port}", "--admin",
                       f"127.0.0.1:{free_port()}", "--backend", f"127.0.0.1:{backend_port}",
                       "--log-format", "off"] + limits
            else:
                conf = os.path.join(work, "haproxy.cfg")
                haproxy_conf(conf, port, backend_port, a.timeout, a.conns)
                cmd = ["haproxy", "-db", "-f", conf]
            server = start(cmd, a.server_core, target, port, os.path.join(work, f"{target}.log"))
            procs.append(server)
        pids = [proc.pid for proc in reversed(procs)]
        url = f"http://127.0.0.1:{port}/index.html"
        try:
            for r in range(1, a.rounds + 1):
                base, base_err = wrk(url, a.seconds, a.load_core)
                idle_rss = rss_kib(server.pid)
                for kind in ("slowloris", "readers"):
                    rps, errors, peak, held, closed, cpu = one_attack(
                        kind, port, pids, a.conns, hold, url, a.seconds, a.load_core,
                        not a.no_settle)
                    row = dict(target=target, round=r, attack=kind, base=base, rps=rps,
                               ratio=rps / base if base else 0.0, errors=errors + base_err,
                               idle_rss=idle_rss, peak_rss=peak, held=held, closed=closed,
                               cpu_server=cpu[0], cpu_backend=cpu[1] if len(cpu) > 2 else None,
                               cpu_attackers=cpu[-1], load=os.getloadavg()[0])
                    rows.append(row)
                    backend_cpu = (f" backend {row['cpu_backend']:.2f}"
                                   if row["cpu_backend"] is not None else "")
                    print(f"round {r} {target:8} {kind:9} base {base:9.0f} req/s  under attack "
                          f"{rps:9.0f} ({row['ratio']:.2f}x)  attackers held {held:5}  "
                          f"rss {idle_rss} -> {peak} KiB  under a tenth after "
                          f"{'%.1f s' % closed if closed else 'never'}  cpu: {target} "
                          f"{row['cpu_server']:.2f}{backend_cpu} attackers "
                          f"{row['cpu_attackers']:.2f}  load {row['load']:.2f}", file=sys.stderr)
                    # Let the closed sockets go before the next measurement.
                    time.sleep(1)
        finally:
            for proc in reversed(procs):
                stop(proc)

    print()
    print(f"{a.conns} attackers; normal client wrk -t1 -c10 -d{a.seconds}s on a small page; "
          f"timeouts {a.timeout}; median of {a.rounds} rounds")
    print()
    print("| target | attack | throughput kept | attackers held | RSS after normal load -> peak | "
          "attackers under a tenth after | CPU (cores) target / backend / attackers | load |")
    print("|---|---|---|---|---|---|---|---|")
    tsv = ["target\tattack\tratio\trounds\tpeak_rss_kib\tclosed_s"]
    for target in a.targets.split():
        for kind in ("slowloris", "readers"):
            rs = [r for r in rows if r["target"] == target and r["attack"] == kind]
            if not rs:
                continue
            med = lambda k: statistics.median(r[k] for r in rs)
            closes = [r["closed"] for r in rs if r["closed"] is not None]
            close = f"{statistics.median(closes):.1f} s" if len(closes) == len(rs) else "not always"
            backend = ("-" if rs[0]["cpu_backend"] is None
                       else f"{statistics.median(r['cpu_backend'] for r in rs):.2f}")
            print(f"| {target} | {kind} | {med('ratio'):.2f}x | {med('held'):.0f} | "
                  f"{med('idle_rss') / 1024:.1f} -> {med('peak_rss') / 1024:.1f} MiB | {close} | "
                  f"{med('cpu_server'):.2f} / {backend} / {med('cpu_attackers'):.2f} | "
                  f"{min(r['load'] for r in rs):.1f}-{max(r['load'] for r in rs):.1f} |")
            tsv.append(f"{target}\t{kind}\t{med('ratio'):.3f}\t{len(rs)}\t{med('peak_rss'):.0f}\t"
                       + (f"{statistics.median(closes):.1f}" if len(closes) == len(rs) else ""))
    if a.tsv:
        with open(a.tsv, "w") as f:
            f.write("\n".join(tsv) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Slow and hostile clients against `switchboard serve` and `switchboard balance`.

While 1,000 slowloris clients (each trickling its request head a byte a second) or 1,000 slow
readers (each asking for a 1 MiB file and never reading it) hold connections open, a normal
client (wrk -t1 -c10 on a small page) measures what throughput is left, as a ratio to its
throughput without them in the same round. Beside it: the server's peak RSS during the attack,
and when its timers (header read; idle, which also lets a client go that takes nothing of its
answer) closed the attacking connections, from the server's side (`ss`).

    python3 bench/slow/run.py                      # 3 rounds, 1,000 attackers, both targets
    python3 bench/slow/run.py --rounds 1 --conns 500 --targets serve

Method (bench/README.md): the server under test on core 1 (for `balance`, its backend, a
`serve`, on core 0 with the load), wrk and the attackers on core 0. Needs wrk, taskset, ss.
"""
import argparse
import asyncio
import os
import re
import resource
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

async def slowloris(host, port, hold):
    """One slowloris client: a request head a byte a second. Returns when the server closed."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return
    head = b"GET /index.html HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096
    closed = asyncio.ensure_future(reader.read(1))
    try:
        for byte in head:
            writer.write(bytes([byte]))
            await writer.drain()
            done, _ = await asyncio.wait([closed], timeout=1.0)
            if done or asyncio.get_event_loop().time() > hold:
                break
    except OSError:
        pass
    finally:
        closed.cancel()
        writer.close()


async def slow_reader(host, port, hold):
    """One slow reader: asks for the big file, never reads, keeps the socket until `hold`."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    loop = asyncio.get_event_loop()
    try:
        await loop.sock_connect(s, (host, port))
        await loop.sock_sendall(s, b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(max(0.0, hold - loop.time()))
    except OSError:
        pass
    finally:
        s.close()


async def attack(kind, host, port, conns, seconds):
    hold = asyncio.get_event_loop().time() + seconds
    client = slowloris if kind == "slowloris" else slow_reader
    tasks = []
    for _ in range(conns):
        tasks.append(asyncio.ensure_future(client(host, port, hold)))
        await asyncio.sleep(0.001)
    await asyncio.gather(*tasks)


def run_attacker(argv):
    kind, host, port, conns, seconds = argv[0], argv[1], int(argv[2]), int(argv[3]), float(argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(attack(kind, host, port, conns, seconds))


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


def one_attack(kind, port, pid, conns, hold, url, secs, load_core):
    """Runs an attack of `kind`; returns (rps, errors, peak rss KiB, open at peak, seconds
    until the server held under a tenth of the attackers, or None)."""
    attacker = subprocess.Popen(
        ["taskset", "-c", str(load_core), sys.executable, __file__, "--attacker", kind,
         "127.0.0.1", str(port), str(conns), str(hold)])
    started = time.monotonic()
    # Let the connections open before measuring.
    while established(port) < conns * 0.9 and time.monotonic() - started < 10:
        time.sleep(0.2)
    peak_open = established(port)
    peak_rss = rss_kib(pid)
    rps, errors = wrk(url, secs, load_core)
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
    return rps, errors, peak_rss, peak_open, closed_at


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
    p.add_argument("--targets", default="serve balance")
    p.add_argument("--server-core", type=int, default=1)
    p.add_argument("--load-core", type=int, default=0)
    a = p.parse_args()
    for tool in ("wrk", "taskset", "ss"):
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
        procs = []
        port = free_port()
        if target == "serve":
            server = start([a.bin, "-q", "serve", "--listen", f"127.0.0.1:{port}", "--data",
                            os.path.join(work, "serve"), "--site", site, "--name", "slow"] + limits,
                           a.server_core, "serve", port, os.path.join(work, "serve.log"))
            procs.append(server)
        else:
            backend_port = free_port()
            backend = start([a.bin, "-q", "serve", "--listen", f"127.0.0.1:{backend_port}",
                             "--data", os.path.join(work, "backend"), "--site", site,
                             "--name", "backend"],
                            a.load_core, "backend", backend_port, os.path.join(work, "backend.log"))
            procs.append(backend)
            server = start([a.bin, "-q", "balance", "--listen", f"127.0.0.1:{port}", "--admin",
                            f"127.0.0.1:{free_port()}", "--backend", f"127.0.0.1:{backend_port}",
                            "--log-format", "off"] + limits,
                           a.server_core, "balance", port, os.path.join(work, "balance.log"))
            procs.append(server)
        url = f"http://127.0.0.1:{port}/index.html"
        try:
            for r in range(1, a.rounds + 1):
                base, base_err = wrk(url, a.seconds, a.load_core)
                idle_rss = rss_kib(server.pid)
                for kind in ("slowloris", "readers"):
                    rps, errors, peak, held, closed = one_attack(
                        kind, port, server.pid, a.conns, hold, url, a.seconds, a.load_core)
                    row = dict(target=target, round=r, attack=kind, base=base, rps=rps,
                               ratio=rps / base if base else 0.0, errors=errors + base_err,
                               idle_rss=idle_rss, peak_rss=peak, held=held, closed=closed)
                    rows.append(row)
                    print(f"round {r} {target:8} {kind:9} base {base:9.0f} req/s  under attack "
                          f"{rps:9.0f} ({row['ratio']:.2f}x)  attackers held {held:5}  "
                          f"rss {idle_rss} -> {peak} KiB  under a tenth after "
                          f"{'%.1f s' % closed if closed else 'never'}", file=sys.stderr)
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
          "attackers under a tenth after |")
    print("|---|---|---|---|---|---|")
    for target in a.targets.split():
        for kind in ("slowloris", "readers"):
            rs = [r for r in rows if r["target"] == target and r["attack"] == kind]
            if not rs:
                continue
            med = lambda k: statistics.median(r[k] for r in rs)
            closes = [r["closed"] for r in rs if r["closed"] is not None]
            close = f"{statistics.median(closes):.1f} s" if len(closes) == len(rs) else "not always"
            print(f"| {target} | {kind} | {med('ratio'):.2f}x | {med('held'):.0f} | "
                  f"{med('idle_rss') / 1024:.1f} -> {med('peak_rss') / 1024:.1f} MiB | {close} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

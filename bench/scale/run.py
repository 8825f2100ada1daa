#!/usr/bin/env python3
"""Scale-out: `switchboard up --hosts N` (each server on a host of its own, a network
namespace, all on one PostgreSQL) with 1, 2 and 3 hosts, in interleaved rounds.

    sudo python3 bench/scale/run.py                    # 3 rounds, hosts 1 2 3
    sudo python3 bench/scale/run.py --rounds 1 --hosts 1 3 --listeners 200

Each server is held to a share of a core (--share, 0.3 by default) by a CPU cgroup, so that
on a 2-core machine the balancer and the load generator keep the rest and the table shows what
adding a host adds. The load generator (`switchboard bench`) is pinned to core 0.

Per point:
- `/api/profile` requests per second (signed in, bearer token), -c 50;
- posting (`POST /api/posts`) requests per second, -c 50, one user per connection's worth of
  the per-user limit (the limit is raised for the run with --posts-per-minute);
- server-sent events fan-out: L listeners on `/api/events` through the balancer, then K posts
  one after another; for each post the time from sending it to its arrival at the last
  listener (p50, p99 over the posts), and at every listener (p50, p99 over all arrivals);
- memory per idle listener: the servers' RSS with the listeners connected, less before,
  divided by L (and the same for `up`, the balancer's process).

Needs root (namespaces, cgroups), PostgreSQL (--database, by default the test server), and a
release build (built unless BUILD=0). Writes bench/out/scale-DATE.{tsv,md}.
"""
import argparse
import asyncio
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import ROOT, free_port, release_binary, rss_kib, sign_up_and_in, stop  # noqa: E402

CGROUP_V1 = "/sys/fs/cgroup/cpu"
CGROUP_V2 = "/sys/fs/cgroup"


class CpuShare:
    """A CPU cgroup per server, each held to `share` of one core."""

    def __init__(self, share):
        self.share, self.dirs = share, []

    def limit(self, name, pid):
        period = 100_000
        quota = int(self.share * period)
        if os.path.isdir(CGROUP_V1) and os.path.exists(f"{CGROUP_V1}/cpu.cfs_quota_us"):
            d = f"{CGROUP_V1}/{name}"
            os.makedirs(d, exist_ok=True)
            open(f"{d}/cpu.cfs_period_us", "w").write(str(period))
            open(f"{d}/cpu.cfs_quota_us", "w").write(str(quota))
        elif os.path.exists(f"{CGROUP_V2}/cgroup.controllers"):
            d = f"{CGROUP_V2}/{name}"
            os.makedirs(d, exist_ok=True)
            open(f"{d}/cpu.max", "w").write(f"{quota} {period}")
        else:
            sys.exit("no CPU cgroup controller (v1 at /sys/fs/cgroup/cpu or v2) to share cores with")
        open(f"{d}/cgroup.procs", "w").write(str(pid))
        self.dirs.append(d)

    def remove(self):
        for d in self.dirs:
            try:
                for pid in open(f"{d}/cgroup.procs").read().split():
                    parent = os.path.dirname(d)
                    open(f"{parent}/cgroup.procs", "w").write(pid)
                os.rmdir(d)
            except OSError:
                pass
        self.dirs = []


def psql(url, sql):
    subprocess.run(["psql", "-X", "-q", "-d", url, "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def with_database(url, name):
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def start_up(binary, hosts, database, posts_per_minute):
    port, admin = free_port(), free_port()
    log = open(os.path.join(ROOT, "bench", "out", f"scale-up-{hosts}.log"), "w")
    cmd = [binary, "up", "--hosts", str(hosts), "--database", database,
           "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}",
           "--echo", "127.0.0.1:0"]
    env = dict(os.environ, SWITCHBOARD_POSTS_PER_MINUTE=str(posts_per_minute))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"up --hosts {hosts} exited on start: see {log.name}")
        if "system ready" in open(log.name).read():
            return proc, port
        time.sleep(0.1)
    stop(proc)
    sys.exit(f"up --hosts {hosts} not ready in 60 s")


def servers_of(up_pid, hosts):
    """The server process in each of `up`'s hosts."""
    pids = []
    for i in range(1, hosts + 1):
        out = subprocess.run(["ip", "netns", "pids", f"switchboard-{up_pid}-{i}"],
                             capture_output=True, text=True).stdout.split()
        pids.append(int(out[0]))
    return pids


def bench(binary, url, seconds, conns, extra):
    out = subprocess.run(["taskset", "-c", "0", binary, "bench", url, "-c", str(conns),
                          "-d", f"{seconds}s", "--json"] + extra,
                         capture_output=True, text=True)
    if out.returncode not in (0, 1):
        sys.exit(f"bench failed: {out.stderr.strip()}")
    report = json.loads(out.stdout)
    ok = sum(n for status, n in report["status"].items() if status.startswith("2"))
    return ok / report["duration_secs"], report


async def listen(port, token, ready, marks, arrivals):
    """One SSE listener: records when each marked post reaches it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((f"GET /api/events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
                  f"Authorization: Bearer {token}\r\n\r\n").encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"events answered {head[:40]!r}")
    ready.append(1)
    seen = {}
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            now = time.perf_counter()
            for mark in marks:
                if mark in line and mark not in seen:
                    seen[mark] = now
                    arrivals.setdefault(mark, []).append(now)
    finally:
        writer.close()


async def fanout(port, up_pid, servers, listeners, posts, tokens):
    """Connects `listeners`, measures memory, sends `posts` posts; the figures."""
    marks = [f"fanout-{os.getpid()}-{k}-{time.time_ns()}".encode() for k in range(posts)]
    ready, arrivals = [], {}
    before = {"up": rss_kib(up_pid), "servers": sum(rss_kib(p) for p in servers)}
    tasks = []
    for i in range(listeners):
        tasks.append(asyncio.create_task(listen(port, tokens[i % len(tokens)], ready, marks,
                                                arrivals)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    deadline = time.time() + 60
    while len(ready) < listeners:
        if time.time() > deadline:
            sys.exit(f"only {len(ready)} of {listeners} listeners connected")
        failed = [t for t in tasks if t.done() and t.exception()]
        if failed:
            sys.exit(f"a listener failed: {failed[0].exception()}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(2)
    after = {"up": rss_kib(up_pid), "servers": sum(rss_kib(p) for p in servers)}
    per_listener = {k: (after[k] - before[k]) * 1024 / listeners for k in before}
    last, every = [], []
    loop = asyncio.get_running_loop()
    for k, mark in enumerate(marks):
        body = json.dumps({"text": mark.decode()}).encode()
        token = tokens[k % len(tokens)]
        sent = time.perf_counter()
        answer = await loop.run_in_executor(None, post, port, token, body)
        if answer != 201:
            sys.exit(f"posting answered {answer}")
        deadline = time.perf_counter() + 10
        while len(arrivals.get(mark, [])) < listeners:
            if time.perf_counter() > deadline:
                sys.exit(f"post {k} reached {len(arrivals.get(mark, []))} of {listeners}")
            await asyncio.sleep(0.001)
        times = [(t - sent) * 1000 for t in arrivals[mark]]
        last.append(max(times))
        every.extend(times)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return last, every, per_listener


def post(port, token, body):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/api/posts", body, {"Content-Type": "application/json",
                                              "Authorization": f"Bearer {token}"})
    status = conn.getresponse().status
    conn.close()
    return status


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hosts", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--share", type=float, default=0.3, help="of a core, per server")
    ap.add_argument("--listeners", type=int, default=1000)
    ap.add_argument("--posts", type=int, default=20)
    ap.add_argument("--database", default=os.environ.get(
        "SWITCHBOARD_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: it makes network namespaces and CPU cgroups")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.makedirs(os.path.join(ROOT, "bench", "out"), exist_ok=True)
    binary = release_binary()
    rows = []
    for r in range(1, a.rounds + 1):
        for n in a.hosts:
            name = f"sbscale_{os.getpid()}_{r}_{n}"
            psql(a.database, f"CREATE DATABASE {name}")
            database = with_database(a.database, name)
            up, port = start_up(binary, n, database, 1_000_000)
            shares = CpuShare(a.share)
            try:
                servers = servers_of(up.pid, n)
                for i, pid in enumerate(servers):
                    shares.limit(f"switchboard-scale-{up.pid}-{i + 1}", pid)
                base = f"http://127.0.0.1:{port}"
                tokens = [sign_up_and_in(base, f"s{r}n{n}u{i}") for i in range(4)]
                auth = ["-H", f"Authorization: Bearer {tokens[0]}"]
                profile, _ = bench(binary, f"{base}/api/profile", a.seconds, a.conns, auth)
                posting, _ = bench(binary, f"{base}/api/posts", a.seconds, a.conns,
                                   auth + ["-m", "POST", "-H", "Content-Type: application/json",
                                           "--body", '{"text":"a post from the benchmark"}'])
                last, every, mem = asyncio.run(
                    fanout(port, up.pid, servers, a.listeners, a.posts, tokens))
                row = {"round": r, "hosts": n, "profile_rps": round(profile),
                       "post_rps": round(posting),
                       "fanout_last_p50_ms": round(pct(last, 50), 2),
                       "fanout_last_p99_ms": round(pct(last, 99), 2),
                       "fanout_each_p50_ms": round(pct(every, 50), 2),
                       "fanout_each_p99_ms": round(pct(every, 99), 2),
                       "server_bytes_per_listener": round(mem["servers"]),
                       "up_bytes_per_listener": round(mem["up"])}
                print(json.dumps(row), flush=True)
                rows.append(row)
            finally:
                shares.remove()
                stop(up)
                psql(a.database, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = os.path.join(ROOT, "bench", "out", f"scale-{stamp}")
    keys = list(rows[0])
    with open(out + ".tsv", "w") as f:
        f.write("\t".join(keys) + "\n")
        for row in rows:
            f.write("\t".join(str(row[k]) for k in keys) + "\n")
    lines = [f"Scale-out, {a.rounds} rounds, each server held to {a.share} of a core, "
             f"{a.listeners} listeners, {a.posts} posts; median over rounds",
             "", "| " + " | ".join(keys[1:]) + " |", "|" + "---|" * (len(keys) - 1)]
    for n in a.hosts:
        mine = [row for row in rows if row["hosts"] == n]
        lines.append("| " + " | ".join(f"{statistics.median(row[k] for row in mine):g}"
                                       for k in keys[1:]) + " |")
    open(out + ".md", "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

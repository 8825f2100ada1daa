#!/usr/bin/env python3
"""A fixed-rate soak through `switchboard up`, with one of its servers killed outright every
minute: every request must still be answered (a bodiless GET that meets a dying server is
sent again to another), and the memory of every process must stay flat.

    python3 bench/soak/run.py                          # 10 minutes at 500 req/s, 3 servers
    python3 bench/soak/run.py --minutes 2 --rate 300
    python3 bench/soak/run.py --minutes 3 --kill-every 30

Load: `switchboard bench --rate R -c 20` for the whole run on `/api/profile` with one user's
bearer token, the route that touches sessions and the users table. Every minute (`--kill-every`)
one server (in turn) gets SIGKILL; `up` restarts it. Reported: requests, non-2xx answers and
client errors, latency, and the RSS (KiB) of `up` (the balancer and the message server, in-process, alive the
whole run) and of each server, some seconds in and at the end (a killed server's end figure is
its restarted process's). Exits 1 if any request failed.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import free_port, post_json, rss_kib  # noqa: E402


def server_pids(data, n):
    """The pid of each of up's servers, by the command line naming the run's database."""
    pids = {}
    for i in range(1, n + 1):
        out = subprocess.run(["pgrep", "-f", "--", f"--name server-{i} --database sqlite://{data}"],
                             capture_output=True, text=True).stdout.split()
        pids[f"server-{i}"] = int(out[0]) if out else None
    return pids


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "switchboard"))
    p.add_argument("--minutes", type=int, default=10)
    p.add_argument("--rate", type=int, default=500)
    p.add_argument("--servers", type=int, default=3)
    p.add_argument("--kill-every", type=int, default=60,
                   help="seconds between kills (one server in turn)")
    a = p.parse_args()
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"no binary at {a.bin}: cargo build --release")

    work = tempfile.mkdtemp(prefix="switchboard-soak-")
    data = os.path.join(work, "data")
    port, admin, echo = free_port(), free_port(), free_port()
    log = open(os.path.join(work, "up.log"), "w")
    up = subprocess.Popen([a.bin, "up", "--servers", str(a.servers), "--listen", f"127.0.0.1:{port}",
                           "--admin", f"127.0.0.1:{admin}", "--echo", f"127.0.0.1:{echo}",
                           "--data", data], stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    failed = True
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                if up.poll() is not None:
                    sys.exit(f"up exited; its log: {log.name}")
                time.sleep(0.1)
        post_json(base + "/api/users", {"username": "soak", "password": "a long passphrase"})
        token = post_json(base + "/login", {"username": "soak", "password": "a long passphrase"})["token"]

        seconds = a.minutes * 60
        load = subprocess.Popen(
            [a.bin, "bench", base + "/api/profile", "-H", f"Authorization: Bearer {token}",
             "--rate", str(a.rate), "-c", "20", "-d", f"{seconds}s", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        start = time.monotonic()
        time.sleep(min(20, seconds / 4))
        first = {"up": rss_kib(up.pid)}
        first.update({k: rss_kib(v) if v else None for k, v in server_pids(data, a.servers).items()})
        kills = 0
        for n in range(1, (seconds - 1) // a.kill_every + 1):
            time.sleep(max(0, start + a.kill_every * n - time.monotonic()))
            victim = f"server-{(n - 1) % a.servers + 1}"
            pid = server_pids(data, a.servers).get(victim)
            if pid:
                os.kill(pid, signal.SIGKILL)
                kills += 1
                print(f"{a.kill_every * n} s: killed {victim} (pid {pid})", file=sys.stderr)
        out, _ = load.communicate(timeout=seconds + 60)
        # The last restart gets time to come up before the end figures.
        last = {"up": rss_kib(up.pid)}
        last.update({k: rss_kib(v) if v else None for k, v in server_pids(data, a.servers).items()})
        report = json.loads(out)
        non2xx = sum(n for s, n in report["status"].items() if not s.startswith("2"))
        errors = report["errors"]["total"]
        print()
        print(f"{a.minutes} min at {a.rate} req/s through up ({a.servers} servers), GET /api/profile "
              f"signed in; {kills} servers killed with SIGKILL, one every {a.kill_every} s")
        print()
        print(f"requests {report['requests']}, answered 2xx "
              f"{sum(n for s, n in report['status'].items() if s.startswith('2'))}, non-2xx {non2xx}, "
              f"client errors {errors}; p50 {report['latency_ms'].get('p50')} ms, p99 "
              f"{report['latency_ms'].get('p99')} ms")
        if non2xx:
            print(f"answers by status: {report['status']}; up's log: {log.name}")
        print()
        print("| process | RSS at start (KiB) | RSS at end (KiB) |")
        print("|---|---|---|")
        for k in first:
            note = " (restarted)" if k != "up" else ""
            print(f"| {k}{note} | {first[k]} | {last.get(k)} |")
        failed = non2xx != 0 or errors != 0
        return 1 if failed else 0
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
        # A failed run keeps up's log (the servers' warnings and errors are in it).
        if not failed:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

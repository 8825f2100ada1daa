"""The memory an idle event stream (`GET /api/events`) costs the application server.

    python3 bench/app/feed_memory.py [--bin target/release/switchboard] [--conns 1000]

Starts `switchboard serve` on a fresh SQLite file, signs a user up and in, then reads the
server's resident memory (VmRSS) three times: before and after opening --conns idle keep-alive
connections (each has sent one `GET /healthz` and read the answer), and before and after
opening --conns event streams (each has read the stream's head and its `retry:` line). A post
at the end must reach every stream. Prints bytes per connection and per stream; the difference
is what the feed adds to a connection (target: a stream at most 8 KiB); --tsv writes them as a
results file too (bench/report.py reads it). Bounded: --conns
connections, a few seconds. Loopback only.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

PASSWORD = "correct horse battery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/switchboard")
    parser.add_argument("--conns", type=int, default=1000)
    parser.add_argument("--tsv", help="also write the figures here (what, conns, bytes_each)")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="switchboard-feed-memory-")
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = subprocess.Popen(
        [args.bin, "serve", "--data", data, "--listen", f"127.0.0.1:{port}", "--name", "mem"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        run(args, port, server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)


def run(args, port, pid):
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1)
            break
        except OSError:
            time.sleep(0.1)

    def post(path, body, cookie=None):
        headers = {"content-type": "application/json"}
        if cookie:
            headers["cookie"] = f"sb_session={cookie}"
        req = urllib.request.Request(base + path, json.dumps(body).encode(), headers)
        return urllib.request.urlopen(req, timeout=10)

    post("/api/users", {"username": "mem", "password": PASSWORD})
    login = post("/login", {"username": "mem", "password": PASSWORD})
    cookie = re.search(r"sb_session=([0-9a-f]+)", login.headers["set-cookie"]).group(1)

    def rss_kib():
        with open(f"/proc/{pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

    def opened(request, until):
        conn = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn.sendall(request)
        got = b""
        while until not in got:
            chunk = conn.recv(4096)
            if not chunk:
                sys.exit("the server closed a connection")
            got += chunk
        return conn

    idle = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
    stream = f"GET /api/events HTTP/1.1\r\nHost: bench\r\nCookie: sb_session={cookie}\r\n\r\n"

    def measure(request, until):
        warm = [opened(request, until) for _ in range(10)]
        time.sleep(1)
        before = rss_kib()
        held = [opened(request, until) for _ in range(args.conns)]
        time.sleep(2)
        return warm + held, (rss_kib() - before) * 1024 / args.conns

    connections, per_conn = measure(idle, b"\r\n\r\n")
    streams, per_stream = measure(stream.encode(), b"retry:")
    post("/api/posts", {"text": "to every stream"}, cookie)
    for conn in streams:
        got = b""
        while b"event: post" not in got:
            got += conn.recv(65536)
    print(f"{args.conns} idle keep-alive connections: {per_conn:.0f} bytes each")
    print(f"{args.conns} idle event streams: {per_stream:.0f} bytes each (all got the post)")
    print(f"the feed's part of a stream: {per_stream - per_conn:.0f} bytes")
    if args.tsv:
        with open(args.tsv, "w") as f:
            f.write("what\tconns\tbytes_each\n")
            f.write(f"connection\t{args.conns}\t{per_conn:.0f}\n")
            f.write(f"stream\t{args.conns}\t{per_stream:.0f}\n")
    for conn in connections + streams:
        conn.close()


if __name__ == "__main__":
    main()

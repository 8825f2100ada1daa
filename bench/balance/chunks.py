"""Times a chunked request body of many one-byte chunks, straight to `switchboard serve` and
through `switchboard balance` in front of it, all on 127.0.0.1.

    python3 bench/balance/chunks.py BINARY [--chunks 300000] [--runs 3]

BINARY is a release build (`target/release/switchboard`). The body is a `POST /process`
JSON document of exactly --chunks bytes, sent one byte per chunk over a raw socket (the
whole request prepared first, then written as fast as the socket takes it); the time runs
from the first byte written to the answer read. Prints the best of --runs for each path,
and exits 1 if an answer is not the right sum."""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, proc, name):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"chunks: {name} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"chunks: {name} did not listen on {port}")


def body_of(size):
    """A /process document of exactly `size` bytes: ones, padded with spaces; and its sum."""
    ones = (size - len('{"input":[]}') + 1) // 2
    doc = '{"input":[' + ",".join(["1"] * ones) + "]}"
    return (doc + " " * (size - len(doc))).encode(), ones


def request_of(body):
    head = b"POST /process HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    head += b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    return head + b"".join(b"1\r\n" + body[i : i + 1] + b"\r\n" for i in range(len(body))) + b"0\r\n\r\n"


def timed(port, request, want):
    with socket.create_connection(("127.0.0.1", port)) as s:
        start = time.perf_counter()
        s.sendall(request)
        answer = b""
        while True:
            got = s.recv(65536)
            if not got:
                break
            answer += got
        took = time.perf_counter() - start
    if not answer.startswith(b"HTTP/1.1 200") or not answer.endswith(b'{"result":%d}' % want):
        sys.exit(f"chunks: port {port} answered {answer[:200]!r}")
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--chunks", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    body, want = body_of(args.chunks)
    request = request_of(body)
    app, lb, admin = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as data:
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        serve = subprocess.Popen(
            [args.binary, "serve", "--listen", f"127.0.0.1:{app}", "--data", data], **quiet
        )
        balance = subprocess.Popen(
            [args.binary, "balance", "--listen", f"127.0.0.1:{lb}", "--admin", f"127.0.0.1:{admin}",
             "--backend", f"127.0.0.1:{app}", "--log-format", "off"],
            **quiet,
        )
        try:
            wait_for(app, serve, "serve")
            wait_for(lb, balance, "balance")
            for name, port in (("direct", app), ("through the balancer", lb)):
                best = min(timed(port, request, want) for _ in range(args.runs))
                print(f"{args.chunks} one-byte chunks, {name}: {best:.3f} s")
        finally:
            for proc in (balance, serve):
                proc.terminate()
                proc.wait(timeout=15)


if __name__ == "__main__":
    main()

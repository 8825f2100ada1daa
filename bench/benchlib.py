"""What the Python benchmark scripts share: free ports, waiting for a listener, a process's
memory, stopping a child, small JSON requests. Imported by bench/slow, bench/soak and
bench/scale (each puts this directory on sys.path)."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, name, host="127.0.0.1"):
    """Waits (20 s at most) until `host:port` accepts; exits if `proc` ends first."""
    for _ in range(400):
        if proc.poll() is not None:
            sys.exit(f"{name} exited on start")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"{name} did not start on port {port}")


def rss_kib(pid):
    """The resident memory of process `pid` in KiB; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def stop(proc):
    """SIGTERM, 30 s to exit, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def post_json(url, body, token=None, timeout=10):
    """POSTs `body` as JSON; the answer's JSON (or {})."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"{}")


def sign_up_and_in(base, username, password="a long passphrase"):
    """Registers `username` at `base` (http://HOST:PORT) and signs in; the session token."""
    post_json(f"{base}/api/users", {"username": username, "password": password})
    return post_json(f"{base}/login", {"username": username, "password": password})["token"]


def release_binary():
    """The release build of switchboard, built first unless BUILD=0."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "switchboard")
    if os.environ.get("BUILD", "1") != "0":
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    if not os.access(binary, os.X_OK):
        sys.exit(f"no release build at {binary}")
    return binary

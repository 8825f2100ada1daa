"""Checks that a peer answers each benchmarked route as it should before it is measured, and signs
in for /api/profile. Prints the header wrk must send on /api/profile (nothing if that route is
not asked for); exits 1 with the reason if a route answers wrongly.

    python3 bench/app/probe.py PORT SITE_FILE ROUTE...      (ROUTE: add process index profile)

Sign-in: POST /api/users {"username", "password"} (201, or 409 if it exists), then POST /login
with the same JSON. A JSON "token" in the answer is sent back as `Authorization: Bearer`;
otherwise the session cookie that /login set is sent back as `Cookie`.
"""
import http.client
import json
import sys
import time

USER = {"username": "bench", "password": "benchmark password 1"}


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=hdrs)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    return resp, payload


def fail(msg):
    print(f"probe: {msg}", file=sys.stderr)
    sys.exit(1)


def sign_in(port):
    resp, payload = request(port, "POST", "/api/users", USER)
    if resp.status not in (200, 201, 409):
        fail(f"POST /api/users answered {resp.status}: {payload[:200]!r}")
    resp, payload = request(port, "POST", "/login", USER)
    if resp.status != 200:
        fail(f"POST /login answered {resp.status}: {payload[:200]!r}")
    try:
        token = json.loads(payload).get("token")
    except ValueError:
        token = None
    if token:
        return f"Authorization: Bearer {token}"
    cookie = resp.getheader("Set-Cookie")
    if not cookie:
        fail("POST /login set no cookie and sent no token")
    return "Cookie: " + cookie.split(";", 1)[0]


def main(port, site_file, routes):
    port = int(port)
    # The port is open; give the application a moment to answer HTTP too.
    deadline = time.monotonic() + 10
    while True:
        try:
            request(port, "GET", "/healthz")
            break
        except OSError:
            if time.monotonic() > deadline:
                fail("no HTTP answer within 10 s")
            time.sleep(0.1)
    header = ""
    for route in routes:
        if route == "add":
            resp, payload = request(port, "GET", "/add?a=5&b=3")
            if resp.status != 200 or payload.strip() != b"8":
                fail(f"GET /add?a=5&b=3 answered {resp.status} {payload[:100]!r}, not 8")
        elif route == "process":
            resp, payload = request(port, "POST", "/api/process", {"input": [1, 2, 3]})
            if resp.status != 200 or json.loads(payload).get("result") != 6:
                fail(f"POST /api/process answered {resp.status} {payload[:100]!r}, not result 6")
        elif route == "index":
            resp, payload = request(port, "GET", "/index.html")
            if resp.status != 200 or payload != open(site_file, "rb").read():
                fail(f"GET /index.html answered {resp.status}, {len(payload)} bytes, not the page")
        elif route == "profile":
            header = sign_in(port)
            name, value = header.split(": ", 1)
            resp, payload = request(port, "GET", "/api/profile", headers={name: value})
            if resp.status != 200:
                fail(f"GET /api/profile signed in answered {resp.status}: {payload[:200]!r}")
        else:
            fail(f"unknown route {route}")
    print(header)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])

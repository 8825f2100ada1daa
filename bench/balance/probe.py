"""Checks a balancer before it is measured: GET / over one keep-alive connection, --requests
times, must answer 200 `ok` each time, and the answers must come from every backend
(the X-Backend header the nginx backends add).

    python3 bench/balance/probe.py PORT BACKENDS [--requests 12]

Prints the backends seen, in order (b1 b2 b3 ...), and exits 0; or says what was wrong on
stderr and exits 1."""
import argparse
import http.client
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("backends", type=int)
    ap.add_argument("--requests", type=int, default=12)
    args = ap.parse_args()
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=5)
    seen = []
    for i in range(args.requests):
        try:
            conn.request("GET", "/")
            resp = conn.getresponse()
            body = resp.read()
        except OSError as e:
            sys.exit(f"probe: request {i + 1}: {e}")
        if resp.status != 200 or body != b"ok":
            sys.exit(f"probe: request {i + 1}: answered {resp.status} {body[:80]!r}, wanted 200 b'ok'")
        seen.append(resp.getheader("X-Backend", "?"))
    want = {f"b{i + 1}" for i in range(args.backends)}
    if not want <= set(seen):
        sys.exit(f"probe: {args.requests} requests reached only {sorted(set(seen))}, wanted {sorted(want)}")
    print(" ".join(seen))


if __name__ == "__main__":
    main()

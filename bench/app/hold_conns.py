"""Holds many idle keep-alive HTTP connections open to a server and reads its memory meanwhile.

    python3 bench/app/hold_conns.py --port PORT --pid PID [--conns 10000] [--path /healthz]

1. Reads the server's resident memory (VmRSS of each --pid, summed): the idle figure.
2. Opens --conns connections, at most --batch at a time in flight; on each sends one complete
   `GET PATH` (HTTP/1.1, keep-alive) and reads the complete 200 answer; then leaves it open.
3. After --settle seconds, checks that every connection is still open (a peek that finds no
   end of stream and no error), reads VmRSS again, and checks again: the figure counts only if
   all connections were open on both sides of the reading.

Prints one line, `idle_kib<TAB>loaded_kib<TAB>open`, and exits 0; or says what went wrong on
stderr and exits 1. With --hold S, keeps the connections open S seconds more after printing
(or until killed), then checks they are all still open: the idle part of a mixed load
(bench/balance/run.sh's IDLE_CONNS). Bounded: gives up after --timeout seconds. Raises its own
RLIMIT_NOFILE.
"""
import argparse
import errno
import resource
import select
import signal
import socket
import sys
import time


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return
        except (ValueError, OSError):
            sys.exit(f"hold_conns: need {need} file descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def complete(buf):
    """Whether buf holds one whole response; raises ValueError if it is not a keep-alive 200."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    head = buf[:end].decode("latin-1").lower().split("\r\n")
    status = head[0].split()
    if len(status) < 2 or status[1] != "200":
        raise ValueError(f"answered {head[0]!r}")
    fields = dict(line.split(":", 1) for line in head[1:] if ":" in line)
    if fields.get("connection", "").strip() == "close":
        raise ValueError("answered with Connection: close")
    if "content-length" in fields:
        return len(buf) - end - 4 >= int(fields["content-length"])
    if "chunked" in fields.get("transfer-encoding", ""):
        return buf.endswith(b"0\r\n\r\n")
    raise ValueError("answer with neither Content-Length nor chunked body")


def still_open(socks):
    """How many connections are open: a non-blocking peek finds nothing to read."""
    n = 0
    for s in socks:
        try:
            data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            n += 1
            continue
        except OSError:
            continue
        if data:  # unexpected bytes, but the connection is open
            n += 1
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, action="append", required=True)
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--path", default="/healthz")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--hold", type=float, default=0.0, help="seconds to keep them open after")
    args = ap.parse_args()
    raise_nofile(args.conns + 256)
    deadline = time.monotonic() + args.timeout
    request = f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n\r\n".encode()

    idle = rss_kib(args.pid)

    ep = select.epoll()
    pending = {}  # fd -> [socket, state, received bytes]
    done = []
    started = failed = 0
    first_error = None
    while len(done) + failed < args.conns:
        if time.monotonic() > deadline:
            sys.exit(f"hold_conns: timed out with {len(done)} of {args.conns} connections answered")
        while started < args.conns and len(pending) < args.batch:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", args.port))
            if err not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                first_error = first_error or f"connect: {errno.errorcode.get(err, err)}"
            else:
                pending[s.fileno()] = [s, "connecting", b""]
                ep.register(s.fileno(), select.EPOLLOUT)
            started += 1
        for fd, ev in ep.poll(1.0):
            s, state, buf = pending[fd]
            try:
                if state == "connecting":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, f"connect: {errno.errorcode.get(err, err)}")
                    s.sendall(request)  # a few dozen bytes: the send buffer takes them
                    pending[fd][1] = "reading"
                    ep.modify(fd, select.EPOLLIN)
                    continue
                chunk = s.recv(65536)
                if not chunk:
                    raise ValueError("closed before answering")
                buf += chunk
                pending[fd][2] = buf
                if complete(buf):
                    ep.unregister(fd)
                    del pending[fd]
                    done.append(s)
            except (OSError, ValueError) as e:
                ep.unregister(fd)
                del pending[fd]
                s.close()
                failed += 1
                first_error = first_error or str(e)
    if failed:
        sys.exit(f"hold_conns: {failed} of {args.conns} connections failed, first: {first_error}")

    time.sleep(args.settle)
    before = still_open(done)
    loaded = rss_kib(args.pid)
    after = still_open(done)
    if before < args.conns or after < args.conns:
        sys.exit(
            f"hold_conns: only {min(before, after)} of {args.conns} connections stayed open"
            " (the server closed the rest)"
        )
    print(f"{idle}\t{loaded}\t{after}", flush=True)
    if args.hold > 0:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        time.sleep(args.hold)
        kept = still_open(done)
        if kept < args.conns:
            sys.exit(f"hold_conns: {args.conns - kept} of {args.conns} held connections closed")
    for s in done:
        s.close()


if __name__ == "__main__":
    main()

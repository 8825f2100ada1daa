"""The figures of each benchmark's raw results, in one shape, for `report.py`.

Every benchmark writes its rows (a TSV under its run's output directory); each function here
reads one benchmark's file and returns `Figure`s: what was measured, the subject's value, the
peer it is compared with and the peer's value, the ratio (for throughput, the median of the
per-round ratios of an interleaved run, the method of bench/README.md; for memory, the two
figures' ratio), and the target with its verdict. The targets are the ones bench/README.md and
the issues state; where a figure has none, it is reported without a verdict.
"""
import csv
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field


@dataclass
class Figure:
    bench: str
    what: str
    subject: str
    value: float | None
    unit: str
    peer: str | None = None
    peer_value: float | None = None
    ratio: float | None = None
    # (">=" or "<=", number): the ratio's target, or, with `on_value`, the value's own.
    target: tuple | None = None
    on_value: bool = False
    rounds: str = ""
    notes: list = field(default_factory=list)

    @property
    def met(self):
        if self.target is None:
            return None
        seen = self.value if self.on_value else self.ratio
        if seen is None:
            return False
        op, bound = self.target
        return seen >= bound if op == ">=" else seen <= bound

    def as_json(self):
        out = asdict(self)
        out["met"] = self.met
        out["target"] = list(self.target) if self.target else None
        return out


def number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value else None  # NaN is a failed run too


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


class Runs:
    """Rows of an interleaved run by (key, server) and round, only the clean ones kept.

    `clean(row)` says whether a run counts (no errors, a figure); the left-out ones are
    counted, so that a figure can say how many of its rounds it rests on."""

    def __init__(self, rows, key, value, clean=lambda row: True):
        self.by = defaultdict(dict)  # (key, server) -> {round: value}
        self.seen = defaultdict(int)  # (key, server) -> runs, clean or not
        for row in rows:
            k = (key(row), row["server"])
            self.seen[k] += 1
            v = number(row.get(value))
            if v is not None and clean(row):
                self.by[k][row.get("round", "1")] = v

    def median(self, key, server):
        values = list(self.by.get((key, server), {}).values())
        return statistics.median(values) if values else None

    def compare(self, bench, what, unit, subject, peer, target=None, lower_is_better=False):
        """Figure of `subject` (key, server) against `peer` (key, server) in the same rounds."""
        mine, theirs = self.by.get(subject, {}), self.by.get(peer, {})
        ratios = [mine[r] / theirs[r] for r in mine if r in theirs and theirs[r]]
        ran = min(self.seen.get(subject, 0), self.seen.get(peer, 0))
        def name(key_server):  # the key is left out where `what` already says it
            return key_server[1] if key_server[0] and key_server[0] in what else label(key_server)

        fig = Figure(
            bench, what, name(subject), self.median(*subject), unit,
            peer=name(peer), peer_value=self.median(*peer),
            ratio=statistics.median(ratios) if ratios else None, target=target,
            rounds=f"{len(ratios)}/{ran}",
        )
        if ratios and len(ratios) > 1:
            fig.notes.append(f"per round {min(ratios):.2f}-{max(ratios):.2f}")
        if lower_is_better:
            fig.notes.append("lower is better")
        return fig


def label(key_server):
    key, server = key_server
    return f"{server} {key}".strip() if key else server


def wrk_clean(row):
    return int(row.get("non2xx") or 0) + int(row.get("sock_errors") or 0) == 0


# -- one function per benchmark ------------------------------------------------------------

def echo(path):
    """bench/echo/run.sh: round trips per second against the C epoll server."""
    runs = Runs(read(path), key=lambda r: f"{r['conns']} conns", value="rtps")
    out = []
    for key in sorted({k for k, _ in runs.seen}, key=lambda k: int(k.split()[0])):
        for model in ("async", "threaded", "sequential"):
            if (key, model) in runs.seen:
                out.append(runs.compare("echo", f"round trips/s, {key}", "rt/s",
                                        (key, model), (key, "c-epoll")))
        if (key, "py-asyncio") in runs.seen and (key, "async") in runs.seen:
            out.append(runs.compare("echo", f"round trips/s, {key}", "rt/s",
                                    (key, "async"), (key, "py-asyncio")))
    return out


# route -> [(reference server, reference route, target)]: bench/README.md's, and issue 14's
# stricter ones for the dynamic routes (/api/process at least nginx's /add; /api/profile at
# least 0.9x switchboard's own /add).
APP_TARGETS = {
    "/add": [("nginx", "/add", 1.0), ("flask", "/add", 20.0)],
    "/api/process": [("nginx", "/add", 1.0), ("flask", "/api/process", 20.0)],
    "/index.html": [("nginx", "/index.html", 1.0), ("flask", "/index.html", 20.0)],
    "/api/profile": [("switchboard", "/add", 0.9), ("nginx", "/add", 0.5),
                     ("flask", "/api/profile", 20.0)],
}


def app(path, bench="app"):
    """bench/app/run.sh: requests per second per route against nginx, Flask and /add."""
    rows = read(path)
    runs = Runs(rows, key=lambda r: r["route"], value="rps", clean=wrk_clean)
    p99 = Runs(rows, key=lambda r: r["route"], value="p99_ms", clean=wrk_clean)
    out = []
    for route, refs in APP_TARGETS.items():
        if (route, "switchboard") not in runs.seen:
            continue
        for ref, ref_route, target in refs:
            if (ref_route, ref) in runs.seen:
                out.append(runs.compare(bench, f"req/s, {route}", "req/s", (route, "switchboard"),
                                        (ref_route, ref), (">=", target)))
        if (route, "nginx") in p99.seen:
            out.append(p99.compare(bench, f"p99, {route}", "ms", (route, "switchboard"),
                                   (route, "nginx"), lower_is_better=True))
    return out


STATIC_TARGETS = {"small": 1.0, "small-gzip": 1.0, "large": 0.9, "large-gzip": 0.9}


def static(path):
    """bench/app/static.sh: static files against nginx."""
    runs = Runs(read(path), key=lambda r: r["case"], value="rps",
                clean=lambda r: (r.get("errors") or "0") == "0")
    return [
        runs.compare("static", f"req/s, {case}", "req/s", (case, "switchboard"), (case, "nginx"),
                     (">=", target))
        for case, target in STATIC_TARGETS.items()
        if (case, "switchboard") in runs.seen and (case, "nginx") in runs.seen
    ]


def memory(bench, path, peers, target_bytes):
    """app/memory.sh and balance/memory.sh: resident bytes per idle keep-alive connection."""
    per = {}
    for row in read(path):
        idle, loaded, conns = number(row["idle_kib"]), number(row["loaded_kib"]), number(row["conns"])
        per[row["server"]] = (loaded - idle) * 1024 / conns if None not in (idle, loaded) and conns else None
    if "switchboard" not in per:
        return []
    out = [Figure(bench, "bytes per idle connection", "switchboard", per["switchboard"], "B",
                  target=("<=", target_bytes), on_value=True)]
    for peer in peers:
        if peer in per:
            mine, theirs = per["switchboard"], per[peer]
            out.append(Figure(bench, "bytes per idle connection", "switchboard", mine, "B",
                              peer=peer, peer_value=theirs,
                              ratio=mine / theirs if mine is not None and theirs else None,
                              notes=["lower is better"]))
    return out


def balance(path, conns, bench="balance"):
    """bench/balance/run.sh at `conns` client connections: HTTP mode against HAProxy (req/s
    at least 1.1x, p99 at most HAProxy's) and nginx."""
    rows = read(path)
    k = f"{conns} conns"
    runs = Runs(rows, key=lambda r: k, value="rps", clean=wrk_clean)
    p99 = Runs(rows, key=lambda r: k, value="p99_ms", clean=wrk_clean)
    out = []
    for server in ("switchboard", "switchboard-rr"):
        if (k, server) not in runs.seen:
            continue
        strict = server == "switchboard"  # least connections, the strategy the target names
        for peer, target in (("haproxy", 1.1 if strict else None), ("nginx", None)):
            if (k, peer) in runs.seen:
                out.append(runs.compare(bench, f"req/s, {k}", "req/s", (k, server), (k, peer),
                                        (">=", target) if target else None))
        if (k, "haproxy") in p99.seen:
            out.append(p99.compare(bench, f"p99, {k}", "ms", (k, server), (k, "haproxy"),
                                   ("<=", 1.0) if strict else None, lower_is_better=True))
    return out


def tcp(path):
    """bench/balance/tcp.sh: TCP mode against the echo server alone, and HAProxy."""
    runs = Runs(read(path), key=lambda r: f"{r['conns']} conns", value="rtps")
    out = []
    for k in dict.fromkeys(k for k, _ in runs.seen):
        for peer, target in (("direct", 0.9 if k == "50 conns" else None), ("haproxy", None)):
            if (k, "switchboard") in runs.seen and (k, peer) in runs.seen:
                out.append(runs.compare("balance-tcp", f"round trips/s, {k}", "rt/s",
                                        (k, "switchboard"), (k, peer),
                                        (">=", target) if target else None))
    return out


def client(path, reference):
    """bench/client/run.sh: `switchboard bench` against wrk or echo_load (at least 0.95x)."""
    rows = read(path)
    point = "point" if rows and "point" in rows[0] else "conns"
    runs = Runs(rows, key=lambda r: r[point], value="rps" if point == "point" else "rtps")
    what = "req/s" if point == "point" else "round trips/s"
    return [
        runs.compare("client", f"{what}, {k}", what, (k, "switchboard"), (k, reference), (">=", 0.95))
        for k in dict.fromkeys(k for k, _ in runs.seen)
        if (k, "switchboard") in runs.seen and (k, reference) in runs.seen
    ]


def slow(path):
    """bench/slow/run.py: throughput a normal client keeps under each attack (switchboard's
    targets at least 0.9x; HAProxy's figure, where it ran, for reference)."""
    out = []
    for row in read(path):
        ours = row["target"] in ("serve", "balance")
        fig = Figure("slow", f"throughput kept, {row['attack']}", row["target"],
                     number(row["ratio"]), "x", target=(">=", 0.9) if ours else None,
                     on_value=True, rounds=row.get("rounds", ""))
        if number(row.get("peak_rss_kib")) is not None:
            fig.notes.append(f"peak RSS {number(row['peak_rss_kib']) / 1024:.0f} MiB")
        if number(row.get("closed_s")) is not None:
            fig.notes.append(f"attackers closed after {number(row['closed_s']):.1f} s")
        out.append(fig)
    return out


def feed_memory(path):
    """bench/app/feed_memory.py: bytes per idle event stream (at most 8 KiB)."""
    out = []
    for row in read(path):
        if row["what"] == "stream":
            out.append(Figure("feed", "bytes per idle event stream", "switchboard",
                              number(row["bytes_each"]), "B", target=("<=", 8192), on_value=True,
                              rounds=f"{row['conns']} streams"))
    return out

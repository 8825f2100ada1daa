"""Summarises a load-balancer benchmark run into Markdown tables next to the targets.

    python3 bench/balance/report.py http RESULTS.tsv [--subject NAME] [--reference haproxy]
    python3 bench/balance/report.py tcp RESULTS.tsv
    python3 bench/balance/report.py memory RESULTS.tsv

http (bench/balance/run.sh): per peer, median requests/sec and p99 over rounds, and the medians
of per-round ratios to HAProxy (req/s and p99) and to nginx (req/s). Columns: round, server,
rps, p99_ms, requests, non2xx, sock_errors, server_cpu, backends_cpu, wrk_cpu, spread,
backend_conns. A run with non-2xx answers or socket errors is left out of the medians and of
the ratios, and the table says so. Targets, for every peer whose name starts with the subject (switchboard): req/s
>= 1.0x HAProxy's, p99 <= 1.0x HAProxy's.

tcp (bench/balance/tcp.sh): per peer and connection count, median round trips per second and
the median of per-round ratios to `direct`. Target: switchboard (one backend) >= 0.9x direct
at 50 connections.

memory (bench/balance/memory.sh): idle VmRSS, VmRSS with the idle connections, the increase per
connection. Target: switchboard <= 16 KiB per connection."""
import argparse
import csv
import statistics
from collections import defaultdict

HTTP_PEERS = ["switchboard", "switchboard-rr", "haproxy", "nginx"]
HTTP_RPS_TARGET = 1.0  # x HAProxy's requests/sec, at least
HTTP_P99_TARGET = 1.0  # x HAProxy's p99, at most
TCP_TARGET = (0.9, "50")  # x direct round trips/sec, at least, at this many connections
MEMORY_TARGET = 16 * 1024  # bytes per idle client connection, at most


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def verdict(ok):
    return "pass" if ok else "FAIL"


def http_report(path, subject, reference):
    runs = defaultdict(dict)  # server -> {round: row}
    rounds, servers = [], []
    for row in csv.DictReader(open(path), delimiter="\t"):
        row["rps"] = number(row["rps"])
        row["p99_ms"] = number(row["p99_ms"])
        row["errors"] = int(row["non2xx"] or 0) + int(row["sock_errors"] or 0)
        row["clean"] = row["rps"] is not None and row["errors"] == 0
        runs[row["server"]][row["round"]] = row
        if row["round"] not in rounds:
            rounds.append(row["round"])
        if row["server"] not in servers:
            servers.append(row["server"])
    servers.sort(key=lambda s: HTTP_PEERS.index(s) if s in HTTP_PEERS else len(HTTP_PEERS))

    def cells(server):
        rows = list(runs[server].values())
        clean = [r for r in rows if r["clean"]]
        ran = [r for r in rows if r["rps"] is not None]
        if not ran:
            return f"failed ({len(rows)} runs)", ""
        use = clean or ran
        rps = f"{statistics.median(r['rps'] for r in use):,.0f}"
        p99s = [r["p99_ms"] for r in use if r["p99_ms"] is not None]
        p99 = f"{statistics.median(p99s):.2f} ms" if p99s else "?"
        if not clean:
            rps += f" **ERRORS in all {len(rows)} runs**"
        elif len(clean) < len(rows):
            rps += f" **{len(rows) - len(clean)}/{len(rows)} runs failed or had errors, left out**"
        return rps, p99

    def ratio(server, ref, field, target, at_least, show_target):
        mine, theirs = runs.get(server, {}), runs.get(ref, {})
        if not mine or not theirs or server == ref:
            return "-"
        ratios = [
            mine[r][field] / theirs[r][field]
            for r in rounds
            if r in mine and r in theirs and mine[r]["clean"] and theirs[r]["clean"]
            and mine[r][field] is not None and theirs[r][field]
        ]
        if not ratios:
            return "n/a (no clean round)"
        value = statistics.median(ratios)
        cell = f"{value:.2f}x"
        if show_target:
            ok = value >= target if at_least else value <= target
            cell += f", target {'>=' if at_least else '<='} {target:g}x: {verdict(ok)}"
        both = min(len(mine), len(theirs))
        if len(ratios) < both:
            cell += f" ({len(ratios)} of {both} rounds)"
        return cell

    header = ["peer", "req/s", "p99", f"req/s vs {reference}", f"p99 vs {reference}", "req/s vs nginx"]
    print(f"| {' | '.join(header)} |")
    print(f"|{'---|' * len(header)}")
    for s in servers:
        targeted = s.startswith(subject)
        rps, p99 = cells(s)
        print(
            f"| {s} | {rps} | {p99} | "
            f"{ratio(s, reference, 'rps', HTTP_RPS_TARGET, True, targeted)} | "
            f"{ratio(s, reference, 'p99_ms', HTTP_P99_TARGET, False, targeted)} | "
            f"{ratio(s, 'nginx', 'rps', 0, True, False)} |"
        )

    print()
    header = ["peer", "CPU balancer", "CPU backends (3)", "CPU wrk", "backend connections opened",
              "backend shares b1/b2/b3 %"]
    print(f"| {' | '.join(header)} |")
    print(f"|{'---|' * len(header)}")
    for s in servers:
        rows = list(runs[s].values())
        out = [s]
        for col in ("server_cpu", "backends_cpu", "wrk_cpu"):
            vals = [number(r[col]) for r in rows if number(r[col]) is not None]
            out.append(f"{statistics.median(vals):.0f}%" if vals else "-")
        opened = [(number(r.get("backend_conns")), number(r["requests"])) for r in rows]
        opened = [(o, n) for o, n in opened if o is not None and n]
        if opened:
            o = statistics.median(o for o, _ in opened)
            per = statistics.median(1000 * o / n for o, n in opened)
            out.append(f"{o:,.0f} ({per:,.1f} per 1,000 requests)")
        else:
            out.append("-")
        out.append(", ".join(r.get("spread", "") or "?" for r in rows))
        print(f"| {' | '.join(out)} |")
    print(
        "\nreq/s and p99: medians over rounds, runs with non-2xx answers or socket errors left out."
        f"\nRatios: medians of per-round ratios (rounds where both runs were clean); the targets"
        f" apply to {subject}: req/s >= {HTTP_RPS_TARGET:g}x {reference}'s, p99 <= {HTTP_P99_TARGET:g}x"
        f" {reference}'s."
        "\nCPU: shares of one core over the run, medians. The balancer has its core to itself;"
        " wrk and the three backends share the other, so when CPU wrk + CPU backends is near 100%"
        " the load side was the limit and every peer's figure is a floor."
        "\nBackend connections opened: connections the three backends accepted during the run"
        " (a balancer that keeps its backend connections alive opens a few dozen at most; one per"
        " request means every request paid a backend connect and close, on the load core)."
        "\nBackend shares: each backend's part of the requests answered during each run (one"
        " entry per round)."
    )


def tcp_report(path):
    rows = list(csv.DictReader(open(path), delimiter="\t"))
    servers, conns = [], []
    values = defaultdict(list)  # (server, conns) -> [rtps]
    by_round = defaultdict(dict)  # (round, conns) -> {server: rtps}
    for r in rows:
        v = number(r["rtps"])
        if r["server"] not in servers:
            servers.append(r["server"])
        if r["conns"] not in conns:
            conns.append(r["conns"])
        values[(r["server"], r["conns"])].append(v)
        by_round[(r["round"], r["conns"])][r["server"]] = v
    header = ["peer"] + [f"{c} conns: round trips/s (vs direct)" for c in conns]
    print(f"| {' | '.join(header)} |")
    print(f"|{'---|' * len(header)}")
    for s in servers:
        out = [s]
        for c in conns:
            vals = [v for v in values[(s, c)] if v is not None]
            if not vals:
                out.append("failed" if values[(s, c)] else "-")
                continue
            cell = f"{statistics.median(vals):,.0f}"
            ratios = [
                seen[s] / seen["direct"]
                for (rnd, cc), seen in by_round.items()
                if cc == c and seen.get(s) is not None and seen.get("direct")
            ]
            if s != "direct" and ratios:
                value = statistics.median(ratios)
                cell += f" ({value:.2f}x"
                if s == "switchboard" and c == TCP_TARGET[1]:
                    cell += f", target >= {TCP_TARGET[0]:g}x: {verdict(value >= TCP_TARGET[0])}"
                cell += ")"
            failed = len(values[(s, c)]) - len(vals)
            if failed:
                cell += f" **{failed} failed**"
            out.append(cell)
        print(f"| {' | '.join(out)} |")
    if "server_cpu" in rows[0]:
        print()
        header = ["peer"] + [f"{c} conns: CPU server core / echo backends / load" for c in conns]
        print(f"| {' | '.join(header)} |")
        print(f"|{'---|' * len(header)}")
        for s in servers:
            out = [s]
            for c in conns:
                mine = [r for r in rows if r["server"] == s and r["conns"] == c]
                parts = []
                for col in ("server_cpu", "backends_cpu", "load_cpu"):
                    vals = [number(r.get(col)) for r in mine if number(r.get(col)) is not None]
                    parts.append(f"{statistics.median(vals):.0f}%" if vals else "-")
                out.append(" / ".join(parts))
            print(f"| {' | '.join(out)} |")
    print(
        "\nRound trips/s: medians over rounds; (ratio): medians of per-round ratios to `direct`"
        " (the echo server alone on the server core). switchboard: `balance --mode tcp` on the"
        " server core in front of one echo server; switchboard-2: two echo servers; the echo"
        " servers behind a balancer run on the load core. Target for switchboard:"
        f" >= {TCP_TARGET[0]:g}x direct at {TCP_TARGET[1]} connections."
        "\nCPU: shares of one core over the run, medians. With the echo servers on the load core"
        " (the default), a load core near 100% (echo backends + load) means the load side was"
        " the limit, not the balancer."
    )


def memory_report(path):
    rows = list(csv.DictReader(open(path), delimiter="\t"))
    hold = next((int(r["conns"]) for r in rows if r["conns"] not in ("", "0")), 0)
    mib = lambda kib: kib / 1024
    print(f"| peer | idle RSS | RSS with {hold:,} idle client connections | increase | per connection |")
    print("|---|---|---|---|---|")
    for r in rows:
        if r["idle_kib"] == "failed":
            print(f"| {r['server']} | failed | failed | | |")
            continue
        idle, loaded, n = int(r["idle_kib"]), int(r["loaded_kib"]), int(r["conns"])
        grow = loaded - idle
        per = grow * 1024 / n if n else 0
        per_cell = f"{per:,.0f} B"
        if r["server"].startswith("switchboard"):
            per_cell += f" (target <= {MEMORY_TARGET // 1024} KiB: {verdict(per <= MEMORY_TARGET)})"
        print(f"| {r['server']} | {mib(idle):.1f} MiB | {mib(loaded):.1f} MiB | {mib(grow):.1f} MiB"
              f" | {per_cell} |")
    print(
        "\nVmRSS of the balancer process. Idle: started, backends up, no request yet; loaded: every"
        " client connection has had one GET / answered (through the balancer, by a backend) and"
        " was checked open before and after the reading. The increase includes whatever the"
        " balancer keeps for its pooled backend connections."
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["http", "tcp", "memory"])
    parser.add_argument("results")
    parser.add_argument("--subject", default="switchboard")
    parser.add_argument("--reference", default="haproxy")
    args = parser.parse_args()
    if args.kind == "http":
        http_report(args.results, args.subject, args.reference)
    elif args.kind == "tcp":
        tcp_report(args.results)
    else:
        memory_report(args.results)


if __name__ == "__main__":
    main()

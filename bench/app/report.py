"""Summarises an application-server run (bench/app/run.sh): per route, the median requests/sec
and p99 of each peer, and the median over rounds of switchboard's per-round ratio to its
references, next to the targets.

    python3 bench/app/report.py RESULTS.tsv [--subject NAME]

RESULTS.tsv has the columns round, route, server, rps, p99_ms, requests, non2xx, sock_errors,
server_cpu, wrk_cpu. A run with non-2xx answers or socket errors is left out of the medians and
of the ratios, and the table says so. --subject computes the ratios for another peer instead
of switchboard (to try the report while switchboard has no application server). With a peer
`baseline` in the run (BASELINE_BIN: another build of switchboard), a last column gives the
subject's ratio to it, with the spread of the per-round ratios and no target."""
import argparse
import csv
import statistics
from collections import defaultdict

ROUTES = ["/add", "/api/process", "/index.html", "/api/profile"]
PEERS = ["switchboard", "baseline", "nginx", "flask"]
# route -> [(reference peer, reference route, target ratio of requests/sec)]
TARGETS = {
    "/add": [("nginx", "/add", 1.0), ("flask", "/add", 20.0)],
    "/api/process": [("nginx", "/add", 0.9), ("flask", "/api/process", 20.0)],
    "/index.html": [("nginx", "/index.html", 1.0), ("flask", "/index.html", 20.0)],
    "/api/profile": [("nginx", "/add", 0.5), ("flask", "/api/profile", 20.0)],
}


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def load(path):
    runs = defaultdict(dict)  # (route, server) -> {round: row}
    rounds, routes, servers = [], [], []
    for row in csv.DictReader(open(path), delimiter="\t"):
        row["rps"] = number(row["rps"])
        row["p99_ms"] = number(row["p99_ms"])
        row["errors"] = int(row["non2xx"] or 0) + int(row["sock_errors"] or 0)
        row["clean"] = row["rps"] is not None and row["errors"] == 0
        runs[(row["route"], row["server"])][row["round"]] = row
        for seen, value in ((rounds, row["round"]), (routes, row["route"]), (servers, row["server"])):
            if value not in seen:
                seen.append(value)
    routes.sort(key=lambda r: ROUTES.index(r) if r in ROUTES else len(ROUTES))
    servers.sort(key=lambda s: PEERS.index(s) if s in PEERS else len(PEERS))
    return runs, rounds, routes, servers


def figures(rows):
    """The cell for one route and peer: median req/s and p99 over its clean runs."""
    if not rows:
        return "-"
    clean = [r for r in rows if r["clean"]]
    ran = [r for r in rows if r["rps"] is not None]
    if not ran:
        return f"failed ({len(rows)} runs)"
    use = clean or ran
    p99s = [r["p99_ms"] for r in use if r["p99_ms"] is not None]
    cell = f"{statistics.median(r['rps'] for r in use):,.0f} / "
    cell += f"{statistics.median(p99s):.2f} ms" if p99s else "? ms"
    if not clean:
        cell += f" **ERRORS in all {len(rows)} runs**"
    elif len(clean) < len(rows):
        cell += f" **{len(rows) - len(clean)}/{len(rows)} runs failed or had errors, left out**"
    return cell


def ratio_cell(runs, rounds, subject, route, ref, ref_route, target):
    mine, theirs = runs.get((route, subject), {}), runs.get((ref_route, ref), {})
    if not mine or not theirs:
        return "n/a"
    ratios = [
        mine[r]["rps"] / theirs[r]["rps"]
        for r in rounds
        if r in mine and r in theirs and mine[r]["clean"] and theirs[r]["clean"] and theirs[r]["rps"]
    ]
    of = "" if ref_route == route else f" {ref} {ref_route}"
    aim = f", target >= {target:g}x" if target is not None else ""
    if not ratios:
        return f"n/a (no clean round){aim}{of}"
    value = statistics.median(ratios)
    both = min(len(mine), len(theirs))
    rounds_note = f" ({len(ratios)} of {both} rounds)" if len(ratios) < both else ""
    if target is None:
        return f"{value:.2f}x (per round {min(ratios):.2f}-{max(ratios):.2f}){rounds_note}"
    verdict = "pass" if value >= target else "FAIL"
    return f"{value:.2f}x{of}{aim}: {verdict}{rounds_note}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results")
    parser.add_argument("--subject", default="switchboard")
    args = parser.parse_args()
    runs, rounds, routes, servers = load(args.results)
    subject = args.subject
    peers = [s for s in PEERS if s in servers or s == subject] + [s for s in servers if s not in PEERS]

    # Another build of switchboard in the same run (BASELINE_BIN): the change's own ratio.
    against_baseline = "baseline" in servers and subject != "baseline"
    header = ["route"] + [f"{s} req/s / p99" for s in peers] + [f"{subject} vs nginx", f"{subject} vs flask"]
    header += [f"{subject} vs baseline"] if against_baseline else []
    print(f"| {' | '.join(header)} |")
    print(f"|{'---|' * len(header)}")
    for route in routes:
        cells = [f"`{route}`"]
        for s in peers:
            cells.append(figures([runs[(route, s)][r] for r in rounds if r in runs.get((route, s), {})]))
        for ref, ref_route, target in TARGETS.get(route, []):
            cells.append(ratio_cell(runs, rounds, subject, route, ref, ref_route, target))
        if against_baseline:
            cells.append(ratio_cell(runs, rounds, subject, route, "baseline", route, None))
        print(f"| {' | '.join(cells)} |")

    print()
    header = ["route"] + [f"{s} CPU server / wrk" for s in peers]
    print(f"| {' | '.join(header)} |")
    print(f"|{'---|' * len(header)}")
    for route in routes:
        cells = [f"`{route}`"]
        for s in peers:
            rows = list(runs.get((route, s), {}).values())
            srv = [number(r["server_cpu"]) for r in rows if number(r["server_cpu"]) is not None]
            wrk = [number(r["wrk_cpu"]) for r in rows if number(r["wrk_cpu"]) is not None]
            cells.append(
                f"{statistics.median(srv):.0f}% / {statistics.median(wrk):.0f}%" if srv and wrk else "-"
            )
        print(f"| {' | '.join(cells)} |")
    print(
        "\nreq/s and p99: medians over rounds, runs with non-2xx answers or socket errors left out."
        f"\nRatios: medians of per-round ratios of req/s, {subject} to the reference peer's route"
        " in the same round (rounds where both runs were clean)."
        "\nCPU: shares of one core over the run, medians; a server near 100% was the bottleneck,"
        " a wrk near 100% means the load generator was, and the server's figure is a floor;"
        " both well below 100% means something else ran on the cores."
    )


if __name__ == "__main__":
    main()

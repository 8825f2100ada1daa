"""Summarises an interleaved benchmark run: per point, the median figure of each peer and the
median over rounds of its ratio to the reference peer measured in the same round.

    python3 bench/summary.py RESULTS.tsv REFERENCE

RESULTS.tsv has the columns round, conns (or any grouping column), server, and a figure."""
import csv
import statistics
import sys
from collections import defaultdict


def main(path, reference):
    rows = list(csv.DictReader(open(path), delimiter="\t"))
    group_col = [c for c in rows[0] if c not in ("round", "server")][0]
    figure_col = [c for c in rows[0] if c not in ("round", "server", group_col)][0]
    figures = defaultdict(list)  # (group, server) -> [figure]
    by_round = defaultdict(dict)  # (round, group) -> {server: figure}
    servers, groups = [], []
    for row in rows:
        g, s = row[group_col], row["server"]
        if s not in servers:
            servers.append(s)
        if g not in groups:
            groups.append(g)
        try:
            value = float(row[figure_col])
        except ValueError:
            value = None
        figures[(g, s)].append(value)
        by_round[(row["round"], g)][s] = value

    def ratio(g, s):
        ratios = []
        for (r, gg), seen in by_round.items():
            if gg == g and seen.get(s) is not None and seen.get(reference):
                ratios.append(seen[s] / seen[reference])
        return statistics.median(ratios) if ratios else None

    header = ["server"] + [f"{g} {group_col}" for g in groups]
    print(f"| {' | '.join(header)} |")
    print(f"|{'---|' * len(header)}")
    for s in servers:
        cells = [s]
        for g in groups:
            values = [v for v in figures[(g, s)] if v is not None]
            failed = len(figures[(g, s)]) - len(values)
            if not values:
                cells.append("failed")
                continue
            cell = f"{statistics.median(values):,.0f}"
            r = ratio(g, s)
            if r is not None and s != reference:
                cell += f" ({r:.2f}x)"
            if failed:
                cell += f" [{failed} failed]"
            cells.append(cell)
        print(f"| {' | '.join(cells)} |")
    print(f"\n{figure_col}: median over rounds; (ratio): median of per-round ratios to {reference}.")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

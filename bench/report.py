#!/usr/bin/env python3
"""Every benchmark in one go, and one table of every figure against its peer and target.

    python3 bench/report.py                       # build, run all, write bench/results/latest.*
    python3 bench/report.py --rounds 5 --seconds 5
    python3 bench/report.py --only app,balance-50 --out /tmp/r   # some steps, elsewhere
    python3 bench/report.py --from bench/out/report-20261204-190000   # re-tabulate a run
    python3 bench/report.py --list                # the steps and the command each runs

Runs each step's script (bench/*/...) with the same rounds and seconds, one after another,
their raw results under one directory (bench/out/report-DATE/), then reads every results file
through `figures.py` and writes `latest.md` and `latest.json` (under --out: bench/results by
default): the machine and date first, then a row per figure (subject, peer, both values, the
ratio, the target and whether it is met) and the command that reproduces the step, then each
script's own tables. A step that cannot run here (a missing tool, root, PostgreSQL) is listed
as skipped with why; a step that fails is listed as failed with the end of its log, and the
others still run. Exit status: 0 when every step ran, 1 when one failed, 2 on bad flags.

Method (bench/README.md): each script pins the server under test to core 1 and the load to
core 0 and interleaves its peers round after round; nothing else should run meanwhile.
`scale` (root and PostgreSQL) and `soak` (ten minutes) run only when named with --only or
--with.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import figures  # noqa: E402


class Step:
    def __init__(self, name, what, cmd, produces, extract, env=None, needs=(), root=False,
                 optional=False):
        self.name, self.what, self.cmd, self.produces = name, what, cmd, produces
        self.extract, self.env, self.needs, self.root = extract, env or {}, needs, root
        self.optional = optional

    def command(self, rounds, seconds, out, binary):
        """The command line and environment of this step, and the same as one line to paste."""
        env = {"OUT": out}
        if self.cmd[0] == "bash":  # the shell scripts' knobs; the Python ones take flags
            env.update({"ROUNDS": str(rounds), "SECONDS_PER_RUN": str(seconds), "BUILD": "0"})
        env.update(self.env)
        argv = [a.format(rounds=rounds, seconds=seconds, out=out, bin=binary) for a in self.cmd]
        shown = [f"{k}={shlex.quote(v)}" for k, v in env.items() if k != "OUT"]
        shown += [shlex.quote(a.replace(out + "/", "OUT/")) for a in argv]
        return argv, env, " ".join(shown)


def latest(out, pattern):
    paths = sorted(glob.glob(os.path.join(out, pattern)), key=os.path.getmtime)
    return paths[-1] if paths else None


STEPS = [
    Step("echo", "message server: round trips/s against a C epoll server",
         ["bash", "bench/echo/run.sh"], "echo-*.tsv", figures.echo, needs=("gcc",)),
    Step("app", "application server: req/s per route against nginx and Flask",
         ["bash", "bench/app/run.sh"], "app-2*.tsv", figures.app, needs=("wrk", "nginx")),
    Step("static", "static files against nginx",
         ["bash", "bench/app/static.sh"], "static-*.tsv", figures.static, needs=("wrk", "nginx")),
    Step("app-memory", "application server: memory per idle connection",
         ["bash", "bench/app/memory.sh"], "app-memory-*.tsv",
         lambda p: figures.memory("app-memory", p, ["nginx"], 2048), needs=("nginx",)),
    Step("feed-memory", "application server: memory per idle event stream",
         ["python3", "bench/app/feed_memory.py", "--bin", "{bin}", "--conns", "2000",
          "--tsv", "{out}/feed-memory.tsv"], "feed-memory.tsv", figures.feed_memory),
    Step("balance-50", "balancer, HTTP mode, 50 connections, against HAProxy and nginx",
         ["bash", "bench/balance/run.sh"], "balance-2*.tsv", lambda p: figures.balance(p, 50),
         env={"CONNS": "50"}, needs=("wrk", "nginx", "haproxy")),
    Step("balance-1000", "balancer, HTTP mode, 1,000 connections",
         ["bash", "bench/balance/run.sh"], "balance-2*.tsv", lambda p: figures.balance(p, 1000),
         env={"CONNS": "1000", "SERVERS": "switchboard haproxy"}, needs=("wrk", "nginx", "haproxy")),
    Step("balance-idle", "balancer, 50 busy connections beside 10,000 idle ones",
         ["bash", "bench/balance/run.sh"], "balance-2*.tsv",
         lambda p: figures.balance(p, "50+10k idle"),
         env={"CONNS": "50", "IDLE_CONNS": "10000", "SERVERS": "switchboard haproxy"},
         needs=("wrk", "nginx", "haproxy")),
    Step("balance-tcp", "balancer, TCP mode, against the echo server alone and HAProxy",
         ["bash", "bench/balance/tcp.sh"], "balance-tcp-*.tsv", figures.tcp,
         needs=("gcc", "haproxy")),
    Step("balance-memory", "balancer: memory per idle client connection",
         ["bash", "bench/balance/memory.sh"], "balance-memory-*.tsv",
         lambda p: figures.memory("balance-memory", p, ["haproxy"], 2048),
         needs=("nginx", "haproxy")),
    Step("client", "load generator against wrk and the C echo client",
         ["bash", "bench/client/run.sh"], "client-*.tsv", None, needs=("wrk", "nginx", "gcc")),
    Step("slow", "slow and hostile clients: throughput a normal client keeps",
         ["python3", "bench/slow/run.py", "--bin", "{bin}", "--rounds", "{rounds}",
          "--seconds", "{seconds}", "--targets", "serve balance haproxy",
          "--tsv", "{out}/slow.tsv"], "slow.tsv", figures.slow, needs=("wrk", "ss", "haproxy")),
    # Both cores: the servers with their default runtimes (a worker per core), nginx with two
    # workers, HAProxy with two threads, wrk with two threads, all on both cores.
    Step("app-2cores", "application server on both cores against nginx with 2 workers",
         ["bash", "bench/app/run.sh"], "app-2*.tsv", lambda p: figures.app(p, "app-2cores"),
         env={"SERVER_CORE": "0,1", "LOAD_CORE": "0,1", "THREADS": "2", "PEER_WORKERS": "2",
              "ROUTES": "add process profile", "SERVERS": "switchboard nginx"},
         needs=("wrk", "nginx")),
    Step("balance-2cores", "balancer on both cores against HAProxy nbthread 2, nginx 2 workers",
         ["bash", "bench/balance/run.sh"], "balance-2*.tsv",
         lambda p: figures.balance(p, 50, "balance-2cores"),
         env={"SERVER_CORE": "0,1", "LOAD_CORE": "0,1", "BACKEND_CORE": "0,1", "THREADS": "2",
              "PEER_WORKERS": "2", "SERVERS": "switchboard haproxy nginx"},
         needs=("wrk", "nginx", "haproxy")),
    Step("scale", "scale-out on 1, 2 and 3 hosts (network namespaces, PostgreSQL)",
         ["python3", "bench/scale/run.py", "--rounds", "{rounds}", "--seconds", "{seconds}"], None, None,
         root=True, optional=True),
    Step("soak", "ten minutes through `up` with a server killed every minute",
         ["python3", "bench/soak/run.py", "--bin", "{bin}"], None, None, optional=True),
]


def client_figures(out):
    found = []
    for pattern, reference in (("client-http-*.tsv", "wrk"), ("client-echo-*.tsv", "echo_load")):
        path = latest(out, pattern)
        if path:
            found += figures.client(path, reference)
    return found


def machine():
    def first(cmd):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            text = (done.stdout or done.stderr).strip().splitlines()
            return text[0] if text else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "not found"

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
        with open("/proc/meminfo") as f:
            mem_kib = int(next(l.split()[1] for l in f if l.startswith("MemTotal")))
    except (OSError, StopIteration, ValueError):
        mem_kib = 0
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "commit": first(["git", "-C", ROOT, "describe", "--always", "--dirty"]),
        "rustc": first(["rustc", "--version"]),
        "nginx": first(["nginx", "-v"]),
        "haproxy": first(["haproxy", "-v"]),
        "wrk": first(["wrk", "--version"]),
        "load_average": open("/proc/loadavg").read().split()[:3],
    }


def run_step(step, args, out, binary, log_dir):
    """Runs one step; returns (status, why, results path, command shown)."""
    argv, env, shown = step.command(args.rounds, args.seconds, out, binary)
    missing = [t for t in step.needs if not shutil.which(t)]
    if missing:
        return "skipped", f"needs {', '.join(missing)}", None, shown
    if step.root and os.geteuid() != 0:
        return "skipped", "needs root", None, shown
    log = os.path.join(log_dir, f"{step.name}.log")
    print(f"== {step.name}: {shown}", file=sys.stderr, flush=True)
    with open(log, "w") as f:
        done = subprocess.run(argv, cwd=ROOT, env={**os.environ, **env}, stdout=f,
                              stderr=subprocess.STDOUT)
    if done.returncode != 0:
        with open(log) as f:
            tail = f.read().strip().splitlines()[-3:]
        return "failed", f"exit {done.returncode}: " + " / ".join(tail), None, shown
    path = latest(out, step.produces) if step.produces else None
    return "ran", "", path, shown


def cell(value, unit=""):
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.2f}x"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def markdown(info, steps, figs, out):
    lines = [
        "# Benchmark report", "",
        f"{info['date']}; commit {info['commit']}; {info['cpu']}, {info['cores']} cores, "
        f"{info['memory_gib']} GiB; Linux {info['kernel']}; {info['rustc']}; {info['nginx']}; "
        f"{info['haproxy']}; {info['wrk']}; load average at start "
        f"{' '.join(info['load_average'])}.", "",
        "Ratios are medians of per-round ratios in one interleaved run (bench/README.md): "
        "the server under test on one core, the load on the other. `met`: the target, "
        "on the ratio (or, where the peer column is empty, on the value itself).", "",
        "| step | figure | subject | value | peer | peer's | ratio | target | met | rounds | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in figs:
        target = f"{f.target[0]} {f.target[1]:g}{'' if f.on_value else 'x'}" if f.target else ""
        met = {True: "yes", False: "**no**", None: ""}[f.met]
        lines.append(
            f"| {f.bench} | {f.what} | {f.subject} | {cell(f.value)} {f.unit} | {f.peer or ''} | "
            f"{cell(f.peer_value)} | {cell(f.ratio, 'x')} | {target} | {met} | {f.rounds} | "
            f"{'; '.join(f.notes)} |")
    lines += ["", "## Steps", "", "| step | what | status | command |", "|---|---|---|---|"]
    for s in steps:
        status = s["status"] + (f": {s['why']}" if s["why"] else "")
        lines.append(f"| {s['name']} | {s['what']} | {status} | `{s['command']}` |")
    lines += ["", f"Raw results: `{os.path.relpath(out, ROOT)}`; each step's own tables below.", ""]
    for s in steps:
        log = os.path.join(out, "logs", f"{s['name']}.log")
        if s["status"] == "ran" and os.path.exists(log):
            tables = [l for l in open(log).read().splitlines() if l.startswith("|")]
            if tables:
                lines += [f"### {s['name']}", ""] + tables + [""]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=3, help="per measured run")
    p.add_argument("--only", help="comma-separated steps (see --list)")
    p.add_argument("--with", dest="extra", default="", help="optional steps to add: scale,soak")
    p.add_argument("--out", default=os.path.join(ROOT, "bench", "results"),
                   help="where latest.md and latest.json go")
    p.add_argument("--from", dest="source", help="a report run's directory: tabulate, run nothing")
    p.add_argument("--no-build", action="store_true", help="use the release binary as it is")
    p.add_argument("--list", action="store_true")
    args = p.parse_args()
    names = [s.name for s in STEPS]
    wanted = args.only.split(",") if args.only else \
        [s.name for s in STEPS if not s.optional] + [x for x in args.extra.split(",") if x]
    unknown = [w for w in wanted if w not in names]
    if unknown:
        p.error(f"unknown step {', '.join(unknown)}; the steps: {', '.join(names)}")
    steps = [s for s in STEPS if s.name in wanted]
    binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                          "release", "switchboard")
    if os.path.abspath(binary).startswith(ROOT + os.sep):
        binary = os.path.relpath(binary, ROOT)  # the steps run in the repository's root
    if args.list:
        for s in STEPS:
            print(f"{s.name:15} {s.command(args.rounds, args.seconds, 'bench/out/report-DATE', binary)[2]}")
        return 0

    if args.source:
        run_dir = os.path.abspath(args.source)
        with open(os.path.join(run_dir, "steps.json")) as f:
            saved = json.load(f)
        info, done = saved["machine"], saved["steps"]
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = os.path.join(ROOT, "bench", "out", f"report-{stamp}")
        os.makedirs(os.path.join(run_dir, "logs"))
        info = machine()
        if not args.no_build:
            subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        done = []
        for s in steps:
            status, why, path, shown = run_step(s, args, run_dir, binary,
                                                os.path.join(run_dir, "logs"))
            done.append({"name": s.name, "what": s.what, "status": status, "why": why,
                         "results": path and os.path.relpath(path, ROOT), "command": shown})
            print(f"   {status} {why}", file=sys.stderr, flush=True)
        info["load_average_end"] = open("/proc/loadavg").read().split()[:3]
        with open(os.path.join(run_dir, "steps.json"), "w") as f:
            json.dump({"machine": info, "steps": done}, f, indent=1)

    by_name = {s.name: s for s in STEPS}
    figs = []
    for d in done:
        step = by_name.get(d["name"])
        if d["status"] != "ran" or step is None:
            continue
        try:
            if d["name"] == "client":
                figs += client_figures(run_dir)
            elif step.extract and d["results"]:
                figs += step.extract(os.path.join(ROOT, d["results"]))
        except (OSError, KeyError, ValueError) as e:
            d["status"], d["why"] = "failed", f"its results could not be read: {e}"

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(markdown(info, done, figs, run_dir))
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump({"machine": info, "steps": done, "figures": [x.as_json() for x in figs]}, f,
                  indent=1)
    print(f"wrote {os.path.join(args.out, 'latest.md')} and latest.json "
          f"({len(figs)} figures; raw results in {run_dir})", file=sys.stderr)
    return 1 if any(d["status"] == "failed" for d in done) else 0


if __name__ == "__main__":
    sys.exit(main())

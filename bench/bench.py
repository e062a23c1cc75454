"""`make bench`: the server's hot paths measured with wrk (a native load generator)
against references started in the same run, on loopback only, printed as one table:
reference, ours, ratio (higher is better), target, p99, the server's RSS.

Each section is a module with `run(bench) -> [Row]` (bench/harness.py has Bench and
Row); all run on one embedded PostgreSQL (durable, as in production) and start our
server as the production entry point (`python -m livepatch_app serve`).

  serving   downloads and check-ins against nginx and bare Flask views (serving.py)
  scale     check-ins, reports and the retention clean-up at 100,000 machines and
            11,000,000 reports, against an empty database and issue 12's budgets
            (scale.py; the seed is cached in .livepatch/bench/, scale_cache.py)
  syncing   a full sync against one curl fetching the same files, and a no-change
            re-sync of 10,000 upstream patches against a 1 s budget (syncing.py)

Ratios are what count: on two cores the load generator shares the CPU with the server.
The targets a row compares are loaded in turn, three runs each, alternated
(harness.Bench.alternated): its rps is their mean, its p99 the worst of the three.

Usage: .venv/bin/python bench/bench.py [--seconds 8] [--connections 32] [--only SECTION]
           [--set OPTION=VALUE] [--output FILE]
"""

import argparse
import datetime
import os
import platform
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..")]
import harness  # noqa: E402  (also puts tests/ on the path, for livetest)
import scale  # noqa: E402
import serving  # noqa: E402
import syncing  # noqa: E402

from livepatch_app.embedded_pg import EmbeddedPostgres  # noqa: E402

SECTIONS = {"serving": serving, "scale": scale, "syncing": syncing}


def machine_line():
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    return (f"{os.cpu_count()} cores ({cpu}), {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') >> 30} GiB, "
            f"Linux {platform.release()}, Python {platform.python_version()}")


def table(rows, bench, peak_rss):
    def cell(value, form):
        return "-" if value is None else form.format(value)

    lines = [f"Machine: {machine_line()}",
             f"Run: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; wrk -t2 -c{bench.connections} "
             f"on 127.0.0.1, {bench.seconds} s per row as 3 alternated runs (mean rps, worst p99); "
             f"references started in the same run; "
             f"{bench.threads} waitress threads per server.", "",
             "| work | reference | reference | ours | ratio | target | ours p99 | RSS | errors |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        met = "" if row.target is None else (" ok" if row.ratio >= row.target else " **missed**")
        p99 = cell(row.p99_ms, "{:.1f} ms")
        if row.p99_target_ms is not None:
            p99 += f" (< {row.p99_target_ms:g} ms{' ok' if row.p99_ms < row.p99_target_ms else ' **missed**'})"
        lines.append(f"| {row.work} | {row.reference} | {row.reference_figure} | {row.ours_figure} | "
                     f"{row.ratio:.2f}x | {cell(row.target, '>= {:.2f}x')}{met} | {p99} | "
                     f"{cell(row.rss_mb, '{} MB')} | {row.errors} |")
    lines += ["", f"Highest RSS of any of our servers during the run: {peak_rss} MB."]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only this section")
    parser.add_argument("--output", help="also write the table (markdown) to this file")
    parser.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                        help="a server option for this run, e.g. concurrency_limit=16")
    args = parser.parse_args()
    from livepatch_app.config import load_config
    from livepatch_app.serve import waitress_options

    settings = dict(item.split("=", 1) for item in args.set)
    threads = waitress_options(load_config(None, environ={}, overrides=settings))["threads"]
    state = tempfile.mkdtemp(prefix="lp-bench-")
    pg = EmbeddedPostgres(os.path.join(state, "pg"), durable=True)
    bench = harness.Bench(state, pg.start(), args.seconds, args.connections, settings, threads)
    rows = []
    try:
        for name in args.only or SECTIONS:
            print(f"livepatch bench: {name}...", flush=True)
            rows += SECTIONS[name].run(bench)
        peak = max(getattr(server, "peak", None) or server.peak_rss_mb() for server in bench.servers)
    finally:
        bench.close()
        pg.stop()
    result = table(rows, bench, peak)
    print(result)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write("# Benchmark results (`make bench`)\n\n" + result + "\n")


if __name__ == "__main__":
    main()

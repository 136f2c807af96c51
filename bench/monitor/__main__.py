"""Entry point: `python -m bench.monitor [run|faults] ...` (`serve` is the stations' own process)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.monitor import __doc__ as about


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        import json

        from bench.monitor.rig import StationSpec, serve_stations

        specs = [StationSpec(**spec) for spec in json.loads(Path(argv[1]).read_text())]
        serve_stations(specs, Path(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=(about or "").split("\n\n")[0])
    parser.add_argument("command", nargs="?", choices=["run", "faults"], default="run")
    parser.add_argument("--quick", action="store_true", help="a ~5 min smoke run (6 streams, no capacity steps)")
    parser.add_argument("--only", choices=["accuracy", "capacity"], help="one part, merged into monitor.json")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 25, 35, 50, 75, 100, 125, 150],
                        help="capacity steps (streams): up to 50, then while they hold")  # fmt: skip
    parser.add_argument("--accuracy-seconds", type=float, default=360.0)
    parser.add_argument("--step-seconds", type=float, default=150.0)
    parser.add_argument("--fresh", action="store_true", help="index the catalog again even if the database has it")
    parser.add_argument("--seed", type=int, default=34)
    parser.add_argument("--database", default="earshot_monitor")
    parser.add_argument("--port", type=int, default=5432, help="PostgreSQL port")
    parser.add_argument("--cluster", default="", help="VERSION/NAME of a scratch cluster the run may restart")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"))
    parser.add_argument("--worker-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="extra environment for the workers (A/B, e.g. DJANGO_CONN_MAX_AGE=600)")  # fmt: skip
    parser.add_argument("--trials", type=int, default=2, help="faults: trials of each fault")
    args = parser.parse_args(argv)
    if args.command == "faults":
        from bench.monitor import faults

        return 0 if faults.run(args)["ok"] else 1
    from bench.monitor import bench

    bench.run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run ``opsapi worker`` in this process, optionally under cProfile.

``backend.cli`` has no ``__main__`` entry, so the benchmark starts its worker
processes through this module::

    python -m bench.worker [--cprofile FILE] worker --concurrency 10 --kinds bench.noop

With ``--cprofile`` the statistics are written to FILE when the worker exits
(SIGTERM or SIGINT shut it down gracefully, so the file is always written).
"""

from __future__ import annotations

import argparse
import cProfile
import sys

from backend.cli import app


def main(argv: list[str]) -> None:
    """Run the opsapi CLI with ``argv``, profiled when ``--cprofile FILE`` leads it."""
    parser = argparse.ArgumentParser(prog="bench.worker", add_help=False)
    parser.add_argument("--cprofile", default=None)
    known, rest = parser.parse_known_args(argv)
    if known.cprofile is None:
        app(args=rest, prog_name="opsapi")
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        app(args=rest, prog_name="opsapi")
    finally:
        profiler.disable()
        profiler.dump_stats(known.cprofile)


if __name__ == "__main__":
    main(sys.argv[1:])

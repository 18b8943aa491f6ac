"""Run ``herald serve`` (one process) under cProfile and write the profile when it stops.

    python scripts/profile_serve.py OUT.prof [herald serve arguments...]

Then read it with ``python -m pstats OUT.prof`` (``sort tottime``, ``stats 40``).
The profile covers the whole process, start and stop included, so run the load
you want to see for long enough that it dominates. cProfile roughly halves the
server's speed: read the shares, not the absolute times.
"""
from __future__ import annotations

import cProfile
import signal
import sys


def _stop(signum: int, frame: object) -> None:
    # uvicorn re-raises the signal that stopped it once it has shut down, with the handler it found
    # installed: this one, so the profile below is written instead of the process dying mid-exit.
    raise SystemExit(0)


def main() -> None:
    out, rest = sys.argv[1], sys.argv[2:]
    signal.signal(signal.SIGTERM, _stop)
    from herald.cli import main as herald_main

    profile = cProfile.Profile()
    profile.enable()
    try:
        herald_main(["serve", *rest])
    except SystemExit:
        pass
    finally:
        profile.disable()
        profile.dump_stats(out)


if __name__ == "__main__":
    main()

"""Instructions per direct message, the bare relay and the chat server in memory, side by side.

Run from the repository root (valgrind needed; a few minutes)::

    python3 -m bench.benchmark --instructions            # or: python3 -m bench.instructions
    python3 -m bench.instructions --small 2000 --large 6000

Counts what bench/inprocess.py's driver costs with each server, under valgrind's callgrind:
the same 1,000 clients, the same frames (``batch_acks``, as the benchmark's generator sends
them), no sockets and no second process. Each figure is the difference of two runs
(``--large`` minus ``--small`` messages, divided by their difference), so start-up and the
logins cancel. The count does not depend on what else the machine runs, unlike the
benchmark's CPU times (the shared VM moved them ±20% within minutes), so the ratio of the
two is a figure of the code alone. It leaves out what both pay in the kernel (``send``,
``recv``, ``epoll``) and asyncio's transports: the real ratio is nearer 1 than this one,
which compares the servers' own Python work. The driver's share is in both counts alike.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def collected(args: list[str]) -> int:
    """Instructions valgrind counted for ``python3 -m bench.inprocess ARGS``."""
    python = os.path.realpath(sys.executable)  # the binary itself, not a wrapper (pyenv's shim)
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python, "-m",
                           "bench.inprocess", "--batch-acks", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    found = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no count: {done.stderr[-500:]}")
    return int(found.group(1))


def per_message(extra: list[str], small: int, large: int, clients: int) -> float:
    counts = [collected([*extra, "--clients", str(clients), "--messages", str(n)]) for n in (small, large)]
    return (counts[1] - counts[0]) / (large - small)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--small", type=int, default=4000, help="messages of the shorter run")
    parser.add_argument("--large", type=int, default=12000, help="messages of the longer run")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: no instruction counts (apt-get install valgrind)", file=sys.stderr)
        return 2
    relay = per_message(["--relay"], args.small, args.large, args.clients)
    chat = per_message([], args.small, args.large, args.clients)
    print(f"instructions per direct message (valgrind, bench/inprocess.py --batch-acks, {args.clients:,} clients, "
          f"{args.large:,} - {args.small:,} messages):")
    print(f"  bare relay              {relay:12,.0f}")
    print(f"  chat server, memory     {chat:12,.0f}")
    print(f"  ratio (relay ÷ chat)    {relay / chat:12.2f}×   (the servers' own work only: no kernel, no asyncio "
          f"transports)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

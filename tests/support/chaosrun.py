"""Run chaos seeds by hand: ``python3 tests/support/chaosrun.py cluster|single FIRST COUNT SECONDS [CLIENTS]``."""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).resolve().parents[2])]
from chaos import run_chaos  # noqa: E402

parser = argparse.ArgumentParser(prog="chaosrun.py", description="Run chaos seeds by hand (tests/support/chaos.py "
                                 "says what a run does); each seed's outcome is printed, and its faults if it failed.")
parser.add_argument("kind", choices=("cluster", "single"), help="three nodes and Redis, or one durable server")
parser.add_argument("first", type=int, help="the first seed")
parser.add_argument("count", type=int, help="how many seeds, from the first")
parser.add_argument("seconds", type=float, help="how long each seed runs")
parser.add_argument("clients", type=int, nargs="?", default=12, help="how many clients (default: %(default)s)")
args = parser.parse_args()
kind = args.kind
for seed in range(args.first, args.first + args.count):
    with tempfile.TemporaryDirectory() as tmp:
        began = time.monotonic()
        out = run_chaos(Path(tmp), seed, cluster=kind == "cluster", seconds=args.seconds, clients=args.clients)
        print(f"seed {seed} {kind}: {out.sent} sent ({out.room_posts} to the room), {out.acknowledged} acknowledged, "
              f"edits {out.edits} ({out.room_edits} of posts), {len(out.faults)} faults, "
              f"failed {out.failures}, {len(out.problems)} problems, {time.monotonic() - began:.0f}s; "
              f"second devices: {out.second}", flush=True)
        if out.problems:
            print("\n".join(out.faults))
            print("\n".join(out.problems[:40]))
            print(out.logs)

"""Run chaos seeds by hand: ``python3 tests/support/chaosrun.py cluster|single FIRST COUNT SECONDS [CLIENTS]``."""
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).resolve().parents[2])]
from chaos import run_chaos  # noqa: E402

kind, first, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
for seed in range(first, first + count):
    with tempfile.TemporaryDirectory() as tmp:
        began = time.monotonic()
        out = run_chaos(Path(tmp), seed, cluster=kind == "cluster", seconds=seconds,
                        clients=int(sys.argv[5]) if len(sys.argv) > 5 else 12)
        print(f"seed {seed} {kind}: {out.sent} sent ({out.room_posts} to the room), {out.acknowledged} acknowledged, "
              f"edits {out.edits} ({out.room_edits} of posts), {len(out.faults)} faults, "
              f"failed {out.failures}, {len(out.problems)} problems, {time.monotonic() - began:.0f}s; "
              f"second devices: {out.second}", flush=True)
        if out.problems:
            print("\n".join(out.faults))
            print("\n".join(out.problems[:40]))
            print(out.logs)

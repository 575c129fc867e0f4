"""bench/node_instructions.py, one cluster node's count a cross-node message: its run without
valgrind (``--profile``, node A under cProfile) carries every message across the two nodes
and leaves node A's profile, with the inbox reader in it."""

from __future__ import annotations

import pstats

from tools import require_tool

from bench import node_instructions


def test_the_profiled_run_carries_its_messages_across_the_nodes(tmp_path):
    require_tool("redis-server")  # CI installs it: a missing one fails there, never skips
    profile = tmp_path / "node-a.prof"
    assert node_instructions.count(200, pairs=5, window=2, profile=str(profile)) is None
    functions = {name for _file, _line, name in pstats.Stats(str(profile)).stats}
    assert {"_read_inbox", "_apply_routed", "deliver_routed", "tell_routed"} <= functions

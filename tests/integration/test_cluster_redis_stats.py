"""bench/cluster_redis_stats.py, what Redis does per cross-node message through two nodes:
its counts are the message's commands, taken after the logins, and its AOF bytes."""

from __future__ import annotations

from tools import require_tool

from bench import cluster_redis_stats


def test_the_counts_are_each_messages_commands_after_the_logins():
    require_tool("redis-server")  # CI installs it: a missing one fails there, never skips
    figures = cluster_redis_stats.run(300, pairs=5, window=2)
    calls = figures["calls"]
    # Each message is stored once (INCR of the next id, its request id claimed) and has
    # its pending entry added and removed: exactly one of each a message, logins left out.
    assert calls["incr"] == 1.0 and calls["hsetnx"] == 1.0, calls
    # Routed across (the dm, then its delivered): two routes a message, one HVALS each.
    assert calls["hvals"] == 2.0, calls
    assert 0 < figures["aof"] < 10_000 and figures["cpu_us"] > 0, figures

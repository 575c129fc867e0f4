"""A node's failed Redis operations are logged by kind: each kind of failure named once
in its window, the rest counted in one line at the window's end; never a line each.

Driven through ClusterNode._failed (no sockets: nothing is sent) on a fake clock. Before,
the window was one for every kind: an OOM within a minute of a lost connection was
counted under the connection's line, never named, and at WARNING though it was an ERROR.
"""

from __future__ import annotations

import logging

import pytest

from resp import RedisError
from resp.aio import RedisConnectionError, RedisTimeout
from server.cluster.node import FAILURE_LOG_INTERVAL, ClusterNode


def _node(now: list[float]) -> ClusterNode:
    return ClusterNode("redis://127.0.0.1:1/0", node_id="n1", clock=lambda: now[0])


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(record.levelno, record.getMessage()) for record in caplog.records if record.name == "chat.cluster"]


LOST = RedisConnectionError("lost the connection to redis://127.0.0.1:6379/0 (reset); the command may or may not "
                            "have run")
FULL = RedisError("OOM", "command not allowed when used memory > 'maxmemory'.")


def test_a_second_kind_of_failure_in_the_window_is_named_at_its_own_level(caplog) -> None:
    now = [1000.0]
    node = _node(now)
    with caplog.at_level(logging.INFO, logger="chat.cluster"):
        for n in range(50):
            node._failed(f"claim of 'user{n}'", LOST)
            now[0] += 0.1
        node._failed("routing (routed again once Redis answers)", FULL, logging.ERROR)
        node._failed("inbox acknowledgement", FULL, logging.ERROR)
        node._failed("claim of 'ana'", RedisTimeout("no reply from redis://127.0.0.1:6379/0 within 2.0 s; the "
                                                   "command may or may not have run"))
    said = _lines(caplog)
    assert len(said) == 3, said  # one line per kind, not one per failure
    assert said[0] == (logging.WARNING, f"cluster: claim of 'user0' not done: {LOST}")
    assert said[1] == (logging.ERROR, f"cluster: routing (routed again once Redis answers) not done: {FULL}")
    assert said[2][0] == logging.WARNING and "no reply" in said[2][1]


def test_at_the_windows_end_one_line_counts_each_kind_that_failed_again(caplog) -> None:
    now = [1000.0]
    node = _node(now)
    with caplog.at_level(logging.INFO, logger="chat.cluster"):
        for _ in range(300):
            node._failed("claim of 'ana'", LOST)
            now[0] += 0.1
        for _ in range(7):
            node._failed("routing", FULL, logging.ERROR)
        assert len(_lines(caplog)) == 2  # each kind named once so far
        now[0] = 1000.0 + FAILURE_LOG_INTERVAL
        node._failure_log.sweep()  # (the heartbeat's, every beat)
        said = _lines(caplog)
        assert len(said) == 3, said
        level, summary = said[2]
        assert level == logging.ERROR  # the worst of what it counts
        assert "299 RedisConnectionError" in summary and "6 OOM" in summary, summary
        assert "60 s" in summary, summary
        # A steady outage: the kinds still failing were just named; one line a window.
        for _ in range(600):
            node._failed("claim of 'ana'", LOST)
            now[0] += 0.09
        now[0] = 1000.0 + 2 * FAILURE_LOG_INTERVAL
        node._failure_log.sweep()
        said = _lines(caplog)
        assert len(said) == 4 and "600 RedisConnectionError" in said[3][1] and "OOM" not in said[3][1], said
        # Quiet for a window: the next failure is news again, named in full.
        now[0] += 2 * FAILURE_LOG_INTERVAL
        node._failure_log.sweep()
        node._failed("routing", FULL, logging.ERROR)
        said = _lines(caplog)
        assert len(said) == 5 and said[4] == (logging.ERROR, f"cluster: routing not done: {FULL}"), said


def test_kinds_beyond_the_bound_are_counted_not_named(caplog) -> None:
    now = [1000.0]
    node = _node(now)
    with caplog.at_level(logging.INFO, logger="chat.cluster"):
        for n in range(1000):  # a bug whose words differ every time: not a line each
            node._failed("answering a route", f"ValueError: bad entry {n}", logging.ERROR)
        now[0] += FAILURE_LOG_INTERVAL
        node._failure_log.sweep()
    said = _lines(caplog)
    assert 2 <= len(said) <= 12, said
    assert "of other kinds" in said[-1][1], said[-1]


def test_what_is_counted_is_said_when_the_node_stops(caplog) -> None:
    now = [1000.0]
    node = _node(now)
    with caplog.at_level(logging.INFO, logger="chat.cluster"):
        for _ in range(5):
            node._failed("claim of 'ana'", LOST)
        now[0] += 3
        node._failure_log.flush()
    said = _lines(caplog)
    assert len(said) == 2 and "4 RedisConnectionError" in said[1][1] and "3 s" in said[1][1], said

"""The store's failure log (server/store.FailureLog) counts in words that agree with the
count: "1 operation was refused", not "1 operations were refused". A fake clock."""

from __future__ import annotations

import logging

from server.store import FailureLog


def lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "chat.store"]


def test_one_refused_operation_is_said_in_the_singular(caplog) -> None:
    now = [100.0]
    failures = FailureLog(clock=lambda: now[0], period=60.0)
    with caplog.at_level(logging.INFO, logger="chat.store"):
        failures.failed("database or disk is full", 1)
        now[0] += 61
        failures.failed("database or disk is full", 1)  # one more, a period on: a summary line
        now[0] += 1
        assert failures.recovered()
    said = lines(caplog)
    assert said[1] == "storage still failing (database or disk is full): 1 operation refused in the last 61 s", said
    assert said[2] == "storage works again after 62.0 s; 2 operations were refused meanwhile", said


def test_a_failure_of_one_operation_ends_in_the_singular(caplog) -> None:
    now = [100.0]
    failures = FailureLog(clock=lambda: now[0], period=60.0)
    with caplog.at_level(logging.INFO, logger="chat.store"):
        failures.failed("disk I/O error", 1)
        now[0] += 2.5
        assert failures.recovered()
    assert lines(caplog)[-1] == "storage works again after 2.5 s; 1 operation was refused meanwhile"

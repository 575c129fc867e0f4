"""The log's counts agree with their nouns (shared/plural.py): "1 messages" read as a
mistake in every line that counted one thing."""

import logging

from server.logsummary import LogBudget, LogSummary
from shared.plural import counted, plural


def test_one_thing_is_singular_and_any_other_count_plural() -> None:
    assert counted(1, "message{s}") == "1 message"
    assert counted(0, "message{s}") == "0 messages"
    assert counted(2, "message{s}") == "2 messages"
    assert counted(3, "entr{y|ies} could not be applied") == "3 entries could not be applied"
    assert counted(1, "entr{y|ies} could not be applied") == "1 entry could not be applied"
    assert counted(1, "session{s} {was|were} closed") == "1 session was closed"
    assert counted(1, "{room's|rooms'} messages") == "1 room's messages"
    assert plural(4, "malformed frame{s}") == "malformed frames"
    assert counted(5, "bytes") == "5 bytes"  # nothing marked: as written


def test_a_summary_of_one_more_line_says_it_in_the_singular(caplog) -> None:
    caplog.set_level(logging.INFO)
    now = [0.0]
    lines = LogSummary(logging.getLogger("test.plural"), 60.0, clock=lambda: now[0])
    for _ in range(2):
        lines.log("malformed frame{s}", "10.0.0.7", logging.WARNING, "bad frame")
    now[0] = 61.0
    lines.sweep()
    budget = LogBudget(logging.getLogger("test.plural"), "login{s}", 1.0, 1.0, clock=lambda: now[0])
    budget.log(logging.INFO, "login a")
    budget.log(logging.INFO, "login b")
    budget.flush()
    assert [r.getMessage() for r in caplog.records] == [
        "bad frame", "1 more malformed frame from 10.0.0.7 in the last 61 s", "login a",
        "1 more login not logged one by one in the last 0 s"]

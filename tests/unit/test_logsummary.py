"""LogSummary: lines a client can cause at will are logged once, then counted (fake clock)."""

from __future__ import annotations

import logging

import pytest

from shared.logsummary import LogSummary


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(caplog):
    caplog.set_level(logging.DEBUG, logger="test.summary")
    clock = Clock()
    return LogSummary(logging.getLogger("test.summary"), 60.0, clock), clock, caplog


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "test.summary"]


def test_the_first_line_is_logged_and_the_rest_are_counted_until_the_interval_ends(setup):
    summary, clock, caplog = setup
    assert summary.log("malformed frames", "10.0.0.7", logging.WARNING, "bad frame %d", 1) is True
    for n in range(2, 5001):
        clock.now += 0.001
        assert summary.log("malformed frames", "10.0.0.7", logging.WARNING, "bad frame %d", n) is False
    assert _lines(caplog) == ["bad frame 1"]
    clock.now = 1061.0
    summary.sweep()
    assert _lines(caplog) == ["bad frame 1", "4999 more malformed frames from 10.0.0.7 in the last 61 s"]
    assert caplog.records[-1].levelno == logging.WARNING
    summary.sweep()  # said once, and the key is forgotten
    assert len(_lines(caplog)) == 2
    assert summary._entries == {}


def test_a_line_after_the_interval_first_sums_up_the_last_one_then_is_logged(setup):
    summary, clock, caplog = setup
    summary.log("refused logins", "a", logging.INFO, "refused %s", "x")
    summary.log("refused logins", "a", logging.INFO, "refused %s", "y")
    clock.now += 60.0
    assert summary.log("refused logins", "a", logging.INFO, "refused %s", "z") is True
    assert _lines(caplog) == ["refused x", "1 more refused logins from a in the last 60 s", "refused z"]


def test_kinds_and_keys_are_counted_apart(setup):
    summary, clock, caplog = setup
    for _ in range(3):
        summary.log("malformed frames", "a", logging.WARNING, "bad from a")
        summary.log("malformed frames", "b", logging.WARNING, "bad from b")
        summary.log("refused logins", "a", logging.INFO, "refused a")
    assert _lines(caplog) == ["bad from a", "bad from b", "refused a"]
    summary.flush()
    assert sorted(_lines(caplog)[3:]) == ["2 more malformed frames from a in the last 0 s",
                                         "2 more malformed frames from b in the last 0 s",
                                         "2 more refused logins from a in the last 0 s"]
    assert summary._entries == {}


def test_nothing_held_back_means_no_summary(setup):
    summary, clock, caplog = setup
    summary.log("malformed frames", "a", logging.WARNING, "bad")
    clock.now += 120
    summary.sweep()
    summary.flush()
    assert _lines(caplog) == ["bad"]


def test_a_burst_logs_that_many_lines_in_full_per_interval_then_counts(setup):
    """Lines normal use writes a few of (rooms, accounts created): each in full up to
    ``burst`` per interval from one key, then counted; another key has its own."""
    summary, clock, caplog = setup
    logged = [summary.log("rooms created", "10.0.0.7", logging.INFO, "room %d", n, burst=3) for n in range(10)]
    assert logged == [True] * 3 + [False] * 7
    assert summary.log("rooms created", "10.0.0.8", logging.INFO, "room b", burst=3) is True
    clock.now += 60.0
    assert summary.log("rooms created", "10.0.0.7", logging.INFO, "room %d", 10, burst=3) is True
    assert _lines(caplog) == ["room 0", "room 1", "room 2", "room b",
                              "7 more rooms created from 10.0.0.7 in the last 60 s", "room 10"]


@pytest.mark.logs_tracebacks("the traceback logged is the test's own")
def test_a_traceback_goes_with_the_lines_logged_in_full_only(setup):
    summary, clock, caplog = setup
    for n in range(3):
        try:
            raise ValueError(f"bug {n}")
        except ValueError:
            summary.log("ValueError{s} raised by on_event", "the client of 'Ana'", logging.ERROR, "raised %d", n,
                        exc_info=True)
    summary.flush()
    records = [r for r in caplog.records if r.name == "test.summary"]
    assert [(r.getMessage(), bool(r.exc_info)) for r in records] == [
        ("raised 0", True), ("2 more ValueErrors raised by on_event from the client of 'Ana' in the last 0 s", False)]
    assert "bug 0" in caplog.text and "bug 1" not in caplog.text


def test_a_flood_from_many_keys_logs_max_keys_of_them_in_full_and_counts_the_others_together(caplog):
    """One line per address is no bound when a flood comes from ten thousand addresses
    (the 2**24 of 127/8, a /64 of IPv6): past ``max_keys`` keys of a kind at a time, the
    others share one entry, one line in full and then a count, and memory stays bounded."""
    caplog.set_level(logging.DEBUG, logger="test.summary")
    clock = Clock()
    summary = LogSummary(logging.getLogger("test.summary"), 60.0, clock, max_keys=3, others="other addresses")
    for n in range(10_000):
        clock.now += 0.001
        summary.log("malformed frame{s}", f"10.0.{n // 256}.{n % 256}", logging.WARNING, "bad frame from %d", n)
    summary.log("refused login{s}", "10.9.9.9", logging.INFO, "refused")  # another kind has its own keys
    assert _lines(caplog) == ["bad frame from 0", "bad frame from 1", "bad frame from 2", "bad frame from 3",
                              "refused"]
    assert len(summary._entries) == 5
    clock.now += 60.0
    summary.sweep()
    assert _lines(caplog)[5:] == ["9996 more malformed frames from other addresses in the last 70 s"]
    assert summary._entries == {}
    summary.log("malformed frame{s}", "10.1.0.0", logging.WARNING, "bad frame again")  # its keys freed
    assert _lines(caplog)[-1] == "bad frame again"

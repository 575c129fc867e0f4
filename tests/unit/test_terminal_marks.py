"""The terminal's marks of a message we sent, the same in every line that says one: ``✓``
the server has it, ``✓✓`` delivered (the screen's own line, describe_mark in
client/terminal_lines.py; README, "The terminal client"). A pipe's status lines, the
outcome of a message another session of ours sent, and that of a message an earlier run
sent said "✓ delivered": one tick, the screen's mark for "sent"."""

from __future__ import annotations

import pytest

import i18n
from client.outgoing import DELIVERED, QUEUED, SENT, OutgoingMessage
from client.screen import Style
from client.terminal_lines import describe_event, describe_mark, describe_on_screen, describe_status
from protocol import Carbon, Delivered

PLAIN = Style(False)


@pytest.fixture(autouse=True)
def english_after():
    yield
    i18n.use("en")


def mark(line: str) -> str:
    """The mark a status line starts with."""
    return line.split(" ", 1)[0]


@pytest.mark.parametrize("language", ["en", "pt_BR"])
def test_a_pipe_says_sent_and_delivered_with_the_screens_marks(language: str) -> None:
    i18n.use(language)
    message = OutgoingMessage("r1", "Bob", "hello")
    assert mark(describe_status(message, SENT, None)) == describe_mark(message, SENT, None, PLAIN) == "✓"
    assert mark(describe_status(message, DELIVERED, None)) == describe_mark(message, DELIVERED, None, PLAIN) == "✓✓"
    # Queued: the server has it (one tick), and it waits for Bob's next login.
    assert mark(describe_status(message, QUEUED, None)) == "✓"


@pytest.mark.parametrize("language", ["en", "pt_BR"])
def test_what_another_session_or_an_earlier_run_sent_is_delivered_with_two_ticks(language: str) -> None:
    i18n.use(language)
    carbon = Carbon(122, "Bob", "from my laptop", 1_700_000_000.0, "sent")
    for line in (describe_event(Delivered("other-session", 122), "Alice", {122: carbon}),
                 describe_event(Delivered("an-earlier-run", 7), "Alice"),
                 describe_on_screen(Delivered("other-session", 122), "Alice", PLAIN, "12:01",
                                    {122: carbon}).removeprefix("[12:01] ")):
        assert mark(line) == "✓✓", line

"""The read receipts switch in the interactive terminal client (/receipts, /recibos), in a
real terminal (tmux) against a real server on 127.0.0.1 (port 0): it says the setting,
Tab completes the word and its position, turning it off stops Alice's reads reaching Bob,
and turning it on again lets the next one through. Bounded waits only."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from clientkit import WAIT, start
from client.library import ChatClient
from protocol import DirectMessage, Read
from server import ServerThread
from test_client_tmux import Tmux, input_rows, terminal  # noqa: F401  (the fixture)


def first_read(client: ChatClient) -> Read:
    """The next Read event ``client`` receives, within WAIT seconds (others are skipped)."""
    deadline = time.monotonic() + WAIT
    while True:
        event = client.events.get(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(event, Read):
            return event


@pytest.mark.timeout_seconds(90)
def test_the_receipts_switch_in_the_terminal(server: ServerThread, terminal: Callable[..., Tmux],
                                             clients: list[ChatClient]) -> None:
    screen = terminal("Alice", columns=160)  # (its longest line whole)
    screen.type("/help people")  # (the topic that has it: /help alone is the most used commands)
    screen.press("Enter")
    screen.wait_text("/receipts [on|off]")
    screen.type("/receipts")
    screen.press("Enter")
    screen.wait_text("* read receipts are on:")
    # Tab knows the word and its two positions.
    screen.type("/rece")
    screen.press("Tab")
    screen.wait(lambda rows: input_rows(rows).rstrip() == "[room]> /receipts", "/receipts completed")
    screen.type("of")
    screen.press("Tab")
    screen.wait(lambda rows: input_rows(rows).rstrip() == "[room]> /receipts off", "off completed")
    screen.press("Enter")
    screen.wait_text("* read receipts are off:")

    bob = start(clients, server.port, "Bob")
    bob.send_direct("Alice", "did you read this?").wait_done(WAIT)
    screen.wait_text("Bob → you: did you read this?")
    screen.type("/receipts")
    screen.press("Enter")
    screen.wait_text("(/receipts on turns them on)")

    screen.type("/recibos sim")
    screen.press("Enter")
    screen.wait_text("(/receipts off turns them off)")
    second = bob.send_direct("Alice", "and this?")
    second.wait_done(WAIT)
    screen.wait_text("Bob → you: and this?")
    # Reads are cumulative: had the first message been told read while the switch was
    # off, that Read would come first. The first Read Bob gets is of the second message.
    read = first_read(bob)
    assert (read.sender, read.msg_id) == ("Alice", second.msg_id)

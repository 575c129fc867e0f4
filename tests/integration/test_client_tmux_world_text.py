"""The world's text in the terminal client, in a real terminal (tmux: see test_client_tmux.py):
a line typed in Hindi, Japanese or with emoji survives messages arriving while it is typed;
what others write in those scripts, with a tab or a CR, is shown on its own lines and
never overprints anything."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from clientkit import start
from client.library import ChatClient
from protocol import RoomMessage
from server import ServerThread
from test_client_tmux import Tmux, input_rows, received, terminal  # noqa: F401  (the fixture)


@pytest.mark.timeout_seconds(90)
@pytest.mark.parametrize("variables", [{"LANG": "C.UTF-8"}, {"LANG": "pt_BR.UTF-8"}, {"LC_ALL": "pt_BR.UTF-8"}],
                         ids=["C.UTF-8", "LANG-pt_BR", "LC_ALL-pt_BR"])
def test_a_line_typed_in_hindi_and_japanese_survives_messages_arriving(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient], variables: dict) -> None:
    """Hindi's vowel signs and virama take no column, but were counted one each: a typed
    line of two rows was taken for three, and each message that arrived erased the line
    above it (the one before). And where LC_ALL names a locale the machine lacks (pt_BR on
    a lab server reached over ssh), line editing took the text for bytes: garbled at once."""
    bob = start(clients, server.port, "Bob")
    alice = terminal("Alice", columns=40, **{"LC_ALL": "", **variables})
    typed = "नमस्ते " * 13 + "日本"  # 8 + 65 + 4 columns: two rows of 40, with the prompt
    alice.type(typed)
    alice.wait(lambda rows: input_rows(rows) == "[room]> " + typed, "the typed line")
    for n, text in enumerate(["first 🇧🇷", "segundo: Conceic\u0327a\u0303o", "三番目 👨\u200d👩\u200d👧", "tab\there\rCR"]):
        bob.send_room(text)
        alice.wait_text(f"Bob: {text.split()[0]}")
    rows = alice.wait(lambda rows: input_rows(rows) == "[room]> " + typed, "the typed line, intact, last")
    shown = "\n".join(rows)
    assert re.search(r"\(room\) Bob: first 🇧🇷\n", shown), shown
    assert re.search(r"\(room\) Bob: segundo: Conceic\u0327a\u0303o\n", shown), shown
    assert re.search(r"\(room\) Bob: 三番目 👨\u200d👩\u200d👧\n", shown), shown
    # A tab is shown as its escape; a CR starts a continuation line, never overprints.
    assert re.search(r"\(room\) Bob: tab\\there\n {8}CR\n", shown), shown
    alice.press("Enter")
    assert received(bob, RoomMessage).text == typed

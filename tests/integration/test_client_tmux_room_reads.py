"""Read marks in rooms in the interactive terminal client (issue 13), in a real terminal
(tmux) against a real server on 127.0.0.1 (port 0): a printed post is said read, and a
short line tells when the count of those who read our last post changes, once per
change. Bounded waits only (see test_client_tmux.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from clientkit import WAIT, posted, start
from client.library import ChatClient
from protocol import RoomNotice, RoomPost, RoomRead
from server import ServerThread
from test_client_tmux import Tmux, terminal  # noqa: F401  (the fixture)


def next_of(client: ChatClient, kind: type, where=lambda e: True):
    while True:
        event = client.events.get(timeout=WAIT)
        if isinstance(event, kind) and where(event):
            return event


@pytest.mark.timeout_seconds(90)
def test_the_terminal_says_a_printed_post_read_and_prints_read_by_n_once_per_change(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    vic = start(clients, server.port, "Vic")
    vic.join("#redes")
    screen = terminal("Alice", columns=110)
    screen.type("/join #redes")
    screen.press("Enter")
    screen.wait_text("* you are in #redes (3 members; owner Olga)")
    next_of(olga, RoomNotice, lambda e: e.name == "Alice")

    post = posted(olga, "#redes", "quem vem?")
    screen.wait_text("(#redes) Olga: quem vem?")
    marks = next_of(olga, RoomRead, lambda e: e.marks is not None and post.msg_id in e.marks)
    assert marks.marks == (post.msg_id,)  # printed: Alice's mark

    screen.type("eu vou")
    screen.press("Enter")
    mine = next_of(olga, RoomPost, lambda p: p.sender == "Alice")
    olga.mark_read_in_room("#redes", mine.msg_id)
    screen.wait_text("✓✓ your last post in #redes (“eu vou”) was read by 1")
    # Stamped with the time, as every other line the terminal prints about what happened.
    assert any(re.match(r"\[\d\d:\d\d\] ✓✓ your last post in #redes", line) for line in screen.screen()), \
        screen.screen()
    vic.mark_read_in_room("#redes", mine.msg_id)
    screen.wait_text("✓✓ your last post in #redes (“eu vou”) was read by 2")
    # Nothing was printed between the two counts: the second rewrote the first's line.
    assert "\n".join(screen.screen()).count("was read by") == 1, screen.screen()
    # Olga's mark moving further changes no count: no new line.
    later = posted(vic, "#redes", "ok")
    screen.wait_text("(#redes) Vic: ok")
    olga.mark_read_in_room("#redes", later.msg_id)
    next_of(vic, RoomRead, lambda e: e.marks is not None and later.msg_id in e.marks)  # the same flush as Alice's
    deadline = time.monotonic() + 1.0  # and for a while after it: still the one line
    while time.monotonic() < deadline:
        assert "\n".join(screen.screen()).count("was read by") == 1


@pytest.mark.timeout_seconds(90)
def test_the_terminal_and_joaos_other_session_tell_each_other_his_room_reads_and_it_prints_nothing_odd(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    """João on the terminal and on another device (a library session, as the page or the
    window). His own room mark read on one is forwarded to the other: a post the terminal
    printed reaches the other session as his own ``read``; his read on the other session
    reaches the terminal, which has no unread count and prints nothing for it."""
    password = "correct horse"
    joao = start(clients, server.port, "João", password=password, register=True)
    joao.join("#calculo")
    ana = start(clients, server.port, "Ana")
    ana.join("#calculo")
    early = posted(ana, "#calculo", "lista 3")  # before the terminal: the other device has it
    next_of(joao, RoomPost, lambda p: p.msg_id == early.msg_id)

    screen = terminal("João", columns=110, CHAT_PASSWORD=password)
    joao.mark_read_in_room("#calculo", early.msg_id)  # read on the other device
    # Ana's list counts João's mark: by then the terminal was sent his own mark too.
    next_of(ana, RoomRead, lambda e: e.marks is not None and early.msg_id in e.marks)
    later = posted(ana, "#calculo", "lista 4")
    screen.wait_text("(#calculo) Ana: lista 4")  # after the forwarded mark, on the same connection
    # The terminal printed it, so said it read: João's other session is told, as his own.
    own = next_of(joao, RoomRead, lambda e: e.marks is None)
    assert own == RoomRead("#calculo", later.msg_id, sender="João")
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # nothing about reads on the terminal: not "read by", no raw frame
        shown = "\n".join(screen.screen())
        assert "read" not in shown and "{" not in shown, shown
        time.sleep(0.1)

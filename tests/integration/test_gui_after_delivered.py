"""After "delivered" (issue 13) in the desktop window.

1. The model (no tkinter, a fake clock): "typing" expires by itself and ends with a
   message; "read" marks our messages; edits and deletes change lines, also one that came
   before its message; the read to send waits for the focus and is said once.
2. The real window under Xvfb (``python3 chatclient.py NAME --gui``, driven through its
   test control channel, as tests/test_gui.py does): the typing line, "✓✓ read", Ctrl+E
   to edit and Ctrl+Delete to delete our message, the other side's edit and delete; the
   message menu (a right click) on an older message of ours.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import const
from client.gui.model import ChatModel
from client.gui.changes import LineChanged, StateChanged
from protocol import (
    EDITS, READ, TYPING, Accepted, Delete, Deleted, Delivered, DirectMessage, Done, Edit, Edited, Hello,
    Read, Receipt, SendDirect, Typing, UserJoined, UserLeft, Welcome,
)
from test_gui import REPO, contact, display, open_gui, server  # noqa: F401  (fixtures)
from tools import require_tool
from wire import WireClient

NOTICES = (UserJoined, UserLeft)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connected_model(clock: Clock) -> ChatModel:
    model = ChatModel("Bob", "127.0.0.1:5000", clock=clock)
    model.set_state("connected")
    model.set_online(["Alice"])
    return model


def test_typing_shows_until_it_expires_or_a_message_comes() -> None:
    clock = Clock()
    model = connected_model(clock)
    model.open("alice")
    model.apply(Typing("Bob", "Alice"))
    assert model.typing_text("alice") == "Alice is typing…"
    clock.now += const.TYPING_EXPIRES - 0.1
    assert model.typing_text("alice") == "Alice is typing…"
    clock.now += 0.2
    assert model.typing_text("alice") == ""
    model.apply(Typing("Bob", "Alice"))
    model.apply(DirectMessage(7, "Alice", "Bob", "here it is", 1.0))
    assert model.typing_text("alice") == ""


def test_read_marks_our_messages_and_edits_and_deletes_change_lines() -> None:
    model = connected_model(Clock())
    model.apply(DirectMessage(5, "Alice", "Bob", "first", 1.0))
    model.apply(DirectMessage(6, "Bob", "Alice", "mine", 2.0))  # ours, from another session
    model.take_changes()
    model.apply(Read("Bob", 6, "Alice"))
    [change] = model.take_changes()
    assert isinstance(change, StateChanged) and change.line.label == "✓✓ read"
    model.apply(Edited(5, "Alice", "Bob", "first, fixed", 3.0))
    [change] = model.take_changes()
    assert isinstance(change, LineChanged) and change.line.shown_text == "first, fixed  (edited)"
    model.apply(Deleted(5, "Alice", "Bob", 4.0))
    assert model.take_changes()[0].line.shown_text == "(this message was deleted)"
    # A change that comes before its message is applied when the message comes.
    model.apply(Edited(9, "Alice", "Bob", "later, fixed", 5.0))
    model.apply(DirectMessage(9, "Alice", "Bob", "later", 4.5))
    assert model.conversations["alice"].lines[-1].shown_text == "later, fixed  (edited)"


def test_the_read_to_send_waits_for_the_focus_and_is_said_once() -> None:
    model = connected_model(Clock())
    model.apply(DirectMessage(5, "Alice", "Bob", "hi", 1.0))
    assert model.read_due(True) is None  # the room is open, not Alice's conversation
    model.open("alice")
    assert model.read_due(False) is None
    assert model.read_due(True) == ("Alice", 5)
    assert model.read_due(True) is None
    model.read_receipts = False
    model.apply(DirectMessage(6, "Alice", "Bob", "again", 2.0))
    assert model.read_due(True) is None


def alice_writes_to_bobs_window(alice: WireClient, open_gui, text: str):  # noqa: F811
    """Alice (a wire client with read, typing and edits) logs in, Bob's window opens, she
    writes ``text`` to him and he opens her conversation: (Bob's window, her message's id)."""
    alice.send(Hello("h", "Alice", const.PROTOCOL_VERSION, None, False, None, (READ, TYPING, EDITS)))
    alice.expect(Welcome, skip=NOTICES)
    bob = open_gui("Bob")
    bob.wait(lambda s: s["view"] == "chat" and s["state"] == "connected" and s["focus"] == "input", "the chat view")
    alice.send(SendDirect("a1", "Bob", text))
    msg_id = alice.expect(Accepted, skip=NOTICES).msg_id
    bob.wait(lambda s: contact(s, "alice") is not None, "Alice in the list")
    bob.cmd("key", sequence="<Control-Key-2>")
    bob.wait(lambda s: s["active"] == "alice", "Alice's conversation")
    return bob, msg_id


def test_the_window_shows_read_typing_edit_and_delete(open_gui, server, tmp_path: Path) -> None:  # noqa: F811
    with WireClient(server.host, server.port) as alice:
        bob, first = alice_writes_to_bobs_window(alice, open_gui, "Did you read chapter 3?")
        # Open and focused: Alice hears "read".
        assert alice.expect(Read, skip=NOTICES + (Delivered,)) == Read("Alice", first, "Bob")
        # A key typed in the input box: Alice hears that Bob types.
        bob.cmd("key", sequence="<KeyPress-y>")
        assert alice.expect(Typing, skip=NOTICES + (Delivered,)) == Typing("Alice", "Bob")

        alice.send(Typing("Bob"))
        bob.wait(lambda s: s["typing"] == "Alice is typing…", "the typing line")
        bob.wait(lambda s: s["typing"] == "", "the typing line gone by itself", timeout=const.TYPING_EXPIRES + 5)

        bob.cmd("type", text="Yes, teh whole chapter", clear=True)
        dm = alice.expect(DirectMessage, skip=NOTICES + (Delivered, Typing))
        alice.send(Receipt(dm.msg_id))
        alice.send(Read("Bob", dm.msg_id))
        bob.wait(lambda s: "Yes, teh whole chapter   ✓✓ read" in s["panes"].get("alice", ""), "✓✓ read")

        bob.cmd("key", sequence="<Control-e>")
        bob.wait(lambda s: s["input"] == "Yes, teh whole chapter", "our message in the input box")
        bob.cmd("type", text="Yes, the whole chapter", clear=True)
        edited = alice.expect(Edited, skip=NOTICES + (Delivered, Typing))
        assert (edited.msg_id, edited.text) == (dm.msg_id, "Yes, the whole chapter")
        bob.wait(lambda s: "Yes, the whole chapter  (edited)" in s["panes"].get("alice", ""), "the edited mark")

        alice.send(Edit("e1", first, "Did you read chapter 3 (the long one)?"))
        alice.expect(Done, skip=NOTICES + (Delivered,))
        state = bob.wait(lambda s: "Did you read chapter 3 (the long one)?  (edited)" in s["panes"].get("alice", ""),
                         "Alice's edit")
        shot = tmp_path / "gui-client-after-delivered.png"
        require_tool("xwd", "x11-apps", why="to take the window's screenshot")
        bob.cmd("screenshot", path=str(shot))
        print(f"\nscreenshot: {shot}")
        if os.environ.get("SAVE_SCREENSHOTS") == "1":
            shutil.copyfile(shot, REPO / "docs" / "gui-client-after-delivered.png")

        bob.cmd("key", sequence="<Control-Delete>")
        assert alice.expect(Deleted, skip=NOTICES + (Delivered, Typing)).msg_id == dm.msg_id
        alice.send(Delete("d1", first))
        alice.expect(Done, skip=NOTICES + (Delivered,))
        state = bob.wait(lambda s: s["panes"].get("alice", "").count("(this message was deleted)") == 2,
                         "both messages deleted")
        assert "chapter" not in state["panes"]["alice"]


def test_a_right_click_on_an_older_message_of_ours_edits_or_deletes_that_one(open_gui, server) -> None:  # noqa: F811
    """The message menu (Edit, Delete) acts on the message clicked, not only on the last one
    as Ctrl+E and Ctrl+Delete do; on someone else's message it does not open."""
    with WireClient(server.host, server.port) as alice:
        bob, _first = alice_writes_to_bobs_window(alice, open_gui, "Olá, Bob")
        ids = []
        for text in ("primeira mensagem", "segunda mensagem"):
            bob.cmd("type", text=text, clear=True)
            dm = alice.expect(DirectMessage, skip=NOTICES + (Delivered, Read, Typing))
            alice.send(Receipt(dm.msg_id))
            ids.append(dm.msg_id)
        bob.wait(lambda s: s["panes"].get("alice", "").count("✓✓") == 2, "both delivered")

        assert bob.cmd("message_act", act="delete", text="Olá, Bob") == {"ok": False}  # hers
        assert bob.cmd("message_act", act="delete", text="primeira mensagem") == {"ok": True}
        assert alice.expect(Deleted, skip=NOTICES + (Delivered, Read, Typing)).msg_id == ids[0]
        bob.wait(lambda s: "primeira" not in s["panes"]["alice"] and "segunda mensagem" in s["panes"]["alice"],
                 "the first deleted, the second still there")
        assert bob.cmd("message_act", act="edit", text="segunda mensagem") == {"ok": True}
        bob.wait(lambda s: s["input"] == "segunda mensagem", "that message in the input box")
        bob.cmd("type", text="segunda mensagem, corrigida", clear=True)
        edited = alice.expect(Edited, skip=NOTICES + (Delivered, Read, Typing))
        assert (edited.msg_id, edited.text) == (ids[1], "segunda mensagem, corrigida")


def test_the_windows_switch_turns_read_receipts_off(open_gui, server) -> None:  # noqa: F811
    with WireClient(server.host, server.port) as alice:
        alice.send(Hello("h", "Alice", const.PROTOCOL_VERSION, None, False, None, (READ, TYPING, EDITS)))
        alice.expect(Welcome, skip=NOTICES)
        bob = open_gui("Bob")
        state = bob.wait(lambda s: s["view"] == "chat" and s["state"] == "connected", "the chat view")
        assert state["read_receipts"] == [True, True]
        bob.cmd("receipts")
        bob.wait(lambda s: s["read_receipts"] == [False, False], "the switch off, as the server said")
        alice.send(SendDirect("a1", "Bob", "read this?"))
        alice.expect(Accepted, skip=NOTICES)
        bob.wait(lambda s: contact(s, "alice") is not None, "Alice in the list")
        bob.cmd("key", sequence="<Control-Key-2>")
        bob.wait(lambda s: s["active"] == "alice" and "read this?" in s["panes"].get("alice", ""), "her message")
        bob.cmd("key", sequence="<KeyPress-y>")
        events = alice.drain(quiet=1.0)
        assert not [e for e in events if isinstance(e, (Read, Typing))], events


def test_read_stays_read_when_the_window_starts_again(open_gui, server) -> None:  # noqa: F811
    """Alice read Bob's message (live: "✓✓ read"); Bob's window starts again and opens her
    conversation: the history says it was read, as the page does, not "delivered"."""
    with WireClient(server.host, server.port) as alice:
        bob, _first = alice_writes_to_bobs_window(alice, open_gui, "Leu o capítulo 3?")
        bob.cmd("type", text="Li sim, e você?", clear=True)
        dm = alice.expect(DirectMessage, skip=NOTICES + (Delivered, Read, Typing))
        alice.send(Receipt(dm.msg_id))
        alice.send(Read("Bob", dm.msg_id))
        bob.wait(lambda s: "Li sim, e você?   ✓✓ read" in s["panes"].get("alice", ""), "✓✓ read live")
        bob.close()
        bob = open_gui("Bob")
        bob.wait(lambda s: s["view"] == "chat" and s["state"] == "connected" and contact(s, "alice") is not None,
                 "the chat view, Alice in the list")
        bob.cmd("key", sequence="<Control-Key-2>")
        bob.wait(lambda s: s["active"] == "alice" and "Li sim, e você?   ✓✓ read" in s["panes"].get("alice", ""),
                 "our message in the history, read")


def test_a_message_right_after_an_edit_shows_once(open_gui, server) -> None:  # noqa: F811
    """Alice edits her message and writes another at once: both reach the window in one
    turn of its event loop, where the edit draws the pane again from the model (which has
    the new message already); the new message was then added to the pane a second time."""
    with WireClient(server.host, server.port) as alice:
        bob, first = alice_writes_to_bobs_window(alice, open_gui, "Olá, Bob")
        for n in range(3):  # a few times: each pair must come in one turn for the fault to show
            alice.send(Edit(f"e{n}", first, f"Olá, Bob ({n})"))
            alice.send(SendDirect(f"after{n}", "Bob", f"depois da edição {n}"))
        state = bob.wait(lambda s: s["lines"].get("alice") == 4 and "Olá, Bob (2)" in s["panes"].get("alice", ""),
                         "the edits and the messages")
        shown = state["panes"]["alice"]
        for n in range(3):
            assert shown.count(f"depois da edição {n}") == 1, shown

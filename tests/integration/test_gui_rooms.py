"""Rooms in the real window under Xvfb (see test_gui.py for the harness): the join box, the
room in the contact list, its conversation with posts and notices, the topic in the
header, the member list, and the moderation menu only for those who may."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from clientkit import WAIT, start
from protocol import RoomPost
from test_gui import contact, display, open_gui, server  # noqa: F401  (fixtures)
from tools import require_tool


@pytest.mark.timeout_seconds(120)
def test_a_room_in_the_window(open_gui, server, clients, tmp_path: Path) -> None:
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    olga.set_topic("#redes", "prova na sexta")
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#redes")
    state = bob.wait(lambda s: s["active"] == "##redes" and s["members"], "the room open with its members")
    assert contact(state, "##redes")["text"].strip() == "#redes"
    assert state["header"] == ["#redes", "prova na sexta · 2 members"]
    assert state["recipient"] == "To everyone in #redes"
    assert state["members"] == ["Bob", "Olga (owner)"]
    assert state["room_menu"] == []  # a plain member is offered no moderation

    bob.cmd("type", text="olá, turma")
    state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["sent"], "the room message as sent")
    while not isinstance(event := olga.events.get(timeout=WAIT), RoomPost) or event.sender != "Bob":
        pass
    assert event.text == "olá, turma"
    olga.send_to_room("#redes", "bem-vindo, Bob")
    olga.appoint("#redes", "Bob", "moderator")
    state = bob.wait(lambda s: "Olga made you moderator of #redes" in s["panes"].get("##redes", ""),
                     "the appointment notice")
    assert "Olga: bem-vindo, Bob" in state["panes"]["##redes"]
    state = bob.wait(lambda s: s["room_menu"], "the moderation menu, now that Bob may moderate")
    assert state["members"] == ["Bob (moderator)", "Olga (owner)"]
    assert "kick" in state["room_menu"] and "ban" in state["room_menu"]

    bob.cmd("room_act", act="invite", name="Zoe")
    bob.wait(lambda s: "you invited Zoe to #redes" in s["panes"]["##redes"], "the invitation notice")
    with start(clients, server.port, "Vic") as vic:
        vic.join("#redes")
        bob.wait(lambda s: "Vic joined #redes" in s["panes"]["##redes"], "Vic's join notice")
        bob.cmd("room_act", act="mute", name="Vic")
        state = bob.wait(lambda s: "you muted Vic in #redes" in s["panes"]["##redes"], "the mute notice")
        muted = vic.send_to_room("#redes", "hello?")
        assert muted.wait_done(WAIT) and muted.error[0] == "muted"
        bob.cmd("room_act", act="kick", name="Vic")
        state = bob.wait(lambda s: "you put Vic out of #redes" in s["panes"]["##redes"]
                         and s["members"] == ["Bob (moderator)", "Olga (owner)"], "Vic put out")
    require_tool("xwd", "x11-apps", why="to take the window's screenshot")
    shot = tmp_path / "gui-rooms.png"
    bob.cmd("screenshot", path=str(shot))
    print(f"\nscreenshot: {shot}")
    if os.environ.get("SAVE_SCREENSHOTS") == "1":  # README's picture of a room
        shutil.copyfile(shot, Path(__file__).resolve().parents[2] / "docs" / "gui-rooms.png")

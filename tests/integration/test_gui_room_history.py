"""A room's history and mode in the real window under Xvfb (see test_gui.py for the
harness): opening a room shows its newest page above what came live, "Older messages"
pages back by the cursor with nothing twice; the
owner's invite-only switch changes the room's mode, which everyone sees in the header,
and nobody else is offered the switch."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from clientkit import start
from client.gui.session import ROOM_HISTORY_PAGE as PAGE
from test_gui import display, open_gui, server  # noqa: F401  (fixtures)
from tools import require_tool


def lines_of(pane: str, pattern: str) -> list[str]:
    return re.findall(pattern, pane)


@pytest.mark.timeout_seconds(120)
def test_room_history_and_mode_in_the_window(open_gui, server, clients, tmp_path: Path) -> None:
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    olga.set_topic("#redes", "prova na sexta")
    total = PAGE + 10
    for number in range(total):  # more than one page before Bob comes
        olga.send_to_room("#redes", f"post {number:02d}").wait_done(10)
    olga.send_to_room("#redes", "a typo").wait_done(10)

    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#redes", click=True)
    state = bob.wait(lambda s: s["active"] == "##redes" and "a typo" in s["panes"].get("##redes", ""),
                     "the room open with its newest page")
    pane = state["panes"]["##redes"]
    shown = lines_of(pane, r"post (\d\d)")
    assert shown == [f"{n:02d}" for n in range(total - PAGE + 1, total)], shown  # the newest page
    assert state["room_controls"] == {"mode": False, "invite_only": False, "older": True}
    # A live post while the page is shown: below it, once.
    olga.send_to_room("#redes", "live one").wait_done(10)
    bob.wait(lambda s: "live one" in s["panes"]["##redes"], "the live post")
    bob.cmd("room_older")
    state = bob.wait(lambda s: "post 00" in s["panes"]["##redes"], "the older page above")
    pane = state["panes"]["##redes"]
    assert lines_of(pane, r"post (\d\d)") == [f"{n:02d}" for n in range(total)], "a post twice or missing"
    assert pane.count("live one") == 1 and pane.index("post 00") < pane.index("a typo") < pane.index("live one")
    assert state["room_controls"]["older"] is False  # nothing older

    # The mode: Olga (the owner) makes it invite-only; Bob sees it in the header.
    olga.set_mode("#redes", True)
    state = bob.wait(lambda s: "invite only" in s["header"][1], "the lock in the header")
    assert "Olga made #redes invite-only" in state["panes"]["##redes"]
    assert state["room_controls"]["mode"] is False  # not the owner: no switch
    olga.appoint("#redes", "Bob", "owner")
    state = bob.wait(lambda s: s["room_controls"]["mode"], "the switch, now that Bob owns the room")
    assert state["room_controls"]["invite_only"] is True
    bob.cmd("room_mode")  # off: public again
    bob.wait(lambda s: "invite only" not in s["header"][1] and not s["room_controls"]["invite_only"],
             "public again")
    bob.cmd("room_mode")  # on again, for the picture
    bob.wait(lambda s: "invite only" in s["header"][1], "invite-only again")

    # No "read" about a room's posts (the code, or its sentence: display.ERROR_TEXTS).
    assert "unknown_message" not in state["panes"]["##redes"] and "no such message" not in state["panes"]["##redes"]
    bob.cmd("see_end")
    require_tool("xwd", "x11-apps", why="to take the window's screenshot")
    shot = tmp_path / "gui-room-history.png"
    bob.cmd("screenshot", path=str(shot))
    print(f"\nscreenshot: {shot}")
    if os.environ.get("SAVE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, Path(__file__).resolve().parents[2] / "docs" / "gui-room-history.png")

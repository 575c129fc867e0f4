"""Read marks in rooms in the window (issue 13): the window says the open room read when it
has the focus, and shows "read by N" beside its own posts in a small room. Xvfb; every wait
is bounded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from clientkit import WAIT, posted, start
from protocol import RoomRead
from test_gui import display, open_gui, server  # noqa: F401  (fixtures)
from tools import require_tool


def _marks_of(client, room: str) -> tuple[int, ...]:
    while True:
        event = client.events.get(timeout=WAIT)
        if isinstance(event, RoomRead) and event.room_name == room and event.marks is not None:
            return event.marks


@pytest.mark.timeout_seconds(120)
def test_the_window_says_the_room_read_and_shows_read_by_n(open_gui, server, clients, tmp_path: Path) -> None:
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    vic = start(clients, server.port, "Vic")
    vic.join("#redes")
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#redes")
    bob.wait(lambda s: s["active"] == "##redes" and s["members"], "the room open with its members")

    bob.cmd("type", text="quem leva o projetor?", clear=True)  # the input box has the focus
    state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["sent"], "our post as sent")
    seen = posted(olga, "#redes", "eu levo")
    bob.wait(lambda s: "Olga: eu levo" in s["panes"]["##redes"], "Olga's post")
    # The window said it has seen it (first its own post, maybe: then both, coalesced).
    while (marks := _marks_of(olga, "#redes")) != (seen.msg_id,):
        assert marks == (seen.msg_id - 1,), marks

    mine = seen.msg_id - 1  # ours came just before
    olga.mark_read_in_room("#redes", seen.msg_id)
    bob.wait(lambda s: "read by 1" in s["panes"]["##redes"], "read by 1")
    vic.mark_read_in_room("#redes", mine)
    state = bob.wait(lambda s: "read by 2" in s["panes"]["##redes"], "read by 2")
    assert "read by 1" not in state["panes"]["##redes"]
    require_tool("xwd", "x11-apps", why="to take the window's screenshot")
    shot = tmp_path / "gui-room-reads.png"
    bob.cmd("screenshot", path=str(shot))
    print(f"\nscreenshot: {shot}")
    if os.environ.get("SAVE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, Path(__file__).resolve().parents[2] / "docs" / "gui-room-reads.png")

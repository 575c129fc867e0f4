"""Read marks in rooms in the page (issue 13): the page sends the room's "read" when the room
is shown and focused, and shows "Read by N" under its own posts in a small room, from the
anonymous marks the server sends. Chromium; every wait is bounded."""

from __future__ import annotations

from pathlib import Path

from client.library import ChatClient
from clientkit import WAIT, posted
from protocol import RoomRead
from test_web_rooms import olga_and_vic_with_bob_in_redes
from test_web_session import chromium_installed, shoot, site  # noqa: F401  (fixtures)


def _marks_of(client: ChatClient, room: str) -> tuple[int, ...]:
    """The next read marks ``client`` is told for ``room``."""
    while True:
        event = client.events.get(timeout=WAIT)
        if isinstance(event, RoomRead) and event.room_name == room and event.marks is not None:
            return event.marks


def test_the_page_sends_room_reads_and_shows_read_by_n_under_its_posts(site, tmp_path: Path) -> None:
    page, web = site
    with olga_and_vic_with_bob_in_redes(page, web) as (olga, vic):
        # Olga posts; the page shows the room, focused: it says it has seen it.
        seen = posted(olga, "#redes", "quem vem amanhã?")
        assert _marks_of(olga, "#redes") == (seen.msg_id,)  # the page's mark, anonymous

        page.focus("#composer-input")
        page.type("eu vou")
        page.enter()
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'sent'")
        mine = int(page.js("document.querySelector('#messages .msg-out').dataset.msgId"))
        olga.mark_read_in_room("#redes", mine)
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.readBy === '1'")
        assert page.js("document.querySelector('#messages .msg-out .msg-status').textContent").endswith("Read by 1")
        vic.mark_read_in_room("#redes", mine)
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.readBy === '2'")
        assert page.js("document.querySelector('#messages .msg-out .msg-status').textContent").endswith("Read by 2")
        shoot(page, tmp_path, "web-client-room-reads.png")
        assert page.problems() == []

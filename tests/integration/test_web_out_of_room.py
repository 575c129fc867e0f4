"""A room we are out of in the web page (headless Chromium, the harness of
test_web_session.py): left on another device, or banned, while on screen. As in the
terminal and the window, its conversation stays on screen, and a line typed there goes to
nobody: not to everyone, and not dropped without a word."""

from __future__ import annotations

from client.library import ChatClient
from clientkit import WAIT
from protocol import RoomMessage, RoomPost
from test_web_session import (  # noqa: F401  (fixtures)
    PASSWORD, chromium_installed, log_in_with_password, olga_in_redes, site,
)

NOTICES = "[...document.querySelectorAll('#messages .notice-text')].map(n => n.textContent)"
REFUSED = "Not sent: you are not in #redes: join it first"


def open_redes(page) -> None:
    page.wait_for("!!document.querySelector('#room-list button[data-room=\"#redes\"]')")
    page.js("document.querySelector('#room-list button[data-room=\"#redes\"]').click()")
    page.wait_for("document.getElementById('conversation-title').textContent === '#redes'"
                  " && !!document.querySelector('button.contact[data-key=\"##redes\"]')")


def line_refused(page, olga: ChatClient, text: str) -> None:
    """Type ``text`` in the room on screen: it shows as not sent, with the server's
    words; the room stays on screen, saying we are out; Olga, in Everyone, gets nothing."""
    page.focus("#composer-input")
    page.type(text)
    page.enter()
    shown = f"[...document.querySelectorAll('#messages .msg-out')].filter(m => m.textContent.includes('{text}'))"
    page.wait_for(f"{shown}.length === 1 && {shown}[0].dataset.state === 'failed'"
                  f" && {shown}[0].querySelector('.msg-status').textContent === '{REFUSED}'")
    assert page.js("document.getElementById('conversation-title').textContent") == "#redes"
    assert page.js("document.getElementById('conversation-presence').textContent") == "You are not in this room"
    olga.who(timeout=WAIT)  # a round trip: what the server sent her before its answer is in
    heard = []
    while not olga.events.empty():
        heard.append(olga.events.get_nowait())
    assert not [e for e in heard if isinstance(e, (RoomMessage, RoomPost)) and e.text == text], heard


def test_a_line_for_a_room_left_elsewhere_or_banned_from_goes_to_nobody_and_says_so(site) -> None:
    page, web = site
    with olga_in_redes(web) as olga:
        phone = ChatClient("Bob", "127.0.0.1", web.srv.port, password=PASSWORD, register=True)
        try:
            phone.connect(timeout=WAIT)
            log_in_with_password(page, "Bob", register=False)
            open_redes(page)
            phone.leave("#redes")  # on his phone
            page.wait_for(f"{NOTICES}.includes('You left #redes')")
            line_refused(page, olga, "ainda aqui?")
            open_redes(page)  # in again, from the page
            olga.ban("#redes", "Bob")
            page.wait_for(f"{NOTICES}.some(t => t.startsWith('Olga banned you from #redes'))")
            line_refused(page, olga, "e agora?")
        finally:
            phone.close()
    assert page.problems() == []

"""A room we are out of in the web page (headless Chromium, the harness of
test_web_session.py): kicked, banned, or left on another device, while on screen. As in
the terminal and the window (client/display.py, window_out_of_room_words), its
conversation stays on screen, saying what happened and what to do (no "join" after a
ban), and a line typed there is refused in the page: nothing sent, the text kept in the
box. Joining again (or the ban lifted, then a join) makes the room usable again."""

from __future__ import annotations

import json

from client.library import ChatClient
from clientkit import WAIT
from protocol import RoomMessage, RoomPost
from test_web_session import (  # noqa: F401  (fixtures)
    PASSWORD, chromium_installed, log_in_with_password, olga_in_redes, site,
)

NOTICES = "[...document.querySelectorAll('#messages .notice-text')].map(n => n.textContent)"
KICKED = "You are no longer in #redes: join it again (Join room) to write here, or open Everyone"
BANNED = "You are no longer in #redes: open Everyone to write to everyone"
REFUSED = "Not sent, the text stays in the box: "
NOWHERE = "Nowhere: you are no longer in #redes"


def open_redes(page) -> None:
    """Join #redes from the list of rooms, and open it."""
    page.wait_for("!!document.querySelector('#room-list button[data-room=\"#redes\"]')")
    page.js("document.querySelector('#room-list button[data-room=\"#redes\"]').click()")
    page.wait_for("document.getElementById('conversation-title').textContent === '#redes'"
                  " && !!document.querySelector('button.contact[data-key=\"##redes\"]')")


def notices_said(page, words: str) -> int:
    return page.js(f"{NOTICES}.filter(t => t === {json.dumps(words)}).length")


def olga_heard(olga: ChatClient) -> list:
    """What the server sent Olga until now (a round trip: what came before its answer is in)."""
    olga.who(timeout=WAIT)
    heard = []
    while not olga.events.empty():
        heard.append(olga.events.get_nowait())
    return heard


def line_refused(page, olga: ChatClient, text: str, words: str) -> None:
    """Type ``text`` in the room on screen, which we are out of: the page refuses it, saying
    ``words`` again; nothing shows as sent and Olga, in Everyone, gets nothing; the text
    stays in the box; the room stays on screen, and the box says Enter sends nowhere."""
    said = notices_said(page, REFUSED + words[0].lower() + words[1:])
    page.focus("#composer-input")
    page.type(text)
    page.enter()
    page.wait_for(f"{NOTICES}.filter(t => t === {json.dumps(REFUSED + words[0].lower() + words[1:])}).length"
                  f" === {said + 1}")
    assert page.js(f"[...document.querySelectorAll('#messages .msg-out')].filter(m => m.textContent.includes("
                   f"{json.dumps(text)})).length") == 0
    assert page.js("document.getElementById('composer-input').value") == text
    assert page.js("document.getElementById('conversation-title').textContent") == "#redes"
    assert page.js("document.getElementById('composer-label').textContent") == NOWHERE
    heard = olga_heard(olga)
    assert not [e for e in heard if isinstance(e, (RoomMessage, RoomPost)) and e.text == text], heard
    page.js("document.getElementById('composer-input').value = ''")


def line_posted(page, olga: ChatClient, text: str) -> None:
    """Type ``text`` in #redes, which we are in: Olga gets it."""
    page.focus("#composer-input")
    page.type(text)
    page.enter()
    while not (isinstance(event := olga.events.get(timeout=WAIT), RoomPost) and event.text == text):
        pass
    assert page.js("document.getElementById('composer-label').textContent") != NOWHERE


def test_kicked_the_room_stays_refuses_lines_and_a_join_makes_it_usable_again(site) -> None:
    page, web = site
    with olga_in_redes(web) as olga:
        log_in_with_password(page, "Bob", register=True)
        open_redes(page)
        olga.kick("#redes", "Bob")
        page.wait_for(f"{NOTICES}.some(t => t.startsWith('Olga put you out of #redes'))"
                      f" && {NOTICES}.includes({json.dumps(KICKED)})")
        line_refused(page, olga, "ainda aqui?", KICKED)
        open_redes(page)  # in again
        line_posted(page, olga, "voltei")
    assert page.problems() == []


def test_banned_no_join_is_offered_until_the_ban_is_lifted(site) -> None:
    page, web = site
    with olga_in_redes(web) as olga:
        log_in_with_password(page, "Bob", register=True)
        open_redes(page)
        olga.ban("#redes", "Bob")
        page.wait_for(f"{NOTICES}.some(t => t.startsWith('Olga banned you from #redes'))"
                      f" && {NOTICES}.includes({json.dumps(BANNED)})")
        assert notices_said(page, KICKED) == 0
        line_refused(page, olga, "e agora?", BANNED)
        olga.unban("#redes", "Bob")
        page.wait_for(f"{NOTICES}.includes({json.dumps(KICKED)})")  # a join would do now
        line_refused(page, olga, "posso?", KICKED)
        open_redes(page)
        line_posted(page, olga, "obrigado")
    assert page.problems() == []


def test_left_on_another_device_the_room_stays_refuses_lines_and_a_join_makes_it_usable_again(site) -> None:
    page, web = site
    with olga_in_redes(web) as olga:
        phone = ChatClient("Bob", "127.0.0.1", web.srv.port, password=PASSWORD, register=True)
        try:
            phone.connect(timeout=WAIT)
            log_in_with_password(page, "Bob", register=False)
            open_redes(page)
            phone.leave("#redes")  # on his phone
            page.wait_for(f"{NOTICES}.includes('You left #redes') && {NOTICES}.includes({json.dumps(KICKED)})")
            line_refused(page, olga, "ainda aqui?", KICKED)
            open_redes(page)  # in again, from the page
            line_posted(page, olga, "de volta")
        finally:
            phone.close()
    assert page.problems() == []

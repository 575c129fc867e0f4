"""A room we are out of in the web page (headless Chromium, the harness of
test_web_session.py): kicked, banned, or left on another device, while on screen. As in
the terminal and the window (client/display.py, window_out_of_room_words), its
conversation stays on screen, saying what happened and what to do (no "join" after a
ban), and a line typed there is refused in the page: nothing sent, the text kept in the
box. Joining again (or the ban lifted, then a join) makes the room usable again."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from browserpage import Page, Site, page_at
from client.library import ChatClient
from clientkit import WAIT
from faultproxy import FaultProxy
from protocol import RoomMessage, RoomPost
from server import ServerConfig, ServerThread
from test_web_session import (  # noqa: F401  (fixtures)
    PASSWORD, chromium_installed, log_in_with_password, olga_in_redes, site,
)

NOTICES = "[...document.querySelectorAll('#messages .notice-text')].map(n => n.textContent)"
KICKED = "You are no longer in #redes: join it again (Join or create a room) to write here, or open Everyone"
BANNED = "You are no longer in #redes: open Everyone to write to everyone"
REFUSED = "Not sent, the text stays in the box: "
NOWHERE = "Nowhere: you are no longer in #redes"
GONE = ("You are no longer in #redes: it left your rooms while you were disconnected (put out of it, or left on"
        " another device); join it again (Join or create a room) to go back")


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



@contextlib.contextmanager
def site_through_proxy(tmp_path: Path) -> Iterator[tuple[Page, Site, FaultProxy]]:
    """A chat server and its gateway, with the page loaded in Chromium through a raw
    FaultProxy in front of the gateway (its links can be frozen and cut)."""
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        web = Site(srv)
        web.start()
        try:
            with FaultProxy("127.0.0.1", web.port, raw=True) as proxy:
                with page_at(tmp_path, f"http://127.0.0.1:{proxy.port}/", srv) as page:
                    yield page, web, proxy
        finally:
            web.stop()


def test_put_out_of_the_room_on_screen_while_away_the_room_stays_says_so_and_refuses_lines(tmp_path: Path) -> None:
    """Bob had #redes on screen when his connection went quiet; Olga put him out of it then
    (the notice never reached him) and the connection broke. Back, the server's list of his
    rooms lacks #redes: the page opened Everyone, said nothing, and a line typed in #redes
    went the old way (sent, then refused by the server). As after a kick seen live: the
    room stays on screen saying what to do, Everyone says it left while he was away (the
    window's words, client/display.py window_gone_while_away), and a line typed there is
    refused here."""
    with site_through_proxy(tmp_path) as (page, web, proxy):
        with olga_in_redes(web) as olga:
            log_in_with_password(page, "Bob", register=True)
            open_redes(page)
            page.focus("#composer-input")
            page.type("that is unfair")
            page.js("window.lostSocket = shell.socket")
            assert proxy.freeze_all() >= 1  # what the server sends him from now on is lost
            olga.kick("#redes", "Bob")
            assert proxy.cut() >= 1
            page.wait_for("shell.socket && shell.socket !== window.lostSocket"
                          " && document.getElementById('connection').dataset.status === 'online'"
                          " && !document.querySelector('button.contact[data-key=\"##redes\"]')"
                          " && shell.chat.requests.size === 0")
            assert page.js("document.getElementById('conversation-title').textContent") == "#redes"
            assert notices_said(page, KICKED) == 1
            assert page.js("document.getElementById('composer-input').value") == "that is unfair"
            page.enter()
            page.wait_for(f"{NOTICES}.includes({json.dumps(REFUSED + KICKED[0].lower() + KICKED[1:])})")
            page.js("document.getElementById('composer-input').value = ''")
            line_refused(page, olga, "ainda aqui?", KICKED)
            page.js("selectConversation(ROOM)")
            page.wait_for(f"{NOTICES}.includes({json.dumps(GONE)})")
            assert notices_said(page, GONE) == 1
        assert page.problems() == []

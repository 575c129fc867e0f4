"""The web page looks a person up when their conversation opens (PROTOCOL.md, "whois"),
as the terminal's ``/to NAME`` does: the header says what the server's registry says
(online, offline, or nobody by that name), and nothing false while the answer is awaited.
A name the server no longer knows (an account deleted since) leaves the conversation list
the page keeps for its user.

Headless Chromium over the DevTools Protocol, as in tests/integration/test_web_browser.py;
the other users are terminal users (``chatpeer.TcpPeer``).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from browserpage import Page, open_page
from chatpeer import TcpPeer
from protocol import ErrorCode, ErrorReply, LookupRequest
from server import ServerConfig
from tools import require_tool
from waits import wait_until

pytestmark = pytest.mark.timeout_seconds(120)

PRESENCE = "document.getElementById('conversation-presence')"
BLOCK = "document.getElementById('block-toggle')"


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    require_tool("chromium", why="to run the web client in a browser")
    with open_page(tmp_path, ServerConfig(host="127.0.0.1", port=0)) as page:
        yield page


def _new_chat(page: Page, name: str) -> None:
    page.focus("#new-chat-name")
    page.type(name)
    page.enter()
    page.wait_for(f"document.getElementById('conversation-title').textContent === {json.dumps(name)}")


def _presence_is(text: str) -> str:
    return f"{PRESENCE}.textContent === {json.dumps(text)}"


def test_a_name_nobody_has_is_said_so_and_never_offline_meanwhile(page: Page) -> None:
    """A tester typed "Zed" in New chat: the header said "Offline", with a Block button, as
    if Zed existed and would read the message later; only a message sent told the truth."""
    page.log_in("Bob")
    # The server answers nothing while the test holds its loop: the page shows the
    # conversation, and awaits the lookup's answer.
    release = threading.Event()
    held = threading.Thread(target=page.srv.call, args=(lambda: release.wait(10),), daemon=True)
    held.start()
    try:
        _new_chat(page, "Zed")
        assert page.js(f"{PRESENCE}.textContent") == "", "something said before the server answered"
    finally:
        release.set()
        held.join(15)
    page.wait_for(_presence_is("Nobody by that name has logged in here"))
    assert page.js(f"{BLOCK}.hidden"), "a Block button for nobody"
    assert page.problems() == []


def test_an_online_person_and_an_offline_one_as_the_registry_says(page: Page) -> None:
    page.log_in("Bob")
    alice, carol = TcpPeer("127.0.0.1", page.srv.port), TcpPeer("127.0.0.1", page.srv.port)
    try:
        alice.login("Alice")
        carol.login("Carol")
        carol.close()  # a guest who left: her name is held, messages to her wait
        _new_chat(page, "Carol")
        page.wait_for(_presence_is("Offline"))
        assert not page.js(f"{BLOCK}.hidden")
        _new_chat(page, "Alice")
        page.wait_for(_presence_is("Online"))
        assert page.problems() == []
    finally:
        alice.close()
        carol.close()


def test_a_name_nobody_has_offers_the_look_alike_online_and_opens_it(page: Page) -> None:
    """"Joao" typed while João is online: the page has no table of look-alikes, so the
    whois answer's ``like`` (PROTOCOL.md, ``user``) is what the header offers, "Did you mean
    João?", as the terminal and the window ask; the offer opens João's conversation."""
    page.log_in("Bob")
    joao = TcpPeer("127.0.0.1", page.srv.port)
    try:
        joao.login("João")
        _new_chat(page, "Joao")
        page.wait_for(_presence_is("Nobody by that name has logged in here. Did you mean João?"))
        offer = f"{PRESENCE}.querySelector('button.like-offer')"
        assert page.js(f"{offer}.textContent") == "Did you mean João?"
        page.tap("#conversation-presence button.like-offer")
        page.wait_for("document.getElementById('conversation-title').textContent === 'João'")
        page.wait_for(_presence_is("Online"))
        assert page.problems() == []
    finally:
        joao.close()


def test_a_message_refused_for_a_name_nobody_has_says_the_look_alike_online(page: Page) -> None:
    """A message to "Joao" while João is online is refused unknown_recipient with ``like``:
    the failed message said only "check the name" (the view dropped the refusal's like),
    where the terminal and the window ask "did you mean João?"."""
    page.log_in("Bob")
    joao = TcpPeer("127.0.0.1", page.srv.port)
    try:
        joao.login("João")
        _new_chat(page, "Joao")
        page.focus("#composer-input")
        page.type("oi")
        page.enter()
        status = "document.querySelector('#messages .msg-out .msg-status')"
        page.wait_for(f"{status} && {status}.textContent.includes('nobody called Joao')")
        assert page.js(f"{status}.textContent").endswith("did you mean João?"), page.js(f"{status}.textContent")
        assert page.problems() == []
    finally:
        joao.close()


def test_a_kept_name_the_server_no_longer_knows_leaves_the_kept_list(page: Page) -> None:
    """The page keeps the people its user talks with (localStorage, per user); one whose
    account was deleted meanwhile stayed listed at every login, forever."""
    kept = "chat.conversations.bob"
    page.js(f"localStorage.setItem('{kept}', JSON.stringify({{account: false, names: ['Ghost', 'Carol']}}))")
    carol = TcpPeer("127.0.0.1", page.srv.port)
    try:
        carol.login("Carol")
        page.log_in("Bob")
        page.open_conversation("Ghost")
        page.wait_for(_presence_is("Nobody by that name has logged in here"))
        page.open_conversation("Carol")
        page.wait_for("!document.querySelector('button.contact[data-key=\"@ghost\"]')")
        page.wait_for(f"JSON.stringify(JSON.parse(localStorage.getItem('{kept}')).names) === '[\"Carol\"]'")
        assert page.problems() == []
    finally:
        carol.close()


def test_a_name_nobody_had_that_someone_takes_is_theirs_from_then_on(page: Page) -> None:
    """Nobody had the name as the page looked it up; Zed logs in while the conversation is
    open, and leaves: he is "Offline" (messages wait for him), no longer nobody."""
    page.log_in("Bob")
    _new_chat(page, "Zed")
    page.wait_for(_presence_is("Nobody by that name has logged in here"))
    zed = TcpPeer("127.0.0.1", page.srv.port)
    try:
        zed.login("Zed")
        page.wait_for(_presence_is("Online"))
        zed.close()
        page.wait_for(_presence_is("Offline") + f" && !{BLOCK}.hidden")
        assert page.problems() == []
    finally:
        zed.close()


def test_a_name_typed_again_is_looked_up_again(page: Page) -> None:
    """"Zed" typed again in New chat while his conversation is open: the page asks again,
    and says again that nobody has the name (not "Offline", as if the lookup were done)."""
    page.log_in("Bob")
    _new_chat(page, "Zed")
    page.wait_for(_presence_is("Nobody by that name has logged in here"))
    _new_chat(page, "Zed")  # the Enter is handled as it is pressed: its lookup is on its way
    page.wait_for(_presence_is("Nobody by that name has logged in here"))
    assert page.problems() == []


@contextlib.contextmanager
def _bob_dropped_and_kept_out(page: Page) -> Iterator[None]:
    """The server drops Bob's session, and its loop is held (the page cannot log in again)
    for the block, once the page says it is not online; released at its end."""
    def drop() -> None:
        for session in list(page.srv.server.relay.sessions):
            if session.name == "Bob":
                session.abort("dropped by the test")
    page.srv.call(drop)
    release = threading.Event()
    held = threading.Thread(target=page.srv.call, args=(lambda: release.wait(10),), daemon=True)
    held.start()  # the page cannot log in again meanwhile
    try:
        page.wait_for("document.getElementById('connection').dataset.status !== 'online'")
        yield
    finally:
        release.set()
        held.join(15)


def test_while_the_page_is_disconnected_the_header_claims_no_presence(page: Page) -> None:
    """The page's own connection dropped (a server restarting, a network gone): the header
    said "Offline" for Alice, who was online all along. While the page is not connected it
    knows nobody's presence: the status in the top bar says why, the header says nothing."""
    page.log_in("Bob")
    alice = TcpPeer("127.0.0.1", page.srv.port)
    try:
        alice.login("Alice")
        _new_chat(page, "Alice")
        page.wait_for(_presence_is("Online"))
        with _bob_dropped_and_kept_out(page):
            assert page.js(f"{PRESENCE}.textContent") == ""
        page.wait_for("document.getElementById('connection').dataset.status === 'online' && "
                      + _presence_is("Online"))
        assert page.problems() == []
    finally:
        alice.close()


def _refuse_lookups(page: Page, code: str, times: int) -> list:
    """The server refuses the next ``times`` whois requests with ``code`` and a retry_after
    of a fifth of a second (as the request budget, or a cluster's store out of reach, would);
    returns the list the refused requests' ids are added to."""
    refused: list = []

    def install() -> None:
        relay = page.srv.server.relay
        answer = relay._handlers[LookupRequest]

        def refuse(session, event) -> None:
            if len(refused) >= times:
                answer(session, event)
                return
            refused.append(event.request_id)
            session.send(ErrorReply(code, "not now; try again in 0.2 s", event.request_id, 0.2))
        relay._handlers[LookupRequest] = refuse
    page.srv.call(install)
    return refused


@pytest.mark.parametrize("code", [ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE])
@pytest.mark.parametrize(("name", "said"), [("Carol", "Offline"), ("Zed", "Nobody by that name has logged in here")])
def test_a_lookup_refused_for_now_is_asked_again_after_the_wait(page: Page, code: str, name: str, said: str) -> None:
    """The page's whois met the request budget (or the store out of reach): the header stayed
    blank until the conversation was opened again. The page asks again after the server's wait,
    and says nothing meanwhile (neither "Offline" nor "Nobody by that name")."""
    carol = TcpPeer("127.0.0.1", page.srv.port)
    try:
        carol.login("Carol")
        carol.close()  # before Bob's page is there: her name is held, and the page never saw her
    finally:
        carol.close()
    page.log_in("Bob")
    refused = _refuse_lookups(page, code, 2)
    # Every text the header shows, in order (a MutationObserver's record).
    page.js(f"window.presenceSaid = []; new MutationObserver(() => window.presenceSaid.push({PRESENCE}.textContent))"
            f".observe({PRESENCE}, {{childList: true, characterData: true, subtree: true}})")
    _new_chat(page, name)
    page.wait_for(_presence_is(said), timeout=15)
    if name == "Carol":
        assert len(refused) == 2
    else:  # the answer to the page's watch may say it first (the server's word too): asked again all the same
        wait_until(lambda: len(refused) == 2, what="the lookup asked again after the wait")
    shown = page.js("window.presenceSaid")
    while shown and shown[0] == "Messages here go to everyone online":  # the room's, as the page opened
        shown.pop(0)
    assert set(shown) <= {"", said}, "something said before the server answered"
    assert page.problems() == []


def _row_says(key: str) -> str:
    """A JS expression: the presence words of contact row ``key`` ("" for none), null without the row."""
    row = f"document.querySelector('button.contact[data-key=\"{key}\"]')"
    return f"({row} ? ({row}.querySelector('.contact-presence') || {{textContent: ''}}).textContent : null)"


def test_a_contact_row_says_only_the_presence_it_knows(page: Page) -> None:
    """The rows said "offline" for a kept name not looked up yet (perhaps nobody's, perhaps
    online in a room the page never asked about) and for everyone while the page was
    disconnected, where the header already said nothing. A row says what the header says."""
    carol, alice = TcpPeer("127.0.0.1", page.srv.port), TcpPeer("127.0.0.1", page.srv.port)
    try:
        carol.login("Carol")
        carol.close()  # before Bob's page is there: her name is held, and the page never saw her
        alice.login("Alice")
        page.js("localStorage.setItem('chat.conversations.bob', JSON.stringify({account: false, names: ['Carol']}))")
        page.log_in("Bob")
        page.wait_for(f"{_row_says('@alice')} === 'online' && {_row_says('@carol')} !== null")
        assert page.js(_row_says("@carol")) == "", "a presence said before anyone looked it up"
        page.open_conversation("Carol")
        page.wait_for(f"{_row_says('@carol')} === 'offline'")
        with _bob_dropped_and_kept_out(page):
            assert page.js(f"[{_row_says('@alice')}, {_row_says('@carol')}]") == ["", ""]
        page.wait_for(f"{_row_says('@alice')} === 'online' && {_row_says('@carol')} === 'offline'")
        assert page.problems() == []
    finally:
        alice.close()
        carol.close()

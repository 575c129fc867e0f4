"""The web page watches the people of its conversations (issue 9, "Presence"): in a quiet
room (above ``presence_room_limit``) it still sees them come and go, and nobody else.

Headless Chromium over the DevTools Protocol, as in tests/integration/test_web_browser.py; the other
users are terminal users (``chatpeer.TcpPeer``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from browserpage import TIMEOUT, Page, open_page
from chatpeer import TcpPeer
from protocol import Accepted, Delivered
from server import ServerConfig
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)


@pytest.fixture
def quiet_page(tmp_path: Path) -> Iterator[Page]:
    """The page, from a server whose room is always quiet (only watchers are told)."""
    require_tool("chromium", why="to run the web client in a browser")
    config = ServerConfig(host="127.0.0.1", port=0, presence_room_limit=0, guest_hold=0.0)
    with open_page(tmp_path, config) as page:
        yield page


@pytest.fixture(params=["small room", "quiet room"])
def either_page(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """The page, from a server whose room is small (everyone is told of everyone's
    comings and goings) or quiet (only watchers are)."""
    require_tool("chromium", why="to run the web client in a browser")
    config = ServerConfig(host="127.0.0.1", port=0, guest_hold=0.0,
                          **({"presence_room_limit": 0} if request.param == "quiet room" else {}))
    with open_page(tmp_path, config) as page:
        yield page


def _notices(page: Page) -> list[str]:
    return page.js("[...document.querySelectorAll('#messages .notice')].map(n => n.textContent)")


def _drop(page: Page, name: str) -> None:
    """End ``name``'s sessions from the server's side, as a network gone would."""
    def drop() -> None:
        for session in list(page.srv.server.relay.sessions):
            if session.name == name:
                session.abort("dropped by the test")
    page.srv.call(drop)


def _where_is(page: Page, peer: TcpPeer) -> str:
    """A condition: the header's registry line shows ``peer``'s connection now."""
    where = "document.getElementById('conversation-where')"
    return (f"!{where}.hidden && {where}.textContent.startsWith("
            f"'127.0.0.1:{peer.sock.getsockname()[1]} · online since ')")


def test_the_page_watches_its_conversations_in_a_quiet_room(quiet_page: Page) -> None:
    page, relay = quiet_page, quiet_page.srv.server.relay
    page.log_in("Bob")
    alice = TcpPeer("127.0.0.1", page.srv.port)
    carol = TcpPeer("127.0.0.1", page.srv.port)
    try:
        alice.login("Alice")
        # Alice writes: the page opens a conversation with her, and watches her.
        request_id = alice.send_dm("Bob", "hello from a quiet room")
        accepted = alice.expect(Accepted, TIMEOUT)
        assert alice.expect(Delivered, TIMEOUT) == Delivered(request_id, accepted.msg_id)
        page.wait_for("document.querySelector('button.contact[data-key=\"@alice\"]')"
                      "?.getAttribute('aria-label').includes('online')")
        assert page.srv.call(lambda: sorted(relay.watchlists._watchers)) == ["alice"]
        page.open_conversation("Alice")
        page.wait_for("document.getElementById('conversation-presence').textContent === 'Online'")

        # Carol, whom nobody watches, comes and goes unannounced; Alice's leaving is told.
        carol.login("Carol")
        carol.close()
        alice.close()
        page.wait_for("document.getElementById('conversation-presence').textContent === 'Offline'")
        assert any("Alice went offline" in text for text in _notices(page))
        alice = TcpPeer("127.0.0.1", page.srv.port)
        alice.login("Alice")
        page.wait_for("document.getElementById('conversation-presence').textContent === 'Online'")
        assert any("Alice is online" in text for text in _notices(page))
        page.js("document.querySelector('button.contact[data-key=\"#room\"]').click()")
        page.wait_for("document.getElementById('conversation-title').textContent === 'Everyone'")
        room = _notices(page)
        assert not any("Carol" in text for text in room), room
        assert page.problems() == []
    finally:
        alice.close()
        carol.close()


def test_the_page_watches_again_after_a_reconnection(quiet_page: Page) -> None:
    """The server ends a connection's subscriptions with it: the page's next connection
    watches its conversations again, and learns from the answer who is online."""
    page, relay = quiet_page, quiet_page.srv.server.relay
    page.log_in("Bob")
    page.focus("#new-chat-name")
    page.type("Alice")
    page.enter()
    page.wait_for("document.getElementById('conversation-title').textContent === 'Alice'")
    # Nobody called Alice has logged in yet: the page's lookup says so (test_web_lookup.py).
    page.wait_for("document.getElementById('conversation-presence').textContent"
                  " === 'Nobody by that name has logged in here'")
    assert page.srv.call(lambda: sorted(relay.watchlists._watchers)) == ["alice"]

    alice = TcpPeer("127.0.0.1", page.srv.port)
    try:
        _drop(page, "Bob")
        alice.login("Alice")  # while the page is away, or just back: either way it learns
        page.wait_for("document.getElementById('connection').dataset.status === 'online'"
                      " && document.getElementById('conversation-presence').textContent === 'Online'")
        assert page.srv.call(lambda: sorted(relay.watchlists._watchers)) == ["alice"]
        assert page.problems() == []
    finally:
        alice.close()


def test_the_header_shows_where_the_person_is_again_when_they_come_back(either_page: Page) -> None:
    """A tester had Conceição's conversation open, with her address and "online since"
    under her name; she quit and started her client again: the header went "Offline", then
    "Online" with nothing after it, until another conversation was opened and hers again.
    When the person of the open conversation comes back (their "joined"; or the answers
    of a new connection of the page's own, after the server restarted), the page looks
    them up again, as opening the conversation does: their new address shows. In a quiet
    room the page learns she is online from the answer to its "watch" (she logged in after
    the page), and asks then too."""
    page = either_page
    page.log_in("Bob")
    alice = TcpPeer("127.0.0.1", page.srv.port)
    try:
        alice.login("Alice")
        page.focus("#new-chat-name")
        page.type("Alice")
        page.enter()
        page.wait_for("document.getElementById('conversation-title').textContent === 'Alice'")
        page.wait_for(_where_is(page, alice))
        alice.close()
        page.wait_for("document.getElementById('conversation-presence').textContent === 'Offline'"
                      " && document.getElementById('conversation-where').hidden")
        alice = TcpPeer("127.0.0.1", page.srv.port)
        alice.login("Alice")  # her "joined": the conversation is still the one on screen
        page.wait_for(_where_is(page, alice))

        # The page's own connection goes, and she comes back meanwhile or just after.
        alice.close()
        _drop(page, "Bob")
        alice = TcpPeer("127.0.0.1", page.srv.port)
        alice.login("Alice")
        page.wait_for("document.getElementById('connection').dataset.status === 'online'"
                      f" && {_where_is(page, alice)}")
        assert page.problems() == []
    finally:
        alice.close()


def _row_says(key: str, words: str) -> str:
    """A condition: the contact row of ``key`` shows ``words`` as its presence."""
    return (f"document.querySelector('button.contact[data-key={json.dumps(key)}] .contact-presence')"
            f"?.textContent === {json.dumps(words)}")


def test_a_kept_contact_nobody_has_is_said_so_in_the_list(quiet_page: Page) -> None:
    """The page's kept conversations are watched at each login; a name nobody has (never
    logged in, or a guest's name forgotten since) stayed "offline" in the list forever, the
    page finding out only when its conversation was opened. The answer to the watch says it
    (``unknown``): the row says what the header would, and a later login undoes it."""
    page = quiet_page
    page.log_in("Bob")
    alice = TcpPeer("127.0.0.1", page.srv.port)
    alice.login("Alice")
    alice.close()  # someone's, offline now
    relay = page.srv.server.relay
    page.wait_for("document.getElementById('connection').dataset.status === 'online'")
    assert page.srv.call(lambda: "alice" in relay.known and "alice" not in relay.registry) is True
    # A reload brings the tab's conversations back, none opened (so none looked up).
    page.js("sessionStorage.setItem('chat.session', JSON.stringify("
            "{name: 'Bob', conversations: ['Zeferino', 'Alice'], active: null}))")
    page.cdp.send("Page.reload")
    page.cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
    page.wait_for("document.getElementById('connection').dataset.status === 'online'")
    page.wait_for(_row_says("@zeferino", "nobody by that name has logged in here"))
    assert page.js("document.querySelector('button.contact[data-key=\"@alice\"] .contact-presence')?.textContent"
                   " || ''") != "nobody by that name has logged in here"
    label = page.js("document.querySelector('button.contact[data-key=\"@zeferino\"]').getAttribute('aria-label')")
    assert label == "Zeferino, nobody by that name has logged in here"
    page.open_conversation("Zeferino")
    page.wait_for("document.getElementById('conversation-presence').textContent"
                  " === 'Nobody by that name has logged in here'")
    zeferino = TcpPeer("127.0.0.1", page.srv.port)
    try:
        zeferino.login("Zeferino")  # someone's now: the page, watching, is told
        page.wait_for(_row_says("@zeferino", "online"))
        assert page.problems() == []
    finally:
        zeferino.close()

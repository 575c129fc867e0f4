"""Coming back after a restart costs the page nothing but its own status, as it costs the
terminal one "reconnected" line and the window the same (client/returns.py, README "The
terminal client"): people who were online before the outage and come back with the server
are not announced as joining again, in Everyone, in their conversation or in a room;
someone who was not online before is (headless Chromium; see test_web_session.py for the
harness). Found walking through the page: after a restart a page that reconnected before
the others said "João joined", "João is online" and "Conceição is online in #redes" for
people who had never gone as far as it could tell."""

from __future__ import annotations

import json

import pytest

import const
from browserpage import TIMEOUT, Page
from chatpeer import TcpPeer
from protocol import Hello, JoinRoom, RoomInfo, Welcome
from test_web_session import site  # noqa: F401 (fixture)
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)
PASSWORD = "correct horse"


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


def log_in(port: int, name: str, register: bool = False) -> TcpPeer:
    """``name``, an account (its password kept), logged in over TCP."""
    peer = TcpPeer("127.0.0.1", port)
    peer.send(Hello("h", name, const.PROTOCOL_VERSION, PASSWORD, register))
    peer.expect(Welcome, TIMEOUT)
    return peer


def notices(page: Page, key: str) -> list[str]:
    """The notices of conversation ``key`` (its contact button's data-key), opened to read them."""
    selector = json.dumps(f'button.contact[data-key="{key}"]')
    page.js(f"document.querySelector({selector}).click()")
    page.wait_for(f"document.querySelector({selector}).getAttribute('aria-current') === 'true'")
    return page.js("[...document.querySelectorAll('#messages .notice-text')].map(n => n.textContent)")


def test_people_back_with_the_server_are_not_announced_again_and_newcomers_are(site) -> None:  # noqa: F811
    page, web = site
    port = web.srv.port
    log_in(port, "Alice", register=True).close()
    page.log_in("Bob")
    page.focus("#join-room-name")
    page.type("#redes")
    page.enter()
    page.wait_for("document.getElementById('conversation-title').textContent === '#redes'")
    alice = log_in(port, "Alice")
    alice.send(JoinRoom("j", "#redes"))
    alice.expect(RoomInfo, TIMEOUT)
    page.wait_for("[...document.querySelectorAll('#messages .notice-text')]"
                  ".some(n => n.textContent.includes('Alice joined #redes'))")
    page.open_conversation("Alice")  # her conversation: "Alice is online" would show in it
    before = {key: notices(page, key) for key in ("#room", "@alice", "##redes")}

    # As in a restart: the page's connection is cut, and Alice's; both come back.
    web.stop()
    alice.close()
    page.wait_for("document.getElementById('connection').dataset.status !== 'online'")
    web.start()
    page.wait_for("document.getElementById('connection').dataset.status === 'online'", timeout=30)
    alice = log_in(port, "Alice")
    carol = log_in(port, "Carol", register=True)  # not online before: news
    try:
        notices(page, "#room")
        page.wait_for("[...document.querySelectorAll('#messages .notice-text')]"
                      ".some(n => n.textContent === 'Carol joined')")
        everyone = notices(page, "#room")
        assert everyone == before["#room"] + ["Carol joined"]
        assert notices(page, "@alice") == before["@alice"]
        assert notices(page, "##redes") == before["##redes"]
    finally:
        carol.close()
        alice.close()
    assert page.problems() == []

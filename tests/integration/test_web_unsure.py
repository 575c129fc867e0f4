"""The page, when the server cannot tell whether it stored a message (``unavailable`` with
``uncertain``: in a cluster, Redis took the command and did not answer in time).

The server here is one process whose store stores the next direct message and loses the
answer, as a paused Redis does (server/stores/redis.py: ``maybe_done``); the page must keep
the message "Sending…", write it again with the same id after ``retry_after``, and end as
the server's answer to that resend says: stored once, delivered once, never "Not
delivered: ... nothing was done". Headless Chromium, as test_web_browser.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from browserpage import TIMEOUT, Page, open_page
from chatpeer import TcpPeer
from protocol import DirectMessage
from server import ServerConfig, ServerThread
from server.store import StoreUnavailable
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


def lose_the_next_answer(srv: ServerThread, count: int = 1) -> None:
    """The next ``count`` direct messages (resends included) are stored, and their answers
    lost: the relay hears ``unavailable`` that may have been done, as when Redis runs a
    command late."""
    def patch() -> None:
        store = srv.server.relay.store
        real = store.store_fields
        left = [count]

        def store_fields(fields, callback, on_error) -> None:
            left[0] -= 1
            if not left[0]:
                del store.store_fields  # the store's own method again
            real(fields, lambda _result: on_error(StoreUnavailable("no answer in time", maybe_done=True)), on_error)
        store.store_fields = store_fields
    srv.call(patch)


@contextmanager
def bob_writing_to_alice(tmp_path: Path, retry_after: float = 5.0,
                         config: ServerConfig | None = None) -> Iterator[tuple[Page, TcpPeer]]:
    """Bob on the page, in his conversation with Alice (a peer over TCP), on a server that
    asks for a retry after ``retry_after`` s when its store fails (or on ``config``)."""
    if config is None:
        config = ServerConfig(host="127.0.0.1", port=0, unavailable_retry_after=retry_after)
    with open_page(tmp_path, config) as page:
        alice = TcpPeer("127.0.0.1", page.srv.port)
        try:
            page.log_in("Bob")
            alice.login("Alice")
            page.wait_for("!!document.querySelector('button.contact[data-key=\"@alice\"]')")
            page.open_conversation("Alice")
            yield page, alice
        finally:
            alice.close()


def test_the_page_resends_an_unsure_message_with_its_id_and_it_arrives_once(tmp_path: Path) -> None:
    with bob_writing_to_alice(tmp_path, 0.5) as (page, alice):
        # Every state the message's line takes, in order.
        page.js("window.seenStates = []; new MutationObserver((changes) => changes.forEach((c) => "
                "window.seenStates.push(c.target.dataset.state))).observe(document.getElementById('messages'), "
                "{attributes: true, subtree: true, attributeFilter: ['data-state']})")
        lose_the_next_answer(page.srv)
        page.type("sent while the store hung")
        page.enter()
        dm = alice.expect(DirectMessage, TIMEOUT)  # the resend, recognised, forwarded once
        assert (dm.sender, dm.text) == ("Bob", "sent while the store hung")
        page.wait_for(f"document.querySelector('#messages .msg-out')?.dataset.msgId === '{dm.msg_id}'")
        alice.receipt(dm.msg_id)
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'delivered'")
        states = page.js("window.seenStates")
        assert "failed" not in states, states
        assert "nothing was done" not in page.js("document.getElementById('messages').textContent")
        with pytest.raises(TimeoutError):  # and not twice
            alice.expect(DirectMessage, 0.5)
        assert page.problems() == []


def test_the_page_gives_up_an_unsure_message_as_not_confirmed_never_as_not_delivered(tmp_path: Path) -> None:
    with bob_writing_to_alice(tmp_path, 0.2) as (page, _alice):
        lose_the_next_answer(page.srv, count=10)  # more than the page tries
        page.type("nobody will ever know")
        page.enter()
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'failed'")
        status = page.js("document.querySelector('#messages .msg-out .msg-status').textContent")
        assert status.startswith("Not confirmed") and "may or may not" in status, status
        assert "nothing was done" not in status and "Not delivered" not in status and "Not sent" not in status, status
        assert page.problems() == []

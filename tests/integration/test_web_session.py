"""The web page as people use it (issue 12), in headless Chromium: a message typed while
the server is away waits and goes once after the reconnection; a reload keeps the login
and the history; links are clickable and safe; Shift+Enter makes a new line; a mistyped
name does not stay in the contacts; a message sent from another session shows with its
text and state (carbons).

The chat server runs in a thread with its web gateway, which a test can stop and start
again on the same port (the server "going away"); other users are terminal users
(``chatpeer.TcpPeer``, ``wire.WireClient``). Screenshots go to the test's folder, and to
docs/ with ``SAVE_SCREENSHOTS=1``. Skipped without ``chromium`` (failed under CI).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import const
from browserpage import REPO, TIMEOUT, Page, Site, page_at
from chatpeer import TcpPeer
from protocol import (
    CARBONS, Accepted, Delivered, DirectMessage, ErrorCode, ErrorReply, Hello, Ping, Pong, Queued, SendDirect,
    UserJoined, UserLeft, Welcome,
)
from server import ServerConfig, ServerThread
from server.login import LoginResult, unavailable_error
from server.store import StoreUnavailable
from tools import require_tool
from waits import wait_until
from wire import WireClient

pytestmark = pytest.mark.timeout_seconds(120)
PASSWORD = "correct horse"
NOTICES = (UserJoined, UserLeft)



@contextlib.contextmanager
def olga_in_redes(web, topic: str = "prova na sexta") -> Iterator["ChatClient"]:
    """Olga, a library client on ``web``'s chat server, in #redes (which she creates) with
    ``topic``; closed at the end."""
    from client.library import ChatClient
    from clientkit import WAIT

    olga = ChatClient("Olga", "127.0.0.1", web.srv.port)
    try:
        olga.connect(timeout=WAIT)
        olga.join("#redes")
        olga.set_topic("#redes", topic)
        yield olga
    finally:
        olga.close()

@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


@contextlib.contextmanager
def open_site(tmp_path: Path) -> Iterator[tuple[Page, Site]]:
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        site = Site(srv)
        site.start()
        try:
            with page_at(tmp_path, f"http://127.0.0.1:{site.port}/", srv) as page:
                yield page, site
        finally:
            if site.web is not None:
                site.stop()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Page, Site]]:
    with open_site(tmp_path) as opened:
        yield opened


@pytest.fixture
def alice(site) -> Iterator[TcpPeer]:
    peer = TcpPeer("127.0.0.1", site[1].srv.port)
    try:
        peer.login("Alice")
        yield peer
    finally:
        peer.close()


def shoot(page: Page, tmp_path: Path, name: str) -> Path:
    shot = page.screenshot(tmp_path / name)
    if os.environ.get("SAVE_SCREENSHOTS") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / name)
    return shot


def online(page: Page, name: str) -> None:
    page.wait_for(f"document.body.dataset.view === 'chat' && document.getElementById('me').textContent === "
                  f"{json.dumps(name)} && document.getElementById('connection').dataset.status === 'online'")


def log_in_with_password(page: Page, name: str, register: bool) -> None:
    # The form takes a login (a guest's Log out may still wait for its revoke's answer: LOGOUT_WAIT).
    page.wait_for("!document.getElementById('login-submit').disabled")
    page.js(f"document.getElementById('login-name').value = {json.dumps(name)};"
            f"document.getElementById('login-password').value = {json.dumps(PASSWORD)};"
            f"document.getElementById('login-register').checked = {json.dumps(register)}")
    page.focus("#login-password")
    page.enter()
    online(page, name)


def shift_enter(page: Page) -> None:
    base = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13,
            "modifiers": 8}  # 8: Shift
    page.cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", **base, "text": "\r"})
    page.cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **base})


def no_more(peer: TcpPeer, kind, seconds: float = 1.0) -> None:
    with contextlib.suppress(TimeoutError):
        extra = peer.expect(kind, seconds)
        raise AssertionError(f"unexpected {extra!r}")


def test_a_message_typed_while_the_server_is_away_waits_and_goes_once_after_the_reconnection(
        site, alice: TcpPeer, tmp_path: Path) -> None:
    page, web = site
    page.log_in("Bob")
    page.open_conversation("Alice")
    web.stop()
    page.wait_for("document.getElementById('connection').dataset.status === 'reconnecting'")
    page.type("written while the server was away")
    page.enter()
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'waiting'")
    assert page.js("document.querySelector('#messages .msg-out .msg-status').textContent") == \
        "Waiting for the connection…"
    assert page.js("document.getElementById('composer-input').value") == ""
    shoot(page, tmp_path, "web-client-waiting.png")
    no_more(alice, DirectMessage, 0.5)
    web.start()  # the same port: the page finds it with its backoff
    dm = alice.expect(DirectMessage, 30.0)
    assert (dm.sender, dm.text) == ("Bob", "written while the server was away")
    alice.receipt(dm.msg_id)
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'delivered'", 30.0)
    assert page.js("document.querySelector('#messages .msg-out').dataset.msgId") == str(dm.msg_id)
    no_more(alice, DirectMessage)  # exactly once
    assert page.js("document.querySelectorAll('#messages .msg-out').length") == 1
    # Chromium logs each refused WebSocket while the server was away; nothing else.
    assert [p for p in page.problems() if p.get("source") != "network"] == []


def test_the_status_is_announced_once_per_state_while_the_attempts_are_counted_beside_it(site) -> None:
    """The connection status is a role=status region: a screen reader says it again at each
    change of its text. The attempt number changes at every try (every few seconds while a
    server is away), so it is shown beside the region, not in it: the region says
    "Reconnecting…" once, and "Online" once back."""
    page, web = site
    page.log_in("Bob")
    page.js("window.liveTexts = []; { const pill = document.getElementById('connection');"
            " new MutationObserver(() => window.liveTexts.push(pill.textContent))"
            ".observe(pill, {childList: true, characterData: true, subtree: true}); }")
    web.stop()  # every new attempt is refused: the count goes up
    page.wait_for("shell.attempts >= 3", 30.0)
    assert page.js("document.getElementById('connection').getAttribute('role')") == "status"
    assert set(page.js("window.liveTexts")) == {"Reconnecting…"}, page.js("window.liveTexts")
    # The count is on screen, outside the live region.
    page.wait_for("document.getElementById('connection-detail').textContent === `attempt ${shell.attempts}`")
    assert page.js("document.getElementById('connection-detail').hidden") is False
    assert page.js("document.getElementById('connection-detail').closest('[aria-live], [role=status]')") is None
    web.start()
    page.wait_for("document.getElementById('connection').dataset.status === 'online'", 30.0)
    assert page.js("window.liveTexts") == ["Reconnecting…", "Online"]
    assert page.js("document.getElementById('connection-detail').hidden") is True
    assert [p for p in page.problems() if p.get("source") != "network"] == []


def refuse_logins(srv: ServerThread, count: int, error) -> list[str]:
    """The next ``count`` hellos to ``srv`` are answered ``error(hello)`` (an ErrorReply);
    returns the list their names go into."""
    desk = srv.server.relay.logins
    real, refused = desk.login, []

    def login(hello, address, done) -> None:
        if len(refused) < count:
            refused.append(hello.name)
            return done(LoginResult(error=error(hello)))
        return real(hello, address, done)

    srv.call(lambda: setattr(desk, "login", login))
    return refused


def test_a_first_login_told_to_wait_a_moment_waits_and_logs_in(site) -> None:
    """A class logging in at once from one address meets the password-check budget: the
    later logins are answered ``rate_limited``, "too many logins at once; try again in
    0.1 s". The page waits that out and logs in, as the terminal and the window do; it
    used to show the refusal on the login form, and the student had to press again."""
    page, web = site
    refused = refuse_logins(web.srv, 2, lambda hello: ErrorReply(
        ErrorCode.RATE_LIMITED, "too many logins at once; try again in 0.3 s", hello.request_id, 0.3))
    page.log_in("Bob")
    online(page, "Bob")
    assert refused == ["Bob", "Bob"]
    assert page.js("document.getElementById('login-error').textContent") == ""


def test_a_reconnection_refused_for_a_while_is_tried_again_not_sent_back_to_the_login_form(
        site, alice: TcpPeer) -> None:
    """A cluster node cut off from its Redis (or with Redis still loading after a restart)
    answers every login ``unavailable``, as the server's own storage failing does; a school
    behind one address meets ``too_many_connections`` and ``rate_limited``. Refusals that
    waiting cures (client.core.LOGIN_OUTCOMES, ``retry``) are tried again with the backoff,
    as the terminal client and the window do, after the refusal's ``retry_after``: the page
    used to drop the session and show the login form, and the student had to log in again."""
    page, web = site
    page.log_in("Bob")
    page.wait_for("document.getElementById('connection').dataset.status === 'online'")
    desk = web.srv.server.relay.logins
    refused = refuse_logins(web.srv, 2, lambda hello: unavailable_error(desk.config, hello.request_id))
    web.stop()
    # The page must have seen its connection go first, as the tests above wait: else
    # "online" below was still the old connection's, read before the page noticed (CI:
    # refused == []).
    page.wait_for("document.getElementById('connection').dataset.status === 'reconnecting'")
    web.start()  # the same port: the page's next attempt is answered, and refused
    page.wait_for("document.getElementById('connection').dataset.status === 'online'", 30.0)
    assert refused == ["Bob", "Bob"]
    assert page.js("document.body.dataset.view") == "chat"
    page.open_conversation("Alice")
    page.type("back after the storage came back")
    page.enter()
    dm = alice.expect(DirectMessage, 10.0)
    assert (dm.sender, dm.text) == ("Bob", "back after the storage came back")


def test_after_a_reconnection_the_page_does_not_send_again_what_the_server_had_taken(site) -> None:
    """Messages the server took (queued for Alice, who is away) are not written again after
    a reconnection, all at once: client/core.py's rule. The server tells their outcome
    again at every login until it is acknowledged (PROTOCOL.md, "ack"), so the page learns
    what happened meanwhile without asking."""
    page, web = site
    alice = TcpPeer("127.0.0.1", web.srv.port)  # known to the server, then away
    try:
        alice.send(Hello("a1", "Alice", const.PROTOCOL_VERSION))
        token = alice.expect(Welcome, TIMEOUT).resume
    finally:
        alice.close()
    page.log_in("Bob")
    page.focus("#new-chat-name")
    page.type("Alice")
    page.enter()
    page.wait_for("document.activeElement.id === 'composer-input'")
    texts = [f"note {n}" for n in range(1, 7)]
    for text in texts:
        page.type(text)
        page.enter()
    page.wait_for("[...document.querySelectorAll('#messages .msg-out')].filter((m) => m.dataset.state === 'queued')"
                  f".length === {len(texts)}")
    # What the page writes from now on.
    page.js("window.written = []; { const send = WebSocket.prototype.send;"
            " WebSocket.prototype.send = function (data) { window.written.push(JSON.parse(data)); return send.call(this, data); }; }")
    web.stop()
    page.wait_for("document.getElementById('connection').dataset.status === 'reconnecting'")

    # Meanwhile Alice comes back, reads them, and leaves.
    alice = TcpPeer("127.0.0.1", web.srv.port)
    try:
        alice.send(Hello("a2", "Alice", const.PROTOCOL_VERSION, None, False, token))
        alice.expect(Welcome, TIMEOUT)
        got = [alice.expect(DirectMessage, TIMEOUT) for _ in texts]
        assert [dm.text for dm in got] == texts
        for dm in got:
            alice.receipt(dm.msg_id)
        # Her receipts handled before she goes (frames are handled in order): closed at
        # once, with the server's later frames unread, her side may reset the connection.
        alice.send(Ping("receipts"))
        alice.expect(Pong, TIMEOUT, where=lambda pong: pong.token == "receipts")
    finally:
        alice.close()

    web.start()
    # The page's next attempt may be a whole backoff away (RECONNECT_MAX, 20 s, and its
    # jitter), counted from a failed try made while Alice was reading (on CI's loaded
    # machine that took the page past 30 s, and once past 60): the network's "online"
    # event, as after an outage, has it try at once if it waits.
    page.js("window.dispatchEvent(new Event('online'))")
    delivered = ("[...document.querySelectorAll('#messages .msg-out')].filter((m) => m.dataset.state === "
                 f"'delivered').length === {len(texts)}")
    try:
        page.wait_for(delivered, 60.0)
    except TimeoutError:  # what the page was doing, for the next reader of CI's log
        raise AssertionError(page.js("JSON.stringify({status: document.getElementById('connection').dataset.status,"
                                     " attempts: shell.attempts, socket: shell.socket && shell.socket.readyState,"
                                     " timer: shell.timer, states: [...document.querySelectorAll("
                                     "'#messages .msg-out')].map((m) => m.dataset.state)})")) from None
    written = page.js("window.written")
    assert [f for f in written if f.get("type") in ("send", "say")] == [], written
    # The outcomes the server told again are acknowledged, so it stops telling them.
    acked = sorted(n for f in written if f.get("type") == "ack"
                   for n in ([f["msg_id"]] if "msg_id" in f else f.get("msg_ids", [])))
    assert acked == sorted(dm.msg_id for dm in got), written
    assert [p for p in page.problems() if p.get("source") != "network"] == []


def test_a_message_typed_while_the_server_is_away_outlives_a_reload_and_goes_once(
        site, alice: TcpPeer, tmp_path: Path) -> None:
    """Typed while the server is away, then the page reloaded: the message is kept in the
    tab, shown waiting again, and sent once (with its id) when the page is back in."""
    page, web = site
    log_in_with_password(page, "Carol", register=True)
    page.open_conversation("Alice")
    web.stop()
    page.wait_for("document.getElementById('connection').dataset.status === 'reconnecting'")
    page.type("written before the reload")
    page.enter()
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'waiting'")
    request_id = page.js("document.querySelector('#messages .msg-out').dataset.requestId")

    # Reloaded while the server is away: the page cannot load (it comes from the server);
    # then again once it is back, and the tab logs in by itself.
    page.cdp.send("Page.reload")
    page.cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
    no_more(alice, DirectMessage, 0.5)
    web.start()
    page.cdp.send("Page.navigate", {"url": page.url})
    page.cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
    online(page, "Carol")
    dm = alice.expect(DirectMessage, 30.0)
    assert (dm.sender, dm.text) == ("Carol", "written before the reload")
    alice.receipt(dm.msg_id)
    page.open_conversation("Alice")
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'delivered'", 30.0)
    assert page.js("document.querySelector('#messages .msg-out').dataset.requestId") == request_id
    shoot(page, tmp_path, "web-client-waiting-reloaded.png")
    no_more(alice, DirectMessage)  # exactly once
    assert page.js("document.querySelectorAll('#messages .msg-out').length") == 1
    assert page.js("sessionStorage.getItem('chat.pending.carol')") is None  # taken: nothing kept
    assert [p for p in page.problems() if p.get("source") != "network"] == []


def test_a_reload_keeps_an_account_logged_in_with_its_history_until_it_logs_out(
        site, alice: TcpPeer, tmp_path: Path) -> None:
    page, web = site
    log_in_with_password(page, "Carol", register=True)
    alice.expect(UserJoined, TIMEOUT, where=lambda e: e.name == "Carol")  # this one: not the reload's below
    secret = page.js("sessionStorage.getItem('chat.account.carol')")
    assert isinstance(secret, str) and len(secret) >= 43
    # Kept for this tab only; and the page no longer holds the password.
    assert not [k for k in page.js("Object.keys(localStorage)") if k.startswith("chat.account")]
    assert page.js("shell.credentials.password") == ""
    alice.send_dm("Carol", "Hi Carol, lunch?")
    alice.expect(Accepted, TIMEOUT)
    page.open_conversation("Alice")
    page.type("Yes, at noon")
    page.enter()
    dm = alice.expect(DirectMessage, TIMEOUT)
    alice.receipt(dm.msg_id)
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'delivered'")

    page.cdp.send("Page.reload")
    page.cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
    online(page, "Carol")  # no form: the credential logged in
    assert alice.expect(UserJoined, TIMEOUT, where=lambda e: e.name == "Carol")
    page.wait_for("document.getElementById('conversation-title').textContent === 'Alice'"
                  " && document.querySelectorAll('#messages .msg').length === 2")
    texts = page.js("[...document.querySelectorAll('#messages .msg')].map(m => [m.classList.contains('msg-out'),"
                    " m.querySelector('.msg-text').textContent, m.dataset.state || ''])")
    assert texts == [[False, "Hi Carol, lunch?", ""], [True, "Yes, at noon", "delivered"]]
    shoot(page, tmp_path, "web-client-reloaded.png")

    # Log out: the credential is revoked on the server, and a reload shows the form.
    page.js("document.getElementById('logout').click()")
    page.wait_for("document.body.dataset.view === 'login'")
    assert page.js("sessionStorage.getItem('chat.account.carol')") is None
    # The page sent revoke before its bye: once the session is gone, the revoke was handled.
    srv = web.srv
    wait_until(lambda: not srv.call(srv.server.relay.registry.sessions_by_key, "carol"), TIMEOUT, "Carol's bye")
    with WireClient(web.srv.host, web.srv.port) as stranger:
        stranger.send(Hello("h", "Carol", const.PROTOCOL_VERSION, None, False, secret))
        assert stranger.expect_error(ErrorCode.AUTH_REQUIRED, skip=NOTICES)
    page.cdp.send("Page.reload")
    page.cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
    page.wait_for("document.activeElement && document.activeElement.id === 'login-name'")
    assert page.js("document.body.dataset.view") == "login"
    assert page.problems() == []


def test_a_guest_who_logs_out_leaves_the_next_person_at_the_browser_no_way_into_their_messages(
        site, alice: TcpPeer) -> None:
    """A school's shared computer (docs/privacy.md): Bob, a guest, presses "Log out" and
    goes; a message for him waits. The page must not keep his guest token: with it, the
    next person to type "Bob" on this browser would be Bob, his waiting messages and
    history included. "Log out" gives the name up (a revoke of his token before the bye):
    the next person gets the name at once, as a new holder, with none of Bob's messages
    (the one that waited expires for its sender), not a refusal for GUEST_HOLD."""
    page, _ = site
    page.log_in("Bob")
    assert page.js("localStorage.getItem('chat.resume.bob')")
    page.js("document.getElementById('logout').click()")
    assert logged_out(page) == ""  # the name is free: nothing to say
    alice.expect(UserLeft, TIMEOUT, where=lambda e: e.name == "Bob")
    assert page.js("Object.keys(localStorage).filter(k => k.startsWith('chat.resume.'))") == []
    request_id = alice.send_dm("Bob", "only for Bob")
    assert alice.expect((Accepted, Queued), TIMEOUT).request_id == request_id
    page.cdp.send("Page.reload")  # the next person opens the page
    page.cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
    page.wait_for("document.activeElement && document.activeElement.id === 'login-name'")
    page.js("document.getElementById('login-name').value = ''")
    page.type("Bob")
    page.enter()
    page.wait_for("document.body.dataset.view === 'chat' || document.getElementById('login-error')"
                  ".textContent.length > 0")
    assert page.js("document.getElementById('login-error').textContent") == ""
    online(page, "Bob")
    expired = alice.expect(ErrorReply, TIMEOUT, where=lambda e: e.request_id == request_id)
    assert expired.code == ErrorCode.EXPIRED
    assert page.js("document.querySelectorAll('#messages .msg-in').length") == 0
    assert page.js("localStorage.getItem('chat.resume.bob')")  # the new Bob's own token
    assert page.problems() == []


def fail_give_ups(srv: ServerThread, maybe_done: bool = False, answer: bool = True) -> list:
    """The store fails every write of a guest's given-up holding (the name given up by a
    revoke): ``unavailable`` (with ``maybe_done``: Redis may have it), or, without
    ``answer``, never answers at all. Returns the names whose give-up was tried."""
    tried = []

    def patch() -> None:
        def save_holding(key, holding, callback=None, on_error=None) -> None:
            tried.append(key)
            if answer:
                on_error(StoreUnavailable("disk full", storage=True, maybe_done=maybe_done))
        srv.server.relay.store.save_holding = save_holding
    srv.call(patch)
    return tried


def logged_out(page: Page) -> str:
    """Once "Log out" is done (the Log in button usable again): what the form says."""
    page.wait_for("document.body.dataset.view === 'login' && !document.getElementById('login-submit').disabled")
    return page.js("document.getElementById('login-error').textContent")


def test_a_guest_whose_name_the_server_could_not_free_at_log_out_is_told_until_when_it_stays_kept(
        site, alice: TcpPeer, tmp_path: Path) -> None:
    """The store fails as Bob logs out: his revoke is answered ``unavailable``, so the name
    stays kept for nobody for GUEST_HOLD. The page, which forgot his token all the same (a
    shared computer: docs/privacy.md), says so and until when, rather than letting him
    find out from a refusal he cannot explain ("kept for the guest who used it")."""
    page, web = site
    page.log_in("Bob")
    tried = fail_give_ups(web.srv)
    page.js("document.getElementById('logout').click()")
    said = logged_out(page)
    assert said.startswith("You are logged out, but the server could not free the name Bob: it stays kept until "), said
    assert "nobody can log in with it before then, you included" in said, said
    shoot(page, tmp_path, "web-client-logout-name-kept.png")
    until = page.js("formatTime(nowSeconds() + GUEST_HOLD)")  # this minute or the one before: the test is quick
    assert until in said or page.js("formatTime(nowSeconds() + GUEST_HOLD - 60)") in said, (said, until)
    assert tried == ["bob"]
    assert page.js("Object.keys(localStorage).filter(k => k.startsWith('chat.resume.'))") == []
    with WireClient(web.srv.host, web.srv.port) as stranger:  # what it says is true
        stranger.send(Hello("h", "Bob", const.PROTOCOL_VERSION))
        assert stranger.expect_error(ErrorCode.NAME_TAKEN, skip=NOTICES)
    assert page.problems() == []


def test_a_guest_log_out_the_server_never_answers_ends_in_bounded_time_saying_what_is_not_known(
        site, alice: TcpPeer) -> None:
    """The store never answers Bob's give-up: the page shows "Logging out…" with its Log in
    button off meanwhile, and within LOGOUT_WAIT (the server itself closes after its
    ANSWERS_WAIT) ends, saying that the name may stay kept, not that it is free."""
    page, web = site
    page.log_in("Bob")
    fail_give_ups(web.srv, answer=False)
    page.js("document.getElementById('logout').click()")
    page.wait_for("document.body.dataset.view === 'login'")
    assert page.js("document.getElementById('login-submit').disabled") is True
    assert page.js("document.getElementById('login-error').textContent") == "Logging out…"
    said = logged_out(page)
    assert said.startswith("You are logged out, but the server did not confirm that it freed the name Bob: it may "
                           "stay kept until "), said
    assert page.problems() == []


def test_a_guest_logging_out_while_the_server_is_away_is_logged_out_at_once_and_told_the_name_may_stay_kept(
        site) -> None:
    """No connection to send the revoke on: "Log out" does not wait, forgets the token all
    the same, and says the name may stay kept (the server was not asked to free it)."""
    page, web = site
    page.log_in("Bob")
    web.stop()
    page.wait_for("document.getElementById('connection').dataset.status === 'reconnecting'")
    page.js("document.getElementById('logout').click()")
    assert page.js("document.getElementById('login-submit').disabled") is False  # at once
    said = page.js("document.getElementById('login-error').textContent")
    assert said.startswith("You are logged out, but the server did not confirm that it freed the name Bob: it may "
                           "stay kept until "), said
    assert page.js("Object.keys(localStorage).filter(k => k.startsWith('chat.resume.'))") == []
    assert [p for p in page.problems() if p.get("source") != "network"] == []


def test_an_accounts_log_out_says_nothing_even_when_its_revoke_fails(site) -> None:
    """An account's "Log out" forgets its credential in this tab whatever the server
    answers the revoke (here ``unavailable``): logged out here, which is all it promised,
    and no name is kept for nobody (the account keeps its name)."""
    page, web = site
    log_in_with_password(page, "Carol", register=True)
    tried = []

    def patch() -> None:
        def revoke_account_credential(token_hash, callback=None, on_error=None) -> None:
            tried.append(token_hash)
            on_error(StoreUnavailable("disk full", storage=True))
        web.srv.server.relay.store.revoke_account_credential = revoke_account_credential
    web.srv.call(patch)
    page.js("document.getElementById('logout').click()")
    assert logged_out(page) == ""
    wait_until(lambda: tried, TIMEOUT, "the revoke")
    assert page.js("sessionStorage.getItem('chat.account.carol')") is None
    assert page.problems() == []


def test_links_are_clickable_opened_safely_and_only_http_and_https(site, alice: TcpPeer, tmp_path: Path) -> None:
    page, _ = site
    page.log_in("Bob")
    text = ("docs at https://example.org/chat?a=1&b=2. Also http://127.0.0.1:8080/x (local); "
            "not javascript:alert(1) nor JAVASCRIPT://%0aalert(2) nor data:text/html,hi "
            'nor https://evil.test/"><img src=x onerror=alert(3)>')
    alice.send_dm("Bob", text)
    page.open_conversation("Alice")
    page.wait_for("document.querySelectorAll('#messages .msg-in').length === 1")
    assert page.js("document.querySelector('#messages .msg-in .msg-text').textContent") == text
    links = page.js("[...document.querySelectorAll('#messages .msg-text a')].map(a => "
                    "[a.textContent, a.getAttribute('href'), a.target, a.rel])")
    assert links == [
        ["https://example.org/chat?a=1&b=2", "https://example.org/chat?a=1&b=2", "_blank", "noopener noreferrer"],
        ["http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x", "_blank", "noopener noreferrer"],
        ["https://evil.test/", "https://evil.test/", "_blank", "noopener noreferrer"],
    ]
    assert page.js("document.querySelectorAll('#messages img').length") == 0
    assert page.dialogs() == []
    shoot(page, tmp_path, "web-client-links.png")
    assert page.problems() == []


def test_shift_enter_makes_a_new_line_and_enter_sends(site, alice: TcpPeer, tmp_path: Path) -> None:
    page, _ = site
    page.log_in("Bob")
    page.open_conversation("Alice")
    page.type("first line")
    shift_enter(page)
    page.type("second line")
    shift_enter(page)
    page.type("third line")
    assert page.js("document.getElementById('composer-input').value") == "first line\nsecond line\nthird line"
    no_more(alice, DirectMessage, 0.3)  # Shift+Enter sent nothing
    # The composer grew to show its three lines.
    assert page.js("document.getElementById('composer-input').clientHeight") > 60
    shoot(page, tmp_path, "web-client-composer.png")
    page.enter()
    dm = alice.expect(DirectMessage, TIMEOUT)
    assert dm.text == "first line\nsecond line\nthird line"
    alice.receipt(dm.msg_id)
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'delivered'")
    # Shown on three lines (white-space: pre-wrap), not with a literal \n.
    height = page.js("document.querySelector('#messages .msg-out .msg-text').getBoundingClientRect().height")
    line = page.js("parseFloat(getComputedStyle(document.querySelector('#messages .msg-out .msg-text')).lineHeight)"
                   " || 20")
    assert height >= 2.5 * line
    alice.send_dm("Bob", "got it\nall three")
    page.wait_for("document.querySelectorAll('#messages .msg-in').length === 1")
    shoot(page, tmp_path, "web-client-multiline.png")
    assert page.problems() == []


def test_a_mistyped_name_does_not_stay_in_the_contact_list(site, alice: TcpPeer) -> None:
    page, _ = site
    page.log_in("Bob")
    page.focus("#new-chat-name")
    page.type("Alcie")
    page.enter()
    page.wait_for("document.getElementById('conversation-title').textContent === 'Alcie'"
                  " && document.activeElement.id === 'composer-input'")
    # The page looks the name up as the conversation opens: nobody's, out of the list at once.
    page.wait_for("document.getElementById('conversation-presence').textContent"
                  " === 'Nobody by that name has logged in here'"
                  " && !document.querySelector('button.contact[data-key=\"@alcie\"]')")
    page.type("are you there?")
    page.enter()
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'failed'")
    # The reason stays on screen, but the name is gone from the list...
    assert "nobody called Alcie has ever logged in here" in \
        page.js("document.querySelector('#messages .msg-out .msg-status').textContent")
    page.wait_for("!document.querySelector('button.contact[data-key=\"@alcie\"]')")
    # ... and its conversation once another is chosen.
    page.open_conversation("Alice")
    assert page.js("shell.chat.conversations.has('@alcie')") is False
    assert page.js("[...document.querySelectorAll('button.contact')].map(b => b.dataset.key)") == ["#room", "@alice"]
    assert page.problems() == []


def test_a_message_sent_from_another_session_shows_with_its_text_and_state(
        site, alice: TcpPeer, tmp_path: Path) -> None:
    page, web = site
    log_in_with_password(page, "Carol", register=True)
    page.open_conversation("Alice")
    laptop = WireClient(web.srv.host, web.srv.port)
    with laptop:
        laptop.send(Hello("h", "Carol", const.PROTOCOL_VERSION, PASSWORD, False, None, (CARBONS,)))
        laptop.expect(Welcome, skip=NOTICES)
        laptop.send(SendDirect("l1", "Alice", "sent from my laptop"))
        accepted = laptop.expect(Accepted, skip=NOTICES)
        page.wait_for("document.querySelector('#messages .msg-out .msg-text')?.textContent === 'sent from my laptop'")
        assert page.js("document.querySelector('#messages .msg-out').dataset.state") == "sent"
        assert page.js("document.querySelector('#messages .msg-out').dataset.msgId") == str(accepted.msg_id)
        dm = alice.expect(DirectMessage, TIMEOUT)
        alice.receipt(dm.msg_id)
        assert laptop.expect(Delivered, skip=NOTICES).msg_id == accepted.msg_id
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'delivered'")
        shoot(page, tmp_path, "web-client-carbon.png")
    # After a reload the history holds it once, not beside a second copy.
    page.cdp.send("Page.reload")
    page.cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
    online(page, "Carol")
    page.wait_for("document.querySelectorAll('#messages .msg-out').length === 1"
                  " && document.querySelector('#messages .msg-out').dataset.state === 'delivered'")
    assert page.problems() == []


def test_an_account_changes_its_password_in_a_dialog_and_the_tab_stays_logged_in(site, tmp_path: Path) -> None:
    """A student changes their password on the page: "Change password…" (an account's only)
    opens a dialog; two different new passwords are said there before anything is sent;
    then the server's ok closes it. The new password logs in, the old does not, and the
    tab's own credential still logs it in after a reload (the frame carried it)."""
    page, web = site
    new = "a brand new secret"
    page.log_in("Guest")  # a guest has no password to change
    assert page.js("document.getElementById('change-password').hidden") is True
    page.js("document.getElementById('logout').click()")
    page.wait_for("document.body.dataset.view === 'login'")
    log_in_with_password(page, "Dora", register=True)
    page.wait_for("!document.getElementById('change-password').hidden")
    page.js("document.getElementById('change-password').click()")
    page.wait_for("document.getElementById('password-dialog').open"
                  " && document.activeElement.id === 'password-old'")

    def submit(old: str, password: str, again: str) -> None:
        page.js(f"document.getElementById('password-old').value = {json.dumps(old)};"
                f"document.getElementById('password-new').value = {json.dumps(password)};"
                f"document.getElementById('password-again').value = {json.dumps(again)};"
                "document.getElementById('password-form').requestSubmit()")

    submit(PASSWORD, new, new + "!")
    page.wait_for("document.getElementById('password-error').textContent === 'The two new passwords differ.'")
    submit(PASSWORD, "short", "short")  # the server's rule, said in the dialog in the page's words
    page.wait_for("document.getElementById('password-error').textContent === 'A password needs at least 8 characters'"
                  " && document.getElementById('password-dialog').open")
    submit(PASSWORD, new, new)
    page.wait_for("!document.getElementById('password-dialog').open && [...document.querySelectorAll("
                  "'#messages .notice')].some(n => n.textContent.startsWith('Your password is changed'))")
    with WireClient(web.srv.host, web.srv.port) as client:
        client.send(Hello("h", "Dora", const.PROTOCOL_VERSION, new))
        assert client.expect(Welcome, skip=NOTICES).registered
    page.cdp.send("Page.reload")
    page.cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
    online(page, "Dora")  # no form: this tab's credential was kept
    # Last: a wrong password makes the next login from this address wait.
    with WireClient(web.srv.host, web.srv.port) as client:
        client.send(Hello("h", "Dora", const.PROTOCOL_VERSION, PASSWORD))
        assert client.expect_error(ErrorCode.BAD_PASSWORD, skip=NOTICES)
    assert page.problems() == []


def test_an_account_is_deleted_from_its_dialog_with_its_password_then_the_login_form_says_so(
        site, tmp_path: Path) -> None:
    """A student deletes their account on the page: "Delete account…" (an account's only)
    opens a dialog asking the password; a wrong one is said there and nothing is deleted;
    the right one ends the session: the login form says the account was deleted, and the
    name is held (its old password no longer logs in)."""
    page, web = site
    page.log_in("Guest")  # a guest has no account to delete
    assert page.js("document.getElementById('delete-account').hidden") is True
    page.js("document.getElementById('logout').click()")
    page.wait_for("document.body.dataset.view === 'login'")
    log_in_with_password(page, "Dora", register=True)
    page.wait_for("!document.getElementById('delete-account').hidden")
    page.js("document.getElementById('delete-account').click()")
    page.wait_for("document.getElementById('unregister-dialog').open"
                  " && document.activeElement.id === 'unregister-password'")

    def submit(password: str) -> None:
        page.js(f"document.getElementById('unregister-password').value = {json.dumps(password)};"
                "document.getElementById('unregister-form').requestSubmit()")

    submit("not the password")
    page.wait_for("document.getElementById('unregister-error').textContent.startsWith('Wrong password')"
                  " && document.getElementById('unregister-dialog').open")
    page.wait_for("document.getElementById('connection').dataset.status === 'online'")  # still there
    refused_at = page.js("performance.now()")
    # The next check waits after a wrong password (PROTOCOL.md, "hello"): refused with a
    # wait, said in the dialog; sent again once the dialog says so, a bounded number of times.
    for attempt in range(3):
        # The server's wait after the k-th wrong password: 0.5 s x 2^(k-1); the page's clock.
        page.wait_for(f"performance.now() > {refused_at} + {500 * 2 ** attempt + 100}")
        submit(PASSWORD)
        page.wait_for("document.body.dataset.view === 'login' || "
                      "document.getElementById('unregister-error').textContent.includes('try again')")
        if page.js("document.body.dataset.view") == "login":
            break
        page.js("document.getElementById('unregister-error').textContent = ''")
    page.wait_for("document.body.dataset.view === 'login' && !document.getElementById('unregister-dialog').open")
    said = page.js("document.getElementById('login-error').textContent")
    assert said.startswith("This account was deleted"), said
    with WireClient(web.srv.host, web.srv.port, source="127.0.0.2") as client:
        client.send(Hello("h", "Dora", const.PROTOCOL_VERSION, PASSWORD))
        assert client.expect_error(ErrorCode.NAME_TAKEN, skip=NOTICES)
    assert page.problems() == []


def test_claim_this_name_is_unticked_once_its_user_logs_out(site) -> None:
    """"Claim this name with the password" is for one login: left ticked after "Log out",
    the next person at a shared computer would register their name without meaning to."""
    page, _web = site
    log_in_with_password(page, "Dora", register=True)
    page.js("document.getElementById('logout').click()")
    page.wait_for("document.body.dataset.view === 'login'")
    assert page.js("document.getElementById('login-register').checked") is False


def test_past_conversations_are_listed_again_at_the_next_login_of_their_user_only(site, tmp_path: Path) -> None:
    """Found using the page: Conceição chatted with João, logged out, logged in again: the
    sidebar had no João (offline), the history out of reach unless she remembered his
    name. A single server keeps no index of a user's conversations (PROTOCOL.md,
    "since"), so the page keeps the list, names only, per user in localStorage: an
    account's is back at its next login; a guest's goes with its "Log out" (the name is no
    longer theirs), so the next guest of that name sees none; nobody else sees either;
    deleting the account forgets it."""
    page, web = site
    contact = "!!document.querySelector('button.contact[data-key=\"@joão\"]')"

    def chat_with_joao(text: str) -> None:
        page.focus("#new-chat-name")
        page.type("João")
        page.enter()
        page.wait_for("document.getElementById('conversation-title').textContent === 'João'")
        page.type(text)
        page.enter()
        page.wait_for("['sent', 'queued'].includes(document.querySelector('#messages .msg-out')?.dataset.state)")

    def log_out() -> None:
        page.js("document.getElementById('logout').click()")
        page.wait_for("document.body.dataset.view === 'login'")

    joao = TcpPeer("127.0.0.1", web.srv.port)
    try:
        joao.login("João")
        log_in_with_password(page, "Conceição", register=True)
        chat_with_joao("oi, João")
    finally:
        joao.close()  # offline from now on: only the kept list can name him
    log_out()
    # Someone else on this browser: no João.
    page.log_in("Bia")
    page.wait_for("document.querySelectorAll('button.contact').length >= 1")
    assert not page.js(contact)
    log_out()
    log_in_with_password(page, "Conceição", register=False)
    page.wait_for(contact)
    shoot(page, tmp_path, "web-client-conversations-kept.png")
    page.open_conversation("João")
    page.wait_for("[...document.querySelectorAll('#messages .msg-out .msg-text')]"
                  ".some(e => e.textContent === 'oi, João')")
    # Deleting the account forgets its list.
    page.js("document.getElementById('delete-account').click()")
    page.js(f"document.getElementById('unregister-password').value = {json.dumps(PASSWORD)}")
    page.js("document.getElementById('unregister-form').requestSubmit()")
    page.wait_for("document.body.dataset.view === 'login'")
    assert page.js("localStorage.getItem('chat.conversations.conceição')") is None

    # A guest's list: back after closing the tab (its token kept; the tab's session gone),
    # gone with "Log out".
    page.log_in("Caio")
    chat_with_joao("oi de novo")
    assert page.js("JSON.parse(localStorage.getItem('chat.conversations.caio')).names") == ["João"]
    page.js("sessionStorage.clear()")
    page.cdp.send("Page.reload")
    page.cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
    page.wait_for("document.activeElement && document.activeElement.id === 'login-name'")
    page.log_in("Caio")
    page.wait_for(contact)
    log_out()
    assert page.js("localStorage.getItem('chat.conversations.caio')") is None
    assert page.problems() == []

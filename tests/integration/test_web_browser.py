"""The web client in a real browser: headless Chromium driven over the DevTools Protocol.

A chat server with the web gateway runs in a thread; Chromium opens the page and Bob logs
in by typing; Alice is a terminal user (the chat protocol over TCP, ``chatpeer.TcpPeer``).
Skipped only when no ``chromium`` binary is installed, and failed instead in CI
(tests/support/tools.py; CI installs Debian's package).
``SAVE_SCREENSHOTS=1`` also copies the desktop screenshot to docs/web-client.png.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from browserpage import DESKTOP, PHONE, REPO, TIMEOUT, Page, alice, open_page, page, page_at  # noqa: F401 (fixtures)
from cdp import Chromium
from chatpeer import TcpPeer
import const
from protocol import (Accepted, Delivered, DirectMessage, ErrorCode, ErrorReply, Hello, Queued, SendRoom, UserJoined,
                      UserLeft)
from server import ServerConfig, ServerThread

from tools import require_tool

# Chromium starts for every test (about 2 s alone, much longer on a loaded machine).
pytestmark = pytest.mark.timeout_seconds(120)


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


def test_dm_round_trip_between_the_page_and_a_terminal_user(page: Page, alice: TcpPeer, tmp_path: Path) -> None:
    page.log_in("Bob")
    alice.login("Alice")
    page.wait_for("!!document.querySelector('button.contact[data-key=\"@alice\"]')")
    # The room shows the join notice.
    page.wait_for("[...document.querySelectorAll('#messages .notice')].some(n => n.textContent.includes('Alice joined'))")

    # Alice -> Bob: the page renders it, then confirms it, so Alice sees "delivered".
    request_id = alice.send_dm("Bob", "Hi Bob! Are you there?")
    accepted = alice.expect(Accepted, TIMEOUT)
    assert alice.expect(Delivered, TIMEOUT) == Delivered(request_id, accepted.msg_id)
    # Not the open conversation: an unread count on Alice's contact.
    page.wait_for("document.querySelector('button.contact[data-key=\"@alice\"] .badge')?.textContent === '1'")
    page.open_conversation("Alice")
    assert page.js("document.querySelector('#messages .msg-in .msg-text').textContent") == "Hi Bob! Are you there?"
    assert page.js("document.querySelector('button.contact[data-key=\"@alice\"] .badge')") is None

    # Bob -> Alice, typed into the page: sent, then delivered once Alice's client confirms.
    page.type("Yes! Typing from the browser: olá, ação ✓")
    page.enter()
    dm = alice.expect(DirectMessage, TIMEOUT)
    assert (dm.sender, dm.to, dm.text) == ("Bob", "Alice", "Yes! Typing from the browser: olá, ação ✓")
    page.wait_for(f"document.querySelector('#messages .msg-out')?.dataset.msgId === '{dm.msg_id}'")
    assert page.js("document.querySelector('#messages .msg-out').dataset.state") == "sent"
    alice.receipt(dm.msg_id)
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'delivered'")
    assert "Delivered" in page.js("document.querySelector('#messages .msg-out .msg-status').textContent")
    assert page.js("document.getElementById('composer-input').value") == ""

    alice.send_dm("Bob", "Great. Lunch at noon?")
    page.wait_for("document.querySelectorAll('#messages .msg-in').length === 2")
    page.type("Sounds good, see you there.")
    page.enter()
    dm = alice.expect(DirectMessage, TIMEOUT)
    alice.receipt(dm.msg_id)
    page.wait_for("[...document.querySelectorAll('#messages .msg-out')].every(m => m.dataset.state === 'delivered')")
    assert page.problems() == []
    shot = page.screenshot(tmp_path / "web-client.png")
    if os.environ.get("SAVE_SCREENSHOTS") == "1":
        (REPO / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, REPO / "docs" / "web-client.png")

    # Alice leaves: the page shows it in her conversation and in the contact list.
    alice.close()
    page.wait_for("document.getElementById('conversation-presence').textContent === 'Offline'")
    page.wait_for("[...document.querySelectorAll('#messages .notice')].some(n => n.textContent.includes('Alice went offline'))")
    assert "offline" in page.js("document.querySelector('button.contact[data-key=\"@alice\"]').getAttribute('aria-label')")

    # Writing to a name nobody uses fails, and the page says why.
    page.focus("#new-chat-name")
    page.type("Fulano")
    page.enter()
    page.wait_for("document.getElementById('conversation-title').textContent === 'Fulano'"
                  " && document.activeElement.id === 'composer-input'")
    page.type("Hello?")
    page.enter()
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'failed'")
    status = page.js("document.querySelector('#messages .msg-out .msg-status').textContent")
    assert status.startswith("Not sent: ") and "Fulano" in status
    assert page.problems() == []


def test_protocol_section_tracks_every_delivery_state(page: Page) -> None:
    """The page's protocol functions, called directly: no server needed, so the states the
    server is gaining (queued, history) are covered too."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      chat.history = true;  // whatever ASK_FOR_HISTORY says
      const r = {};
      r.hello = [helloFrame(chat, "Bob", "", false), helloFrame(chat, "Bob", "pw", true)];
      r.welcome = receiveFrame(chat, {type: "welcome", id: "t-2", name: "Bob", version: 1,
                                      server: "s", heartbeat: 15}).send.map((f) => f.type);
      const key = startConversation(chat, "Carol");
      r.invalid = startConversation(chat, "<b>");
      r.history = openConversation(chat, key);
      const frame = composeMessage(chat, key, "hello Carol");
      r.frame = frame;
      const item = chat.conversations.get(key).items.at(-1);
      r.states = [item.state];
      receiveFrame(chat, {type: "queued", id: frame.id, msg_id: 7}); r.states.push(item.state);
      receiveFrame(chat, {type: "delivered", id: frame.id, msg_id: 7}); r.states.push(item.state);
      const failing = composeMessage(chat, key, "second");
      receiveFrame(chat, {type: "accepted", id: failing.id, msg_id: 8});
      receiveFrame(chat, {type: "error", id: failing.id, code: "expired", message: "message 8 expired"});
      const second = chat.conversations.get(key).items.at(-1);
      r.failed = [second.state, second.error];
      const dm = {type: "dm", msg_id: 9, from: "Carol", to: "Bob", text: "hi", sent_at: 100};
      r.receipts = [receiveFrame(chat, dm).receipts, receiveFrame(chat, dm).receipts];
      r.pong = receiveFrame(chat, {type: "ping", token: "abc"}).send;
      receiveFrame(chat, {type: "history_page", id: r.history[1].id, with: "Carol", before: null,
        messages: [{msg_id: 5, from: "Carol", to: "Bob", text: "older", sent_at: 50, state: "delivered"},
                   {msg_id: 9, from: "Carol", to: "Bob", text: "hi", sent_at: 100, state: "delivered"}]});
      r.texts = chat.conversations.get(key).items.filter((i) => i.kind === "message").map((i) => i.text);
      const [, dave] = openConversation(chat, startConversation(chat, "Dave"));  // its whois, its history
      receiveFrame(chat, {type: "error", id: dave.id, code: "unknown_type", message: "unknown type"});
      r.historyAfterOldServer = [dave.type, chat.history];
      r.unknown = receiveFrame(chat, {type: "something_new", id: "z"});
      return r;
    })()""")
    # Copies of what our other sessions send; a credential for reloads; read receipts,
    # typing, edit and delete (issue 13); since, to catch up after a reconnection; blocks,
    # a block or unblock made on another device told at once; catch_up, a cluster node back
    # from a break.
    features = ["carbons", "resume", "read", "typing", "edits", "since", "blocks", "catch_up"]
    assert result["hello"] == [
        {"type": "hello", "id": "t-1", "name": "Bob", "version": 2, "features": features},  # 2: rooms
        {"type": "hello", "id": "t-2", "name": "Bob", "version": 2, "features": features, "password": "pw",
         "register": True},
    ]
    assert result["welcome"] == ["who", "blocks"]  # whom the user blocks: another device may have changed it
    assert result["invalid"] is None
    # t-3 and t-4: the welcome's "who" and "blocks". Opening a conversation looks the name up.
    assert result["history"] == [{"type": "whois", "id": "t-5", "name": "Carol"},
                                 {"type": "history", "id": "t-6", "with": "Carol", "limit": 50}]
    assert result["frame"] == {"type": "send", "id": "t-7", "to": "Carol", "text": "hello Carol"}
    assert result["states"] == ["sending", "queued", "delivered"]
    assert result["failed"] == ["failed", "message 8 expired"]
    assert result["receipts"] == [[{"type": "receipt", "msg_id": 9}]] * 2  # shown once, confirmed twice
    assert result["pong"] == [{"type": "pong", "token": "abc"}]
    assert result["texts"] == ["older", "hi", "hello Carol", "second"]
    assert result["historyAfterOldServer"] == ["history", False]  # asked once, then never again
    assert result["unknown"] == {"send": [], "receipts": [], "announce": [], "login": None}


def test_the_page_acknowledges_every_outcome_and_draws_128_bit_request_ids(page: Page) -> None:
    """The server repeats delivered/expired until the sender acks it: the page acks each one
    once shown (also one for a message sent from another tab), and its ids cannot repeat."""
    result = page.js("""(() => {
      const ids = [makeRequestIds(), makeRequestIds()];
      const drawn = [ids[0](), ids[0](), ids[1]()];
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      receiveFrame(chat, {type: "welcome", id: "x", name: "Bob", version: 1, server: "s", heartbeat: 15});
      const key = startConversation(chat, "Carol");
      const sent = composeMessage(chat, key, "will expire");
      receiveFrame(chat, {type: "queued", id: sent.id, msg_id: 7});
      const expired = receiveFrame(chat, {type: "error", id: sent.id, code: "expired", msg_id: 7,
                                          message: "your message 7 to Carol expired before it was delivered"});
      const item = chat.conversations.get(key).items.at(-1);
      const elsewhere = receiveFrame(chat, {type: "delivered", id: "other-tab-3", msg_id: 5});
      const oldServer = receiveFrame(chat, {type: "error", id: "gone", code: "expired", message: "expired"});
      return {drawn, expired: expired.receipts, state: [item.state, item.error], elsewhere: elsewhere.receipts,
              oldServer: oldServer.receipts};
    })()""")
    first, second, other = result["drawn"]
    assert first.endswith("-1") and second.endswith("-2") and first[:-2] == second[:-2]
    prefix = first[:-2]
    assert len(prefix) == 32 and int(prefix, 16) >= 0  # 16 random bytes in hex
    assert other[:-2] != prefix
    assert result["expired"] == [{"type": "ack", "msg_id": 7}]
    assert result["state"] == ["failed", "your message 7 to Carol expired before it was delivered"]
    assert result["elsewhere"] == [{"type": "ack", "msg_id": 5}]
    assert result["oldServer"] == []  # no msg_id: nothing to acknowledge


def test_messages_left_unanswered_by_a_lost_connection_are_resent_with_the_same_ids(page: Page) -> None:
    """After a drop, the page sends again, with the same ids, every message the server had
    not answered: the server recognises resends by id, so this is exactly once. One it had
    taken (queued) is not written again (client/core.py's rule): its "delivered", lost
    with the old connection, comes back as the server tells it again at the login."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      receiveFrame(chat, {type: "welcome", id: "x", name: "Bob", version: 1, server: "s", heartbeat: 15});
      const key = startConversation(chat, "Carol");
      const unanswered = composeMessage(chat, key, "never answered");
      const queued = composeMessage(chat, key, "queued");
      receiveFrame(chat, {type: "queued", id: queued.id, msg_id: 7});
      const done = composeMessage(chat, key, "delivered");
      receiveFrame(chat, {type: "accepted", id: done.id, msg_id: 8});
      receiveFrame(chat, {type: "delivered", id: done.id, msg_id: 8});
      const room = composeMessage(chat, "#room", "room, accepted");
      receiveFrame(chat, {type: "accepted", id: room.id, msg_id: 9});
      connectionLost(chat);
      const states = chat.conversations.get(key).items.map((i) => i.state);
      const again = receiveFrame(chat, {type: "welcome", id: "y", name: "Bob", version: 1, server: "s",
                                        heartbeat: 15}).send.filter((f) => f.type === "send" || f.type === "say");
      receiveFrame(chat, {type: "accepted", id: unanswered.id, msg_id: 10});
      receiveFrame(chat, {type: "delivered", id: queued.id, msg_id: 7});
      const after = chat.conversations.get(key).items.map((i) => i.state);
      return {unanswered, queued, again, states, after};
    })()""")
    assert result["again"] == [result["unanswered"]]  # the same frame, the same id; not the queued one
    assert result["states"] == ["sending", "queued", "delivered"]  # nothing marked failed by the drop
    assert result["after"] == ["sent", "delivered", "delivered"]


def test_hostile_text_is_shown_as_text(page: Page, alice: TcpPeer) -> None:
    page.log_in("Bob")
    alice.login("Alice")
    page.open_conversation("Alice")
    attacks = ["<img src=x onerror=alert(1)>", "<script>window.pwned=1</script>",
               '"><svg onload=alert(2)>', "&lt;b&gt;not bold&lt;/b&gt;"]
    for text in attacks:
        alice.send_dm("Bob", text)
        alice.expect(Delivered, TIMEOUT)
    page.wait_for(f"document.querySelectorAll('#messages .msg-in').length === {len(attacks)}")
    shown = page.js("[...document.querySelectorAll('#messages .msg-in .msg-text')].map(e => e.textContent)")
    assert shown == attacks
    assert page.js("document.querySelectorAll('#messages img, #messages script, #messages svg, #messages b')"
                   ".length") == 0
    assert page.js("typeof window.pwned") == "undefined"
    # The room too.
    alice.send(SendRoom("r1", "<img src=y onerror=alert(3)>"))
    page.focus('button.contact[data-key="#room"]')
    page.enter()
    page.wait_for("[...document.querySelectorAll('#messages .msg-in .msg-text')]"
                  ".some(e => e.textContent === '<img src=y onerror=alert(3)>')")
    assert page.js("document.querySelectorAll('#messages img').length") == 0
    assert page.dialogs() == []
    assert page.problems() == []


def test_bidi_overrides_and_controls_in_others_text_are_shown_as_escapes(page: Page, alice: TcpPeer) -> None:
    """A U+202E in a message reversed what followed it: "https://x.example/", U+202E,
    "gnp.exe" read as a link to "exe.png". The page shows such characters as the terminal does
    (client/display.py): visible escapes; line breaks, ZWJ and ZWNJ stay."""
    page.log_in("Bob")
    alice.login("Alice")
    page.open_conversation("Alice")
    alice.send_dm("Bob", "see https://x.example/\u202egnp.exe\nline two \x1b[2J \u2066x\u2069 👩\u200d💻")
    alice.expect(Delivered, TIMEOUT)
    page.wait_for("document.querySelectorAll('#messages .msg-in').length === 1")
    shown = page.js("document.querySelector('#messages .msg-in .msg-text').textContent")
    assert shown == "see https://x.example/\\u202egnp.exe\nline two \\x1b[2J \\u2066x\\u2069 👩\u200d💻", shown
    assert page.problems() == []


def test_the_page_reconnects_by_itself(page: Page, alice: TcpPeer) -> None:
    page.log_in("Bob")
    alice.login("Alice")

    def drop_bob() -> None:
        for session in page.srv.server.relay.sessions:
            if session.name == "Bob":
                session.abort("test drops the connection")

    page.srv.call(drop_bob)
    assert alice.expect(UserLeft, TIMEOUT, where=lambda e: e.name == "Bob").name == "Bob"
    page.wait_for("document.getElementById('connection').dataset.status === 'reconnecting'")
    assert "Reconnecting" in page.js("document.getElementById('connection').textContent")
    # Back without anyone touching the page, logged in again under the same name.
    page.wait_for("document.getElementById('connection').dataset.status === 'online'")
    assert alice.expect(UserJoined, TIMEOUT, where=lambda e: e.name == "Bob").name == "Bob"
    request_id = alice.send_dm("Bob", "welcome back")
    alice.expect(Accepted, TIMEOUT)
    assert alice.expect(Delivered, TIMEOUT).request_id == request_id
    assert page.problems() == []


def test_the_page_keeps_the_guest_token_so_only_it_gets_what_waited(page: Page, alice: TcpPeer) -> None:
    page.log_in("Bob")
    token = page.js("localStorage.getItem('chat.resume.bob')")
    assert isinstance(token, str) and len(token) >= 43
    alice.login("Alice")
    # Bob closes the tab and opens the page again (what the tab kept for a reload is gone,
    # the guest token in localStorage stays): his session ends, and a message for him waits.
    page.js("sessionStorage.clear()")
    page.cdp.send("Page.navigate", {"url": page.url})
    page.cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
    alice.expect(UserLeft, TIMEOUT, where=lambda e: e.name == "Bob")
    request_id = alice.send_dm("Bob", "while you were away")
    assert alice.expect(Queued, TIMEOUT).request_id == request_id
    # Someone else, from a terminal, cannot take the name meanwhile.
    stranger = TcpPeer("127.0.0.1", page.srv.port)
    try:
        stranger.send(Hello("h", "bob", const.PROTOCOL_VERSION))
        assert stranger.expect(ErrorReply, TIMEOUT).code == ErrorCode.NAME_TAKEN
    finally:
        stranger.close()
    # The page, with the token it kept, is Bob again: it gets the message.
    page.wait_for("document.activeElement && document.activeElement.id === 'login-name'")
    page.log_in("Bob")
    assert alice.expect(Delivered, TIMEOUT).request_id == request_id
    page.open_conversation("Alice")
    page.wait_for("document.getElementById('messages').textContent.includes('while you were away')")
    assert page.problems() == []


def test_refused_login_shows_the_reason(page: Page, alice: TcpPeer) -> None:
    alice.login("Alice")
    page.focus("#login-name")
    page.type("alice")
    page.enter()
    page.wait_for("document.getElementById('login-error').textContent.length > 0")
    assert page.js("document.body.dataset.view") == "login"
    assert page.js("document.activeElement.id") == "login-name"
    page.js("document.getElementById('login-name').value = ''")
    page.type("Bob")
    page.enter()
    page.wait_for("document.body.dataset.view === 'chat'")


def test_a_password_too_long_is_refused_on_the_page_before_the_hello(page: Page) -> None:
    """A password over the server's 1024 characters went out in the hello, to be refused in
    the server's English; the page says it in its words and sends nothing."""
    page.js("window.sentTypes = []; const sendOriginal = sendFrame;"
            "sendFrame = (frame) => { window.sentTypes.push(frame.type); return sendOriginal(frame); };"
            "document.getElementById('login-name').value = 'Bob';"
            f"document.getElementById('login-password').value = 'p'.repeat({const.MAX_PASSWORD_CHARS + 1});"
            "document.getElementById('login-form').requestSubmit()")
    page.wait_for("document.getElementById('login-error').textContent.length > 0")
    assert page.js("document.getElementById('login-error').textContent") == \
        "The password is too long: at most 1024 characters"
    assert page.js("window.sentTypes") == [] and page.js("document.body.dataset.view") == "login"
    assert page.problems() == []


def test_phone_layout_collapses_the_contacts(page: Page, alice: TcpPeer, tmp_path: Path) -> None:
    page.cdp.send("Emulation.setDeviceMetricsOverride", PHONE)
    page.log_in("Bob")
    alice.login("Alice")
    alice.send_dm("Bob", "Hello from the terminal")
    alice.expect(Delivered, TIMEOUT)
    # The contact list is a closed drawer; the toggle shows the unread count.
    assert page.js("getComputedStyle(document.getElementById('sidebar')).visibility") == "hidden"
    page.wait_for("document.getElementById('toggle-unread').textContent === '1'")
    page.focus("#contacts-toggle")
    page.enter()
    page.wait_for("getComputedStyle(document.getElementById('sidebar')).visibility === 'visible' &&"
                  " document.getElementById('sidebar').getBoundingClientRect().left === 0")
    assert page.js("document.getElementById('contacts-toggle').getAttribute('aria-expanded')") == "true"
    page.screenshot(tmp_path / "web-client-phone-contacts.png")
    page.open_conversation("Alice")
    page.wait_for("getComputedStyle(document.getElementById('sidebar')).visibility === 'hidden'")
    page.type("Hi from a phone")
    page.enter()
    dm = alice.expect(DirectMessage, TIMEOUT)
    alice.receipt(dm.msg_id)
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'delivered'")
    # Nothing is wider than the screen.
    assert page.js("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(tmp_path / "web-client-phone.png")
    assert page.problems() == []


def test_the_page_over_https_logs_in_over_wss(tmp_path: Path) -> None:
    """With TLS configured, the page comes over HTTPS and talks WSS (a page loaded over
    https may not open a ws:// socket). The certificate is the test's own, self-signed."""
    from test_tls import make_certificate
    cert, key = make_certificate(tmp_path)
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, tls_cert=cert, tls_key=key)
    with ServerThread(config) as srv, Chromium(tmp_path / "profile", extra_args=("--ignore-certificate-errors",)) \
            as browser:
        url = f"https://127.0.0.1:{srv.server.web_address[1]}/"
        cdp = browser.page()
        try:
            for domain in ("Page", "Runtime", "Log"):
                cdp.send(f"{domain}.enable")
            cdp.send("Page.navigate", {"url": url})
            cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
            page = Page(cdp, url, srv)
            page.wait_for("document.activeElement && document.activeElement.id === 'login-name'")
            assert page.js("location.protocol") == "https:"
            page.log_in("Bob")
            assert page.js("socketUrl()").startswith("wss://")
            assert srv.call(lambda: [s.name for s in srv.server.relay.sessions]) == ["Bob"]
            assert page.problems() == []
        finally:
            cdp.close()


def test_the_list_of_users_is_followed_through_its_pages(page: Page) -> None:
    """The server sends who is online in pages (``next`` is the cursor for the rest): the
    page asks for each next page, and only after the last marks the unlisted offline;
    someone who joins or leaves between two pages is where the notices say."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      const sent = receiveFrame(chat, {type: "welcome", id: "x", name: "Me", version: 1, server: "s",
                                       heartbeat: 15}).send;
      const welcome = sent.find((f) => f.type === "who");
      receiveFrame(chat, {type: "blocking", id: sent.find((f) => f.type === "blocks").id, blocked: []});
      user(chat, "Zed").online = true;  // online before; no page will list him
      const first = receiveFrame(chat, {type: "users", id: welcome.id, next: "Bob",
        users: [{name: "Alice", since: 1}, {name: "Bob", since: 2}, {name: "Me", since: 3}]}).send;
      receiveFrame(chat, {type: "left", name: "Bob", reason: "quit", at: 4});
      receiveFrame(chat, {type: "joined", name: "Anne", at: 5});  // sorts before the cursor
      const online = () => Object.fromEntries([...chat.users.values()].map((u) => [u.name, u.online]));
      const between = online();
      const last = receiveFrame(chat, {type: "users", id: first[0].id,
        users: [{name: "Carol", since: 6}]}).send;
      return {first, between, last, after: online(), pending: chat.requests.size};
    })()""")
    assert result["first"] == [{"type": "who", "id": result["first"][0]["id"], "after": "Bob"}]
    assert result["between"]["Zed"] is True  # nothing is decided before the last page
    assert result["last"] == []
    assert result["after"] == {"Zed": False, "Alice": True, "Bob": False, "Anne": True, "Carol": True}
    assert result["pending"] == 0
    assert page.problems() == []


def test_a_skipped_notice_says_in_words_how_many_room_messages_were_missed(page: Page) -> None:
    result = page.js("""(() => {
      const chat = createChat(() => "t");
      const many = receiveFrame(chat, {type: "skipped", room: 12});
      const one = receiveFrame(chat, {type: "skipped", room: 1});
      const bad = receiveFrame(chat, {type: "skipped", room: "x"});
      const notices = chat.conversations.get(ROOM).items.filter((i) => i.kind === "notice").map((i) => i.text);
      return {announce: [many.announce, one.announce, bad.announce], notices};
    })()""")
    assert result["notices"] == ["12 room messages or updates were skipped because your connection is slow",
                                 "1 room message or update was skipped because your connection is slow"]
    assert result["announce"] == [[result["notices"][0]], [result["notices"][1]], []]


def test_why_someone_left_is_said_in_the_pages_language(page: Page) -> None:
    """A lost connection's cause too (the page said only "Ana left", where the terminal and
    the window said "connection lost: reset by the other side", or "server stopped" for the
    users of a cluster's node that stopped): the Python clients' words (client/display.py's
    LEFT_REASONS), and a cause they do not know as it came, after the same words."""
    script = """(async (language) => {
      await useLanguage(language);
      const chat = createChat(() => "t");
      for (const [name, reason] of [["Maria", "timeout"], ["Bia", "quit"], ["Caio", "slow consumer"],
                                    ["Duda", "a reason of a newer server"],
                                    ["Ana", "connection lost (ConnectionResetError)"],
                                    ["Rui", "connection lost (server stopped)"],
                                    ["Lia", "connection lost (KeyError)"]]) {
        receiveFrame(chat, {type: "left", name, reason, at: 5});
      }
      const notices = chat.conversations.get(ROOM).items.filter((i) => i.kind === "notice").map((i) => i.text);
      await useLanguage("en");
      return notices;
    })"""
    assert page.js(script + '("pt_BR")') == [
        "Maria saiu (parou de responder)", "Bia saiu", "Caio saiu (lento demais para receber)",
        "Duda saiu (\ue000a reason of a newer server\ue001)",  # the server's English, marked (showText)
        "Ana saiu (conexão perdida: reset do outro lado)", "Rui saiu (conexão perdida: o servidor parou)",
        "Lia saiu (conexão perdida: \ue000KeyError\ue001)"]
    assert page.js(script + '("en")') == [
        "Maria left (timeout)", "Bia left", "Caio left (slow consumer)", "Duda left (a reason of a newer server)",
        "Ana left (connection lost: reset by the other side)", "Rui left (connection lost: server stopped)",
        "Lia left (connection lost: KeyError)"]
    assert page.problems() == []


def test_a_members_presence_in_a_room_is_said_in_words(page: Page) -> None:
    result = page.js("""(async () => {
      const chat = createChat(() => "t");
      const lines = [];
      for (const language of ["en", "pt_BR"]) {
        await useLanguage(language);
        for (const act of ["online", "offline"]) {
          lines.push(describeRoomNotice(chat, {type: "room_notice", room: "#redes", act, name: "Vic", at: 5}));
        }
      }
      await useLanguage("en");
      return lines;
    })()""")
    assert result == ["Vic is online in #redes", "Vic went offline in #redes",
                      "Vic está online em #redes", "Vic ficou offline em #redes"]


def test_the_page_speaks_the_browsers_language_and_remembers_the_switch(page: Page, alice: TcpPeer) -> None:
    # A browser that prefers English gets English.
    page.wait_for("document.documentElement.lang === 'en'")
    assert page.js("document.querySelector('#login-form h2').textContent") == "Log in"
    # One that prefers Brazilian Portuguese (navigator.languages, as Accept-Language sets it)...
    agent = page.js("navigator.userAgent")
    page.cdp.send("Emulation.setUserAgentOverride", {"userAgent": agent, "acceptLanguage": "pt-BR,pt;q=0.9"})
    page.cdp.send("Page.reload")
    page.wait_for("navigator.language === 'pt-BR' && document.documentElement?.lang === 'pt-BR'"
                  " && document.readyState === 'complete'")
    assert page.js("document.querySelector('#login-form h2').textContent") == "Entrar"
    assert page.js("document.querySelector('label[for=login-name]').textContent") == "Nome"
    assert page.js("document.getElementById('lang-switch').value") == "pt_BR"
    page.log_in("Bob")
    page.wait_for("document.getElementById('connection').textContent === 'Conectado'")
    assert page.js("document.getElementById('composer-input').placeholder") == "Mensagem para todos…"
    assert page.js("document.getElementById('conversation-title').textContent") == "Todos"
    alice.login("Alice")
    page.wait_for("[...document.querySelectorAll('#messages .notice-text')].some(n => n.textContent === 'Alice entrou')")
    alice.send_dm("Bob", "Oi, Bob!")
    page.open_conversation("Alice")
    page.type("Olá, Alice")
    page.enter()
    dm = alice.expect(DirectMessage, TIMEOUT)
    alice.receipt(dm.msg_id)
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'delivered'")
    assert page.js("document.querySelector('#messages .msg-out .msg-status').textContent") == "Entregue"
    assert page.js("document.querySelector('#messages .msg-out .msg-sender').textContent") == "Você"
    # An error code is explained in Portuguese; the code itself stays as on the wire.
    page.focus("#new-chat-name")
    page.type("Ninguem")
    page.enter()
    page.wait_for("document.getElementById('conversation-title').textContent === 'Ninguem'"
                  " && document.activeElement.id === 'composer-input'")
    page.type("Oi?")
    page.enter()
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'failed'")
    assert page.js("document.querySelector('#messages .msg-out .msg-status').textContent") == \
        "Não enviada: ninguém chamado Ninguem jamais entrou aqui: confira o nome"
    # The switch changes the words at once, and the choice outlives a reload.
    page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'en';"
            " s.dispatchEvent(new Event('change')); })()")
    page.wait_for("document.getElementById('connection').textContent === 'Online'"
                  " && document.documentElement.lang === 'en'")
    assert page.js("document.getElementById('logout').textContent") == "Log out"
    page.cdp.send("Page.reload")
    page.wait_for("document.readyState === 'complete' && document.documentElement?.lang === 'en'"
                  " && document.getElementById('lang-switch')?.value === 'en'")
    assert page.js("document.querySelector('#login-form h2').textContent") == "Log in"
    assert page.problems() == []


def test_the_page_opened_as_a_file_says_to_open_it_from_the_server(tmp_path: Path) -> None:
    """One original assignment's page was a file (``main.html``) its students opened from the
    disk; this one, opened so, said at the login "Cannot connect: Failed to construct
    'WebSocket'...": the page talks to the server that serves it."""
    with page_at(tmp_path, (REPO / "webclient" / "index.html").as_uri(), None) as loaded:
        said = "document.getElementById('login-error').textContent"
        loaded.wait_for(f"{said}.includes('web client on http://')")
        loaded.focus("#login-name")
        loaded.type("Alice")
        loaded.enter()
        loaded.wait_for(f"{said}.includes('web client on http://') && document.body.dataset.view === 'login'")
        assert "WebSocket" not in loaded.js(said)


def test_the_page_opened_as_a_file_speaks_portuguese_too(tmp_path: Path) -> None:
    """A Portuguese browser's page opened from the disk said it in English: a page opened
    as a file cannot fetch its catalogue (i18n/pt_BR.json); it runs i18n/pt_BR.js, the same
    catalogue written by python3 -m i18n web, so the notice and the form are Portuguese."""
    with page_at(tmp_path, (REPO / "webclient" / "index.html").as_uri(), None) as loaded:
        agent = loaded.js("navigator.userAgent")
        loaded.cdp.send("Emulation.setUserAgentOverride", {"userAgent": agent, "acceptLanguage": "pt-BR,pt"})
        loaded.cdp.send("Page.reload")
        loaded.wait_for("document.readyState === 'complete' && navigator.language === 'pt-BR'")
        said = "document.getElementById('login-error').textContent"
        loaded.wait_for(f"{said}.startsWith('Esta página foi aberta como arquivo')"
                        " && document.documentElement.lang === 'pt-BR'")
        assert loaded.js("document.getElementById('login-submit').textContent") == "Entrar"
        assert loaded.problems() == []

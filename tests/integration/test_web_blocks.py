"""Blocking on the page (headless Chromium): whom the user blocks on another device is
marked when the page logs in and after a reload; the header's button blocks and unblocks,
the mark following the server's ``ok``; what a blocked person sends never shows (the
server answers it as any other and never delivers it: PROTOCOL.md), while what the user
sends them still reaches them; and all of it in Portuguese too."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from browserpage import TIMEOUT, Page, alice, page  # noqa: F401 (fixtures)
from chatpeer import TcpPeer
from client.library import ChatClient
from clientkit import WAIT
from protocol import Accepted, Delivered, DirectMessage, Queued
from tools import require_tool
from waits import wait_until

pytestmark = pytest.mark.timeout_seconds(120)
PASSWORD = "correct horse"
SHOTS = Path("/tmp/s20")


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


@pytest.fixture
def terminal(page: Page) -> Iterator[ChatClient]:  # noqa: F811 (the fixture)
    """Bob's registered account, online on a terminal (a library client)."""
    bob = ChatClient("Bob", "127.0.0.1", page.srv.port, password=PASSWORD, register=True)
    try:
        bob.connect(timeout=WAIT)
        yield bob
    finally:
        bob.close()


def log_in_as_bob(page: Page) -> None:  # noqa: F811
    page.js("document.getElementById('login-name').value = 'Bob';"
            f"document.getElementById('login-password').value = {json.dumps(PASSWORD)};")
    page.focus("#login-password")
    page.enter()
    page.wait_for("document.body.dataset.view === 'chat' && document.getElementById('me').textContent === 'Bob'"
                  " && document.getElementById('connection').dataset.status === 'online'")


def row(key: str) -> str:
    return f"document.querySelector('button.contact[data-key={json.dumps(key)}]')"


def header() -> str:
    return "document.getElementById('conversation-presence').textContent"


def button() -> str:
    return "document.getElementById('block-toggle')"


def notices(page: Page) -> list[str]:  # noqa: F811
    return page.js("[...document.querySelectorAll('#messages .notice-text')].map(n => n.textContent)")


def test_the_page_marks_whom_the_user_blocks_and_blocks_and_unblocks_from_the_header(
        page: Page, alice: TcpPeer, terminal: ChatClient) -> None:  # noqa: F811
    mallory = ChatClient("Mallory", "127.0.0.1", page.srv.port)
    mallory.connect(timeout=WAIT)
    mallory.close()  # logged in once: her name as registered
    terminal.block("mallory", timeout=WAIT)  # on Bob's other device, before the page
    alice.login("Alice")
    log_in_as_bob(page)
    page.wait_for(f"{row('@mallory')}?.classList.contains('blocked')")
    # Her presence is not known until her name is looked up (test_web_lookup.py): the block alone.
    assert page.js(f"{row('@mallory')}.querySelector('.contact-presence').textContent") == "blocked"
    assert not page.js(f"{row('@alice')}.classList.contains('blocked')")
    assert page.js(f"{button()}.hidden")  # "Everyone" is open: nobody to block

    page.open_conversation("Mallory")
    page.wait_for(f"!{button()}.hidden && {button()}.textContent === 'Unblock'")
    # "Offline" once the page's lookup of her name answers (test_web_lookup.py).
    page.wait_for(f"{header()} === 'Offline · blocked: their messages do not reach you'")
    assert page.js(f"{row('@mallory')}.querySelector('.contact-presence').textContent") == "offline · blocked"
    page.js(f"{button()}.click()")
    page.wait_for(f"{button()}.textContent === 'Block' && {button()}.getAttribute('aria-disabled') === 'false'")
    assert notices(page)[-1] == "You unblocked Mallory: their new messages reach you again"
    assert page.js(header()) == "Offline"
    assert terminal.blocked(timeout=WAIT) == []  # the server's list, for every device

    # Alice, blocked here: her message never shows; what Bob sends her still reaches her.
    page.open_conversation("Alice")
    page.js(f"{button()}.click()")
    page.wait_for(f"{button()}.textContent === 'Unblock' && {row('@alice')}.classList.contains('blocked')")
    assert notices(page)[-1] == "You blocked Alice: their messages no longer reach you (yours still reach them)"
    assert terminal.blocked(timeout=WAIT) == ["Alice"]
    request = alice.send_dm("Bob", "you cannot see this")
    alice.expect(Accepted, TIMEOUT, where=lambda e: e.request_id == request)  # as for anyone: she is not told
    page.focus("#composer-input")
    page.type("I still write to you")
    page.enter()
    dm = alice.expect(DirectMessage, TIMEOUT)
    assert dm.text == "I still write to you"
    alice.receipt(dm.msg_id)
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'delivered'")
    assert "you cannot see this" not in page.js("document.getElementById('chat-view').textContent")
    assert page.js(header()) == "Online · blocked: their messages do not reach you"
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshot: {page.screenshot(SHOTS / 'web-blocks.png')}")
    with pytest.raises(TimeoutError):  # never delivered, and never said to be
        alice.expect((Delivered, Queued), 0.5, where=lambda e: e.request_id == request)

    # A reload: the page asks again, and the mark is there.
    page.cdp.send("Page.reload")
    page.wait_for("document.readyState === 'complete' && document.body.dataset.view === 'chat'"
                  " && document.getElementById('connection').dataset.status === 'online'"
                  f" && {row('@alice')}?.classList.contains('blocked')", timeout=TIMEOUT * 2)
    assert not page.js(f"{row('@mallory')}?.classList.contains('blocked') || false")

    # In Portuguese.
    page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'pt_BR';"
            " s.dispatchEvent(new Event('change')); })()")
    page.wait_for("document.documentElement.lang === 'pt-BR'")
    page.open_conversation("Alice")
    page.wait_for(f"{button()}.textContent === 'Desbloquear'")
    assert page.js(f"{row('@alice')}.querySelector('.contact-presence').textContent") == "online · bloqueado"
    # A person's presence is "online" in Portuguese too (no gender); "Conectado" is the page's own connection.
    assert page.js(header()) == "Online · bloqueado: as mensagens dessa pessoa não chegam até você"
    print(f"screenshot: {page.screenshot(SHOTS / 'web-blocks-pt.png')}")
    assert page.problems() == []


def test_the_pages_block_list_follows_its_pages_and_never_guesses_an_outcome(page: Page) -> None:  # noqa: F811
    """The page's core, without a server: the list comes in pages and replaces what the page
    thought only once the last is in; an older server (unknown_type) gets no button; a
    refusal keeps the mark and says why; an answer that may have been done, and a
    connection lost before the answer, say "not confirmed" and (online) ask for the list."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      const sent = receiveFrame(chat, {type: "welcome", id: "x", name: "Me", version: 1, server: "s",
                                       heartbeat: 15}).send;
      const ask = sent.find((f) => f.type === "blocks");
      const r = {ask, noneYet: [chat.blocked, mayBlock(chat, "@zed")]};
      r.next = receiveFrame(chat, {type: "blocking", id: ask.id, blocked: ["Ann", "ME"], next: "Ann"}).send;
      r.between = chat.blocked;
      receiveFrame(chat, {type: "blocking", id: r.next[0].id, blocked: ["zed"]});
      r.listed = [...chat.blocked.entries()];
      r.contacts = sortedContacts(chat).map((e) => e.name);
      const block = blockFrame(chat, "@ann");  // Ann is blocked: this unblocks her
      r.frame = block;
      r.again = blockFrame(chat, "@ann");  // one at a time
      receiveFrame(chat, {type: "error", id: block.id, code: "rate_limited", message: "slow", retry_after: 1});
      r.refused = [isBlocked(chat, "@ann"), chat.conversations.get("@ann").items.at(-1).text];
      const maybe = blockFrame(chat, "@ann");
      r.unsure = receiveFrame(chat, {type: "error", id: maybe.id, code: "unavailable", message: "?",
                                     retry_after: 1, uncertain: true}).send;
      r.unsureText = chat.conversations.get("@ann").items.at(-1).text;
      const lost = blockFrame(chat, "@zed");
      connectionLost(chat);
      r.lost = [isBlocked(chat, "@zed"), chat.blocking.size, chat.conversations.get("@zed").items.at(-1).text];
      const old = createChat(() => `o-${++n}`);
      const oldAsk = receiveFrame(old, {type: "welcome", id: "y", name: "Me", version: 1, server: "s",
                                        heartbeat: 15}).send.find((f) => f.type === "blocks");
      receiveFrame(old, {type: "error", id: oldAsk.id, code: "unknown_type", message: "unknown type"});
      r.old = [old.blocked, mayBlock(old, "@ann"), (old.conversations.get(ROOM) || {items: []}).items.length];
      return r;
    })()""")
    assert result["ask"] == {"type": "blocks", "id": result["ask"]["id"]}
    assert result["noneYet"] == [None, False]
    assert result["next"] == [{"type": "blocks", "id": result["next"][0]["id"], "after": "Ann"}]
    assert result["between"] is None  # nothing decided before the last page
    assert result["listed"] == [["@ann", "Ann"], ["@zed", "zed"]]  # never ourselves
    assert result["contacts"] == ["Ann", "zed"]  # listed, to be seen and unblocked
    assert result["frame"] == {"type": "unblock", "id": result["frame"]["id"], "name": "Ann"}
    assert result["again"] is None
    assert result["refused"][0] is True and result["refused"][1].startswith("Ann was not unblocked: ")
    assert [f["type"] for f in result["unsure"]] == ["blocks"]
    assert result["unsureText"].startswith("Unblocking Ann is not confirmed: ")
    assert result["lost"] == [True, 0, "Unblocking zed is not confirmed: the connection ended"]
    assert result["old"] == [None, False, 0]  # an older server: no button, nothing said
    assert page.problems() == []


def test_a_message_to_someone_who_blocks_us_is_never_promised_delivery(page: Page, alice: TcpPeer) -> None:  # noqa: F811
    """Alice blocks Bob and goes offline: Bob's message is answered ``queued`` as to anyone
    offline (the server does not tell him: PROTOCOL.md, "Blocking") and is never delivered,
    so the page says only what the server said, that she is offline."""
    from protocol import Block, Done
    alice.login("Alice")
    alice.send(Block("b", "Bob"))
    alice.expect(Done, TIMEOUT)
    alice.close()
    srv = page.srv  # offline on the server before Bob writes, not only closed here
    wait_until(lambda: not srv.call(srv.server.relay.registry.sessions_by_key, "alice"), TIMEOUT, "Alice offline")
    page.log_in("Bob")
    page.js("document.getElementById('new-chat-name').value = 'Alice';"
            "document.getElementById('new-chat').requestSubmit()")
    page.wait_for("document.getElementById('conversation-title').textContent === 'Alice'")
    page.focus("#composer-input")
    page.type("are you there?")
    page.enter()
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'queued'")
    status = page.js("document.querySelector('#messages .msg-out .msg-status').textContent")
    assert status == "Queued: they are offline"
    assert "deliver" not in status.lower()


def test_a_block_made_on_another_device_marks_the_open_page_at_once(page: Page) -> None:  # noqa: F811
    """The page's core, without a server: it asks for the feature blocks, and a ``blocked``
    or ``unblocked`` (no id: another device of ours) moves the mark and the list at once;
    before the server's list came, nothing (that list will say)."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      const r = {features: helloFrame(chat, "Me").features};
      const ask = receiveFrame(chat, {type: "welcome", id: "x", name: "Me", version: 1, server: "s",
                                      heartbeat: 15}).send.find((f) => f.type === "blocks");
      receiveFrame(chat, {type: "blocked", name: "Early"});
      r.early = chat.blocked;
      receiveFrame(chat, {type: "blocking", id: ask.id, blocked: []});
      r.sent = receiveFrame(chat, {type: "blocked", name: "Ann"}).send;
      r.blocked = [isBlocked(chat, "@ann"), mayBlock(chat, "@ann"), sortedContacts(chat).map((e) => e.name)];
      receiveFrame(chat, {type: "blocked", name: "me"});  // never ourselves
      receiveFrame(chat, {type: "unblocked", name: "ANN"});
      r.unblocked = [isBlocked(chat, "@ann"), [...chat.blocked.keys()]];
      return r;
    })()""")
    assert "blocks" in result["features"]
    assert result["early"] is None
    assert result["sent"] == []  # needs no answer
    assert result["blocked"] == [True, True, ["Ann"]]  # marked, offered as Unblock, listed
    assert result["unblocked"] == [False, []]
    assert page.problems() == []


def test_a_blocked_name_awaiting_its_lookup_is_blocked_and_nothing_more(
        page: Page, terminal: ChatClient) -> None:  # noqa: F811
    """While the page's lookup of a name it blocks is awaited (test_web_lookup.py), the
    header says the block, and no presence: not "Offline", nor a bare " · blocked"."""
    mallory = ChatClient("Mallory", "127.0.0.1", page.srv.port)
    mallory.connect(timeout=WAIT)
    mallory.close()
    terminal.block("mallory", timeout=WAIT)
    log_in_as_bob(page)
    page.wait_for(f"{row('@mallory')}?.classList.contains('blocked')")
    release = threading.Event()
    held = threading.Thread(target=page.srv.call, args=(lambda: release.wait(10),), daemon=True)
    held.start()  # the server answers nothing meanwhile
    try:
        page.open_conversation("Mallory")
        assert page.js(header()) == "Blocked: their messages do not reach you"
    finally:
        release.set()
        held.join(15)
    page.wait_for(f"{header()} === 'Offline · blocked: their messages do not reach you'")
    assert page.problems() == []

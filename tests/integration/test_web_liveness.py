"""The page notices a dead connection, as the terminal and the window do (client/core.py,
PROTOCOL.md "Heartbeat"): when nothing at all came from the server for the heartbeat
timeout it says the connection is lost, reconnects (with resume) and sends once what the
server had not acknowledged.

The page talks to the server through a small TCP forwarder that the test can freeze: the
connections open then stop passing anything either way and are never closed (a Wi-Fi gone
away, a NAT that forgot the flow, a proxy stopped with ``kill -STOP``), while new ones pass
as usual. The server runs with a short heartbeat, and the page's timeout is shortened the
same way (its ``chat.heartbeatTimeout``, as a shell passes ``heartbeat_timeout`` to
``ClientCore``). Headless Chromium, as test_web_browser.py. Also: the server's own word
that it ended the session for our silence is placed when the silence began.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from browserpage import TIMEOUT, Page, page, page_at  # noqa: F401 (fixture)
from chatpeer import TcpPeer
from client.clock import WAKE_CHECK
from protocol import DirectMessage, Event, Queued, UserLeft
from server import ServerConfig, ServerThread
from server.outbox import WriteBatcher
from server.web import start_web_server, stop_web_server
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)

# The server pings a silent page after 0.3 s and ends its session after 1 s of silence; the
# page gives its connection up after 2 s without anything from the server.
SERVER = {"heartbeat_interval": 0.3, "heartbeat_timeout": 1.0}
PAGE_TIMEOUT = 2.0


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


class FreezableProxy:
    """A TCP forwarder from 127.0.0.1:``port`` (chosen) to 127.0.0.1:``target``, on its own
    event loop in a thread. :meth:`freeze` turns the links open now into black holes."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="freezable-proxy", daemon=True)
        self.links: list[dict] = []
        self.tasks: set[asyncio.Task] = set()
        self.thread.start()
        self.server = self._call(asyncio.start_server(self._link, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT)

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        link = {"frozen": False, "writers": (writer, up_writer)}
        self.links.append(link)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst, link))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, link: dict) -> None:
        with contextlib.suppress(ConnectionError):  # a side reset: the link ends
            while True:
                data = await src.read(65536)
                if link["frozen"]:
                    await asyncio.Event().wait()  # nothing passes, nothing closes: until the proxy stops
                if not data:
                    break
                dst.write(data)
                await dst.drain()
        dst.close()

    def freeze(self) -> int:
        """Freeze every link open now; returns how many."""
        async def freeze() -> int:
            for link in self.links:
                link["frozen"] = True
            return len(self.links)
        return self._call(freeze())

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            for task in list(self.tasks):
                task.cancel()
            for link in self.links:
                for writer in link["writers"]:
                    writer.close()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        try:
            self._call(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(TIMEOUT)
            self.loop.close()


@contextlib.contextmanager
def page_through_proxy(tmp_path: Path, config: ServerConfig) -> Iterator[tuple[Page, FreezableProxy]]:
    """The page loaded in Chromium through a FreezableProxy to the server's web gateway."""
    with ServerThread(config) as srv:
        async def start():
            return await start_web_server(srv.server.relay, "127.0.0.1", 0,
                                          batcher=WriteBatcher(asyncio.get_running_loop()))
        web = srv.run(start())
        proxy = FreezableProxy(web.sockets[0].getsockname()[1])
        try:
            with page_at(tmp_path, f"http://127.0.0.1:{proxy.port}/", srv, web) as page:
                yield page, proxy
        finally:
            proxy.close()
            srv.run(stop_web_server(web))


# Every state the connection pill takes, with its words, in order (a reconnection can be
# quicker than a poll).
WATCH_STATUS = ("window.statuses = []; { const pill = document.getElementById('connection');"
                " new MutationObserver(() => window.statuses.push(pill.dataset.status + '|' + pill.textContent))"
                ".observe(pill, {attributes: true, childList: true, characterData: true, subtree: true}); }")


def shorten_timeout(page: Page, ping_after: float | None = None) -> None:
    """The page's heartbeat timeout (and ping interval) as a test's: the knobs of its core."""
    page.js(f"shell.chat.heartbeatTimeout = {PAGE_TIMEOUT};"
            + (f" shell.chat.pingAfter = {ping_after};" if ping_after is not None else "")
            + " if (typeof watchLiveness === 'function') watchLiveness()")  # rearmed (none: a page without liveness)


@contextlib.contextmanager
def answering(alice: TcpPeer) -> Iterator[None]:
    """Alice reads (answering the server's pings, keeping the rest) on a thread while the
    test drives the page with several browser calls in a row, any of which may be slow on a
    busy machine; she must not be used otherwise meanwhile."""
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                alice.expect(Event, 0.05, where=lambda event: False)

    reader = threading.Thread(target=read, name="alice-reads", daemon=True)
    reader.start()
    try:
        yield
    finally:
        done.set()
        reader.join(TIMEOUT)
        assert not reader.is_alive(), "Alice's reader did not stop"


def wait_with(page: Page, alice: TcpPeer, expression: str, timeout: float = TIMEOUT) -> None:
    """page.wait_for, while Alice answers the server's pings (with this short heartbeat a
    peer that reads nothing for a second is dropped)."""
    with answering(alice):
        page.wait_for(expression, timeout)


def test_the_page_gives_up_a_silent_connection_reconnects_and_sends_its_message_once(tmp_path: Path) -> None:
    """Report t1 #2: it said "Online" and "Sending…" for minutes after the server had ended
    the session."""
    config = ServerConfig(host="127.0.0.1", port=0, **SERVER)
    with page_through_proxy(tmp_path, config) as (page, proxy):
        alice = TcpPeer("127.0.0.1", page.srv.port)
        try:
            page.log_in("Bob")
            shorten_timeout(page)
            alice.login("Alice")
            with answering(alice):
                page.wait_for("!!document.querySelector('button.contact[data-key=\"@alice\"]')")
                page.focus('button.contact[data-key="@alice"]')
                page.enter()
                page.wait_for("document.getElementById('conversation-title').textContent === 'Alice'")
                page.js(WATCH_STATUS)
                assert proxy.freeze() >= 1
                page.type("written into the dead connection")
                page.enter()
                page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'sending'")

            # The server ends Bob's session (Alice is told the truth: queued, Bob offline) ...
            request_id = alice.send_dm("Bob", "while you were cut off")
            alice.expect(Queued, TIMEOUT, where=lambda event: event.request_id == request_id)
            # ... and the page says its connection is lost, no longer "Online".
            wait_with(page, alice, "window.statuses.some((s) => s.startsWith('reconnecting|')"
                      " && s.includes('No data from the server for'))")

            # Back through a new connection: the message goes once, Alice's comes once.
            wait_with(page, alice, "document.getElementById('connection').dataset.status === 'online'")
            dm = alice.expect(DirectMessage, TIMEOUT)
            assert (dm.sender, dm.text) == ("Bob", "written into the dead connection")
            wait_with(page, alice, f"document.querySelector('#messages .msg-out')?.dataset.msgId === '{dm.msg_id}'")
            wait_with(page, alice, "[...document.querySelectorAll('#messages .msg-in .msg-text')]"
                      ".some((e) => e.textContent === 'while you were cut off')")
            texts = page.js("[...document.querySelectorAll('#messages .msg .msg-text')].map((e) => e.textContent)")
            assert sorted(texts) == ["while you were cut off", "written into the dead connection"], texts
            with pytest.raises(TimeoutError):
                alice.expect(DirectMessage, 1.0)  # not twice
            assert page.problems() == []
        finally:
            alice.close()


def test_the_page_pings_a_quiet_server_and_keeps_a_live_connection(tmp_path: Path) -> None:
    """A live connection is not given up, however long nothing happens: the page pings a
    server that said nothing for the ping interval, and its answer keeps the connection.
    (The server pings only a client that is silent: one that keeps writing hears nothing
    unless it asks.) Here the server would ping after 30 s: the page must ask itself."""
    config = ServerConfig(host="127.0.0.1", port=0, heartbeat_interval=30.0, heartbeat_timeout=60.0)
    with page_through_proxy(tmp_path, config) as (page, _proxy):
        page.log_in("Bob")
        page.js("window.pongs = 0; HANDLERS.pong = () => { window.pongs += 1; }")
        page.js(WATCH_STATUS)
        shorten_timeout(page, ping_after=0.3)
        page.wait_for("window.pongs >= 10", 3 * PAGE_TIMEOUT + TIMEOUT)  # well past the timeout
        statuses = page.js("window.statuses")
        assert all(status.startswith("online|") for status in statuses), statuses  # never lost
        assert page.js("shell.attempts") == 0
        assert page.problems() == [], json.dumps(page.problems())


def test_a_session_ended_for_silence_is_told_before_what_the_reconnection_brings(page: Page) -> None:
    """The server's "heartbeat_timeout" (it heard nothing from us for its timeout, the
    page's too) is placed when the silence began: the messages sent meanwhile, which the
    reconnection brings, come after it, also once a history page that adds an older one
    puts them all in order by when they happened (report t1 #7)."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      const welcome = (id) => ({type: "welcome", id, name: "Bob", version: 1, server: "s", heartbeat: 15});
      receiveFrame(chat, welcome("w1"));
      const key = startConversation(chat, "Alice");
      openConversation(chat, key);
      const now = nowSeconds();
      const older = {msg_id: 4, from: "Alice", to: "Bob", text: "long before", sent_at: now - 200};
      const before = {msg_id: 5, from: "Alice", to: "Bob", text: "before the cut", sent_at: now - 100};
      const during = {msg_id: 6, from: "Alice", to: "Bob", text: "during the cut", sent_at: now - 20};
      receiveFrame(chat, {type: "dm", ...before});
      receiveFrame(chat, {type: "error", code: "heartbeat_timeout",
                          message: "closing: no data received from this client for too long"});
      connectionLost(chat);
      const history = receiveFrame(chat, welcome("w2")).send.find((f) => f.type === "history");
      receiveFrame(chat, {type: "dm", ...during});
      receiveFrame(chat, {type: "history_page", id: history.id,
                          messages: [older, before, during].map((m) => ({...m, state: "delivered"}))});
      return chat.conversations.get(key).items.map((i) => i.kind === "notice" ? i.kind : i.text);
    })()""")
    assert result == ["long before", "before the cut", "notice", "during the cut"]


def test_a_page_that_slept_and_woke_on_another_network_reconnects_at_once(tmp_path: Path) -> None:
    """A laptop closed mid-conversation, opened an hour later on another Wi-Fi: its
    performance.now() stood still (Chrome on Linux and macOS), the wall clock moved on an
    hour, and the old connection is dead without a close. The page must see the sleep
    within client/clock.py's WAKE_CHECK (its timers run on the clock that stood still),
    not when its ping timer fires, and come back by itself."""
    config = ServerConfig(host="127.0.0.1", port=0, **SERVER)
    with page_through_proxy(tmp_path, config) as (page, proxy):
        page.log_in("Bob")
        # Its own liveness far longer than the test's bound: only the sleep ends the link in time.
        page.js("shell.chat.heartbeatTimeout = 45; shell.chat.pingAfter = 30; watchLiveness()")
        page.js(WATCH_STATUS)
        assert proxy.freeze() >= 1
        page.js("(() => { const wall = Date.now.bind(Date); Date.now = () => wall() + 3600000; return true; })()")
        woke = time.monotonic()
        page.wait_for("window.statuses.some((s) => s.startsWith('reconnecting|')"
                      " && s.includes('No data from the server for'))", WAKE_CHECK + 3.0)
        assert time.monotonic() - woke < WAKE_CHECK + 2.0
        page.wait_for("document.getElementById('connection').dataset.status === 'online'")
        assert page.problems() == []


def test_a_frame_that_came_before_the_sleep_and_is_taken_after_it_does_not_hide_the_sleep(page: Page) -> None:
    """A frame waits for the next animation frame before it is taken (frameCame). One that
    came just before the lid closed is taken after waking: the connection lived when it
    came, not when it is taken, or the page takes the whole sleep for news and watches a
    dead connection for another heartbeat timeout (CI, once in two: the server's ping)."""
    page.log_in("Bob")
    assert page.js("document.visibilityState") == "visible"  # else frames are taken at once
    lost = page.js("""(() => {
      shell.chat.heartbeatTimeout = 45;
      cancelAnimationFrame(shell.waitFrame);
      clearTimeout(shell.waitTimer);
      frameCame(shell.socket, {type: "pong", token: "before the sleep"}, monotonicSeconds());
      const wall = Date.now.bind(Date);
      Date.now = () => wall() + 3600000;  // an hour asleep: performance.now() stood still
      takeWaiting();
      return liveness(shell.chat, monotonicSeconds()).lost;
    })()""")
    assert lost is True


def test_a_tab_frozen_past_the_servers_timeout_comes_back_by_itself(tmp_path: Path) -> None:
    """A tab the browser froze (Page.setWebLifecycleState: no script, no timer runs) for
    longer than the server's timeout, while Alice wrote to Bob: once resumed, the page
    reconnects by itself, shows each of her messages once and in order, and counts them
    unread once."""
    config = ServerConfig(host="127.0.0.1", port=0, **SERVER)
    with page_through_proxy(tmp_path, config) as (page, _proxy):
        alice = TcpPeer("127.0.0.1", page.srv.port)
        try:
            page.log_in("Bob")
            alice.login("Alice")
            with answering(alice):
                page.wait_for("!!document.querySelector('button.contact[data-key=\"@alice\"]')")
                page.js(WATCH_STATUS)
                page.cdp.send("Page.setWebLifecycleState", {"state": "frozen"})
            sent = [alice.send_dm("Bob", text) for text in ("primeira", "segunda", "terceira")]
            alice.expect(UserLeft, TIMEOUT, where=lambda event: event.name == "Bob")  # the server gave him up
            page.cdp.send("Page.setWebLifecycleState", {"state": "active"})
            wait_with(page, alice, "window.statuses.some((s) => s.startsWith('reconnecting|'))")
            wait_with(page, alice, "document.getElementById('connection').dataset.status === 'online'")
            wait_with(page, alice, "shell.chat.conversations.get('@alice')?.items.filter("
                      "(i) => i.dir === 'in').length === 3")
            items = page.js("shell.chat.conversations.get('@alice').items.filter((i) => i.dir === 'in')"
                            ".map((i) => i.text)")
            assert items == ["primeira", "segunda", "terceira"], items
            assert page.js("shell.chat.conversations.get('@alice').unread") == 3
            # Chromium logs the freeze's end of the connection itself (the tab "entered
            # Back-Forward Cache"): the browser's words, not the page's.
            problems = [p for p in page.problems() if "Back-Forward Cache" not in p.get("text", "")]
            assert len(sent) == 3 and problems == [], problems
        finally:
            alice.close()


def test_a_reconnection_waiting_out_its_backoff_when_the_lid_closed_tries_again_on_waking(page: Page) -> None:
    """The page was between reconnection attempts (up to 25 s apart) when the laptop slept:
    its timer runs on performance.now(), which stood still, so on waking it waited out the
    rest. It counts the sleep and tries again within WAKE_CHECK."""
    page.log_in("Bob")
    page.js(WATCH_STATUS)
    page.js("shell.attempts = 10; giveUp(); true")  # the next wait is the longest: 15 to 25 s
    page.wait_for("document.getElementById('connection').dataset.status === 'reconnecting'")
    page.js("(() => { const wall = Date.now.bind(Date); Date.now = () => wall() + 3600000; return true; })()")
    woke = time.monotonic()
    page.wait_for("document.getElementById('connection').dataset.status === 'online'", WAKE_CHECK + 3.0)
    assert time.monotonic() - woke < WAKE_CHECK + 2.0
    assert page.problems() == []


def test_sessions_that_end_soon_after_their_login_space_the_pages_next_logins(page: Page) -> None:
    """A server that fails soon after each login: every reconnection began at the first
    wait (0.5 s), and the page logged in twice a second for as long as it failed. After
    short sessions in a row (under STABLE_SESSION, client/core.py's rule), each
    reconnection begins one doubling further on; a session that lasted starts afresh."""
    page.log_in("Bob")
    page.js("shell.flaps = 2; giveUp(); true")  # the third short session in a row ends
    page.wait_for("document.getElementById('connection').dataset.status === 'reconnecting'")
    assert page.js("[shell.flaps, shell.attempts]") == [3, 3]  # waits from 2 s (0.5 x 2 x 2), not 0.5
    page.wait_for("document.getElementById('connection').dataset.status === 'online'", 10.0)
    page.js("shell.openedAt -= 60; giveUp(); true")  # this one lasted a minute
    page.wait_for("document.getElementById('connection').dataset.status === 'reconnecting'")
    assert page.js("[shell.flaps, shell.attempts]") == [0, 1]
    page.wait_for("document.getElementById('connection').dataset.status === 'online'", 10.0)
    assert page.problems() == []

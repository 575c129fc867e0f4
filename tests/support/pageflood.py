"""A busy class room for the web page, for the browser tests and for measuring the page:
:func:`busy_site` (a chat server whose rate limits let bots flood, its web gateway, the page
in Chromium), :class:`Bot` (a terminal user over raw TCP, posting as fast as it can write),
:func:`figures` (the page's heap, DOM nodes, listeners and script time, from DevTools).

Run as a script it measures a whole school day's worth (``python3 tests/support/pageflood.py``,
see ``main``): posts, joins and leaves, direct messages, a message typed during the flood,
and forced reconnections; it prints the figures and leaves screenshots in a directory.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

from browserpage import Page, Site, page_at  # noqa: E402
from server import ServerConfig, ServerThread  # noqa: E402

ROOM = "#turma"
# Limits no bot of this file reaches: the page, not the server's budgets, is measured.
UNLIMITED = dict(rate_per_connection=1e6, burst_per_connection=1e6, rate_per_address=1e6,
                 burst_per_address=1e6, room_posts_per_second=1e6, room_post_burst=1e6,
                 bytes_per_connection=1e9, bytes_burst_per_connection=1e9,
                 read_bytes_per_connection=1e9, read_bytes_burst_per_connection=1 << 30,
                 login_checks_per_second=1e6, login_checks_burst=1e6,
                 # a page busy for minutes (the figure measured) holds the bots' reads back
                 heartbeat_interval=300, heartbeat_timeout=900)
_ids = itertools.count(1)


class Bot:
    """A user over raw TCP (one JSON frame a line) who reads and drops all it is sent, but
    answers pings; ``frames`` (a list of dicts) goes out in one write."""

    def __init__(self, port: int, name: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.name = name
        self.welcomed = threading.Event()
        self.last: list[bytes] = []  # what it was sent last (for a failure's message)
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()
        self.write([{"type": "hello", "id": f"h{next(_ids)}", "name": name, "version": 2}])
        assert self.welcomed.wait(10), f"{name} not welcomed"

    def _drain(self) -> None:
        buffer = b""
        try:
            while True:
                data = self.sock.recv(1 << 20)
                if not data:
                    return
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                self.last = lines[-3:] or self.last
                for line in lines:
                    if b'"welcome"' in line:
                        self.welcomed.set()
                    if line.startswith(b'{"type":"ping"'):
                        frame = json.loads(line)
                        self.write([{"type": "pong", "token": frame.get("token")}])
        except OSError:
            return

    def write(self, frames: list[dict]) -> None:
        try:
            self.sock.sendall(b"".join(json.dumps(f).encode() + b"\n" for f in frames))
        except OSError as error:
            raise OSError(f"{self.name} cut; it was sent last {self.last}") from error

    def post(self, texts: list[str], room: str = ROOM) -> None:
        self.write([{"type": "send", "id": f"p{next(_ids)}", "room": room, "text": t} for t in texts])

    def join(self, room: str = ROOM) -> None:
        self.write([{"type": "join", "id": f"j{next(_ids)}", "room": room}])

    def leave(self, room: str = ROOM) -> None:
        self.write([{"type": "leave", "id": f"l{next(_ids)}", "room": room}])

    def dm(self, to: str, texts: list[str]) -> None:
        self.write([{"type": "send", "id": f"d{next(_ids)}", "to": to, "text": t} for t in texts])

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def busy_site(tmp_path: Path) -> Iterator[tuple[Page, Site]]:
    """The page, loaded from a server whose rate limits are out of the bots' way."""
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, **UNLIMITED)) as srv:
        gateway = Site(srv)
        gateway.start()
        try:
            with page_at(tmp_path, f"http://127.0.0.1:{gateway.port}/", srv) as page:
                page.cdp.send("Performance.enable")
                yield page, gateway
        finally:
            if gateway.web is not None:
                gateway.stop()


def enter_room(page: Page, room: str = ROOM) -> None:
    """The page's user joins ``room`` (which exists) with the form, and has it open."""
    page.js(f"document.getElementById('join-room-name').value = {json.dumps(room)};"
            "document.getElementById('join-room').requestSubmit()")
    page.wait_for(f"document.getElementById('conversation-title').textContent === {json.dumps(room)}")


def figures(page: Page) -> dict:
    """The page's heap (MB, after a collection), DOM nodes, event listeners, and the script
    and task time (s) Chromium counted so far."""
    page.cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in page.cdp.send("Performance.getMetrics")["metrics"]}
    return {"heap_mb": round(metrics["JSHeapUsedSize"] / 1e6, 2), "nodes": int(metrics["Nodes"]),
            "listeners": int(metrics["JSEventListeners"]), "script_s": metrics["ScriptDuration"],
            "task_s": metrics["TaskDuration"], "shown": page.js("document.querySelectorAll('#messages > li').length")}


# From the keypress to the typed message's ack (its state "sent"), in the page's clock,
# looked at every 20 ms by the page's own timer (late when the page is busy: the figure);
# its item is taken as it is sent (later posts may push it out of the list at once).
ACK_WATCH = """(() => {
  const typed = performance.now();
  let item = null;
  document.getElementById('composer').addEventListener('submit', () => {  // after the page's own: the item is there
    item = shell.chat.conversations.get(shell.chat.active).items.find((i) => i.dir === 'out' && i.text === 'durante a enxurrada');
  }, {once: true});
  const timer = setInterval(() => {
    if (item && item.state === 'sent') {
      window.ackMs = performance.now() - typed;
      clearInterval(timer);
    }
  }, 20);
})()"""


def posts_shown(page: Page) -> str:
    return "[...document.querySelectorAll('#messages .msg-text')].map(e => e.textContent)"


def main(out: Path, posts: int = 20_000, churn: int = 2_000, dms: int = 500, reconnects: int = 20) -> None:
    """The whole day: prints figures as it goes; screenshots land in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with busy_site(out) as (page, gateway):
        port = gateway.srv.port
        teacher = Bot(port, "Prof")
        teacher.write([{"type": "join", "id": "c", "room": ROOM, "create": True}])
        time.sleep(0.2)
        page.cdp.timeout = 600  # a page busy for minutes is a figure here, not a failure
        page.log_in("Conceição")
        enter_room(page)
        start = figures(page)
        print("start", start)
        pupils = [Bot(port, f"Aluno{n}") for n in range(30)]
        for bot in pupils:
            bot.join()
        dm_bot = Bot(port, "João")
        began = time.monotonic()
        batches = posts // 100
        for batch in range(batches):
            teacher.post([f"aviso {batch * 100 + n}" for n in range(100)])
            for k in range(churn * (batch + 1) // batches - churn * batch // batches):
                bot = pupils[(batch + k) % len(pupils)]
                bot.leave() if (batch + k) % 2 == 0 else bot.join()
            count = dms * (batch + 1) // batches - dms * batch // batches
            if count:
                dm_bot.dm("Conceição", [f"oi {batch}.{n}" for n in range(count)])
            if batch == batches // 2:  # halfway: the user types and sends; the page notes when it shows "Sent"
                page.js(ACK_WATCH)
                page.focus("#composer-input")
                page.type("durante a enxurrada")
                page.enter()
            time.sleep(0.005)
        page.wait_for(f"{posts_shown(page)}.includes('aviso {posts - 1}')", timeout=600)
        ack_ms = page.wait_for("window.ackMs", timeout=600)
        took = time.monotonic() - began
        after = figures(page)
        print("after flood", after, f"wall {took:.1f} s, typed message's ack {ack_ms:.0f} ms")
        print("script ms per post", round((after["script_s"] - start["script_s"]) * 1000 / posts, 3),
              "task ms per post", round((after["task_s"] - start["task_s"]) * 1000 / posts, 3))
        page.screenshot(out / "after-flood.png")
        page.js("const m = document.getElementById('messages'); m.scrollTop = m.scrollHeight / 2")
        top = page.js("document.getElementById('messages').scrollTop")
        teacher.post([f"mais {n}" for n in range(300)])
        page.wait_for("document.querySelectorAll('#messages .msg-text').length && true")
        time.sleep(1.0)
        print("scrolled up: top before", top, "after 300 more", page.js("document.getElementById('messages').scrollTop"),
              "first shown", page.js("document.querySelector('#messages .msg-text').textContent"))
        page.screenshot(out / "scrolled-up.png")
        before = figures(page)
        for n in range(reconnects):
            gateway.stop()
            page.wait_for("document.getElementById('connection').dataset.status !== 'online'", timeout=30)
            gateway.start()
            page.wait_for("document.getElementById('connection').dataset.status === 'online'", timeout=60)
        time.sleep(1)
        end = figures(page)
        print("before reconnects", before)
        print("after", reconnects, "reconnects", end)
        page.screenshot(out / "after-reconnects.png")
        print("problems", page.problems()[:3])
        for bot in [teacher, dm_bot, *pupils]:
            bot.close()


if __name__ == "__main__":
    import logging
    logging.basicConfig(level=logging.INFO, filename="/tmp/s25/pagebig-server.log")
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/s25/pagebig-shots"),
         *(int(a) for a in sys.argv[2:]))

"""The chat page in headless Chromium, for the browser tests: :class:`Page` (the gestures
the tests need), :class:`Site` (a server's web gateway, stopped and started again), ``open_page`` (a chat server with its web gateway in a thread, the page
loaded from it; all stopped at the end) and the fixtures ``page`` (a fresh server, default
settings) and ``alice`` (a terminal user on that server, ``chatpeer.TcpPeer``).
Callers check for the ``chromium`` binary first (tools.require_tool).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp import CDP, Chromium
from chatpeer import TcpPeer
from noonzone import iana_zone_at_noon
from server import ServerConfig, ServerThread
from server.outbox import WriteBatcher
from server.web import start_web_server, stop_web_server

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0
DESKTOP = {"width": 1100, "height": 700, "deviceScaleFactor": 1, "mobile": False}
PHONE = {"width": 390, "height": 760, "deviceScaleFactor": 2, "mobile": True}


class Page:
    """The chat page in Chromium, with the few gestures the tests need."""

    def __init__(self, cdp: CDP, url: str, srv: ServerThread, web: asyncio.base_events.Server | None = None) -> None:
        self.cdp = cdp
        self.url = url
        self.srv = srv
        self.web = web  # the web gateway's listener, when open_page started it

    def js(self, expression: str):
        return self.cdp.evaluate(expression)

    def wait_for(self, expression: str, timeout: float = TIMEOUT):
        return self.cdp.wait_for(expression, timeout)

    def live_at_noon(self) -> str:
        """Puts the page in the zone where it is now about noon (noonzone.py), and returns
        its name: for a test that reads day labels or "online since"."""
        zone = iana_zone_at_noon()
        self.cdp.send("Emulation.setTimezoneOverride", {"timezoneId": zone})
        return zone

    def focus(self, selector: str) -> None:
        assert self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
                       f" if (!e) return false; e.focus(); return document.activeElement === e; }})()"), selector

    def type(self, text: str) -> None:
        """Type into the focused element, as an input method would."""
        self.cdp.send("Input.insertText", {"text": text})

    def press(self, key: str, code: int) -> None:
        base = {"key": key, "code": key, "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code}
        text = {"Enter": "\r"}.get(key)
        self.cdp.send("Input.dispatchKeyEvent", {"type": "keyDown", **base, **({"text": text} if text else {})})
        self.cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", **base})

    def enter(self) -> None:
        self.press("Enter", 13)

    def tap(self, selector: str) -> str | None:
        """Press and release the mouse at the centre of what ``selector`` is drawn as, as a
        finger or a click would (not ``element.click()``, which reaches a control that is not
        drawn or is covered); returns the id of what was under that point."""
        x, y, hit = self.js(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                            ".getBoundingClientRect(); const x = r.left + r.width / 2, y = r.top + r.height / 2;"
                            " const e = document.elementFromPoint(x, y); return [x, y, e ? e.id : null]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.cdp.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1})
        return hit

    def log_in(self, name: str) -> None:
        # The form takes a login (a guest's Log out may still wait for its revoke's answer: LOGOUT_WAIT).
        self.wait_for("!document.getElementById('login-submit').disabled")
        self.focus("#login-name")
        self.js("document.getElementById('login-name').value = ''")
        self.type(name)
        self.enter()
        self.wait_for(f"document.body.dataset.view === 'chat' && "
                      f"document.getElementById('me').textContent === {json.dumps(name)} && "
                      f"document.getElementById('connection').dataset.status === 'online'")

    def open_conversation(self, name: str) -> None:
        """Choose a contact with the keyboard: focus its button, press Enter."""
        selector = f'button.contact[data-key="@{name.lower()}"]'
        self.wait_for(f"!!document.querySelector({json.dumps(selector)})")
        self.focus(selector)
        self.enter()
        self.wait_for(f"document.getElementById('conversation-title').textContent === {json.dumps(name)}"
                      " && document.activeElement.id === 'composer-input'")

    def screenshot(self, path: Path) -> Path:
        data = self.cdp.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def problems(self) -> list[dict]:
        """JavaScript exceptions, console errors and CSP violations seen so far."""
        self.cdp.pump(0.1)
        bad = []
        for event in self.cdp.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                bad.append(params)
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                bad.append(params["entry"])
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                bad.append(params)
        return bad

    def dialogs(self) -> list[dict]:
        self.cdp.pump(0.1)
        return [e for e in self.cdp.events if e["method"] == "Page.javascriptDialogOpening"]


class Site:
    """A chat server with its web gateway, which can be stopped and started again."""

    def __init__(self, srv: ServerThread) -> None:
        self.srv = srv
        self.web = None
        self.port = 0

    def start(self) -> None:
        async def start():
            batcher = WriteBatcher(asyncio.get_running_loop())
            return await start_web_server(self.srv.server.relay, "127.0.0.1", self.port, batcher=batcher)
        self.web = self.srv.run(start())
        self.port = self.web.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Stop listening, and cut the web users' chat sessions (as a server going away)."""
        self.srv.run(stop_web_server(self.web))
        self.web = None

        def cut() -> None:
            for session in list(self.srv.server.relay.sessions):
                if type(session).__name__ == "WebSession":
                    session.abort("the test stops the web server")

        self.srv.call(cut)


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    """The page loaded in Chromium from a fresh chat server + gateway."""
    with open_page(tmp_path, ServerConfig(host="127.0.0.1", port=0)) as loaded:
        yield loaded


@contextlib.contextmanager
def page_at(tmp_path: Path, url: str, srv: ServerThread, web: asyncio.base_events.Server | None = None
            ) -> Iterator[Page]:
    """The page at ``url`` (served by ``srv``'s gateway ``web``, or another server) loaded in
    a new Chromium whose profile is under ``tmp_path``, at the desktop's size, once its
    login form has the focus."""
    with Chromium(tmp_path / "profile") as browser:
        cdp = browser.page()
        try:
            for domain in ("Page", "Runtime", "Log"):
                cdp.send(f"{domain}.enable")
            cdp.send("Emulation.setDeviceMetricsOverride", DESKTOP)
            cdp.send("Page.navigate", {"url": url})
            cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
            page = Page(cdp, url, srv, web)
            page.wait_for("document.activeElement && document.activeElement.id === 'login-name'")
            yield page
        finally:
            cdp.close()


@contextlib.contextmanager
def open_page(tmp_path: Path, config: ServerConfig) -> Iterator[Page]:
    """The page loaded in Chromium from a chat server with ``config`` and its gateway."""
    with ServerThread(config) as srv:
        async def start():
            batcher = WriteBatcher(asyncio.get_running_loop())
            return await start_web_server(srv.server.relay, "127.0.0.1", 0, batcher=batcher)
        web = srv.run(start())
        try:
            url = f"http://127.0.0.1:{web.sockets[0].getsockname()[1]}/"
            with page_at(tmp_path, url, srv, web) as page:
                yield page
        finally:
            srv.run(stop_web_server(web))


@pytest.fixture
def alice(page: Page) -> Iterator[TcpPeer]:
    peer = TcpPeer("127.0.0.1", page.srv.port)
    try:
        yield peer
    finally:
        peer.close()

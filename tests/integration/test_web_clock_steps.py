"""The page when the browser's clock steps (the computer's clock set or corrected, a
laptop woken with its clock an hour off), in headless Chromium: waits and deadlines run on
a clock that never steps (performance.now), so "typing…" still goes by itself and a live
connection is not given up; times are shown in the viewer's time zone (CDP's timezone
override). Skipped without ``chromium`` (failed under CI)."""

from __future__ import annotations

import time

import pytest

import const
from protocol import Accepted, SendDirect, Typing
from test_web_after_delivered import NOTICES, peer
from test_web_browser import Page, page  # noqa: F401  (page: fixture)
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


def step_browser_clock(page: Page, seconds: float) -> None:
    """Date.now() ``seconds`` off from now on (what the page reads the clock by), as after a
    step of the clock."""
    page.js(f"(() => {{ const wall = Date.now.bind(Date); const step = {seconds * 1000!r};"
            " Date.now = () => wall() + step; return true; })()")


def test_typing_goes_by_itself_though_the_browsers_clock_steps_back(page: Page) -> None:  # noqa: F811
    page.log_in("Bob")
    with peer(page, "Alice") as alice:
        alice.send(SendDirect("a1", "Bob", "Oi Bob"))
        alice.expect(Accepted, skip=NOTICES)
        page.open_conversation("Alice")
        alice.send(Typing("Bob"))
        page.wait_for("!document.getElementById('typing').hidden")
        step_browser_clock(page, -3600.0)  # an hour back: "typing…" stayed an hour
        page.wait_for("document.getElementById('typing').hidden", const.TYPING_EXPIRES + 5)


def test_a_live_connection_is_kept_though_the_browsers_clock_steps_forward(page: Page) -> None:  # noqa: F811
    page.log_in("Bob")
    with peer(page, "Alice") as alice:
        page.js("(() => { window.firstSocket = shell.socket; return true; })()")
        step_browser_clock(page, 3600.0)  # an hour on: "no data from the server for 3600 s"
        alice.send(SendDirect("a1", "Bob", "still there?"))
        alice.expect(Accepted, skip=NOTICES)
        page.open_conversation("Alice")
        page.wait_for("[...document.querySelectorAll('#messages .msg-in')].some(e => e.textContent.includes('still there?'))")
        assert page.js("document.getElementById('connection').dataset.status") == "online"
        assert page.js("shell.socket === window.firstSocket")  # the same connection: not given up


def test_times_are_the_viewers_local_time(page: Page) -> None:  # noqa: F811
    at = time.time() - 60
    for zone in ("America/Manaus", "Asia/Tokyo", "Europe/Lisbon"):
        page.cdp.send("Emulation.setTimezoneOverride", {"timezoneId": zone})
        shown = page.js(f"formatTime({at!r})")
        expected = page.js(f"new Date({at * 1000!r}).toLocaleTimeString('en', {{hour: '2-digit', minute: '2-digit',"
                           f" timeZone: {zone!r}}})")
        assert shown == expected, (zone, shown)


def test_our_message_stays_editable_for_the_window_though_the_browsers_clock_steps(page: Page) -> None:  # noqa: F811
    """Edit and Delete are offered for const.EDIT_WINDOW after the server took the message,
    counted on the page's steady clock: an hour on took them away at once, an hour back
    kept them for an hour and a quarter (the server refusing every one)."""
    page.log_in("Bob")
    with peer(page, "Alice"):
        page.js("(() => { startConversation(shell.chat, 'Alice'); return true; })()")
        page.open_conversation("Alice")
        page.focus("#composer-input")
        page.type("Oi Alice")
        page.enter()
        page.wait_for("['sent', 'delivered'].includes(document.querySelector('#messages .msg-out')?.dataset.state)")
        ours = ("changeable(shell.chat, [...shell.chat.conversations.get('@alice').items]"
                ".find((item) => item.dir === 'out'))")
        assert page.js(ours) is True
        step_browser_clock(page, 3600.0)
        assert page.js(ours) is True
        step_browser_clock(page, -7200.0)  # (on the stepped clock: an hour back from the start)
        assert page.js(ours) is True
        page.js(f"(() => {{ const steady = steadySeconds; steadySeconds = () => steady() + {const.EDIT_WINDOW + 1};"
                " return true; })()")
        assert page.js(ours) is False  # the window is over

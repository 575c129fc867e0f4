"""The page when the browser's clock steps (the computer's clock set or corrected, a
laptop woken with its clock an hour off), in headless Chromium: waits and deadlines run on
a clock that never goes back (monotonicSeconds), so "typing…" still goes by itself and a
connection is still watched; times are shown in the viewer's time zone (CDP's timezone
override). Skipped without ``chromium`` (failed under CI)."""

from __future__ import annotations

import calendar
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


def test_the_waits_clock_never_goes_back_and_counts_a_sleep(page: Page) -> None:  # noqa: F811
    """monotonicSeconds, the clock of the page's waits: a step of the wall clock back is not
    followed (performance.now goes on), a move of it forward is (a computer that slept:
    its performance.now stood still, and the server ended the session meanwhile; a step
    forward looks the same, and costs one reconnection)."""
    page.js("(() => { window.wallNow = Date.now.bind(Date); window.perfNow = performance.now.bind(performance);"
            " window.fake = {wall: 0, perf: 0}; Date.now = () => wallNow() + fake.wall;"
            " performance.now = () => perfNow() + fake.perf; return true; })()")
    start = page.js("monotonicSeconds()")
    page.js("(() => { fake.wall -= 3600000; fake.perf += 2000; return true; })()")  # an hour back, 2 s on
    back = page.js("monotonicSeconds()") - start
    assert 2.0 <= back < 3.0, back
    page.js("(() => { fake.wall += 600000; return true; })()")  # slept ten minutes
    slept = page.js("monotonicSeconds()") - start
    assert 600.0 <= slept < 605.0, slept


def test_a_connection_is_still_watched_though_the_browsers_clock_steps_back(page: Page) -> None:  # noqa: F811
    """An hour back: by the wall clock, the next ping (or the finding that the connection
    died) was an hour and a few seconds away, until something came from the server."""
    page.log_in("Bob")
    step_browser_clock(page, -3600.0)
    now = "(typeof monotonicSeconds === 'function' ? monotonicSeconds() : nowSeconds())"  # (the page before)
    assert page.js(f"livenessDue(shell.chat) - {now}") <= const.HEARTBEAT_TIMEOUT


def test_times_are_the_viewers_local_time(page: Page) -> None:  # noqa: F811
    """A minute ago, in each zone's own time. The page's clock is set to 12:00 UTC, when a
    minute earlier is the same day in every zone here (Manaus 08:00, Tokyo 21:00, Lisbon
    12:00): on the real clock, a zone's midnight fell inside that minute three minutes a day,
    and the page rightly added the date."""
    noon = calendar.timegm((2026, 12, 5, 12, 0, 0))
    step_browser_clock(page, noon - time.time())
    at = noon - 60
    for zone in ("America/Manaus", "Asia/Tokyo", "Europe/Lisbon"):
        page.cdp.send("Emulation.setTimezoneOverride", {"timezoneId": zone})
        shown = page.js(f"formatTime({at!r})")
        expected = page.js(f"new Date({at * 1000!r}).toLocaleTimeString('en', {{hour: '2-digit', minute: '2-digit',"
                           f" timeZone: {zone!r}}})")
        assert shown == expected, (zone, shown)


def test_our_message_stays_editable_for_the_window_though_the_browsers_clock_steps(page: Page) -> None:  # noqa: F811
    """Edit and Delete are offered for const.EDIT_WINDOW after the server took the message,
    counted on the page's clock of waits: a step of the browser's clock an hour back kept
    them for an hour and a quarter (the server refusing every one)."""
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
        step_browser_clock(page, -3600.0)
        assert page.js(ours) is True
        page.js(f"(() => {{ const clock = monotonicSeconds; monotonicSeconds = () => clock() + {const.EDIT_WINDOW + 1};"
                " return true; })()")
        assert page.js(ours) is False  # the window is over

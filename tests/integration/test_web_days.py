"""The page's day separators, in headless Chromium: what came overnight and last week is
under a centred label naming its day ("Yesterday", "Friday, November 27"; in Portuguese
"Ontem", "sexta-feira, 27 de novembro") in the browser's time zone (CDP's timezone
override), and the stamps stay HH:MM. Skipped without ``chromium`` (failed under CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from browserpage import Page, alice, page  # noqa: F401 (fixtures)
from chatpeer import TcpPeer
from test_web_page_portuguese import speak_portuguese
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)

LABELS = "[...document.querySelectorAll('#messages > li.day-break')].map((node) => node.textContent)"
ROWS = "[...document.querySelectorAll('#messages > li')].map((node) => node.className.split(' ')[0])"


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


def came(page: Page, msg_id: int, text: str, at: float) -> None:
    """A dm from João as the server hands it on (an offline delivery keeps when it was sent)."""
    page.js(f"(() => {{ receiveFrame(shell.chat, {{type: 'dm', from: 'João', to: 'Bob', msg_id: {msg_id},"
            f" text: {text!r}, sent_at: {at!r}}}); render(shell.chat); return true; }})()")


def test_the_day_labels_follow_the_viewers_time_zone_and_language(page: Page) -> None:  # noqa: F811
    """Friday 2026-11-27 23:50 UTC is Friday evening in Manaus and Saturday morning in
    Tokyo; across Lisbon's change of the clocks (a day of 25 hours) the day before is still
    "Yesterday" and the one before it named."""
    friday = 1795823400.0
    label = "((at, now) => { const step = now * 1000 - Date.now(); const wall = Date.now.bind(Date);" \
            " Date.now = () => wall() + step; try { return dayLabel(at); } finally { Date.now = wall; } })"
    for zone, at, now, english in (
            ("America/Manaus", friday, friday + 5 * 86400, "Friday, November 27"),
            ("Asia/Tokyo", friday, friday + 5 * 86400, "Saturday, November 28"),
            ("America/Manaus", friday, friday + 2 * 3600, "Today"),  # 21:50 there
            ("America/Manaus", friday, friday + 5 * 3600, "Yesterday"),  # 00:50 on Saturday
            ("America/Manaus", friday, friday + 400 * 86400, "Friday, November 27, 2026"),
            ("Europe/Lisbon", 1792881000.0, 1792881000.0 + 25 * 3600, "Yesterday"),
            ("Europe/Lisbon", 1792881000.0, 1792881000.0 + 25.5 * 3600, "Saturday, October 24")):
        page.cdp.send("Emulation.setTimezoneOverride", {"timezoneId": zone})
        assert page.js(f"{label}({at!r}, {now!r})") == english, (zone, now - at)
    speak_portuguese(page)
    page.cdp.send("Emulation.setTimezoneOverride", {"timezoneId": "America/Manaus"})
    assert page.js(f"{label}({friday!r}, {friday + 5 * 86400!r})") == "sexta-feira, 27 de novembro"
    assert page.js(f"{label}({friday!r}, {friday + 5 * 3600!r})") == "Ontem"


def test_messages_of_other_days_come_under_their_days_label(page: Page, alice: TcpPeer,  # noqa: F811
                                                            tmp_path: Path) -> None:
    """Last week's, last night's and João's "bom dia" (sent through the server, so stamped
    with the real clock) each under their day. The page lives where it is now about noon:
    in São Paulo, his message sometimes came after the midnight that followed the page's
    reading of the clock, and was yesterday's at once."""
    page.live_at_noon()
    page.log_in("Bob")
    noon = page.js("(() => { const d = new Date(); d.setHours(12, 0, 0, 0); return d.getTime() / 1000; })()")
    came(page, 9001, "semana passada", noon - 5 * 86400)
    came(page, 9002, "mais tarde", noon - 5 * 86400 + 3600)
    came(page, 9003, "ontem à noite", noon - 86400 + 11 * 3600)
    alice.login("João")
    alice.send_dm("Bob", "bom dia")  # through the server: now
    page.open_conversation("João")
    page.wait_for("document.querySelectorAll('#messages .msg-in').length === 4")
    labels = page.js(LABELS)
    assert len(labels) == 3 and labels[1:] == ["Yesterday", "Today"], labels
    # Today: "João is online", then his message, never the other way round (the server writes
    # its queued join notices before a frame of the one who joined: server/presence.py).
    assert page.js(ROWS)[:8] == ["day-break", "msg", "msg", "day-break", "msg", "day-break", "notice", "msg"]
    assert page.js("document.querySelector('#messages > li.notice').textContent").startswith("João is online")
    weekday = page.js(f"new Date({(noon - 5 * 86400) * 1000!r}).toLocaleDateString('en', {{weekday: 'long'}})")
    assert labels[0].startswith(weekday + ", "), labels
    stamps = page.js("[...document.querySelectorAll('#messages .msg-time')].map((node) => node.textContent)")
    assert all(len(stamp) == 8 and stamp[2] == ":" for stamp in stamps), stamps  # 01:50 PM: no date
    page.screenshot(tmp_path / "days.png")
    speak_portuguese(page)
    page.wait_for(f"JSON.stringify({LABELS}.slice(1)) === JSON.stringify(['Ontem', 'Hoje'])")
    assert page.problems() == []


def test_a_conversation_of_today_has_no_label_until_midnight_makes_it_yesterdays(page: Page,  # noqa: F811
                                                                                 alice: TcpPeer) -> None:
    """The step is a day of 24 hours, where it is now about noon: in the machine's own zone, a
    day of 23 or 25 hours (or a real midnight during the test) made "Today" or two days."""
    page.live_at_noon()
    page.log_in("Bob")
    alice.login("João")
    alice.send_dm("Bob", "oi")
    page.open_conversation("João")
    page.wait_for("document.querySelectorAll('#messages .msg-in').length === 1")
    assert page.js(LABELS) == []
    # The page left open overnight: a day later its clock says tomorrow, and the next
    # drawing names the day of what it showed.
    page.js("(() => { const wall = Date.now.bind(Date); Date.now = () => wall() + 86400000; return true; })()")
    page.js("(() => { render(shell.chat); return true; })()")
    assert page.js(LABELS) == ["Yesterday"] and page.js(ROWS)[0] == "day-break"

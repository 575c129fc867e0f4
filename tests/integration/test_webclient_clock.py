"""The page's words about time (webclient/lang.js and the others of i18n.extract.page_scripts), run in node with the page's own
functions, the catalogue it loads (webclient/i18n/LANG.json), the time zone set (TZ) and
the browser's clock (Date.now) faked: a clock hours off from the server's says no wait it
cannot know; times are the viewer's local time."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from i18n.extract import page_scripts
from tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("fill", "t", "serverWords", "decimal", "formatDelay", "formatClock", "dayNumber", "formatTime", "nowSeconds",
             "untilText", "explainError", "tn", "formatSpan", "expiredWait", "monotonicSeconds", "serverClockHeard",
             "serverNowSeconds", "onThisClock")


def run_page(expression: str, language: str, clock: float, tz: str, extra: tuple[str, ...] = ()) -> object:
    """``expression``'s value (JSON) in node, with the page's FUNCTIONS (and ``extra``) and
    catalogue for ``language``, Date.now() at ``clock`` (a Unix time) and the time zone ``tz``."""
    node = require_tool("node", "nodejs", why="to run the page's JavaScript")
    source = "\n".join(path.read_text(encoding="utf-8") for path in page_scripts())
    head = source[source.index("const PLURAL_RULES"):source.index("/** ``values`` put into")]
    constants = "\n".join(re.findall(r"^const (?:MAX_TEXT_CHARS|MIN_PASSWORD_LENGTH|EDIT_WINDOW|QUEUE_TTL|EN_START|EN_END|CLOCK) = [^;]+;", source,
                                     flags=re.M))
    constants += "\n" + "\n".join(re.findall(r"^let (?:monotonicLast|serverClock|serverEditWindow) = [^;]+;", source, flags=re.M))
    functions = "".join(re.search(rf"^function {name}\(.*?\) \{{\n.*?^\}}\n", source, re.M | re.S).group(0)
                        for name in FUNCTIONS + extra)
    catalogue = (ROOT / "webclient" / "i18n" / f"{language}.json").read_text(encoding="utf-8")
    script = (f"{head}\n{constants}\n{functions}\nDate.now = () => {clock * 1000!r};\n"
              f"const catalogue = {catalogue};\ni18n.language = {language!r};\n"
              "i18n.messages = catalogue.messages || {}; i18n.errors = catalogue.errors;\n"
              "i18n.untilTexts = catalogue.until_texts || {}; i18n.untilClockless = catalogue.until_clockless || {};\n"
              f"console.log(JSON.stringify({expression}));")
    done = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=20, env={"TZ": tz})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("off", [-2 * 3600.0, 2 * 3600.0])
def test_a_kept_guest_name_says_no_wait_a_browser_clock_hours_off_cannot_know(off: float) -> None:
    until = 1_795_000_000.0  # the hold's end, on the server's clock: 9 min from the server's now
    browser = until - 9 * 60 - off
    call = f"explainError('name_taken', 'kept', 'Otávio', undefined, undefined, undefined, undefined, false, 0, 0, {until})"
    line = run_page(call, "en", browser, "America/Sao_Paulo")
    assert "until" in line and "from now" not in line and "choose another name" in line, line
    line = run_page(call, "pt_BR", browser, "America/Sao_Paulo")
    assert "até" in line and "daqui a" not in line, line


def test_a_kept_guest_name_says_the_wait_and_the_local_time_from_a_right_clock() -> None:
    until = 1_795_000_000.0
    local = {tz: time.strftime("%H:%M", time.gmtime(until + shift)) for tz, shift in
             (("America/Sao_Paulo", -3 * 3600), ("America/Manaus", -4 * 3600), ("Asia/Tokyo", 9 * 3600))}
    call = f"explainError('name_taken', 'kept', 'Otávio', undefined, undefined, undefined, undefined, false, 0, 0, {until})"
    for tz, clock in local.items():
        line = run_page(call, "pt_BR", until - 9 * 60, tz)
        assert f"até {clock} (daqui a 9 min)" in line, (tz, line)


def test_a_time_not_today_is_shown_with_its_date_in_the_viewers_time_zone_and_order() -> None:
    """formatTime (message times, "online since", a mute's end): the viewer's local time,
    across daylight saving; a day other than the viewer's today with its date, day first
    in Portuguese, as the terminal's format_when; today's with the time only."""
    christmas, july = 1798187100.0, 1782907200.0  # 2026-12-25 08:25 UTC; 2026-07-01 12:00 UTC
    for tz, at, now, expected in (("America/Sao_Paulo", christmas, christmas + 2 * 86400, "25/12/2026 05:25"),
                                  ("Asia/Tokyo", christmas, christmas + 2 * 86400, "25/12/2026 17:25"),
                                  ("Europe/Lisbon", july, july + 86400, "01/07/2026 13:00"),
                                  ("Europe/Lisbon", july, july + 60, "13:00"),
                                  ("America/Manaus", christmas, christmas + 60, "04:25")):
        assert run_page(f"formatTime({at})", "pt_BR", now, tz).replace(",", "") == expected, tz


def test_an_expiry_says_the_wait_the_server_says_and_an_older_servers_at_most_a_week() -> None:
    """A server whose operator keeps messages 14 days says so in the expired error
    (``waited``): the page says that, not its own QUEUE_TTL; without it (an older server),
    the page's own measure, at most a week."""
    said = "explainError('expired', 'x', 'Bob', null, null, null, null, false, null, null, null, {measured}, {said})"
    line = run_page(said.format(measured=40 * 86400, said=14 * 86400), "en", time.time(), "America/Sao_Paulo")
    assert line.startswith("it waited 14 days for Bob and expired"), line
    line = run_page(said.format(measured=40 * 86400, said="null"), "en", time.time(), "America/Sao_Paulo")
    assert line.startswith("it waited 7 days for Bob and expired"), line


@pytest.mark.parametrize("off", [-2 * 3600.0, 2 * 3600.0])
def test_a_kept_guest_name_says_its_wait_from_the_time_the_server_said(off: float) -> None:
    """Once the server said its time (a welcome's or a pong's ``now``), the page says the
    wait of a kept name from it, however far the browser's clock is off."""
    until = 1_795_000_000.0
    browser = until - 9 * 60 - off
    call = ("(serverClockHeard((" + repr(until - 9 * 60) + ") * 1000), explainError('name_taken', 'kept', 'Otávio',"
            f" undefined, undefined, undefined, undefined, false, 0, 0, {until}))")
    line = run_page(call, "en", browser, "America/Sao_Paulo")
    assert "(9 min from now)" in line or "(8 min 59 s from now)" in line, line
    # Until when: on the browser's clock, the one its reader sees (São Paulo's, 12 h in English).
    local = time.gmtime(until - off - 3 * 3600)
    assert f"until {(local.tm_hour - 1) % 12 + 1:02d}:{local.tm_min:02d} {'AM' if local.tm_hour < 12 else 'PM'} (" in line, \
        line


@pytest.mark.parametrize(("window", "span", "editable", "not_editable"), [
    (300, "5 min", 4 * 60, 6 * 60),        # a server set to 5 minutes: no Edit at 6
    (3600, "1 h", 50 * 60, 61 * 60),       # set to 60: Edit still at 50
    (30, "30 s", 20, 40),                  # a teacher's demo: not "0.5 minutes"
    ("undefined", "15 min", 14 * 60, 16 * 60),  # an older server's welcome says none: const.EDIT_WINDOW
])
def test_the_page_offers_edit_and_says_too_late_by_the_servers_window(window, span: str, editable: float,
                                                                       not_editable: float) -> None:
    """The welcome's ``edit_window`` (PROTOCOL.md, "welcome"): the page's Edit and its
    ``too_late`` words go by the server's window, not its own constant."""
    server = 1_795_000_000.0
    mine = "{kind: 'message', dir: 'out', msgId: 7, deleted: false, at: %r}"
    call = (f"(serverClockHeard({server * 1000!r}), editWindowHeard({window}), "
            f"[changeable({{status: 'online'}}, {mine % (server - editable)}), "
            f"changeable({{status: 'online'}}, {mine % (server - not_editable)}), explainError('too_late', 'x')])")
    said = run_page(call, "en", server + 7200, "UTC", extra=("editWindowHeard", "changeable"))
    assert said == [True, False, f"a message can be edited or deleted only within {span} of sending it"], said

"""The whole-hour time zone where it is now between 12:00 and 13:00, for the tests that
read day labels ("Today", "Yesterday") or a time that gets its date when it is not today.

On the wall clock, such a test met a local midnight now and then: São Paulo's at 03:00 UTC,
the machine's own, a message stamped before it and drawn after it. In a zone with summer
time, a day of 23 or 25 hours made "a day later" two days or none. In the zone chosen here
it is about noon: half a day either side of the test, with no summer time.

``iana_zone_at_noon`` names it for Chromium (CDP's timezone override), ``living_at_noon``
sets it as this process's ``TZ`` (inherited by the clients a test starts). A unit test
stops ``time.time`` at today's noon instead (``stop_clock_at_noon``) and places its times
by the calendar (``local_time``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator


def hours_ahead_at_noon(now: float | None = None) -> int:
    """Whole hours ahead of UTC (-11 .. +12: all real offsets) where ``now`` is 12:xx."""
    return 12 - time.gmtime(now).tm_hour


def iana_zone_at_noon(now: float | None = None) -> str:
    """Its name in the time zone database: "Etc/GMT-3" is UTC+3 (POSIX's signs)."""
    ahead = hours_ahead_at_noon(now)
    return "Etc/GMT" if ahead == 0 else f"Etc/GMT{-ahead:+d}"


def posix_tz_at_noon(now: float | None = None) -> str:
    """Its ``TZ`` string, which needs no time zone database: "<+03>-3" is UTC+3."""
    ahead = hours_ahead_at_noon(now)
    return f"<{ahead:+03d}>{-ahead:+d}"


@contextlib.contextmanager
def living_at_noon() -> Iterator[str]:
    """This process (and those it starts) in that zone until the block ends; yields TZ."""
    before, zone = os.environ.get("TZ"), posix_tz_at_noon()
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield zone
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def local_time(hour: int, minute: int = 0, days_ago: int = 0) -> float:
    """``hour``:``minute``, local time, ``days_ago`` calendar days before today: today by
    time.time(), which the test may have stopped."""
    today = time.localtime(time.time())
    return time.mktime((today.tm_year, today.tm_mon, today.tm_mday - days_ago, hour, minute, 0, 0, 0, -1))


def stop_clock_at_noon(monkeypatch) -> float:
    """time.time() stopped at today's noon, local time, for the rest of the test (a
    pytest monkeypatch undoes it); returns that noon."""
    noon = local_time(12)
    monkeypatch.setattr(time, "time", lambda: noon)
    return noon

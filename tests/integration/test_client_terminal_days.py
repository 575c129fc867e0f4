"""The interactive terminal, on a pseudo-terminal, names the day of what came overnight:
a line "── Ontem ──" above yesterday's messages delivered at login, "── Hoje ──" above
today's, in the viewer's time zone (TZ); the stamps stay [HH:MM]. A fake server hands on
the messages with their sent_at, as the real one does for an offline delivery."""

from __future__ import annotations

import datetime
import os
import re
import time

import pytest

from fakeserver import FakeServer
from noonzone import living_at_noon
from protocol import DirectMessage
from ptys import on_a_pty

pytestmark = [pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal"),
              pytest.mark.timeout_seconds(60)]


def local_noon(days_ago: int) -> float:
    """Noon in the process's time zone (TZ), ``days_ago`` calendar days before today."""
    day = datetime.date.today() - datetime.timedelta(days=days_ago)
    return time.mktime((day.year, day.month, day.day, 12, 0, 0, 0, 0, -1))


@pytest.mark.parametrize(("lang", "yesterday", "today"), [
    ("C.UTF-8", "── Yesterday ──", "── Today ──"),
    ("pt_BR.UTF-8", "── Ontem ──", "── Hoje ──"),
], ids=["en", "pt_BR"])
def test_yesterdays_messages_come_under_a_line_naming_the_day(lang: str, yesterday: str, today: str) -> None:
    """In the zone where it is about noon (noonzone.py): in São Paulo, a midnight between
    the test's "yesterday" and the drawing (03:00 UTC) made it the day before."""
    with living_at_noon(), FakeServer() as server, \
            on_a_pty("Conceição", "--port", str(server.port), lang=lang) as (proc, screen):
        screen.expect(b"]> ")
        server.wait_online("Conceição")
        server.send("Conceição", DirectMessage(1, "João", "Conceição", "boa noite", local_noon(1) + 11 * 3600))
        server.send("Conceição", DirectMessage(2, "João", "Conceição", "bom dia", time.time()))
        screen.expect("João → ".encode() + b"you: bom dia" if lang == "C.UTF-8" else "bom dia".encode())
        shown = screen.seen.decode(errors="replace").replace("\r", "")
        assert re.search(rf"{yesterday}\n(\x1b\[[0-9;]*[A-Za-z])*\[23:00\] João → \S+: boa noite\n"
                         rf"(.|\n)*{today}\n(\x1b\[[0-9;]*[A-Za-z])*\[\d\d:\d\d\] João → \S+: bom dia", shown), shown
        assert "Traceback" not in shown

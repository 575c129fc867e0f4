"""The window's day separators under Xvfb (see test_gui.py for the display): a conversation
pane names the day above the first message of each day ("Yesterday", "Friday, 27 November";
pt "Ontem", "sexta-feira, 27 de novembro"), in the viewer's time zone, whether lines come at
the bottom (live, offline deliveries) or on top (history, older pages), and the stamps stay
HH:MM. The pane runs in a child process, with its own TZ and DISPLAY."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_gui import display  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]

# São Paulo: Friday 2026-11-27 20:50; "now" is Sunday the 29th at 21:50 there.
SCRIPT = r"""
import json, sys, time
import tkinter as tk
sys.path.insert(0, ROOT)
import i18n
from client.gui import app, panes
from client.gui.model import Line

i18n.use(LANGUAGE)
friday, now = 1795823400.0, 1795823400.0 + 2 * 86400 + 3600
time.time = lambda: now  # the pane's "today"
root = tk.Tk()
root.geometry("640x420")
pane = panes.ConversationPane(root, "@joão", app._fonts(root))
pane.pack(fill="both", expand=True)
def line(text, at):
    return Line("in", "João", text, at)
pane.begin()
# The conversation's history page: Saturday's (after midnight there) and one of today.
pane.prepend((line("sábado cedo", friday + 4 * 3600), line("domingo", now - 3600)))
pane.end()
first = pane.content()
pane.begin()
pane.append(line("agora", now))              # the same day as the last: no new label
pane.prepend((line("sexta à noite", friday), line("sexta mais tarde", friday + 600)))  # an older page
pane.end()
root.update()
after_midnight = None
if MIDNIGHT:  # the window left open: a day later, a new line; the labels drawn yesterday are a day older
    now += 86400
    pane.begin()
    pane.append(line("segunda", now))
    pane.end()
    after_midnight = pane.content()
if SHOT:
    from client.gui.screenshot import capture
    capture(SHOT)
print(json.dumps([first, pane.content(), after_midnight]))
"""


def run_pane(display: str, language: str, shot: Path | None = None, midnight: bool = False) -> list[str]:  # noqa: F811
    script = SCRIPT.replace("ROOT", repr(str(ROOT))).replace("LANGUAGE", repr(language)) \
        .replace("SHOT", repr(str(shot) if shot else "")).replace("MIDNIGHT", repr(midnight))
    env = {**os.environ, "DISPLAY": display, "TZ": "America/Sao_Paulo"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.timeout_seconds(120)
def test_a_pane_names_the_days_of_its_lines_at_the_bottom_and_on_top(display: str, tmp_path: Path) -> None:  # noqa: F811
    first, later, _ = run_pane(display, "en", tmp_path / "days.png")
    rows = first.splitlines()
    assert rows[0] == "Yesterday" and rows[1].endswith("João: sábado cedo"), rows
    assert rows[2] == "Today" and rows[3].endswith("João: domingo") and len(rows) == 4, rows
    assert all(row[:5].replace(":", "").isdigit() and row[2] == ":" for row in (rows[1], rows[3])), rows
    rows = later.splitlines()
    # The older page on top: its day above it; Saturday's label stays, between the two days.
    assert rows == ["Friday, 27 November", rows[1], rows[2], "Yesterday", rows[4], "Today", rows[6], rows[7]], rows
    assert rows[1].endswith("sexta à noite") and rows[2].endswith("sexta mais tarde") and rows[7].endswith("agora")


@pytest.mark.timeout_seconds(120)
def test_a_pane_names_the_days_in_portuguese(display: str) -> None:  # noqa: F811
    _first, later, _ = run_pane(display, "pt_BR")
    rows = later.splitlines()
    assert [rows[0], rows[3], rows[5]] == ["sexta-feira, 27 de novembro", "Ontem", "Hoje"], rows


@pytest.mark.timeout_seconds(120)
def test_the_labels_drawn_yesterday_are_a_day_older_after_midnight(display: str) -> None:  # noqa: F811
    """A window left open overnight: its "Today" became yesterday; the first line of the
    new day draws "Today" again, and the labels above say their days as they are now."""
    _first, _later, after = run_pane(display, "en", midnight=True)
    labels = [row for row in after.splitlines() if row[:1].isalpha()]
    assert labels == ["Friday, 27 November", "Saturday, 28 November", "Yesterday", "Today"], after

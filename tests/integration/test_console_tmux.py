"""The server's console in a real terminal (tmux: see test_client_tmux.py): ``chatserver.py``
on 127.0.0.1, port 0, in a window of its own; what its /help prints, read off the screen.
Bounded waits only."""

from __future__ import annotations

import re
import shlex
import sys

import pytest

from client.screen import display_width
from test_client_tmux import ROOT, WAIT, Tmux


@pytest.mark.timeout_seconds(90)
def test_the_consoles_help_fits_its_terminal_broken_at_words_under_its_descriptions() -> None:
    """Even at 120 columns the console's /help ran past the edge, and the terminal broke
    the lines mid-word back to column 0 (the /unregister and /backup lines, about 135
    columns). They are wrapped to the window's width now (tmux joins the rows a terminal
    wrapped: none is wider), at spaces, under their descriptions; a log file keeps them
    whole (test_server_cli.py)."""
    command = " ".join(["env", "LANGUAGE=en", "PYTHONIOENCODING=utf-8", "LC_ALL=C.UTF-8", shlex.quote(sys.executable),
                        "chatserver.py", "--host", "127.0.0.1", "--port", "0", "--web-port", "0", "--memory"])
    console = Tmux(f"cd {shlex.quote(str(ROOT))} && {command}; echo console ended; sleep {WAIT}", columns=120, rows=40)
    try:
        console.wait_text("listening on 127.0.0.1:")
        console.type("/help")
        console.press("Enter")
        rows = [row.rstrip() for row in console.wait_text("this list")]
        first = rows.index("commands at the server's terminal:")
        rows = rows[first:next(at for at, row in enumerate(rows) if "this list" in row) + 1]
        assert all(display_width(row) <= 120 for row in rows), "\n".join(rows)
        shown = "\n".join(rows)
        # The description's second row starts under its first (2 + 37 columns), with a whole word.
        assert re.search(r"\n  /unregister NAME \(or /descadastrar\) +delete the account NAME .*; its\n"
                         r" {39}sessions end, its name is held for a while\n", shown + "\n"), shown
        console.type("/quit")
        console.press("Enter")
        console.wait_text("console ended")
    finally:
        console.close()

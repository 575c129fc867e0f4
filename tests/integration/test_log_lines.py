"""What users type cannot forge or restyle the server's log: chatserver.py, a real process.

A moderation reason and a refused room name are free text that reaches the log; a newline
in them must not start a line that looks like the server's own, and an escape sequence
must not drive the operator's terminal.
"""

from __future__ import annotations

import json

from protocol import Done, RoomInfo, RoomNotice, UserJoined
from servers import ServerProcess
from waits import wait_until
from wire import WireClient

FORGED = "\n2026-01-01 00:00:00,000 INFO login root from 10.0.0.1:1\x1b[2J\x1b]52;c;SGk=\x07"


def _frame(**fields: object) -> bytes:
    return (json.dumps(fields) + "\n").encode()


def test_free_text_in_log_lines_cannot_start_a_line_nor_reach_the_terminal():
    with ServerProcess("--memory") as proc:
        with WireClient.login(proc.host, proc.port, "Teresa") as owner, \
                WireClient.login(proc.host, proc.port, "Vitor") as member:
            owner.send_raw(_frame(type="join", id="1", room="#redes", create=True))
            owner.expect(RoomInfo, skip=(UserJoined, RoomNotice))
            member.send_raw(_frame(type="join", id="2", room="#redes"))
            member.expect(RoomInfo, skip=(UserJoined, RoomNotice))
            owner.send_raw(_frame(type="mute", id="3", room="#redes", name="Vitor", reason="flood" + FORGED))
            owner.send_raw(_frame(type="join", id="4", room="#x" + FORGED))
            assert owner.expect_error("invalid_name", skip=(UserJoined, RoomNotice, Done)).code == "invalid_name"
            wait_until(lambda: sum("Teresa" in line for line in proc.lines) >= 4, what="the log lines")
    output = proc.output()
    assert "INFO login root" in output  # the text is there, shown...
    assert not any(line.startswith("2026-01-01") for line in output.splitlines()), output  # ...never as a line
    assert "\x1b" not in output and "\x07" not in output, output
    assert "muted Vitor in #redes" in output

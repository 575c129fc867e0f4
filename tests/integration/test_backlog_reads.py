"""Coming back to a backlog: the read marks of 80 waiting messages, printed one by one,
go coalesced (client/core.py, "Read marks"), so the terminal shows no rate-limit errors
and each sender still learns how far their messages were read.

A real server on 127.0.0.1 port 0 (memory); the senders are wire clients; the reader is
the terminal, not a tty (as a script or the tester's non-tty login). Every wait is bounded.
"""

from __future__ import annotations

import io
import threading
import time

import const
from protocol import READ, Delivered, Hello, Queued, Read, SendDirect, UserJoined, UserLeft, Welcome
from client.terminal import TerminalUI
from test_client_terminal import _InputUntil
from wire import WireClient

NOTICES = (UserJoined, UserLeft)
EACH = 40


PASSWORD = "correct horse"


def log_in(server, name: str, password: str | None = None, register: bool = False) -> WireClient:
    client = WireClient(server.host, server.port)
    client.send(Hello("h", name, const.PROTOCOL_VERSION, password, register, None, (READ,)))
    client.expect(Welcome, skip=NOTICES)
    return client


def queue_for(sender: WireClient, name: str, to: str) -> int:
    """``EACH`` messages from ``sender`` to ``to`` (offline); the msg_id of the last."""
    last = 0
    for i in range(EACH):
        sender.send(SendDirect(f"{name}{i}", to, f"recado {name} {i}"))
        last = sender.expect(Queued, skip=NOTICES).msg_id
    return last


def test_a_backlog_printed_by_the_terminal_shows_no_rate_limit_and_every_sender_learns_the_read(server):
    with log_in(server, "Tiago", PASSWORD, register=True):
        pass  # Tiago has an account now, and is offline
    with log_in(server, "Ze") as ze, log_in(server, "Lu") as lu:
        last = {"Ze": queue_for(ze, "Ze", "Tiago"), "Lu": queue_for(lu, "Lu", "Tiago")}
        done = threading.Event()
        out = io.StringIO()
        ui = TerminalUI("Tiago", server.host, server.port, timeout=10, stdin=_InputUntil("", done),
                        stdout=out, stderr=out, interactive=False, password=PASSWORD)
        runner = threading.Thread(target=ui.run, daemon=True)
        runner.start()
        try:
            # Each sender is told, in the end, that Tiago read up to their last message.
            for name, sender in (("Ze", ze), ("Lu", lu)):
                deadline = time.monotonic() + 15
                while True:
                    mark = sender.expect(Read, timeout=max(0.1, deadline - time.monotonic()),
                                           skip=NOTICES + (Delivered,))
                    if mark.msg_id == last[name]:
                        break
                assert mark == Read(name, last[name], "Tiago")
            deadline = time.monotonic() + 10
            while out.getvalue().count("recado") < 2 * EACH:
                assert time.monotonic() < deadline, out.getvalue()
                time.sleep(0.05)
            text = out.getvalue()
            assert "rate_limited" not in text and "server error" not in text, text
        finally:
            done.set()
            runner.join(10)

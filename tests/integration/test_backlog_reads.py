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
from protocol import READ, Accepted, Delivered, Hello, Queued, Read, SendDirect, UserJoined, UserLeft, Welcome
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


def test_a_mark_held_for_its_interval_goes_by_itself_when_asked_from_another_thread(server, clients):
    """The library's receiver sleeps on its own deadline; a mark asked from the
    application's thread within the interval of the last one is written by a timer when
    due, not at the next ping (client/library.py _mark)."""
    from client import ChatClient

    with log_in(server, "Ze") as ze:
        tiago = ChatClient("Tiago", "127.0.0.1", server.port)
        clients.append(tiago)
        tiago.connect(timeout=10)
        ze.send(SendDirect("m0", "Tiago", "oi"))
        ze.send(SendDirect("m1", "Tiago", "oi de novo"))
        # Both accepted and delivered: Tiago's receiver handed them on, sent their receipts,
        # and waits for the socket (or its next deadline) again.
        accepted, delivered = {}, set()
        while len(accepted) < 2 or len(delivered) < 2:
            event = ze.expect((Accepted, Delivered), skip=NOTICES)
            if isinstance(event, Accepted):
                accepted[event.request_id] = event.msg_id
            else:
                delivered.add(event.msg_id)
        first, second = accepted["m0"], accepted["m1"]
        tiago.mark_read("Ze", first)
        started = time.monotonic()
        tiago.mark_read("Ze", second)  # within the interval: held, then written by itself
        assert ze.expect(Read, skip=NOTICES + (Delivered,)) == Read("Ze", first, "Tiago")
        assert ze.expect(Read, timeout=5, skip=NOTICES + (Delivered,)) == Read("Ze", second, "Tiago")
        assert time.monotonic() - started < 3


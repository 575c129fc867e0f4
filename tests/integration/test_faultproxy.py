"""tests/support/faultproxy.py itself: what a cut lets through (127.0.0.1 port 0, a
stand-in upstream that answers every ``edit`` frame at once)."""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

from faultproxy import DOWN, UP, Fault, FaultProxy
from waits import wait_until

WAIT = 5.0


def _answering_upstream(listener: socket.socket, answered: threading.Event) -> None:
    """Accept one connection; answer its ``edit`` frame with an ``ok`` as soon as it comes."""
    conn, _ = listener.accept()
    with conn:
        pending = b""
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            pending += data
            while b"\n" in pending:
                frame, pending = pending.split(b"\n", 1)
                if b'"edit"' in frame:
                    with suppress(OSError):
                        conn.sendall(b'{"type": "ok", "id": "e1"}\n')
                    answered.set()


def test_a_cut_after_a_frame_lets_no_answer_to_it_through() -> None:
    """``when="after"`` forwards the frame, then cuts: the upstream's answer to it is lost
    with the connection, as when a link dies right after a frame left. The answer used to
    pass down when the upstream wrote it between the frame's write and the cut (on a loaded
    machine: test_gui's edit "whose answer was lost" got its ``ok`` about 1 run in 10).
    Here the cut waits until the answer was read by the proxy and, if passed, by the
    client: the widest version of that window, every run."""
    answered = threading.Event()
    got_ok = threading.Event()
    received = bytearray()

    class LateCut(FaultProxy):
        def _reset(self, link, reason, record=True):  # type: ignore[no-untyped-def]
            if reason.startswith("after"):  # the fault's cut: once the upstream answered
                answered.wait(WAIT)
                wait_until(lambda: got_ok.is_set() or self.down_ended(link), WAIT, "the answer passed or dropped")
            super()._reset(link, reason, record)

        def down_ended(self, link) -> bool:  # type: ignore[no-untyped-def]
            """The pump of ``link``'s server-to-client way has started (it is spawned after
            the other, and listed just before its start: not alive yet) and returned."""
            with self._lock:
                pumps = [t for t in self._threads if t.name == f"proxy-{link.number}-down"]
            return bool(pumps) and pumps[0].ident is not None and not pumps[0].is_alive()

    listener = socket.create_server(("127.0.0.1", 0))
    upstream = threading.Thread(target=_answering_upstream, args=(listener, answered), daemon=True)
    upstream.start()
    try:
        with LateCut("127.0.0.1", listener.getsockname()[1]) as proxy:
            proxy.add(Fault(UP, frame_type="edit", when="after", name="Ana"))
            with socket.create_connection((proxy.host, proxy.port), timeout=WAIT) as client:
                client.sendall(b'{"type": "hello", "id": "h", "name": "Ana"}\n'
                               b'{"type": "edit", "id": "e1", "msg_id": 1, "text": "x"}\n')
                while True:
                    try:
                        data = client.recv(65536)
                    except OSError:  # the cut's reset
                        break
                    if not data:
                        break
                    received.extend(data)
                    if b'"ok"' in received:
                        got_ok.set()
            assert answered.is_set(), "the upstream did not get the edit"
            assert proxy.cuts == ["after up edit #1 on link 1 (Ana)"], proxy.cuts
            assert (1, DOWN, "ok") not in proxy.frames, proxy.frames
            assert b'"ok"' not in received, bytes(received)
    finally:
        listener.close()
        upstream.join(WAIT)

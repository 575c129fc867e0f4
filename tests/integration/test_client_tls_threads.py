"""Over TLS, the threaded client's receiver and writer never use OpenSSL's connection object at
the same time (client/tlsbio.py says why: OpenSSL does not support it).

Every method of ``ssl.SSLSocket`` and ``ssl.SSLObject`` that reaches OpenSSL's object is
wrapped to record a call made while another thread is inside one on the same object. The
moment that made it happen with an SSLSocket shared by both threads: the writer blocked in a
send (the server reads nothing: tests/support/faultproxy.py's ``stall_peer``) while the
receiver reads messages that come meanwhile.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from client import ChatClient
from faultproxy import FaultProxy
from protocol import DirectMessage
from recorder import Recorder
from server import ServerConfig, ServerThread
from test_client_tls_stalled import BUDGET, MESSAGES, WAIT, small_send_buffer, texts, tls_client
from test_tls import make_certificate

# The methods that use OpenSSL's connection object (SSLSocket.recv, send... go through them
# or through _sslobj directly, so each is wrapped).
_SSL_METHODS = {
    ssl.SSLSocket: ("recv", "recv_into", "read", "send", "sendall", "write", "pending", "do_handshake", "unwrap"),
    ssl.SSLObject: ("read", "write", "pending", "do_handshake", "unwrap"),
}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


class Overlaps:
    """Records (method, thread, threads already inside) for each call on an SSL object made
    while another thread is inside a call on the same object."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside: dict[int, list[str]] = {}
        self.seen: list[tuple[str, str, list[str]]] = []
        self.threads: set[str] = set()  # that made any call

    def wrap(self, monkeypatch: pytest.MonkeyPatch, cls: type, name: str) -> None:
        original: Callable = getattr(cls, name)

        def watched(obj: object, *args: object, **kwargs: object) -> object:
            me = threading.current_thread().name
            with self._lock:
                inside = self._inside.setdefault(id(obj), [])
                others = [thread for thread in inside if thread != me]  # SSLSocket.recv calls its read
                if others:
                    self.seen.append((f"{cls.__name__}.{name}", me, others))
                inside.append(me)
                self.threads.add(me)
            try:
                return original(obj, *args, **kwargs)
            finally:
                with self._lock:
                    inside.remove(me)
        monkeypatch.setattr(cls, name, watched)


@pytest.mark.timeout_seconds(90)
def test_the_receiver_and_the_writer_never_use_the_tls_object_at_once(certificate, monkeypatch) -> None:
    overlaps = Overlaps()
    for cls, names in _SSL_METHODS.items():
        for name in names:
            overlaps.wrap(monkeypatch, cls, name)
    cert, key = certificate
    config = ServerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key, **BUDGET)
    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port, raw=True) as proxy:
        at_alice, at_bob = Recorder(), Recorder()
        alice = tls_client("Alice", proxy.port, certificate, at_alice)
        bob: ChatClient = tls_client("Bob", srv.port, certificate, at_bob)
        try:
            alice.connect(timeout=WAIT)
            bob.connect(timeout=WAIT)
            port = small_send_buffer(alice)
            assert proxy.stall_peer(port) == 1
            lines = texts()
            sent = [alice.send_direct("Bob", text) for text in lines]
            with alice._lock:  # white box: the writer is in a send that cannot finish
                owed = alice._writer.owed
            assert owed > MESSAGES * 8000 // 2, f"{owed} bytes owed: the test did not fill the window"
            # Meanwhile Alice's receiver reads what Bob says (the proxy still carries it to her).
            replies = [f"reply {n}" for n in range(5)]
            for text in replies:
                bob.send_direct("Alice", text)
            assert at_alice.holds(lambda: len(at_alice.of(DirectMessage)) >= len(replies), WAIT), at_alice.events
            assert [m.text for m in at_alice.of(DirectMessage)] == replies
            assert proxy.unstall_peer(port) == 1
            assert at_bob.holds(lambda: len(at_bob.of(DirectMessage)) >= MESSAGES, WAIT), \
                f"Bob got {len(at_bob.of(DirectMessage))} of {MESSAGES}"
            assert [m.text for m in at_bob.of(DirectMessage)] == lines
            assert at_alice.holds(lambda: all(m.state == "delivered" for m in sent), WAIT), [m.state for m in sent]
            assert not proxy.cuts and alice.reconnects == 0
        finally:
            alice.close()
            bob.close()
    assert {"chat-receiver-Alice", "chat-writer-Alice"} <= overlaps.threads  # what was watched was in use
    assert overlaps.seen == [], overlaps.seen[:5]

"""The test helpers' own waits are bounded in all, not per frame or per line: a peer that
keeps talking without ever saying what a test waits for, or a server process that never
starts, makes the helper fail in its time, never hang.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

import const
from protocol import Connection, Delivered, Ping, Role, Welcome
from servers import wait_for_listening
from wire import WireClient


class PingingServer:
    """Welcomes one client, then pings it every 20 ms until stopped: a peer that is alive
    and talking but never answers what the test waits for."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(5)
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.pings = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        sock, _ = self.listener.accept()
        with sock:
            sock.settimeout(5)
            conn = Connection(Role.SERVER)
            hello = None
            while hello is None:
                conn.receive_data(sock.recv(65536))
                hello = next(iter(conn.events()), None)
            sock.sendall(conn.send(Welcome(hello.request_id, hello.name, const.PROTOCOL_VERSION, "", 15.0)))
            sock.settimeout(0.02)
            while not self.stop.wait(0.02):
                try:
                    sock.sendall(conn.send(Ping(f"p{self.pings}")))
                    self.pings += 1
                    sock.recv(65536)  # the pongs
                except TimeoutError:
                    pass
                except OSError:
                    return

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def pinging() -> Iterator[PingingServer]:
    server = PingingServer()
    yield server
    server.close()


@pytest.mark.timeout_seconds(15)  # the old helper waited forever here: fail at this limit, not CI's
def test_expect_has_one_deadline_however_many_frames_it_passes_over(pinging: PingingServer) -> None:
    with WireClient.login("127.0.0.1", pinging.port, "Alice") as alice:
        started = time.monotonic()
        with pytest.raises(AssertionError, match=r"no event within 0.5 s \(waiting for Delivered; \d+ other"):
            alice.expect(Delivered, timeout=0.5, skip=(Ping,))
        took = time.monotonic() - started
    assert took < 2.0, took
    assert pinging.pings >= 5  # it really did pass pings over meanwhile


def test_a_server_process_that_never_starts_fails_in_its_time() -> None:
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], stdin=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    try:
        with pytest.raises(AssertionError, match="did not start within 0.5 s"):
            wait_for_listening(silent, timeout=0.5)
    finally:
        silent.kill()
        silent.wait(10)
    assert time.monotonic() - started < 5


def test_the_port_is_read_from_a_whole_line() -> None:
    talker = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "sys.stderr.write('starting\\nlistening on 127.0.0.1:5'); sys.stderr.flush()\n"
                               "time.sleep(0.3); sys.stderr.write('4321 (TLS)\\n'); sys.stderr.flush()\n"
                               "time.sleep(60)"], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for_listening(talker, timeout=10) == 54321
    finally:
        talker.kill()
        talker.wait(10)

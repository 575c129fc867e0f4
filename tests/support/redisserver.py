"""A real ``redis-server`` for tests: started on a free 127.0.0.1 port, stopped by PID.

``redis_server`` is a pytest fixture (import it into a test module to use it)::

    from redisserver import redis_server  # noqa: F401  (a fixture)

    def test_something(redis_server):
        url = redis_server.url            # redis://127.0.0.1:PORT/0
        redis_server.kill()               # SIGKILL, by PID
        redis_server.start()              # again, on the same port

Or make one directly: ``RedisServer(tmp_path, password="pw")`` (a context manager).
Nothing is saved to disk (``--save '' --appendonly no``) unless ``appendfsync`` is given
(``RedisServer(tmp_path, appendfsync="always")``: ``--appendonly yes --appendfsync
always``, so that a write Redis answered survives its ``kill()``); the working directory,
the append-only file and the log are in a temporary directory. When ``redis-server`` is missing the tests that use it
are skipped, saying so, unless the environment variable ``CI`` is set: in CI a missing
``redis-server`` is a failure (``.ci/run`` installs it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import stop_process

REDIS_SERVER = shutil.which("redis-server")
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def require_redis_server() -> str:
    """The path of ``redis-server``; skips the test without it, fails it under CI."""
    if REDIS_SERVER is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but there is no redis-server on PATH (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return REDIS_SERVER


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` (an IP address) that nothing listened on a moment ago."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1 (or ``host``: ``"::1"``); ``start`` again
    reuses the same port."""

    def __init__(self, workdir: Path, password: str | None = None, port: int | None = None,
                 appendfsync: str | None = None, extra_args: list[str] | None = None,
                 host: str = "127.0.0.1", tls: tuple[Path, Path, Path] | None = None) -> None:
        self.binary = require_redis_server()
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.password = password
        self.appendfsync = appendfsync  # None: no append-only file
        self.extra_args = list(extra_args or ())  # more redis-server options
        self.host = host
        self.port = port or free_port(host)
        # (certificate, key, the authorities clients' certificates are checked against):
        # Redis then listens for TLS on tls_port too (the plain port stays, for PING).
        self.tls = tls
        self.tls_port = free_port(host) if tls else None
        self.log_path = self.workdir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        host = f"[{self.host}]" if ":" in self.host else self.host  # as a URL writes IPv6
        return f"redis://{auth}{host}:{self.port}/0"

    def tls_url(self, query: str = "") -> str:
        """The ``rediss://`` URL of the TLS port, with ``query`` (``ssl_ca_certs=...``)."""
        auth = f":{self.password}@" if self.password else ""
        return f"rediss://{auth}{self.host}:{self.tls_port}/0" + (f"?{query}" if query else "")

    def start(self) -> RedisServer:
        """Start the server and return once it answers PING (or NOAUTH), within 10 s."""
        assert self.process is None, "already running"
        argv = [self.binary, "--port", str(self.port), "--bind", self.host,
                "--save", "", "--daemonize", "no",
                "--dir", str(self.workdir), "--logfile", str(self.log_path)]
        if self.appendfsync:
            argv += ["--appendonly", "yes", "--appendfsync", self.appendfsync]
        else:
            argv += ["--appendonly", "no"]
        if self.password:
            argv += ["--requirepass", self.password]
        if self.tls:
            cert, key, authorities = self.tls
            argv += ["--tls-port", str(self.tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                     "--tls-ca-cert-file", str(authorities)]
        argv += self.extra_args
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._answers_ping():
            if self.process.poll() is not None:
                self.process = None
                raise RuntimeError(f"redis-server exited at start: {self._log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer within {READY_TIMEOUT} s: {self._log_tail()}")
            time.sleep(0.02)
        return self

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                reply = sock.recv(64)
        except OSError:
            return False
        # A server with a password answers NOAUTH: up all the same. LOADING is not up.
        return reply.startswith((b"+PONG", b"-NOAUTH"))

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        """SIGKILL the server by its PID and reap it: the abrupt end of a crash."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)
            self.process = None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP the server by its PID for the ``with`` block, SIGCONT at its end (also
        on failure): a Redis that hangs (overloaded, a slow disk, a stalled network). Its
        connections stay open; what is sent meanwhile waits in its sockets and runs when
        it resumes."""
        assert self.process is not None, "not running"
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """SIGTERM by PID, then SIGKILL if it has not exited within 5 s."""
        stop_process(self.process, STOP_TIMEOUT)
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server without a password, stopped at the end of the test."""
    with RedisServer(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server that syncs every write (``appendfsync always``, as the README
    runs a cluster's), stopped at the end of the test."""
    with RedisServer(tmp_path / "redis", appendfsync="always") as server:
        yield server

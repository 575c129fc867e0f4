"""A server that runs out of memory under a memory limit (ulimit -v, a small VPS without
swap) says so in one line and ends, rather than spinning on failed allocations with
nobody answered (server/outofmemory.py)."""

from __future__ import annotations

import resource
import socket
import time
from pathlib import Path

import pytest

from protocol import Hello
from protocol.codec import encode
from server.outofmemory import EXIT_OUT_OF_MEMORY
from servers import ServerProcess
from wire import WireClient


def _virtual_size(pid: int) -> int:
    """The bytes of address space process ``pid`` holds (VmSize)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmSize")


@pytest.mark.timeout_seconds(90)
def test_a_server_out_of_memory_logs_why_and_ends() -> None:
    """Its address space capped a little above what it holds once listening, a login storm
    runs it out: within seconds it has ended with EXIT_OUT_OF_MEMORY, its log saying why."""
    with ServerProcess("--memory", "--max-connections-per-address", "100000", "--rate-per-address", "100000",
                       file_limit=4096) as server:
        pid = server.proc.pid
        with WireClient.login(server.host, server.port, "Alice"):
            pass  # answered: start-up is over (its console's thread runs)
        cap = _virtual_size(pid) + (2 << 20)
        resource.prlimit(pid, resource.RLIMIT_AS, (cap, cap))
        clients = []
        deadline = time.monotonic() + 60
        try:
            while server.proc.poll() is None and time.monotonic() < deadline:
                for _ in range(50):
                    try:
                        sock = socket.create_connection((server.host, server.port), timeout=5)
                        sock.sendall(encode(Hello(f"h{len(clients)}", f"user{len(clients)}", 2))
                                     + b" " * 60000)  # an unfinished frame's bytes, held by the server
                    except OSError:
                        break  # refused or reset: the server is failing or gone
                    clients.append(sock)
                    if len(clients) >= 3000:
                        break
                time.sleep(0.05)  # the pace of the storm, not a wait for a condition
            status = server.proc.wait(20)
        finally:
            for sock in clients:
                sock.close()
        log = "".join(server.lines)
        assert status == EXIT_OUT_OF_MEMORY, (status, log[-3000:])
        assert "out of memory" in log, log[-3000:]
        assert log.count("Traceback") == 0, log[-3000:]

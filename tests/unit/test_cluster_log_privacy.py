"""The log never holds what users wrote or their secrets (docs/privacy.md): a stream entry
the node fails to apply is logged by its kind, never whole, since entries carry room
texts, login addresses and guests' token hashes. No sockets: the node is never started."""

from __future__ import annotations

import logging

import pytest

from server.cluster import bus
from server.cluster.node import ClusterNode


@pytest.mark.logs_tracebacks("an entry made to fail")
def test_an_entry_that_could_not_be_applied_is_logged_by_its_kind_not_its_contents(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="chat.cluster")
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    entry = bus.encode(bus.RoomPost(7, "Conceição", "conceição", "meu segredo para a turma", 1.0))

    def broken(fields: list) -> None:
        raise RuntimeError("a bug in applying it")

    node._guarded(broken, [b"e", entry])
    logged = caplog.text
    assert "could not be applied" in logged and "a bug in applying it" in logged, logged
    assert "room" in logged, logged  # its kind: what a developer needs to find the bug
    assert "segredo" not in logged and "Concei" not in logged, logged

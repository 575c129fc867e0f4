"""A ``whois`` of a name nobody has answers ``unknown`` with ``like``, the one user online
whose name looks like it (PROTOCOL.md, ``user``), over a real server on port 0: "Joao"
while João is online names João; João asking for "Joao" is not told of himself."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import LookupRequest, LookupResult, UserJoined, UserLeft
from servers import in_thread
from wire import WireClient

NOTICES = (UserJoined, UserLeft)


@pytest.fixture
def server(tmp_path: Path):
    with in_thread(tmp_path) as srv:
        yield srv


def test_a_whois_of_joao_while_joao_is_online_suggests_him_and_never_the_asker(server):
    with WireClient.login(server.host, server.port, "João") as joao, \
            WireClient.login(server.host, server.port, "Ana") as ana:
        ana.send(LookupRequest("w1", "Joao"))
        answer = ana.expect(LookupResult, skip=NOTICES)
        assert (answer.request_id, answer.name, answer.status, answer.like) == ("w1", "Joao", "unknown", "João")
        joao.send(LookupRequest("w2", "JOAO"))
        answer = joao.expect(LookupResult, skip=NOTICES)
        assert (answer.request_id, answer.status, answer.like) == ("w2", "unknown", None), answer
        ana.send(LookupRequest("w3", "Pedro"))  # nobody online looks like it
        answer = ana.expect(LookupResult, skip=NOTICES)
        assert (answer.status, answer.like) == ("unknown", None), answer

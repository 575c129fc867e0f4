"""Answers come in the order of the requests, also behind a password's hash.

``register`` and ``password`` are decided off the loop (scrypt takes a while): a client
that sends another request right behind one, without waiting, gets the ``ok`` first and
then the later request's answer (PROTOCOL.md, "Session": frames are handled in order),
as behind a ``hello`` with a password.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import ChangePassword, Done, LookupRequest, LookupResult, Register, UserJoined, UserLeft
from protocol import codec
from servers import in_thread
from wire import WireClient

NOTICES = (UserJoined, UserLeft)


@pytest.fixture
def server(tmp_path: Path):
    with in_thread(tmp_path) as srv:
        yield srv


def _answers(client: WireClient, count: int) -> list:
    return [client.expect((Done, LookupResult), skip=NOTICES) for _ in range(count)]


def test_a_register_is_answered_before_the_request_behind_it(server):
    with WireClient.login(server.host, server.port, "Conceição") as guest:
        guest.send_raw(codec.encode(Register("r-1", "correct horse")) + codec.encode(LookupRequest("r-2", "Conceição")))
        first, second = _answers(guest, 2)
        assert (type(first), first.request_id) == (Done, "r-1")
        assert (type(second), second.request_id) == (LookupResult, "r-2")


def test_a_password_change_is_answered_before_the_request_behind_it(server):
    with WireClient.login(server.host, server.port, "João", "correct horse", register=True) as joao:
        joao.send_raw(codec.encode(ChangePassword("p-1", "correct horse", "battery staple"))
                      + codec.encode(LookupRequest("p-2", "João")))
        first, second = _answers(joao, 2)
        assert (type(first), first.request_id) == (Done, "p-1")
        assert (type(second), second.request_id) == (LookupResult, "p-2")

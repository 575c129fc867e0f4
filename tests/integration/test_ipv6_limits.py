"""Per-address limits for IPv6 clients (server/addresses.py): a global IPv6 address counts
as its /64, so that one phone or home, which may take any of its 2^64 addresses, gets one
address's budget, as a house behind one IPv4 address does; another /64 has its own."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import const
from protocol import Ban, ErrorCode, ErrorReply, Hello, JoinRoom, Welcome
from protocol.connection import State
from server import ServerConfig
from server.relay import Relay
from test_store import FakeSession, RelayBench, loop  # noqa: F401  (fixtures)


def _hello(bench: RelayBench, name: str, address: str, password: str | None = None,
           register: bool = False) -> FakeSession:
    bench.ports += 1
    session = FakeSession(bench.ports, address)
    bench.relay.connected(session)
    bench.relay.handle(session, Hello("h", name, const.PROTOCOL_VERSION, password, register))
    bench.settle()
    return session


def _refusals(session: FakeSession) -> list[str]:
    return [reply.code for reply in session.take(ErrorReply)]


def test_hellos_from_one_64_share_the_addresss_request_rate(loop):
    bench = RelayBench(loop, "memory")
    bench.relay = Relay(ServerConfig(rate_per_connection=1e6, burst_per_connection=1e6, rate_per_address=0.001,
                                     burst_per_address=3.0), bench.store)
    for number in range(1, 4):
        assert _hello(bench, f"Aluno{number}", f"2001:db8:1:2::{number:x}").take(Welcome)
    rotated = _hello(bench, "Aluno4", "2001:db8:1:2:9a3c:11ff:fe00:4")  # a new privacy address
    assert _refusals(rotated) == [ErrorCode.RATE_LIMITED] and not rotated.take(Welcome)
    assert _hello(bench, "Vizinha", "2001:db8:1:3::1").take(Welcome)  # another network: its own budget
    bench.store.close()


def test_a_64_keeps_one_budget_across_the_periodic_expire_while_one_of_its_addresses_is_connected(loop):
    # The expire forgets the buckets of groups gone that refilled; one still connected is
    # kept even when full (an untaken bucket counts as refilled), or the next address of
    # the /64 would get a budget of its own beside the first one's.
    bench = RelayBench(loop, "memory")
    bench.relay = Relay(ServerConfig(rate_per_connection=1e6, burst_per_connection=1e6, rate_per_address=0.001,
                                     burst_per_address=3.0), bench.store)
    first = FakeSession(1, "2001:db8:1:2::1")
    bench.relay.connected(first)  # connected, nothing taken yet
    bench.relay.expire(time.time())
    for number in range(2, 5):
        assert _hello(bench, f"Aluno{number}", f"2001:db8:1:2::{number:x}").take(Welcome)
    bench.relay.handle(first, Hello("h", "Aluno1", const.PROTOCOL_VERSION))
    bench.settle()
    assert _refusals(first) == [ErrorCode.RATE_LIMITED] and not first.take(Welcome)


def test_the_periodic_expire_forgets_an_address_whose_connections_all_went_and_whose_budget_refilled(loop):
    # Else the server would keep an entry per address it ever saw (a scan from a /48 is 2^16 of them).
    bench = RelayBench(loop, "memory")
    sessions = [FakeSession(port, "2001:db8:1:2::1") for port in (1, 2)]
    for session in sessions:
        bench.relay.connected(session)  # nothing taken: the budgets are as refilled
    bench.relay.disconnected(sessions[0], None)
    bench.relay.expire(time.time())
    assert bench.relay.counted_group(sessions[1]) == "2001:db8:1:2::/64"  # one connection left
    bench.relay.disconnected(sessions[1], None)
    bench.relay.expire(time.time())
    assert bench.relay._per_address == {} and bench.relay._per_group == {}


def test_accounts_created_from_one_64_count_together(loop):
    bench = RelayBench(loop, "memory")
    bench.relay = Relay(ServerConfig(rate_per_connection=1e6, burst_per_connection=1e6, rate_per_address=1e6,
                                     burst_per_address=1e6, registrations_per_address=2), bench.store)
    for number, name in enumerate(("João", "Conceição"), start=1):
        assert _hello(bench, name, f"2001:db8:1:2::{number}", "senha longa 1", register=True).take(Welcome)
    third = _hello(bench, "Joana", "2001:db8:1:2::3", "senha longa 1", register=True)
    assert _refusals(third) == [ErrorCode.RATE_LIMITED]
    assert _hello(bench, "Joana", "2001:db8:1:3::1", "senha longa 1", register=True).take(Welcome)
    bench.store.close()


def test_an_ipv4_client_of_a_dual_stack_socket_shares_its_ipv4_addresss_rate(loop):
    bench = RelayBench(loop, "memory")
    bench.relay = Relay(ServerConfig(rate_per_connection=1e6, burst_per_connection=1e6, rate_per_address=0.001,
                                     burst_per_address=1.0), bench.store)
    assert _hello(bench, "Ana", "192.168.1.31").take(Welcome)
    assert _refusals(_hello(bench, "Bia", "::ffff:192.168.1.31")) == [ErrorCode.RATE_LIMITED]
    bench.store.close()


def _v2(bench: RelayBench, name: str, address: str, password: str | None = None,
        register: bool = False) -> FakeSession:
    """A session of protocol version 2 (rooms) logged in as ``name`` from ``address``."""
    bench.ports += 1
    session = FakeSession(bench.ports, address)
    session.conn = SimpleNamespace(state=State.OPEN, may_send=lambda kind: True)
    bench.relay.connected(session)
    bench.relay.handle(session, Hello("h", name, 2, password, register))
    bench.settle()
    assert session.take(Welcome), session.sent
    return session


def _answers(bench: RelayBench, session: FakeSession, request) -> list:
    session.sent.clear()
    bench.relay.handle(session, request)
    bench.settle()
    return [json.loads(frame) if isinstance(frame, bytes) else frame for frame in session.sent]


def _refused(answers: list) -> list[str]:
    """The codes of the errors among ``answers`` (events, or frames already encoded)."""
    return [a.code if isinstance(a, ErrorReply) else a["code"] for a in answers
            if isinstance(a, ErrorReply) or isinstance(a, dict) and a.get("type") == "error"]


def test_rooms_created_from_one_64_count_together(loop, monkeypatch):
    monkeypatch.setattr(const, "ROOMS_CREATED_PER_ADDRESS", 2)
    bench = RelayBench(loop, "memory")
    ana = _v2(bench, "Ana", "2001:db8:1:2::1")
    assert not _refused(_answers(bench, ana, JoinRoom("j1", "#um")))
    assert not _refused(_answers(bench, ana, JoinRoom("j2", "#dois")))
    bia = _v2(bench, "Bia", "2001:db8:1:2::2")  # the same phone or house, another address
    assert _refused(_answers(bench, bia, JoinRoom("j3", "#tres"))) == [ErrorCode.TOO_MANY_ROOMS]
    caio = _v2(bench, "Caio", "2001:db8:1:3::1")
    assert not _refused(_answers(bench, caio, JoinRoom("j4", "#tres")))
    bench.store.close()


def test_a_guest_banned_from_a_room_stays_out_under_another_address_of_its_64(loop):
    bench = RelayBench(loop, "memory")
    dona = _v2(bench, "Dona", "2001:db8:9::1", "senha longa 1", register=True)
    assert not _refused(_answers(bench, dona, JoinRoom("j1", "#turma")))
    troll = _v2(bench, "Troll", "2001:db8:1:2::1")
    assert not _refused(_answers(bench, troll, JoinRoom("j2", "#turma")))
    assert not _refused(_answers(bench, dona, Ban("b1", "#turma", "Troll", "spam")))
    again = _v2(bench, "Troll2", "2001:db8:1:2:aaaa::7")  # a new privacy address, a new name
    assert _refused(_answers(bench, again, JoinRoom("j3", "#turma"))) == [ErrorCode.BANNED]
    elsewhere = _v2(bench, "Vizinho", "2001:db8:1:3::1")
    assert not _refused(_answers(bench, elsewhere, JoinRoom("j4", "#turma")))
    bench.store.close()

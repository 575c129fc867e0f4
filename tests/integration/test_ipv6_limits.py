"""Per-address limits for IPv6 clients (server/addresses.py): a global IPv6 address counts
as its /64, so that one phone or home, which may take any of its 2^64 addresses, gets one
address's budget, as a house behind one IPv4 address does; another /64 has its own."""

from __future__ import annotations

import const
from protocol import ErrorCode, ErrorReply, Hello, Welcome
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

"""A cluster node answers every request it took, whatever Redis's reply or a callback does:
no sockets (the Redis client's calls are replaced by fakes).

A route, a claim or a login throttle's question left unanswered is never answered: its
sender waits for ever, and the node's bookkeeping (the routed messages counted per
sender, the claims under way) keeps what it counted. A route's count holds every later
message of its sender off the store's one-step routing (ClusterNode._route_with_store).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from server.cluster import node as node_module
from server.cluster.node import ClusterNode
from server.mailbox import StoredMessage
from server.peers import UNANSWERED


def _message(msg_id: int, sender_key: str) -> StoredMessage:
    return StoredMessage(msg_id, sender_key.title(), sender_key, "Bia", "bia", f"text {msg_id}", 1700000000.0,
                         f"c{msg_id}", "sent")


def _routes_answered(replies: list, callbacks: list) -> tuple[ClusterNode, list]:
    """Route one message per callback of ``callbacks`` (senders ana, joão, ...) in one
    loop turn, Redis's ROUTES script answering ``replies``; what the callbacks heard."""
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    heard: list = []

    def pipeline_now(_encoded: list) -> asyncio.Future:
        answer = asyncio.get_running_loop().create_future()
        answer.set_result([replies])
        return answer

    node._redis.pipeline_now = pipeline_now  # type: ignore[method-assign]

    async def run() -> None:
        for number, callback in enumerate(callbacks, 1):
            def answered(nodes: list | None, number: int = number, callback=callback) -> None:
                heard.append((number, nodes))
                callback(nodes)
            node.route(_message(number, f"sender{number}"), answered)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while len(heard) < len(callbacks) and loop.time() < deadline:
            await asyncio.sleep(0.01)

    asyncio.run(run())
    return node, heard


def _quiet(_nodes: list | None) -> None:
    pass


def _raises(_nodes: list | None) -> None:
    raise ValueError("a bug in the relay's answer")


def test_a_short_reply_answers_the_routes_without_a_reply_as_not_routed() -> None:
    node, heard = _routes_answered([[b"n2"]], [_quiet, _quiet, _quiet])
    assert heard == [(1, ["n2"]), (2, None), (3, None)]
    assert node._deliveries == {}


@pytest.mark.logs_tracebacks("a callback made to raise")
def test_a_callback_that_raises_leaves_the_others_answered(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="chat.cluster")
    node, heard = _routes_answered([[b"n2"], [b"n3"], [b"n2"]], [_raises, _raises, _quiet])
    assert heard == [(1, ["n2"]), (2, ["n3"]), (3, ["n2"])]
    assert node._deliveries == {}
    tracebacks = [record for record in caplog.records if record.exc_info]
    assert len(tracebacks) == 1, caplog.text  # the first in full, the next one counted


class _Session:
    address, port, closing = "127.0.0.1", 50000, False


async def _a_bug(_client: object, args: tuple) -> object:
    raise ValueError("a bug, not Redis")


def _asked(ask) -> list:
    """What the callback heard from ``ask(callback)``, run on a loop until it hears."""
    heard: list = []

    async def run() -> None:
        ask(heard.append)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while not heard and loop.time() < deadline:
            await asyncio.sleep(0.01)

    asyncio.run(run())
    return heard


@pytest.mark.logs_tracebacks("a script made to raise; its release then tries Redis, which a unit test refuses")
def test_a_claim_that_fails_otherwise_than_by_redis_is_answered_unavailable(monkeypatch, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="chat.cluster")
    monkeypatch.setattr(node_module.scripts, "CLAIM", _a_bug)
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    node._last_beat = node.clock()
    heard = _asked(lambda callback: node.claim(_Session(), "joao", "João", False, 1700000000.0, callback))
    assert heard == ["unavailable"]
    assert node._claiming == {}
    assert "a bug, not Redis" in caplog.text


@pytest.mark.logs_tracebacks("a script made to raise")
def test_a_login_throttle_that_fails_otherwise_than_by_redis_is_answered(monkeypatch, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="chat.cluster")
    monkeypatch.setattr(node_module.scripts, "LOGIN_FAILURES", _a_bug)
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    heard = _asked(lambda callback: node.login_failures("check", ("conceicao",), 1.0, 60.0, callback))
    assert heard == [None]
    assert "a bug, not Redis" in caplog.text


@pytest.mark.logs_tracebacks("a command made to raise")
def test_a_recipient_s_lookup_that_fails_otherwise_than_by_redis_is_answered(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="chat.cluster")
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")

    async def execute(*command: object) -> object:
        raise ValueError("a bug, not Redis")

    node._redis.execute = execute  # type: ignore[method-assign]
    # Answered: "could not tell" (the asker says unavailable), not "nobody".
    assert _asked(lambda callback: node.known_name("conceicao", callback)) == [UNANSWERED]
    assert "a bug, not Redis" in caplog.text


def test_a_message_stored_while_an_earlier_one_waits_to_be_routed_is_not_routed_before_it() -> None:
    # Ana's first message goes by route() (a session of hers elsewhere, a ghost, needs its
    # carbon first); the ghost is reaped before her second is stored. Routed by the store's
    # script, the second would reach Bia's node before the first, still waiting for the
    # store's answer to be routed: shown out of order (the chaos run's seed 3).
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    node._where.update({"bia": False, "ana": False})

    def fields(client_id: str) -> tuple:  # what the store gives its router: the fields after the id
        return ("Ana", "ana", "Bia", "bia", "text", 1700000000.0, client_id, "sent", 1700000600.0)

    assert node._route_with_store(fields("c1")) is None
    node._where["ana"] = True  # the ghost is gone
    assert node._route_with_store(fields("c2")) is None, "routed before the earlier message"
    node._redis.pipeline_now = lambda _encoded: asyncio.get_running_loop().create_future()  # never answered

    async def route_the_first() -> None:
        node.route(StoredMessage(1, "Ana", "ana", "Bia", "bia", "one", 1700000000.0, "c1", "sent"), _quiet)
        node.route(StoredMessage(2, "Ana", "ana", "Bia", "bia", "two", 1700000000.0, "c2", "sent"), _quiet)

    asyncio.run(route_the_first())
    assert node._to_route == {}  # both routed by route(), in order
    node._deliveries.clear()  # (their ROUTES call answered)
    assert node._route_with_store(fields("c3")) is not None  # nothing waits: one step again


def test_an_outcome_is_routed_by_redis_whatever_the_directory_shows() -> None:
    # The directory lags Redis (this node paused, or just restarted): Ana, online on another
    # node, is not in it yet; Bia shows with every session here, but her laptop may have
    # logged in on another node since. Both outcomes must go (ROUTES asks Redis where they
    # are); skipped, the device that sent the message would never hear it while its
    # session lasts (chaos, 20 clients, seeds 407 and 408).
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    sent: list = []
    node._redis.pipeline_now = lambda encoded: sent.append(encoded) or asyncio.get_running_loop().create_future()

    async def tell() -> None:
        node.tell("ana", 7, b'{"type":"delivered","id":"c7","msg_id":7}')
        node._where["bia"] = True
        node.tell("bia", 8, b'{"type":"delivered","id":"c8","msg_id":8}')
        await asyncio.sleep(0.01)

    asyncio.run(tell())
    assert len(sent) == 1  # one batched call, in the order told
    call = sent[0][0]
    assert b'"key":"ana","msg_id":7' in call and b'"key":"bia","msg_id":8' in call
    assert call.index(b'"msg_id":7') < call.index(b'"msg_id":8')


def test_a_routes_call_encodes_only_its_entries_the_script_and_the_node_once(monkeypatch) -> None:
    # Issue 10 (bench/PROFILE.md, round twenty-three): each ROUTES call went through the
    # generic encoder whole, its 1.7 KB script source, "0", the prefix and the node's id
    # included, which never change: five arguments' encoding (about twenty Python calls)
    # and two copies of the source a call, a call about every other cross-node message.
    # The call's bytes are the same.
    from resp import encode_command
    from resp import protocol
    from server.cluster import scripts

    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    sent: list = []
    node._redis.pipeline_now = lambda encoded: sent.append(encoded) or asyncio.get_running_loop().create_future()
    encoded: list = []
    real = protocol._arg_bytes
    monkeypatch.setattr(protocol, "_arg_bytes", lambda arg: encoded.append(arg) or real(arg))

    async def tell() -> None:
        node.tell("ana", 7, b'{"type":"delivered","id":"c7","msg_id":7}')
        await asyncio.sleep(0.01)

    asyncio.run(tell())
    [[call]] = sent
    assert len(encoded) == 2, [repr(arg)[:30] for arg in encoded]  # the key and the entry
    key, entry = encoded
    assert key == "ana" and b'"msg_id":7' in (entry if isinstance(entry, bytes) else entry.encode())
    assert call == encode_command(("EVAL", scripts.ROUTES.source, 0, node.prefix, "n1", key, entry))


def test_a_release_redis_did_not_run_is_run_again_at_the_next_beat(monkeypatch) -> None:
    # Ana logged out while Redis was away: her name stayed claimed by a session gone, and
    # every login of hers was answered name_taken for as long as this node lived.
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    session = _Session()
    node._sids[session] = ("sid1", "ana", 1700000000.0)
    ran: list = []

    async def release(_client: object, args: tuple) -> object:
        ran.append(args[2])
        if len(ran) == 1:
            raise node_module.RedisConnectionError("cannot connect (for the test); the command was not sent")
        return 1

    monkeypatch.setattr(node_module.scripts, "RELEASE", release)

    async def run() -> None:
        node.release(session, "quit", 1700000001.0)
        for _ in range(100):
            if ran:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)
        assert list(node._unreleased) == ["sid1"]
        await node._release_again()  # what the next beat does once Redis answers

    asyncio.run(run())
    assert ran == ["sid1", "sid1"] and node._unreleased == {}


def test_a_message_to_a_user_whose_seen_is_unanswered_is_not_routed_by_the_store() -> None:
    # Bia's laptop logged in on another node, which this one learns only now (the directory
    # showed Bia all here): its "seen" (ClusterNode._seen) must reach that node before
    # Ana's next message to Bia, so that the laptop is given the older one waiting for it
    # first. The store's script writes on another connection: not while the seen waits.
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    node._where.update({"bia": False, "ana": True})
    answers: list[asyncio.Future] = []

    def fields(client_id: str) -> tuple:  # what the store gives its router: the fields after the id
        return ("Ana", "ana", "Bia", "bia", "text", 1700000000.0, client_id, "sent", 1700000600.0)

    async def seen_then_answered() -> tuple:
        def pipeline_now(_encoded: list) -> asyncio.Future:
            answers.append(asyncio.get_running_loop().create_future())
            return answers[-1]

        node._redis.pipeline_now = pipeline_now  # type: ignore[method-assign]
        node._seen("bia", "n2/1")
        await asyncio.sleep(0)  # the turn's routes are written
        waiting = node._route_with_store(fields("c1"))
        answers[0].set_result([[[b"n2"]]])
        for _ in range(20):
            await asyncio.sleep(0)
        return waiting, node._seeing

    waiting, seeing = asyncio.run(seen_then_answered())
    assert waiting is None, "routed by the store before the seen was answered"
    assert seeing == {}
    node._to_route.clear()  # (c1 routed by route() once its store answered)
    assert node._route_with_store(fields("c2")) is not None  # nothing waits: one step again

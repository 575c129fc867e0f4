"""The fast path of ``delivered`` (server/cluster/fastpath.py): the recipient's node sends
the sender's node one datagram beside the inbox entry it routes through Redis, and the
sender hears ``delivered`` once, from whichever comes first.

Two nodes on one loop (test_cluster_nodes.Cluster: one store in memory, or each node its
Redis store) and a real redis-server; wire clients. To show that the datagram alone
tells the sender, node 0 (Ana's, the recipient's) holds the inbox entries of the
outcomes it routes until the test lets them go. Every wait has a deadline.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_conversation import log_in, no, online
from test_cluster_nodes import NOTICES, Cluster, wait_for

from protocol import Accepted, Delivered, DirectMessage, Queued, Receipt, SendDirect
from protocol.codec import encode
from server.cluster import bus
from server.cluster.fastpath import FastTell, seal


@contextmanager
def ana_and_bia(redis, redis_stores: bool) -> Iterator[tuple]:
    """Ana on node 0 and Bia on node 1, each seen online by both, node 0's outcome entries
    held: (the cluster, Ana, Bia, the held entries, a function that routes them)."""
    c = Cluster(redis.url, 2, redis_stores=redis_stores, beat=0.2, ttl=1.0)
    try:
        with log_in(c, 0, "Ana") as ana, log_in(c, 1, "Bia") as bia:
            online(c, "Ana", "Bia")
            node = c.nodes[0]
            wait_for(lambda: c.call(lambda: bool(node._fast.peers) and bool(c.nodes[1]._fast.peers)),
                     what="each node knows the other's fast path endpoint")
            held, real = [], node._route_surely

            def holding(key, entry, what):
                held.append((key, entry, what))

            def let_go():
                c.call(delattr, node, "_route_surely")
                for routed in held:
                    c.call(real, *routed)

            c.call(setattr, node, "_route_surely", holding)
            yield c, ana, bia, held, let_go
    finally:
        c.close()


def bia_sends(ana, bia, text: str = "oi") -> int:
    """Bia sends Ana a message that Ana is shown and confirms; its msg_id."""
    bia.send(SendDirect("d1", "ana", text))
    msg_id = bia.expect(Accepted, skip=NOTICES).msg_id
    got = ana.expect(DirectMessage, skip=NOTICES)
    assert (got.msg_id, got.text) == (msg_id, text)
    ana.send(Receipt(msg_id))
    return msg_id


def the_entry_tells_nothing_more(c, bia, msg_id: int, let_go) -> None:
    """Node 0's held entries let go: node 1's reader applies the outcome's, and Bia, told
    by the datagram, hears nothing more."""
    let_go()
    wait_for(lambda: c.call(lambda: (("bia", msg_id) not in c.nodes[1]._fast_told)),
             what="node 1 reads the entry of the outcome it told")
    no(bia, Delivered, Queued)


@pytest.mark.parametrize("redis_stores", [False, True], ids=["memory", "redis"])
def test_the_sender_on_another_node_hears_delivered_from_the_datagram_and_once_when_the_entry_comes(
        redis_server, redis_stores):  # noqa: F811
    with ana_and_bia(redis_server, redis_stores) as (c, ana, bia, held, let_go):
        msg_id = bia_sends(ana, bia)
        assert bia.expect(Delivered, skip=NOTICES, timeout=5).msg_id == msg_id
        assert 'chat_cluster_fast_path_total{outcome="sent"} 1' in c.call(c.servers[0].metrics_text)
        assert 'chat_cluster_fast_path_total{outcome="told"} 1' in c.call(c.servers[1].metrics_text)
        wait_for(lambda: held, what="node 0's outcome entry, held")
        assert [bus.decode(entry).msg_id for _key, entry, _what in held] == [msg_id]
        the_entry_tells_nothing_more(c, bia, msg_id, let_go)


def test_a_queued_entry_after_the_datagrams_delivered_is_not_told(redis_server):  # noqa: F811
    # "delivered" is final: a "queued" routed before it (a node of the recipient that lost
    # her before she confirmed on another) and read after the datagram would be untrue.
    with ana_and_bia(redis_server, False) as (c, ana, bia, held, let_go):
        msg_id = bia_sends(ana, bia)
        assert bia.expect(Delivered, skip=NOTICES, timeout=5).msg_id == msg_id
        queued = encode(Queued("d1", msg_id)).decode("utf-8")
        c.call(c.nodes[1]._apply_routed, bus.Tell("bia", msg_id, queued))
        no(bia, Queued, Delivered)
        let_go()
        no(bia, Queued, Delivered)


def test_datagrams_not_sealed_for_this_node_or_about_nothing_it_waits_on_tell_nothing(
        redis_server, caplog):  # noqa: F811
    with ana_and_bia(redis_server, False) as (c, ana, bia, held, let_go):
        node = c.nodes[1]
        where = node._fast.address
        secret = node._fast.secret
        let_go()  # the entries route as before the fast path
        msg_id = bia_sends(ana, bia)
        assert bia.expect(Delivered, skip=NOTICES, timeout=5).msg_id == msg_id
        wait_for(lambda: c.call(lambda: (("bia", msg_id) not in node._fast_told)),
                 what="node 1 reads the entry of the outcome it told")
        frame = encode(Delivered("d1", msg_id))
        caplog.set_level(logging.INFO, logger="chat.cluster")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            # A replay of the message's delivered (its outcome told: not waited on any more),
            # one of a message node 1 never routed, one for another node, one under another
            # key, garbage: nothing is told, and the log says it once.
            sender.sendto(seal(secret, FastTell(node.node_id, "bia", msg_id, frame)), where)
            sender.sendto(seal(secret, FastTell(node.node_id, "bia", msg_id + 1, encode(Delivered("d2", msg_id + 1)))),
                          where)
            sender.sendto(seal(secret, FastTell("another", "bia", msg_id + 1, frame)), where)
            sender.sendto(seal(b"not the key", FastTell(node.node_id, "bia", msg_id + 1, frame)), where)
            for _ in range(50):
                sender.sendto(b"\x00" * 40, where)
        wait_for(lambda: [r for r in caplog.records if "fast path datagrams dropped" in r.getMessage()],
                 what="the drops logged")
        no(bia, Delivered)
        lines = [r.getMessage() for r in caplog.records if "fast path datagrams dropped" in r.getMessage()]
        assert len(lines) == 1, lines


@contextmanager
def confirmed_before_accepted(c, ana, bia, redis_stores: bool) -> Iterator[tuple]:
    """Bia (node 1) sends Ana (node 0) a message, and Ana is shown it and confirms it while
    node 1 holds the answer that writes Bia's ``accepted`` until it has the datagram of the
    ``delivered``: (its msg_id, a function that lets the answer go). With Redis stores the
    store's script routes the message, and the relay's route() call after its answer is
    held; with the memory store, ROUTES routes it, and its answer is held."""
    node = c.nodes[1]
    answers, datagrams = [], []
    taken, routing, route = node._fast._received, node._route, node.route

    def taking(tell):
        datagrams.append(tell)
        taken(tell)

    def holding_route(key, entry, callback, what):
        if what != "routing":
            return routing(key, entry, callback, what)
        routing(key, entry, lambda nodes: answers.append((callback, nodes)), what)

    def holding_answer(message, callback):
        answers.append((routed_as, node._store.routed, message, callback))

    def routed_as(routed, message, callback):
        node._store.routed = routed  # as while the store's callback runs (RedisStore.routed)
        try:
            route(message, callback)
        finally:
            node._store.routed = None

    def release():
        c.call(delattr, node, "route" if redis_stores else "_route")
        for call, *arguments in answers:
            c.call(call, *arguments)

    if redis_stores:
        c.call(setattr, node, "route", holding_answer)
    else:
        c.call(setattr, node, "_route", holding_route)
    c.call(setattr, node._fast, "_received", taking)
    bia.send(SendDirect("d1", "ana", "olá"))
    got = ana.expect(DirectMessage, skip=NOTICES)
    ana.send(Receipt(got.msg_id))
    wait_for(lambda: datagrams and answers, what="node 1 has the datagram, and the answer held")
    yield got.msg_id, release


@pytest.mark.parametrize("redis_stores", [False, True], ids=["memory", "redis"])
def test_a_delivered_that_comes_before_the_senders_accepted_is_told_right_after_it(
        redis_server, redis_stores):  # noqa: F811
    # Ana's node reads the message from Redis in the iteration that answers the store of
    # Bia's node, and Ana may confirm it before Bia's node has read that answer.
    with ana_and_bia(redis_server, redis_stores) as (c, ana, bia, held, let_go):
        with confirmed_before_accepted(c, ana, bia, redis_stores) as (msg_id, release):
            no(bia, Accepted, Delivered)
            release()
        assert bia.expect(Accepted, skip=NOTICES).msg_id == msg_id
        # Node 0's entry is still held: the datagram alone tells it, after the accepted.
        assert bia.expect(Delivered, skip=NOTICES, timeout=5).msg_id == msg_id
        assert 'chat_cluster_fast_path_total{outcome="told"} 1' in c.call(c.servers[1].metrics_text)
        assert c.call(lambda: len(c.nodes[1]._fast_early)) == 0
        the_entry_tells_nothing_more(c, bia, msg_id, let_go)


def test_a_datagram_held_for_a_message_whose_entry_told_it_first_tells_nothing_more(redis_server):  # noqa: F811
    with ana_and_bia(redis_server, True) as (c, ana, bia, held, let_go):
        with confirmed_before_accepted(c, ana, bia, True) as (msg_id, release):
            wait_for(lambda: held, what="node 0's outcome entry, held")
            let_go()  # the entry is read before the store's answer is: it tells "delivered"
            assert bia.expect(Delivered, skip=NOTICES, timeout=5).msg_id == msg_id
            release()
        assert bia.expect(Accepted, skip=NOTICES).msg_id == msg_id
        no(bia, Delivered, Queued)

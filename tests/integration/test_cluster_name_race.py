"""A name is one user's across the cluster also when a guest's login on one node and the
registration of an account of that name on another run at the same moment: Redis decides,
in one step each (the guest's CLAIM checks the accounts, the registration's SAVE_ACCOUNT
checks who is online), so exactly one of them wins, as on a single server.

Two nodes in one process (test_cluster_nodes.Cluster), each with its Redis store as
``--cluster`` makes it, on a real redis-server; node 1 reaches Redis through a raw
FaultProxy, which holds back either its events reader (node 1 has not heard that a guest
is online) or its claim (the guest's CLAIM waits on its way while node 0 registers).
Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
from faultproxy import UP, FaultProxy
from redisserver import RedisServer, redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import Cluster, wait_for
from test_redis_store import loop, open_redis_store  # noqa: F401  (loop: a fixture)
from test_cluster_new_accounts import PASSWORD, QUIET, hello, olga_behind_a_lagging_events_reader, register_on_node_0
from wire import WireClient

from protocol import Done, ErrorCode, ErrorReply, Hello, Register, Welcome
import const
from resp import RedisClient
from server.accounts import hash_password
from server.guests import Holding


def redis_call(url: str, *command):
    """Redis's answer (at ``url``) to ``command``, now."""
    async def call():
        async with RedisClient(url) as redis:
            return await redis.execute(*command)
    return asyncio.run(call())


def redis_has(url: str, key: str) -> bool:
    return redis_call(url, "EXISTS", key) == 1


def registration_on_node_1(c: Cluster, name: str) -> object:
    """The answer to a hello (id "r") registering ``name``, with PASSWORD, on node 1."""
    client = WireClient(*c.address(1))
    try:
        client.send(Hello("r", name, const.PROTOCOL_VERSION, PASSWORD, True, None))
        return client.expect((Welcome, ErrorReply), skip=QUIET)
    finally:
        client.close()


@contextlib.contextmanager
def a_guest_whose_claim_is_held(redis: RedisServer, name: str) -> Iterator[tuple]:
    """Two nodes, node 1 reaching Redis through a raw FaultProxy, and a guest who sent node 1
    a hello (id "g") for ``name``: its CLAIM, and all node 1 sends Redis after it, is held on
    its way until the proxy releases the port: (the cluster, node 1's server, the guest, the
    proxy, the held link's port). The guest, then the cluster, closed at the end."""
    key = name.lower()
    with FaultProxy("127.0.0.1", redis.port, raw=True) as proxy:
        c = Cluster(redis.url, 1, redis_stores=True, timeout=10.0, ttl=20.0)
        try:
            server = c.add_through(proxy.port)
            node = c.nodes[1]
            port = c.call(lambda: node._redis._link.transport.get_extra_info("sockname")[1])
            real_claim, held = node.claim, []

            def held_claim(session, claimed, *args, **kwargs):
                if claimed == key and not held:  # from now on what node 1 sends Redis waits (the CLAIM first)
                    held.append(proxy.hold_peer(port, (UP,)))
                return real_claim(session, claimed, *args, **kwargs)

            c.call(lambda: setattr(node, "claim", held_claim))
            guest = WireClient(*c.address(1))
            try:
                guest.send(Hello("g", name, const.PROTOCOL_VERSION))
                wait_for(lambda: key.encode() in proxy.held(port, UP), what="node 1's CLAIM held")
                assert held == [1], held
                yield c, server, guest, proxy, port
            finally:
                guest.close()
        finally:
            c.close()


def joao_left_node_0(c: Cluster, redis: RedisServer) -> str:
    """João, a guest, logs in on node 0 and leaves; his resume token, once Redis has his
    leaving."""
    first = c.login(0, "João")
    token = first.welcome.resume
    first.close()
    wait_for(lambda: redis_call(redis.url, "HGET", "{chat}:guest:jo\u00e3o", "left") is not None,
             what="João's leaving stored")
    return token


def test_an_account_is_not_registered_on_one_node_while_a_guest_is_online_under_it_on_another(
        redis_server):  # noqa: F811
    # Before, node 1 (whose events reader had not read the guest's 'on') stored Mia's account
    # and only then failed to claim the name for its session ("already in use"): an account
    # stood whose name a guest held online, and its registrant was told nothing of it.
    with olga_behind_a_lagging_events_reader(redis_server) as (c, server, olga, proxy, port):
        with c.login(0, "Mia"):  # a guest online on node 0
            assert c.call(lambda: server.relay.directory.lookup("Mia") is None), "the test must hold node 1's reader"
            refused = registration_on_node_1(c, "Mia")
            assert not redis_has(redis_server.url, "{chat}:acct:mia"), "no account of a name a guest is online under"
            assert isinstance(refused, ErrorReply) and refused.code == ErrorCode.NAME_TAKEN, refused
            assert refused.message == "the name 'Mia' is in use by a guest", refused
            assert c.call(lambda: "mia" not in server.relay.logins.accounts)
            assert c.call(lambda: c.servers[0].relay.directory.lookup("Mia") is not None), "the guest stays online"
        proxy.release_peer(port)


def test_the_guest_online_under_a_name_registers_it_in_a_cluster(redis_server):  # noqa: F811
    # Redis's check of who is online lets the guest who holds the name claim it (by_holder),
    # and another node's guest of that name is refused as before.
    c = Cluster(redis_server.url, 2, redis_stores=True, timeout=10.0)
    try:
        with c.login(0, "Caio") as caio:
            caio.send(Register("r1", PASSWORD))
            assert caio.expect((Done, ErrorReply), skip=QUIET) == Done("r1")
            assert redis_has(redis_server.url, "{chat}:acct:caio")
            refused = hello(c, 1, "Caio", None)
            assert isinstance(refused, ErrorReply) and refused.code == ErrorCode.AUTH_REQUIRED, refused
            welcome = hello(c, 1, "Caio", PASSWORD)  # the account, shared by its sessions
            assert isinstance(welcome, Welcome) and welcome.registered, welcome
    finally:
        c.close()


@pytest.mark.timeout_seconds(60)
def test_a_guest_claim_held_while_another_node_registers_the_name_is_not_welcomed(redis_server):  # noqa: F811
    # Node 1 looked the name up in Redis (no account), then its CLAIM waited in the proxy
    # while node 0 registered Mia (who then left). Before, the CLAIM (which checked only who
    # is online) welcomed a guest called Mia beside her account; now it is decided again as
    # a hello sent now: a password is needed.
    with a_guest_whose_claim_is_held(redis_server, "Mia") as (c, server, guest, proxy, port):
        c.login(0, "Mia", password=PASSWORD, register=True).close()  # registered, and gone again
        assert redis_has(redis_server.url, "{chat}:acct:mia")
        wait_for(lambda: not redis_has(redis_server.url, "{chat}:where:mia"), what="Mia's logout")
        proxy.release_peer(port)
        answer = guest.expect((Welcome, ErrorReply), skip=QUIET)
        assert isinstance(answer, ErrorReply) and answer.code == ErrorCode.AUTH_REQUIRED, answer
        assert answer.request_id == "g", answer
        guest.send(Hello("p", "Mia", const.PROTOCOL_VERSION, PASSWORD))  # her own password logs in
        welcome = guest.expect((Welcome, ErrorReply), skip=QUIET)
        assert isinstance(welcome, Welcome) and welcome.registered, welcome
        guest.close()
        assert c.call(lambda: server.relay.logins.accounts["mia"].name) == "Mia"


def test_a_guest_may_not_take_a_look_alike_of_an_account_registered_on_another_node_a_moment_ago(
        redis_server):  # noqa: F811
    # Node 1's events reader held: its cache has no account Mia, so its desk finds no name
    # that "Rnia" looks like. Before, the guest was welcomed as Rnia beside Mia's account
    # (a single server answers confusable_name); now the CLAIM reads the accounts'
    # look-alike keys in Redis.
    with olga_behind_a_lagging_events_reader(redis_server) as (c, server, olga, proxy, port):
        register_on_node_0(c, server, "Mia")
        refused = hello(c, 1, "Rnia", None)
        assert isinstance(refused, ErrorReply) and refused.code == ErrorCode.CONFUSABLE_NAME, refused
        assert refused.like == "Mia" and refused.request_id == "h", refused
        assert c.call(lambda: server.relay.logins.lookalike_of("Rnia") is None), "the test must hold node 1's reader"
        welcome = hello(c, 1, "Rnib", None)  # a name like nobody's still is
        assert isinstance(welcome, Welcome) and not welcome.registered, welcome
        proxy.release_peer(port)


def test_the_accounts_stored_before_the_look_alike_index_are_filed_when_a_node_loads_them(
        redis_server, loop):  # noqa: F811
    store = open_redis_store(loop, redis_server.url)
    try:
        store.save_account("mia", hash_password("Mia", PASSWORD))
        loop.run_until_complete(store.drain(timeout=10))
        assert redis_call(redis_server.url, "HGET", "{chat}:alook", "rnla") == b"mia"  # m looks like rn, i like l
        redis_call(redis_server.url, "DEL", "{chat}:alook")  # as a Redis written by the version before
        # ... or by the rule before i became l (docs/cluster.md, "Look-alike keys made by an older rule")
        redis_call(redis_server.url, "HSET", "{chat}:alook", "rnia", "mia")
        assert "mia" in store.accounts()  # what a node does at its start
        assert redis_call(redis_server.url, "HGET", "{chat}:alook", "rnla") == b"mia"
    finally:
        store.close()


def test_an_account_is_not_registered_under_a_look_alike_of_one_registered_on_another_node_a_moment_ago(
        redis_server):  # noqa: F811
    # Node 1's cache has no account Mia (its reader held). Before, it registered "Rnia" too:
    # two accounts that look alike, which a single server refuses (confusable_name).
    with olga_behind_a_lagging_events_reader(redis_server) as (c, server, olga, proxy, port):
        register_on_node_0(c, server, "Mia")
        refused = registration_on_node_1(c, "Rnia")
        assert not redis_has(redis_server.url, "{chat}:acct:rnia"), "no second account that looks like Mia's"
        assert isinstance(refused, ErrorReply) and refused.code == ErrorCode.CONFUSABLE_NAME, refused
        assert (refused.like, refused.request_id) == ("Mia", "r"), refused
        assert c.call(lambda: "rnia" not in server.relay.logins.accounts)
        proxy.release_peer(port)


def test_two_guests_taking_look_alike_names_on_two_nodes_at_once_get_one_welcome(redis_server):  # noqa: F811
    # Node 1's events reader held: it has not heard that João is online on node 0, so its
    # desk finds nobody "Joao" looks like (registry/names.py rule 7: accents dropped). Before,
    # both guests were welcomed (one node refuses the second); now CLAIM reads the look-alike
    # keys of the guest names held in Redis (glook), and the end of the name's hold (a short
    # one here) frees its key; while held, "Joao" is refused as on one node (the next test).
    with olga_behind_a_lagging_events_reader(redis_server, guest_hold=0.3) as (c, server, olga, proxy, port):
        with c.login(0, "João"):  # welcomed (login asserts it)
            assert c.call(lambda: server.relay.directory.lookup("João") is None), "the test must hold node 1's reader"
            assert c.call(lambda: server.relay.logins.lookalike_of("Joao") is None)
            refused = hello(c, 1, "Joao", None)
            assert isinstance(refused, ErrorReply) and refused.code == ErrorCode.CONFUSABLE_NAME, refused
            assert refused.like == "João" and refused.request_id == "h", refused
            assert not redis_has(redis_server.url, "{chat}:where:joao"), "one welcome of the two"
        wait_for(lambda: not redis_has(redis_server.url, "{chat}:where:jo\u00e3o"), what="João's logout")
        # João left and his hold is over: the name is free again.
        welcome = wait_for(lambda: (lambda answer: answer if isinstance(answer, Welcome) else None)(
            hello(c, 1, "Joao", None)), what="a welcome of Joao after João's hold")
        assert isinstance(welcome, Welcome) and not welcome.registered, welcome
        proxy.release_peer(port)



def test_a_guest_back_with_its_token_keeps_look_alikes_out_on_another_node(redis_server):  # noqa: F811
    # Only a guest taking a name anew filed its look-alike key (glook): João, back on node 0
    # with his token after his name was released, was not filed, and node 1 (its reader held:
    # it has not heard of João) welcomed a guest "Joao" beside him. Now a resume files it too.
    with olga_behind_a_lagging_events_reader(redis_server) as (c, server, olga, proxy, port):
        first = c.login(0, "João")
        token = first.welcome.resume
        first.close()
        wait_for(lambda: not redis_has(redis_server.url, "{chat}:where:jo\u00e3o"), what="João's logout")
        with WireClient(*c.address(0)) as again:
            again.send(Hello("h", "João", const.PROTOCOL_VERSION, resume=token))
            back = again.expect((Welcome, ErrorReply), skip=QUIET)
            assert isinstance(back, Welcome) and back.name == "João", back
            assert c.call(lambda: server.relay.logins.lookalike_of("Joao") is None), "node 1's reader must be held"
            refused = hello(c, 1, "Joao", None)
            assert isinstance(refused, ErrorReply) and refused.code == ErrorCode.CONFUSABLE_NAME, refused
            assert refused.like == "João", refused
        proxy.release_peer(port)


def test_a_guest_name_held_offline_is_not_taken_on_a_node_that_has_not_heard_of_it(redis_server):  # noqa: F811
    # João logs in and out on node 0: his name is held for a while. Node 1 (its reader held)
    # has not heard of him, and its desk welcomed both "João" (another guest, without his
    # token) and "Joao" (a look-alike). Now CLAIM reads the holding in Redis.
    with olga_behind_a_lagging_events_reader(redis_server) as (c, server, olga, proxy, port):
        c.login(0, "João").close()
        wait_for(lambda: not redis_has(redis_server.url, "{chat}:where:jo\u00e3o"), what="João's logout")
        wait_for(lambda: redis_call(redis_server.url, "HGET", "{chat}:guest:jo\u00e3o", "left") is not None,
                 what="João's leaving stored")
        assert c.call(lambda: server.relay.logins.lookalike_of("Joao") is None), "the test must hold node 1's reader"
        refused = hello(c, 1, "Joao", None)
        assert isinstance(refused, ErrorReply) and refused.code == ErrorCode.CONFUSABLE_NAME, refused
        assert refused.like == "João", refused
        taken = hello(c, 1, "João", None)
        assert isinstance(taken, ErrorReply) and taken.code == ErrorCode.NAME_TAKEN, taken
        # Told as one server tells it: kept for the guest who left, until when (not "in use").
        left = float(redis_call(redis_server.url, "HGET", "{chat}:guest:jo\u00e3o", "left"))
        hold = c.call(lambda: server.relay.logins.guests.hold)
        assert taken.until is not None and abs(taken.until - (left + hold)) < 0.01, taken
        assert "kept for the guest" in taken.message, taken
        proxy.release_peer(port)

def test_an_account_is_not_registered_under_a_look_alike_of_a_guest_online_on_another_node(
        redis_server):  # noqa: F811
    # Node 1 has not heard that João is online on node 0 (its reader held). Before, it
    # registered "Joao" beside him, which a single server refuses (confusable_name); now the
    # save of the account reads the guest names' look-alike keys (glook) too.
    with olga_behind_a_lagging_events_reader(redis_server) as (c, server, olga, proxy, port):
        with c.login(0, "João"):
            assert c.call(lambda: server.relay.logins.lookalike_of("Joao") is None), \
                "the test must hold node 1's reader"
            refused = registration_on_node_1(c, "Joao")
            assert not redis_has(redis_server.url, "{chat}:acct:joao"), "no account that looks like a guest online"
            assert isinstance(refused, ErrorReply) and refused.code == ErrorCode.CONFUSABLE_NAME, refused
            assert (refused.like, refused.request_id) == ("João", "r"), refused
            assert c.call(lambda: "joao" not in server.relay.logins.accounts)
        proxy.release_peer(port)


@pytest.mark.timeout_seconds(60)
def test_two_guests_whose_look_alike_claims_race_get_one_welcome(redis_server):  # noqa: F811
    # Node 1's desk found nobody "Joao" looks like, and its CLAIM waits on its way to Redis
    # while node 0 welcomes João: both claims were made with every node's check passed, and
    # Redis decides. Before, both were welcomed.
    with a_guest_whose_claim_is_held(redis_server, "Joao") as (c, _server, guest, proxy, port):
        with c.login(0, "João"):  # welcomed (login asserts it)
            proxy.release_peer(port)
            answer = guest.expect((Welcome, ErrorReply), skip=QUIET)
            assert isinstance(answer, ErrorReply) and answer.code == ErrorCode.CONFUSABLE_NAME, answer
            assert (answer.like, answer.request_id) == ("João", "g"), answer


def test_an_account_is_not_registered_under_a_guest_name_held_offline_on_another_node_nor_a_look_alike(
        redis_server):  # noqa: F811
    # João logs in and out on node 0: his name is held for a while. Node 1 (its reader held)
    # has not heard of him. Before, it registered "João" (an account under a guest name still
    # held, which one server refuses name_taken) and "Joao" (a look-alike of it); now the save
    # of the account reads the holdings in Redis, as a guest's CLAIM does.
    with olga_behind_a_lagging_events_reader(redis_server) as (c, server, olga, proxy, port):
        joao_left_node_0(c, redis_server)
        assert c.call(lambda: server.relay.logins.lookalike_of("Joao") is None), "the test must hold node 1's reader"
        for name, code in (("Joao", ErrorCode.CONFUSABLE_NAME), ("João", ErrorCode.NAME_TAKEN)):
            refused = registration_on_node_1(c, name)
            assert isinstance(refused, ErrorReply) and refused.code == code, (name, refused)
            assert refused.like == ("João" if code == ErrorCode.CONFUSABLE_NAME else None), refused
            assert not redis_has(redis_server.url, "{chat}:acct:" + name.lower()), name
            assert c.call(lambda: name.lower() not in server.relay.logins.accounts), name
        assert refused.message.startswith("the name 'João' is kept for the guest who used it until "), refused
        assert refused.until is not None and refused.request_id == "r", refused
        proxy.release_peer(port)


def test_the_guest_who_held_a_name_registers_it_with_its_token_on_a_node_that_has_not_heard_of_it(
        redis_server):  # noqa: F811
    # The save of an account reads the holdings in Redis (above): not against the guest who
    # holds the name, back with its token, as one server lets them register it.
    with olga_behind_a_lagging_events_reader(redis_server) as (c, server, olga, proxy, port):
        token = joao_left_node_0(c, redis_server)
        c.call(lambda: server.relay.logins.guests.take("jo\u00e3o", "João", 0, token))  # as node 0 told it
        with WireClient(*c.address(1)) as client:
            client.send(Hello("r", "João", const.PROTOCOL_VERSION, PASSWORD, True, token))
            answer = client.expect((Welcome, ErrorReply), skip=QUIET)
        assert isinstance(answer, Welcome) and answer.registered, answer
        proxy.release_peer(port)


def test_a_guest_back_with_its_token_on_a_node_that_has_not_heard_of_its_name_is_welcomed_at_once(
        redis_server):  # noqa: F811
    # João takes his name on node 0 and leaves; node 1 (its reader held) has not heard of
    # him. Before, his hello with his token on node 1 was decided on node 1's cache (no
    # holding: the name taken anew), and CLAIM, which finds it held in Redis, refused it
    # name_taken: his own name. Now a token the cache does not know is checked in Redis.
    with olga_behind_a_lagging_events_reader(redis_server) as (c, server, olga, proxy, port):
        token = joao_left_node_0(c, redis_server)
        assert c.call(lambda: "jo\u00e3o" not in server.relay.logins.guests.holdings), "node 1's reader must be held"
        with WireClient(*c.address(1)) as again:
            again.send(Hello("h", "João", const.PROTOCOL_VERSION, resume=token))
            answer = again.expect((Welcome, ErrorReply), skip=QUIET)
            assert isinstance(answer, Welcome) and answer.name == "João", answer
            assert not answer.resume and not answer.registered, answer  # the same guest: no new token
            # While he is (once he closes, he has left again): written by node 1 after the
            # welcome, as every guest's return is, so waited for.
            wait_for(lambda: redis_call(redis_server.url, "HGET", "{chat}:guest:jo\u00e3o", "left") is None,
                     what="João online again in Redis")
        proxy.release_peer(port)


def test_a_guest_who_took_a_name_anew_is_welcomed_back_on_a_node_that_knows_only_its_earlier_holder(
        redis_server):  # noqa: F811
    # Node 1 knows an earlier holder of the name (another token, left long ago); João took
    # it anew on node 0, which node 1 has not heard of. Before, node 1 took his own name from
    # him afresh (a new token, his queue and history lost) or refused it; now Redis decides.
    with olga_behind_a_lagging_events_reader(redis_server, guest_hold=0.2) as (c, server, olga, proxy, port):
        token = joao_left_node_0(c, redis_server)
        c.call(lambda: server.relay.logins.guests.holdings.__setitem__(
            "jo\u00e3o", Holding("João", b"\0" * 32, 0, 1.0)))  # an earlier holder, as node 1 last heard
        with WireClient(*c.address(1)) as again:
            again.send(Hello("h", "João", const.PROTOCOL_VERSION, resume=token))
            answer = again.expect((Welcome, ErrorReply), skip=QUIET)
        assert isinstance(answer, Welcome) and answer.name == "João", answer
        assert not answer.resume, answer  # the same guest: no new token
        proxy.release_peer(port)


def test_a_guest_cannot_take_conceicao_in_capitals_on_one_node_while_conceicao_is_online_on_another(
        redis_server):  # noqa: F811
    # Node 1 has not heard that Conceição is online on node 0 (its reader held): only the
    # CLAIM's look-alike key in Redis (glook) can refuse "CONCEICAO", so the key node 0 filed
    # and the one node 1 asks for must be the same rule's (registry.names.lookalike_key).
    with olga_behind_a_lagging_events_reader(redis_server) as (c, server, olga, proxy, port):
        with c.login(0, "Conceição"):
            assert c.call(lambda: server.relay.logins.lookalike_of("CONCEICAO") is None), \
                "the test must hold node 1's reader"
            client = WireClient(*c.address(1))
            try:
                client.send(Hello("g", "CONCEICAO", const.PROTOCOL_VERSION))
                refused = client.expect((Welcome, ErrorReply), skip=QUIET)
            finally:
                client.close()
            assert isinstance(refused, ErrorReply) and refused.code == ErrorCode.CONFUSABLE_NAME, refused
            assert (refused.like, refused.request_id) == ("Conceição", "g"), refused
        proxy.release_peer(port)

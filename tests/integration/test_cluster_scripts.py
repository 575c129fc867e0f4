"""The cluster's Lua scripts (server/cluster/scripts.py) on a real redis-server: each
step of the registry is one script, and these are its rules."""

from __future__ import annotations

import asyncio

from redisserver import redis_server  # noqa: F401  (a fixture)

from resp import RedisClient
from server.cluster import bus, scripts
from server.stores import redis_scripts as lua

P = "{t}:"
SILENCE_MS = 1000  # scripts._LIVENESS: longer than any pause of these tests' steps


def run(url, steps):
    async def main():
        async with RedisClient(url) as redis:
            return await steps(redis)
    return asyncio.run(main())


async def join(redis, node, ttl_ms=5000):
    assert await scripts.JOIN(redis, args=(P, node, ttl_ms, "test", SILENCE_MS)) == 1


async def claim(redis, node, sid, key, shared=False):
    entry = bus.encode(bus.SessionOn(key, key.title(), shared, sid, node, "127.0.0.1", 1, 1.0))
    reply = await scripts.CLAIM(redis, args=(P, node, sid, key, key.title(), "1" if shared else "0",
                                             f"{node}\t127.0.0.1\t1\t1.0", entry))
    if isinstance(reply, list):  # 'ok', with the message id counter as it stood
        assert reply[1] == int(await redis.execute("GET", P + "next") or 0), reply
        reply = reply[0]
    return reply.decode()


async def events(redis):
    return [bus.decode(fields[1]) for _, fields in await redis.execute("XRANGE", P + "events", "-", "+")]


def test_a_guest_name_is_claimed_once_and_an_account_may_be_shared(redis_server):  # noqa: F811
    async def steps(redis):
        await join(redis, "a")
        await join(redis, "b")
        assert await claim(redis, "a", "a/1", "ana") == "ok"
        assert await claim(redis, "b", "b/1", "ana") == "taken"
        assert await claim(redis, "b", "b/2", "ana", shared=True) == "taken"  # the holder is a guest
        assert await claim(redis, "a", "a/2", "caio", shared=True) == "ok"
        assert await claim(redis, "b", "b/3", "caio", shared=True) == "ok"
        assert await claim(redis, "b", "b/4", "caio", shared=False) == "taken"  # a guest may not join it
        assert [type(e).__name__ for e in await events(redis)] == ["SessionOn"] * 3
        assert await redis.execute("HGET", P + "who", "caio") == b"1|Caio"
    run(redis_server.url, steps)


def test_a_claim_says_the_last_message_id_given_out_with_its_ok(redis_server):  # noqa: F811
    # A guest name's new epoch, and the welcome's last_id: every node's ids, not only
    # those the claiming node has seen (ClusterNode._claimed).
    async def steps(redis):
        await join(redis, "a")
        entry = bus.encode(bus.SessionOn("ana", "Ana", False, "a/1", "a", "127.0.0.1", 1, 1.0))
        args = (P, "a", "a/1", "ana", "Ana", "0", "a\t127.0.0.1\t1\t1.0", entry)
        await redis.execute("SET", P + "next", 41)
        assert await scripts.CLAIM(redis, args=args) == [b"ok", 41]
        await redis.execute("SET", P + "next", 43)
        assert await scripts.CLAIM(redis, args=args) == [b"ok", 43]  # the same id again: ok, as it stands now
    run(redis_server.url, steps)


def test_a_node_without_a_heartbeat_may_not_claim(redis_server):  # noqa: F811
    async def steps(redis):
        assert await claim(redis, "ghost", "ghost/1", "ana") == "gone"
        assert await redis.execute("HLEN", P + "who") == 0
    run(redis_server.url, steps)


def test_release_frees_the_name_with_the_last_session(redis_server):  # noqa: F811
    async def steps(redis):
        await join(redis, "a")
        await claim(redis, "a", "a/1", "caio", shared=True)
        await claim(redis, "a", "a/2", "caio", shared=True)
        off = bus.encode(bus.SessionOff("caio", "a/1", "quit", 2.0))
        assert await scripts.RELEASE(redis, args=(P, "a", "a/1", "caio", off)) == 1
        assert await redis.execute("HEXISTS", P + "who", "caio") == 1
        assert await scripts.RELEASE(redis, args=(P, "a", "a/1", "caio", off)) == 0  # twice: nothing
        off = bus.encode(bus.SessionOff("caio", "a/2", "quit", 3.0))
        assert await scripts.RELEASE(redis, args=(P, "a", "a/2", "caio", off)) == 1
        assert await redis.execute("HEXISTS", P + "who", "caio") == 0
        assert await claim(redis, "a", "a/3", "caio") == "ok"  # free for anyone
    run(redis_server.url, steps)


def test_reap_removes_a_dead_nodes_sessions_once_and_says_so_in_one_entry(redis_server):  # noqa: F811
    async def steps(redis):
        await join(redis, "alive")
        await join(redis, "dead", ttl_ms=50)
        await claim(redis, "dead", "dead/1", "ana")
        await claim(redis, "dead", "dead/2", "caio", shared=True)
        await claim(redis, "alive", "alive/1", "caio", shared=True)
        await claim(redis, "alive", "alive/2", "bia")
        await asyncio.sleep(0.2)  # the dead node's heartbeat expires (its TTL is 50 ms)
        assert await scripts.BEAT(redis, args=(P, "dead", 5000, SILENCE_MS)) == 0
        assert await scripts.REAP(redis, args=(P, SILENCE_MS)) == [b"dead"]
        assert await scripts.REAP(redis, args=(P, SILENCE_MS)) == []
        assert sorted(await redis.execute("HKEYS", P + "who")) == [b"bia", b"caio"]
        assert await redis.execute("HKEYS", P + "where:caio") == [b"alive/1"]
        assert await redis.execute("EXISTS", P + "inbox:dead", P + "sessions:dead") == 0
        assert (await events(redis))[-1] == bus.NodeGone("dead")
        # Its late release changes nothing: the NodeGone already said it.
        off = bus.encode(bus.SessionOff("ana", "dead/1", "quit", 2.0))
        assert await scripts.RELEASE(redis, args=(P, "dead", "dead/1", "ana", off)) == 0
        assert await claim(redis, "dead", "dead/3", "zed") == "gone"
    run(redis_server.url, steps)


def test_the_gone_entry_names_any_node_id_exactly(redis_server):  # noqa: F811
    """REAP writes its entry's JSON itself (scripts.JSON_STRING_FUNCTION: some packaged
    Redis builds have no cjson in their Lua): a node id with quotes, a backslash, control
    characters and accents reads back as it was."""
    odd = 'nó "a"\\b\t\x01é'

    async def steps(redis):
        await join(redis, odd, ttl_ms=50)
        await asyncio.sleep(0.2)
        assert await scripts.REAP(redis, args=(P, SILENCE_MS)) == [odd.encode()]
        assert (await events(redis))[-1] == bus.NodeGone(odd)
    run(redis_server.url, steps)


def test_a_time_no_node_could_beat_counts_against_nobody_but_one_node_silent_alone_is_reaped(redis_server):  # noqa: F811
    # scripts._LIVENESS: 0.6 s without any heartbeat script (Redis down, for the nodes)
    # is longer than the silence (0.2 s): every deadline moves on by it, and neither node
    # is reaped although both TTLs (0.3 s) passed. Then only "b" beats: "a" is reaped.
    async def steps(redis):
        await join(redis, "a", ttl_ms=300)
        await join(redis, "b", ttl_ms=300)
        await asyncio.sleep(0.6)
        assert await scripts.REAP(redis, args=(P, 200)) == []
        assert await scripts.BEAT(redis, args=(P, "a", 300, 200)) == 1
        assert await scripts.BEAT(redis, args=(P, "b", 300, 200)) == 1
        reaped = []
        for _ in range(10):  # 0.5 s of b's beats, 50 ms apart
            await asyncio.sleep(0.05)
            assert await scripts.BEAT(redis, args=(P, "b", 300, 200)) == 1
            reaped += await scripts.REAP(redis, args=(P, 200))
        assert reaped == [b"a"]
        assert await scripts.BEAT(redis, args=(P, "a", 300, 200)) == 0
    run(redis_server.url, steps)


def test_route_reaches_every_other_node_of_the_user_once(redis_server):  # noqa: F811
    async def steps(redis):
        for node in ("a", "b", "c"):
            await join(redis, node)
        await claim(redis, "a", "a/1", "caio", shared=True)
        await claim(redis, "b", "b/1", "caio", shared=True)
        await claim(redis, "b", "b/2", "caio", shared=True)
        reached = await scripts.ROUTES(redis, args=(P, "a", "caio", b"entry"))
        assert reached == [[b"b"]]
        assert await redis.execute("XLEN", P + "inbox:b") == 1
        assert await redis.execute("XLEN", P + "inbox:a") == 0
        assert await scripts.ROUTES(redis, args=(P, "a", "nobody", b"entry")) == [[]]
    run(redis_server.url, steps)


def test_routes_routes_each_entry_in_order_and_answers_per_entry(redis_server):  # noqa: F811
    async def steps(redis):
        for node in ("a", "b", "c"):
            await join(redis, node)
        await claim(redis, "b", "b/1", "caio", shared=True)
        await claim(redis, "c", "c/1", "caio", shared=True)
        await claim(redis, "a", "a/1", "bia")
        await claim(redis, "b", "b/2", "rui")
        reached = await scripts.ROUTES(redis, args=(P, "a", "caio", b"1", "bia", b"2", "nobody", b"3", "rui", b"4"))
        assert [sorted(nodes) for nodes in reached] == [[b"b", b"c"], [], [], [b"b"]]
        # (Each node's events, one a line, in the order given: one entry a call, below.)
        inbox_b = await redis.execute("XRANGE", P + "inbox:b", "-", "+")
        assert [line for _, fields in inbox_b for line in fields[1].split(b"\n")] == [b"1", b"4"]
        inbox_c = await redis.execute("XRANGE", P + "inbox:c", "-", "+")
        assert [line for _, fields in inbox_c for line in fields[1].split(b"\n")] == [b"1"]
        assert await redis.execute("XLEN", P + "inbox:a") == 0
        assert await scripts.ROUTES(redis, args=(P, "a")) == []
    run(redis_server.url, steps)


def test_routes_writes_one_inbox_entry_per_node_per_call_its_events_one_a_line_in_order(redis_server):  # noqa: F811
    """A ROUTES call's entries for one node are one inbox entry, their events one a line
    in the order routed: one XADD for Redis to run and write to its append-only file, one
    entry for the node to read (with the XCLAIM Redis writes for every entry read through
    a consumer group) and one id to acknowledge and delete, not one each (the cluster
    path's round sixteen). Past INBOX_ENTRY_BYTES an entry is written and the next begins,
    the order kept."""
    async def steps(redis):
        for node in ("a", "b", "c"):
            await join(redis, node)
        await claim(redis, "b", "b/1", "caio", shared=True)
        await claim(redis, "c", "c/1", "caio", shared=True)
        await claim(redis, "b", "b/2", "rui")
        reached = await scripts.ROUTES(redis, args=(P, "a", "caio", b"1", "rui", b"2", "caio", b"3", "rui", b"4"))
        assert [sorted(nodes) for nodes in reached] == [[b"b", b"c"], [b"b"], [b"b", b"c"], [b"b"]]
        assert [fields for _, fields in await redis.execute("XRANGE", P + "inbox:b", "-", "+")] == [
            [b"e", b"1\n2\n3\n4"]]
        assert [fields for _, fields in await redis.execute("XRANGE", P + "inbox:c", "-", "+")] == [[b"e", b"1\n3"]]
        # Larger than an entry holds: entries of at least INBOX_ENTRY_BYTES, in order.
        big = [b"%03d" % i + b"x" * (scripts.INBOX_ENTRY_BYTES // 10) for i in range(25)]
        args = [P, "a"]
        for event in big:
            args += ["rui", event]
        await redis.execute("DEL", P + "inbox:b")
        await scripts.ROUTES(redis, args=args)
        entries = [fields[1] for _, fields in await redis.execute("XRANGE", P + "inbox:b", "-", "+")]
        assert [line for entry in entries for line in entry.split(b"\n")] == big
        assert len(entries) == 3
        assert all(len(entry) >= scripts.INBOX_ENTRY_BYTES for entry in entries[:-1])
        assert all(len(entry) < scripts.INBOX_ENTRY_BYTES + len(big[0]) + 10 for entry in entries)
    run(redis_server.url, steps)


def test_the_stores_routed_messages_of_one_call_are_one_inbox_entry_per_node_in_order(redis_server):  # noqa: F811
    """Direct messages a node stores and routes in one BATCH call (RedisStore.router: a
    turn's messages) reach each other node as ONE inbox entry, their dm events one a line
    in the order stored, each with the id Redis gave it; each callback is told the nodes."""
    from server.mailbox import new_stored_message
    from server.stores.redis import RedisStore

    async def main():
        async with RedisClient(redis_server.url) as redis:
            for node in ("a", "b"):
                await join(redis, node)
            await claim(redis, "b", "b/1", "bia")
        store = RedisStore(redis_server.url, prefix=P)
        store.open()
        store.start(asyncio.get_running_loop())
        store.router = lambda fields: (P, "a", *bus.deliver_parts(new_stored_message(0, *fields)))
        answers = []

        def stored(result):
            answers.append((result[0], store.routed))
        try:
            for i in range(3):
                store.store_fields(("Ana", "ana", "Bia", "bia", f"m{i}", 1.5, f"c{i}", "sent", 99.5), stored)
            await store.drain(timeout=10)
        finally:
            store.close()
        assert [message.text for message, _routed in answers] == ["m0", "m1", "m2"]
        assert all(routed == (message.msg_id, ["b"]) for message, routed in answers), answers
        async with RedisClient(redis_server.url) as redis:
            entries = await redis.execute("XRANGE", P + "inbox:b", "-", "+")
        assert len(entries) == 1, entries
        events = [bus.decode(line) for line in entries[0][1][1].split(b"\n")]
        assert events == [bus.Deliver(message) for message, _routed in answers]
    asyncio.run(asyncio.wait_for(main(), 20))


def test_snapshot_returns_the_registry_with_the_stream_position_it_matches(redis_server):  # noqa: F811
    async def steps(redis):
        assert await scripts.SNAPSHOT(redis, args=(P,)) == [b"0-0"]
        await join(redis, "a")
        await claim(redis, "a", "a/1", "ana")
        last = (await redis.execute("XREVRANGE", P + "events", "+", "-", "COUNT", 1))[0][0]
        assert await scripts.SNAPSHOT(redis, args=(P,)) == [last, [b"ana", b"0|Ana", [b"a/1", b"a\t127.0.0.1\t1\t1.0"]]]
    run(redis_server.url, steps)


def test_a_turns_routes_are_written_when_the_turn_ends_in_their_order_and_answered(redis_server):  # noqa: F811
    """The node's routes of one loop turn (a carbon, then the entries after it) go out as
    one ROUTES call at the end of that turn, not two turns later (a task to start, then the
    client's flush): on the cross-node path that is the ``delivered`` going back
    (bench/PROFILE.md, "The cluster path, round four"). The carbon, routed first, is
    first in the other node's inbox."""
    from server.cluster.node import ClusterNode

    async def main():
        node = ClusterNode(redis_server.url, prefix=P, node_id="n1")
        async with RedisClient(redis_server.url) as redis:
            await join(redis, "n1")
            await join(redis, "n2")
            await claim(redis, "n2", "n2/1", "bob", shared=True)
            await node._redis.execute("PING")  # connected
            link = node._redis._link
            written = []
            real_write = link.transport.write
            link.transport.write = lambda data: (written.append(bytes(data)), real_write(data))[1]
            answers = asyncio.get_running_loop().create_future()
            node._route("bob", bus.encode(bus.CarbonCopy("bob", 7, "{}")), None, "carbon for 'bob'")
            node._route("bob", bus.encode(bus.Settled("bob", 7)), answers.set_result, "settled")
            await asyncio.sleep(0)  # resumed after the end-of-turn callback, in the next turn
            assert len(written) == 1
            assert await asyncio.wait_for(answers, 5) == ["n2"]
            entries = await redis.execute("XRANGE", P + "inbox:n2", "-", "+")
            kinds = [type(bus.decode(line)).__name__ for _id, fields in entries for line in fields[1].split(b"\n")]
            assert kinds == ["CarbonCopy", "Settled"], kinds
        await node._redis.close()
    asyncio.run(asyncio.wait_for(main(), 20))


def test_the_inbox_reader_asks_again_in_the_turn_it_applied_a_reply(redis_server):  # noqa: F811
    """Once a reply's entries are applied, the next XREADGROUP is written in that same
    turn, not at its end: entries that come meanwhile wait for it in Redis."""
    from server.cluster.node import ClusterNode

    async def main():
        loop = asyncio.get_running_loop()
        node = ClusterNode(redis_server.url, prefix=P, node_id="n1")
        async with RedisClient(redis_server.url) as redis:
            await join(redis, "n1")
            reader = asyncio.ensure_future(node._read_inbox())
            while node._inbox_reader._link is None or node._inbox_reader._in_flight == 0:
                await asyncio.sleep(0.01)  # bounded by the wait_for below
            link = node._inbox_reader._link
            written, seen = [], []
            real_write = link.transport.write
            link.transport.write = lambda data: (written.append(bytes(data)), real_write(data))[1]
            applied = loop.create_future()

            def apply(event):  # then, at the start of the next turn: was the next read written?
                loop.call_soon(lambda: (seen.append(len(written)), applied.done() or applied.set_result(None)))
            node._apply_routed = apply
            await redis.execute("XADD", P + "inbox:n1", "*", "e", bus.encode(bus.Settled("bob", 7)))
            await applied
            assert seen == [1], seen
            reader.cancel()
        await node._inbox_reader.close()
        await node._redis.close()
    asyncio.run(asyncio.wait_for(main(), 20))


def test_a_heartbeat_trims_the_events_stream_of_entries_older_than_it_keeps(redis_server):  # noqa: F811
    """The privacy review (docs/privacy.md): the events stream carries every login's
    address and the default room's texts; what no live node can still need leaves it
    after ``EVENTS_KEPT_MS``, not only past 100,000 newer entries (months on a class's
    server, past the history's 90 days and long after the sessions ended)."""
    long_ago = bus.encode(bus.SessionOn("ana", "Ana", False, "x/1", "x", "192.0.2.7", 50412, 1.0))
    post = bus.encode(bus.RoomPost(1, "Ana", "ana", "a secret of Ana's", 1.0))

    async def steps(redis):
        await redis.execute("XADD", P + "events", "1000-0", "e", long_ago)
        await redis.execute("XADD", P + "events", "2000-0", "e", post)
        await join(redis, "a")
        assert await claim(redis, "a", "a/1", "caio") == "ok"  # an entry of now
        assert await scripts.BEAT(redis, args=(P, "a", 5000, SILENCE_MS)) == 1
        kept = await events(redis)
        assert kept == [bus.SessionOn("caio", "Caio", False, "a/1", "a", "127.0.0.1", 1, 1.0)], kept
    run(redis_server.url, steps)


def test_a_guest_may_not_claim_an_accounts_name_nor_an_account_be_saved_under_a_guest_online(
        redis_server):  # noqa: F811
    # A guest's login and a registration of one name on two nodes: each node looked (no
    # account, nobody online), then both steps reach Redis. Whichever runs first wins, and
    # the other refuses (CLAIM 'registered'; SAVE_ACCOUNT 2, nothing saved).
    def save(redis, key, by_holder="0"):
        return lua.SAVE_ACCOUNT(redis, args=(P, key, key.title(), "h", "s", "scrypt", "1.0", by_holder))

    async def steps(redis):
        await join(redis, "a")
        await join(redis, "b")
        assert await save(redis, "mia") == 1
        assert await claim(redis, "b", "b/1", "mia") == "registered"  # a guest under her name
        assert await redis.execute("HEXISTS", P + "who", "mia") == 0
        assert await claim(redis, "a", "a/1", "mia", shared=True) == "ok"  # her own login
        assert await claim(redis, "b", "b/2", "caio") == "ok"  # a guest online
        assert await save(redis, "caio") == 2
        assert await redis.execute("EXISTS", P + "acct:caio") == 0
        assert await save(redis, "caio", by_holder="1") == 1  # the guest online under it claims it
        assert [type(e).__name__ for e in await events(redis)] == ["SessionOn"] * 2
    run(redis_server.url, steps)


def test_a_new_guest_name_that_looks_like_an_accounts_is_refused_by_the_claim(redis_server):  # noqa: F811
    # The accounts by look-alike key (alook), filed by SAVE_ACCOUNT and FILE_LOOKALIKES, read
    # by the CLAIM of a guest taking a name anew (its look-alike key the tenth argument).
    def save(redis, key, name, lookalike):
        return lua.SAVE_ACCOUNT(redis, args=(P, key, name, "h", "s", "scrypt", "1.0", "0", lookalike))

    async def take(redis, sid, key, name, lookalike):
        entry = bus.encode(bus.SessionOn(key, name, False, sid, "a", "127.0.0.1", 1, 1.0))
        reply = await scripts.CLAIM(redis, args=(P, "a", sid, key, name, "0", "a\t127.0.0.1\t1\t1.0", entry, "",
                                                 lookalike))
        return [reply[0].decode(), reply[1].decode() if reply[0] == b"confusable" else None]

    async def steps(redis):
        await join(redis, "a")
        assert await save(redis, "mia", "Mia", "rnia") == 1
        assert await redis.execute("HGET", P + "alook", "rnia") == b"mia"
        assert await save(redis, "rnia", "Rnia", "rnia") == [3, b"Mia"]  # nor an account that looks like it
        assert await redis.execute("EXISTS", P + "acct:rnia") == 0
        assert await take(redis, "a/1", "rnia", "Rnia", "rnia") == ["confusable", "Mia"]
        assert await redis.execute("HEXISTS", P + "who", "rnia") == 0
        assert await take(redis, "a/2", "rnib", "Rnib", "rnib") == ["ok", None]
        # An entry of an account deleted since (no acct: hash) refuses nothing and is taken over.
        await redis.execute("DEL", P + "acct:mia")
        assert await take(redis, "a/3", "rnia", "Rnia", "rnia") == ["ok", None]
        # Nor an account that looks like a guest name online (glook), until it is released.
        assert await save(redis, "mía", "Mía", "rnia") == [3, b"Rnia"]
        off = bus.encode(bus.SessionOff("rnia", "a/3", "quit", 2.0))
        assert await scripts.RELEASE(redis, args=(P, "a", "a/3", "rnia", off)) == 1
        assert await save(redis, "mía", "Mía", "rnia") == 1
        assert await redis.execute("HGET", P + "alook", "rnia") == "mía".encode()
        # Filed at a node's start (accounts stored before alook): only those that still exist.
        await redis.execute("DEL", P + "alook")
        await redis.execute("HSET", P + "acct:olga", "name", "Olga")
        assert await lua.FILE_LOOKALIKES(redis, args=(P, "gone", "olga", "olga", "olga", "0lga", "olga")) == 1
        assert await redis.execute("HGETALL", P + "alook") == [b"olga", b"olga"]
    run(redis_server.url, steps)


def test_a_new_guest_name_that_looks_like_a_guest_name_online_is_refused_until_it_is_released(
        redis_server):  # noqa: F811
    # The guest names held by look-alike key (glook), written by the CLAIM of a guest taking
    # a name anew and dropped with the name (RELEASE of its last session, REAP of its node).
    async def take(redis, node, sid, key, name, lookalike):
        entry = bus.encode(bus.SessionOn(key, name, False, sid, node, "127.0.0.1", 1, 1.0))
        reply = await scripts.CLAIM(redis, args=(P, node, sid, key, name, "0", f"{node}\t127.0.0.1\t1\t1.0", entry,
                                                 "", lookalike))
        if not isinstance(reply, list):  # 'taken'
            return [reply.decode(), None]
        return [reply[0].decode(), reply[1].decode() if reply[0] == b"confusable" else None]

    async def steps(redis):
        await join(redis, "a")
        await join(redis, "b", ttl_ms=50)
        assert await take(redis, "a", "a/1", "joão", "João", "joao") == ["ok", None]
        assert await take(redis, "b", "b/1", "joao", "Joao", "joao") == ["confusable", "João"]
        assert await redis.execute("HEXISTS", P + "who", "joao") == 0
        assert await take(redis, "a", "a/2", "joão", "João", "joao") == ["taken", None]  # the name itself
        off = bus.encode(bus.SessionOff("joão", "a/1", "quit", 2.0))
        assert await scripts.RELEASE(redis, args=(P, "a", "a/1", "joão", off)) == 1
        assert await redis.execute("HLEN", P + "glook") == await redis.execute("HLEN", P + "glookof") == 0
        assert await take(redis, "b", "b/2", "joao", "Joao", "joao") == ["ok", None]  # released: free
        assert await take(redis, "a", "a/3", "joão", "João", "joao") == ["confusable", "Joao"]
        await asyncio.sleep(0.2)  # node b's heartbeat expires (its TTL is 50 ms)
        assert await scripts.REAP(redis, args=(P, SILENCE_MS)) == [b"b"]
        assert await redis.execute("HLEN", P + "glook") == await redis.execute("HLEN", P + "glookof") == 0
        assert await take(redis, "a", "a/4", "joão", "João", "joao") == ["ok", None]  # reaped: free
        # An entry whose name is held no more (none is left so, but should one be) refuses nothing.
        await redis.execute("HSET", P + "glook", "ana", "ana")
        assert await take(redis, "a", "a/5", "anà", "Anà", "ana") == ["ok", None]
        assert await redis.execute("HGET", P + "glook", "ana") == "anà".encode()
    run(redis_server.url, steps)


def test_a_guest_name_resumed_or_claimed_again_files_its_look_alike_key_and_is_never_refused_for_it(
        redis_server):  # noqa: F811
    # A guest back with its token, or a name a node claims again at a rejoin (ARGV[11] '1'),
    # is not taking the name anew: before, its key was not filed (only new names were), and
    # a look-alike guest was welcomed on another node while it was online. Filed now, it
    # refuses nothing: after Redis lost its data two look-alikes may both be online, and the
    # entry stays the first one's (docs/cluster.md).
    async def take(redis, node, sid, key, name, lookalike, epoch="", again=""):
        entry = bus.encode(bus.SessionOn(key, name, False, sid, node, "127.0.0.1", 1, 1.0))
        reply = await scripts.CLAIM(redis, args=(P, node, sid, key, name, "0", f"{node}\t127.0.0.1\t1\t1.0", entry,
                                                 epoch, lookalike, again))
        if not isinstance(reply, list):  # 'taken'
            return [reply.decode(), None]
        return [reply[0].decode(), reply[1].decode() if reply[0] == b"confusable" else None]

    async def steps(redis):
        await join(redis, "a")
        await join(redis, "b")
        await redis.execute("HSET", P + "guest:joão", "epoch", "7")
        assert await take(redis, "a", "a/1", "joão", "João", "joao", "7", "1") == ["ok", None]  # resumed
        assert await redis.execute("HGET", P + "glook", "joao") == "joão".encode()
        assert await take(redis, "b", "b/1", "joao", "Joao", "joao") == ["confusable", "João"]
        # Redis lost it all: a name claimed again at a rejoin is filed too.
        await redis.execute("DEL", P + "who", P + "glook", P + "glookof")
        assert await take(redis, "b", "b/2", "joao", "Joao", "joao", "", "1") == ["ok", None]
        assert await redis.execute("HGET", P + "glook", "joao") == b"joao"
        # João, online too, is never refused his own name; the entry stays Joao's ...
        assert await take(redis, "a", "a/2", "joão", "João", "joao", "", "1") == ["ok", None]
        assert await redis.execute("HGET", P + "glook", "joao") == b"joao"
        assert await redis.execute("HEXISTS", P + "glookof", "joão") == 0
        assert await take(redis, "b", "b/3", "jõao", "Jõao", "joao") == ["confusable", "Joao"]
        # ... and once Joao leaves, the entry goes with him (João's is not filed: said in docs).
        off = bus.encode(bus.SessionOff("joao", "b/2", "quit", 2.0))
        assert await scripts.RELEASE(redis, args=(P, "b", "b/2", "joao", off)) == 1
        assert await redis.execute("HLEN", P + "glook") == 0
    run(redis_server.url, steps)


def test_a_new_guest_name_is_refused_while_it_or_a_look_alike_is_held_offline_and_free_after_the_hold(
        redis_server):  # noqa: F811
    # A guest name whose holder left is held (GuestNames' hold) by each node's cache alone:
    # a node whose events reader lagged welcomed another guest under it, or under a look-alike.
    # CLAIM now reads the holding (guest:<key>'s left) with the node's time and hold, and
    # glook keeps the look-alike key of a held name until FORGET_GUESTS drops it.
    async def take(redis, sid, key, name, lookalike, now):
        entry = bus.encode(bus.SessionOn(key, name, False, sid, "a", "127.0.0.1", 1, 1.0))
        reply = await scripts.CLAIM(redis, args=(P, "a", sid, key, name, "0", "a\t127.0.0.1\t1\t1.0", entry,
                                                 "", lookalike, "", repr(now), "60.0"))
        if not isinstance(reply, list):  # 'taken'
            return [reply.decode(), None]
        return [reply[0].decode(), reply[1].decode() if reply[0] in (b"confusable", b"held") else None]

    async def steps(redis):
        await join(redis, "a")
        assert await take(redis, "a/1", "joão", "João", "joao", 1000.0) == ["ok", None]
        await lua.SAVE_HOLDING(redis, args=(P, "joão", "João", "ab", "3", ""))
        off = bus.encode(bus.SessionOff("joão", "a/1", "quit", 1000.0))
        assert await scripts.RELEASE(redis, args=(P, "a", "a/1", "joão", off)) == 1
        await lua.SET_LEFT_AT(redis, args=(P, "joão", "1000.0"))
        assert await redis.execute("HGET", P + "glook", "joao") == "joão".encode()  # kept while held
        assert await take(redis, "a/2", "joao", "Joao", "joao", 1030.0) == ["confusable", "João"]
        # Held, and until when (he left at 1000, the hold is 60 s), not "taken" as if in use.
        assert await take(redis, "a/3", "joão", "João", "joao", 1030.0) == ["held", "1060.000"]
        assert await redis.execute("HEXISTS", P + "who", "joão") == 0
        # The hold over (by the claiming node's clock), both are free; the look-alike takes the entry.
        assert await take(redis, "a/4", "joao", "Joao", "joao", 1061.0) == ["ok", None]
        assert await redis.execute("HGET", P + "glook", "joao") == b"joao"
    run(redis_server.url, steps)


def test_forgetting_a_held_guest_name_drops_its_look_alike_key(redis_server):  # noqa: F811
    async def steps(redis):
        await join(redis, "a")
        await redis.execute("HSET", P + "glook", "joao", "joão")
        await redis.execute("HSET", P + "glookof", "joão", "joao")
        await lua.SAVE_HOLDING(redis, args=(P, "joão", "João", "ab", "3", "1000.0"))
        head = '{"k":"forgot","keys":'
        reply = await lua.FORGET_GUESTS(redis, args=(P, "9", "a", "120000", P + "events", "100", head, "joão", "3", "1000.0"))
        assert reply[0] == 1 and reply[1] == ["joão".encode()], reply
        assert await redis.execute("HLEN", P + "glook") == await redis.execute("HLEN", P + "glookof") == 0
    run(redis_server.url, steps)

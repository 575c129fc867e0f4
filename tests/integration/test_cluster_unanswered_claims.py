"""A claim of a name whose reply never came (Redis paused or too slow, the connection closed
on the timeout) may have run all the same. A guest's name must not stay taken by a session
that the node never had: ``name_taken`` to its own user, for as long as the node lives (the
chaos run with 20 clients, seed 419: a guest closed at a rejoin, then refused its name for
good).

Two nodes in one process (test_cluster_nodes.Cluster) on a real redis-server; the CLAIM
script is wrapped so that one call runs in Redis and then raises as a lost reply does.
Every wait has a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import NOTICES, Cluster, wait_for, who
from wire import WireClient

from protocol import ErrorReply, Hello, Welcome
from server.cluster import scripts
import const


@contextmanager
def one_claim_reply_lost(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The next CLAIM runs in Redis, and its caller gets TimeoutError instead of the reply;
    the list holds the session id of that claim once it ran."""
    real, lost = scripts.CLAIM, []

    def claim(redis, args=(), **kwargs):
        async def run():
            reply = await real(redis, args=args, **kwargs)
            if not lost:
                lost.append(args[2])
                raise TimeoutError("the reply was lost (a test)")
            return reply
        return run()

    monkeypatch.setattr(scripts, "CLAIM", claim)
    yield lost


def test_a_login_whose_claim_went_unanswered_leaves_the_guests_name_free(redis_server, monkeypatch):  # noqa: F811
    c = Cluster(redis_server.url, 2)
    try:
        with one_claim_reply_lost(monkeypatch) as lost:
            with WireClient(*c.address(0)) as first:
                first.send(Hello("h1", "Ana", const.PROTOCOL_VERSION))
                assert first.expect(ErrorReply, skip=NOTICES).code == "unavailable"
            assert lost, "the claim ran in Redis"
        node = c.nodes[0]
        wait_for(lambda: c.run(node._redis.execute("HEXISTS", node.prefix + "who", "ana")) == 0,
                 what="the unanswered claim released")
        # Her client tries again, on either node: the name is hers, not a ghost's.
        with WireClient(*c.address(1)) as again:
            again.send(Hello("h2", "Ana", const.PROTOCOL_VERSION))
            assert again.expect(Welcome, skip=NOTICES).name == "Ana"
    finally:
        c.close()


@pytest.mark.timeout_seconds(60)
def test_a_claim_again_after_a_rejoin_whose_reply_was_lost_keeps_the_guests_session(redis_server,  # noqa: F811
                                                                                     monkeypatch):
    c = Cluster(redis_server.url, 2, beat=0.2, ttl=1.0)
    try:
        with c.login(1, "Ana") as ana, c.login(0, "Bia") as bia:
            wait_for(lambda: who(bia) == ["Ana", "Bia"], what="both online")
            node = c.nodes[1]
            c.stop_beating(1)  # and node 0 reaps it
            wait_for(lambda: who(bia) == ["Bia"], what="node 1 reaped")
            with one_claim_reply_lost(monkeypatch) as lost:
                c.beat_again(1)
                wait_for(lambda: lost, what="Ana's name claimed again, the reply lost")
                wait_for(lambda: c.call(lambda: not node._unclaimed), what="claimed again at a later beat")
            wait_for(lambda: who(bia) == ["Ana", "Bia"], what="Ana online again for Bia")
            assert who(ana) == ["Ana", "Bia"]  # her session goes on, never closed as "lost the cluster"
    finally:
        c.close()

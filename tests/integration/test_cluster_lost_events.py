"""A change stored in Redis whose entry on the events stream fails at first (the node's
link to Redis lost between the two): the entry is put on the stream when Redis answers
again, so the other nodes learn the change. Before, it was sent once and forgotten: after
a password change, the other nodes kept accepting the revoked resume credential and kept
the sessions that had proved the old password, until they restarted.

Two nodes with Redis stores on a real redis-server, in one process (test_cluster_nodes);
node 0's writes to the events stream fail while the test says so, as a command on a lost
link fails (RedisTimeout: it may or may not have run).
"""

from __future__ import annotations

import time

from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import NOTICES, Cluster, wait_for
from wire import WireClient

import const
from protocol import ChangePassword, Done, ErrorCode, ErrorReply, Hello, Welcome
from protocol.events import RESUME
from resp.aio import RedisTimeout


def hello(address: tuple[str, int], **fields) -> tuple[WireClient, object]:
    client = WireClient(*address)
    client.send(Hello("h", "Caio", const.PROTOCOL_VERSION, **fields))
    return client, client.expect((Welcome, ErrorReply), skip=NOTICES)


def to_the_events_stream(commands) -> bool:
    return any(command[0] == "XADD" and str(command[1]).endswith("events") for command in commands)


def test_a_password_change_reaches_the_other_nodes_when_its_events_fail_at_first(redis_server):  # noqa: F811
    cluster = Cluster(redis_server.url, 1, redis_stores=True)
    clients = []
    try:
        node0 = cluster.nodes[0]
        phone, welcome = hello(cluster.address(0), password="senha antiga 1", register=True, features=(RESUME,))
        clients.append(phone)
        assert isinstance(welcome, Welcome) and welcome.resume, welcome
        old_resume = welcome.resume
        cluster.add()  # node 1 (it reads the credentials from Redis as it starts)
        logins1 = cluster.servers[1].relay.logins
        wait_for(lambda: cluster.call(lambda: logins1.credentials.check("caio", old_resume, time.time())),
                 what="node 1 knowing the account and its credential")
        laptop, welcome = hello(cluster.address(1), password="senha antiga 1")
        clients.append(laptop)
        assert isinstance(welcome, Welcome), welcome

        failing, failed = [True], []
        execute, pipeline = node0._redis.execute, node0._redis.pipeline

        async def execute_failing(*command, **options):
            if failing[0] and to_the_events_stream([command]):
                failed.append(command)
                raise RedisTimeout("no reply within 2.0 s; the command may or may not have run (the test's)")
            return await execute(*command, **options)

        async def pipeline_failing(commands, *args, **options):
            commands = list(commands)
            if failing[0] and to_the_events_stream(commands):
                failed.append(commands)
                raise RedisTimeout("no reply within 2.0 s; the command may or may not have run (the test's)")
            return await pipeline(commands, *args, **options)

        cluster.call(setattr, node0._redis, "execute", execute_failing)
        cluster.call(setattr, node0._redis, "pipeline", pipeline_failing)
        phone.send(ChangePassword("p", "senha antiga 1", "senha nova 22"))
        assert isinstance(phone.expect((Done, ErrorReply), skip=NOTICES, timeout=10), Done)
        wait_for(lambda: failed, what="node 0's entries on the events stream failing")
        failing[0] = False  # Redis answers node 0 again

        # Before: nothing came, and the revoked credential was welcomed on node 1.
        ended = laptop.expect(ErrorReply, skip=NOTICES, timeout=15)
        assert ended.code == ErrorCode.PASSWORD_CHANGED, ended
        thief, answer = hello(cluster.address(1), resume=old_resume)
        clients.append(thief)
        assert isinstance(answer, ErrorReply) and answer.code == ErrorCode.AUTH_REQUIRED, answer
        with_old, answer = hello(cluster.address(1), password="senha antiga 1")
        clients.append(with_old)
        assert isinstance(answer, ErrorReply) and answer.code == ErrorCode.BAD_PASSWORD, answer
    finally:
        for client in clients:
            client.close()
        cluster.close()

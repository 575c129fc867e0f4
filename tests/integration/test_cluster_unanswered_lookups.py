"""A node that asks Redis whether a user it does not know exists (ClusterNode.known_name:
a first login on another node reaches its registry a moment later) and gets no answer:
``whois`` and ``send`` answer ``unavailable`` with ``retry_after``, never "nobody by
that name" (``status: "unknown"``, ``unknown_recipient``), which the page takes as the
truth and drops that person from its kept list.

Before, known_name called back None for "Redis did not answer" as for "nobody", and a
whois answered ``unknown`` for a name Redis could not be asked about (and a ``typing``
to it ``unknown_recipient``; it now gets no answer, as a typing has none). One node on a real
redis-server, paused by its PID (SIGSTOP) for the asks (its client's timeout is 2 s).
"""

from __future__ import annotations

from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import NOTICES, Cluster

import const
from protocol import TYPING, ErrorCode, ErrorReply, Hello, LookupRequest, LookupResult, SendDirect, Typing, Welcome
from wire import WireClient


def test_a_lookup_redis_does_not_answer_is_unavailable_not_nobody(redis_server):  # noqa: F811
    cluster = Cluster(redis_server.url, 1)
    try:
        client = WireClient(*cluster.address(0))
        try:
            client.send(Hello("h", "Conceição", const.PROTOCOL_VERSION, features=(TYPING,)))
            assert isinstance(client.expect((Welcome, ErrorReply), skip=NOTICES, timeout=10), Welcome)
            with redis_server.paused():
                # Asked of Redis first, on the same connection: a false "nobody" for it would
                # come before the whois's answer.
                client.send(Typing("Zeferino"))
                client.send(LookupRequest("w", "Zeferino"))
                whois = client.expect((LookupResult, ErrorReply), skip=NOTICES, timeout=10)
                assert isinstance(whois, ErrorReply) and whois.request_id == "w", whois  # not the typing's
                client.send(SendDirect("s", "Zeferino", "oi"))
                send = client.expect(ErrorReply, skip=NOTICES, timeout=10)
            for answer, request_id in ((whois, "w"), (send, "s")):
                assert isinstance(answer, ErrorReply), answer
                assert (answer.code, answer.request_id) == (ErrorCode.UNAVAILABLE, request_id), answer
                assert answer.retry_after, answer
            # Redis back: the true answer.
            client.send(LookupRequest("w2", "Zeferino"))
            whois = client.expect((LookupResult, ErrorReply), skip=NOTICES, timeout=10)
            assert isinstance(whois, LookupResult) and whois.status == "unknown", whois
        finally:
            client.close()
    finally:
        cluster.close()

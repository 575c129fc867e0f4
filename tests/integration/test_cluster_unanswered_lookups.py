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
from protocol import (
    TYPING, ErrorCode, ErrorReply, Hello, LookupRequest, LookupResult, SendDirect, Typing, Watch, Watching, Welcome,
)
from protocol.codec import MAX_NAMES_PER_REQUEST
from test_cluster_name_race import redis_call
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


def _lookups_of_names(url: str) -> dict[str, int]:
    """How many HGET and HMGET Redis has run so far (INFO commandstats)."""
    info = redis_call(url, "INFO", "commandstats").decode()
    calls = {}
    for line in info.splitlines():
        if line.startswith(("cmdstat_hget:", "cmdstat_hmget:")):
            calls[line.split(":")[0][len("cmdstat_"):]] = int(line.split("calls=")[1].split(",")[0])
    return {command: calls.get(command, 0) for command in ("hget", "hmget")}


def test_a_watch_on_a_node_says_unknown_by_one_lookup_and_offline_when_redis_does_not_answer(
        redis_server):  # noqa: F811
    """A watch of names the node knows nobody by asks Redis once for all of them (a watch
    may name 500), and answers them in ``unknown`` as whois would; when Redis does not
    answer it does not call them nobody's (an account's, perhaps): they are offline."""
    cluster = Cluster(redis_server.url, 1)
    try:
        client = WireClient(*cluster.address(0))
        try:
            client.send(Hello("h", "Conceição", const.PROTOCOL_VERSION))
            assert isinstance(client.expect((Welcome, ErrorReply), skip=NOTICES, timeout=10), Welcome)
            names = tuple(f"ninguem{n}" for n in range(MAX_NAMES_PER_REQUEST))
            before = _lookups_of_names(redis_server.url)
            client.send(Watch("w1", names))
            answer = client.expect((Watching, ErrorReply), skip=NOTICES, timeout=10)
            assert answer == Watching("w1", (), (), names), answer
            after = _lookups_of_names(redis_server.url)
            assert (after["hmget"] - before["hmget"], after["hget"] - before["hget"]) == (1, 0)
            with redis_server.paused():
                client.send(Watch("w2", ("Zeferino", "conceição")))
                answer = client.expect((Watching, ErrorReply), skip=NOTICES, timeout=10)
            assert isinstance(answer, Watching) and answer.request_id == "w2", answer
            assert (answer.users[0].name, answer.offline, answer.unknown) == ("Conceição", ("Zeferino",), None)
            client.send(Watch("w3", ("Zeferino",)))  # Redis back: the true answer
            assert client.expect(Watching, skip=NOTICES, timeout=10) == Watching("w3", (), (), ("Zeferino",))
        finally:
            client.close()
    finally:
        cluster.close()

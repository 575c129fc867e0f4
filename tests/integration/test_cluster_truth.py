"""What a cluster tells, and what it records, agree even when its nodes' views lag.

- A send racing its recipient's login on another node: the answer the sender got
  (``accepted`` or ``queued``) is the state its history shows (``sent`` or ``queued``),
  though the sender's node heard of the login (its directory) a Redis round trip after
  Redis had it. Three nodes on the Redis store, real clients; the race is run a bounded
  number of times.

Loopback only; every wait has a deadline.
"""

from __future__ import annotations

import threading

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)

from logins import leave, login
from protocol import Accepted, HistoryPage, HistoryRequest, Ping, Queued, SendDirect, UserJoined, UserLeft
from server import ServerConfig, ServerThread

NOTICES = (UserJoined, UserLeft, Ping)
ROUNDS = 12  # logins raced (each against a stream of sends)
BURST = 12  # sends per round, one answered before the next


def _node(url: str) -> ServerThread:
    return ServerThread(ServerConfig(host="127.0.0.1", port=0, cluster_url=url, rate_per_connection=1e6,
                                     rate_per_address=1e6))


@pytest.mark.timeout_seconds(120)
def test_a_send_racing_its_recipients_login_elsewhere_is_recorded_as_its_sender_was_told(redis_server):
    with _node(redis_server.url) as first, _node(redis_server.url) as second, _node(redis_server.url) as third:
        with login(second, "Bob") as bob:
            leave(bob)
        with login(first, "Alice") as alice:
            told: dict[int, str] = {}
            for round_ in range(ROUNDS):
                node = (second, third)[round_ % 2]
                logged_in: list = []
                racer = threading.Thread(target=lambda: logged_in.append(login(node, "Bob")))
                racer.start()
                for n in range(BURST):
                    request_id = f"r{round_}-{n}"
                    alice.send(SendDirect(request_id, "Bob", request_id))
                    while True:  # a `queued` told for an earlier message may come between
                        answer = alice.expect((Accepted, Queued), skip=NOTICES)
                        if answer.request_id == request_id:
                            break
                    told[answer.msg_id] = "sent" if isinstance(answer, Accepted) else "queued"
                racer.join(10)
                assert logged_in, "Bob was not welcomed"
                leave(logged_in[0])
                while True:  # Alice's node knows Bob is offline again before the next round
                    notice = alice.expect((UserLeft, UserJoined, Queued), skip=(Ping,))
                    if isinstance(notice, UserLeft) and notice.name == "Bob":
                        break
            recorded: dict[int, str] = {}
            before = None
            while len(recorded) < len(told):
                alice.send(HistoryRequest("h", "Bob", 100, before))
                page = alice.expect(HistoryPage, skip=NOTICES + (Queued,))
                recorded.update((entry.msg_id, entry.state) for entry in page.messages)
                if page.before is None:
                    break
                before = page.before
            wrong = {msg_id: (state, recorded.get(msg_id)) for msg_id, state in told.items()
                     if recorded.get(msg_id) != state}
            assert not wrong, f"told, then recorded: {wrong}"

"""What the sender was told about a new direct message is what history says of it: a
recipient who leaves (or comes) between the relay's look at the registry and the store's
answer changes the answer, ``queued`` rather than ``accepted``, and the stored state must
follow (PROTOCOL.md, history's states; in a cluster, docs/cluster.md "What the sender is
told"). Found by a helper's run under load: history said ``sent`` of a message its sender
was told was ``queued``."""

from __future__ import annotations

import pytest
from waits import wait_until
from wire import WireClient

from protocol import Accepted, HistoryPage, HistoryRequest, Queued, SendDirect, UserJoined, UserLeft
from server import ServerConfig, ServerThread

NOTICES = (UserJoined, UserLeft)


@pytest.mark.parametrize("memory", [True, False], ids=["memory", "sqlite"])
def test_a_recipient_gone_before_the_store_answers_makes_it_queued_in_history_too(tmp_path, memory: bool) -> None:
    config = ServerConfig(host="127.0.0.1", port=0) if memory else \
        ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
    with ServerThread(config) as server, WireClient.login(server.host, server.port, "Alice") as alice:
        store = server.server.store
        held: list[tuple] = []
        store_fields = store.store_fields
        store.store_fields = lambda *args: held.append(args)  # the store's answer waits
        bob = WireClient.login(server.host, server.port, "Bob")
        alice.send(SendDirect("m1", "Bob", "olá"))
        wait_until(lambda: held, what="the message handed to the store, Bob online")
        bob.close()
        alice.expect(UserLeft, skip=(UserJoined,))
        server.call(lambda: store_fields(*held[0]))  # answered now that Bob has gone
        answer = alice.expect((Accepted, Queued), skip=NOTICES)
        assert isinstance(answer, Queued), answer
        alice.send(HistoryRequest("h", "Bob"))
        page = alice.expect(HistoryPage, skip=NOTICES)
        assert [(entry.msg_id, entry.state) for entry in page.messages] == [(answer.msg_id, "queued")]

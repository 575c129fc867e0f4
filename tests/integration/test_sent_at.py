"""A direct message's ``sent_at``: the server's clock in whole microseconds (issue 9, round
sixteen), so the ``dm`` frame writes it from an int (protocol/codec.py, ``_number_literal``),
byte for byte as repr() would, and every store keeps it as it was stamped."""

from __future__ import annotations

import json
import math
import time

from protocol import Accepted, DirectMessage, HistoryEntry, HistoryPage, HistoryRequest, SendDirect
from protocol import codec
from test_store import RelayBench, loop, store_kind  # noqa: F401  (fixtures)


def test_a_direct_message_is_stamped_in_whole_microseconds_and_written_as_repr_writes_it(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice, bob = bench.login("Alice"), bench.login("Bob")
    before = time.time()
    for n in range(40):
        bench.relay.handle(alice, SendDirect(f"m{n}", "Bob", f"hello {n}"))
    bench.settle()
    after = time.time()
    assert len(alice.take(Accepted)) == 40
    messages = bob.take(DirectMessage)
    assert len(messages) == 40
    for message in messages:
        sent_at = message.sent_at
        assert type(sent_at) is float and before - 1e-6 <= sent_at <= after
        assert math.floor(sent_at * 1e6 + 0.5) / 1e6 == sent_at  # whole microseconds
        frame = codec.encode(message)
        assert frame == codec._dumps(codec.to_dict(message)).encode("utf-8") + b"\n"
        assert f'"sent_at":{sent_at!r}}}'.encode() in frame and json.loads(frame)["sent_at"] == sent_at
    # The store gives it back as it was stamped.
    bench.relay.handle(alice, HistoryRequest("h1", "Bob", limit=40))
    bench.settle()
    [page] = alice.take(HistoryPage)
    assert {entry.msg_id: entry.sent_at for entry in page.messages if isinstance(entry, HistoryEntry)} == {
        message.msg_id: message.sent_at for message in messages}
    bench.store.close()

"""A stream of direct messages cut by a crash, and what the recipient must find after it.

Used by the ``kill -9`` tests of the durable stores (SQLite: tests/integration/test_durability.py;
Redis: test_cluster_store.py): Alice writes ``#0``, ``#1``... to an offline Bob, a window of
requests at a time, until enough are acknowledged ``queued``; the test kills the server; Bob
then logs in to the restarted one and must find every acknowledged message, each once, in
Alice's order (and nothing she did not send).
"""

from __future__ import annotations

from protocol import DirectMessage, Queued, SendDirect, UserJoined, UserLeft

NOTICES = (UserJoined, UserLeft)


def send_until_queued(alice, to: str, enough: int, total: int, window: int) -> tuple[dict[str, int], int]:
    """Send ``#0``, ``#1``... to ``to`` with at most ``window`` unanswered, until ``enough``
    are answered ``queued`` (at most ``total`` sent). Returns (request id -> msg_id of the
    queued answers, how many were sent)."""
    acked: dict[str, int] = {}
    sent = 0
    while len(acked) < enough:
        while sent < total and sent - len(acked) < window:
            alice.send(SendDirect(f"n{sent}", to, f"#{sent}"))
            sent += 1
        event = alice.expect(Queued, skip=NOTICES)
        acked[event.request_id] = event.msg_id
    return acked, sent


def keep_late_answers(alice, acked: dict[str, int]) -> None:
    """After the kill: the ``queued`` answers already on their way out count too (she has them)."""
    for event in alice.drain(quiet=0.5):
        if isinstance(event, Queued):
            acked[event.request_id] = event.msg_id


def what_bob_finds(bob, msg_ids, quiet: float = 0.5) -> list:
    """The direct messages ``bob`` is handed: at least until every one of ``msg_ids`` has
    come (the store's fetch after his login may take a while on a loaded machine), then
    until none has come for ``quiet`` seconds (what came that was not asked for, twice
    included)."""
    wanted = set(msg_ids)
    events = bob.drain(quiet=quiet, timeout=20.0,
                       until=lambda events: wanted <= {e.msg_id for e in events if isinstance(e, DirectMessage)})
    return [e for e in events if isinstance(e, DirectMessage)]


def assert_every_acknowledged_once_in_order(found: list, acked: dict[str, int]) -> dict[int, int]:
    """``found`` (what Bob got) holds every message of ``acked``, with its msg_id, each once,
    in order, and is a prefix of what Alice sent. Returns the number of each message found
    (``#N``) -> its msg_id."""
    messages = [e for e in found if isinstance(e, DirectMessage)]
    numbers = [int(dm.text.lstrip("#")) for dm in messages]
    ids = [dm.msg_id for dm in messages]
    assert ids == sorted(set(ids)), "a message arrived twice or out of order"
    assert numbers == list(range(len(numbers))), "not a prefix of what Alice sent, in order"
    by_number = dict(zip(numbers, ids))
    for request_id, msg_id in acked.items():
        assert by_number.get(int(request_id[1:])) == msg_id, f"acknowledged {request_id} lost or changed"
    return by_number

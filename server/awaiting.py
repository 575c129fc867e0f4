"""The outcomes a cluster node's senders still wait for: what it asks the store after a break.

A node tells a sender how a direct message ended when the outcome reaches it: from a
receipt it handles itself, or routed by another node (``tell``). While the node is cut off
from Redis for longer than its heartbeat's time to live, the other nodes count it gone:
what they routed to it goes with its inbox, and what they decide meanwhile is routed to
nobody. Once it is back and its users' names are claimed again, it tells them again what a
login tells, the outcomes not acknowledged; but one ``ack`` from another device of the
user ends that telling for every device (PROTOCOL.md, "ack"), so the device that sent the
message, connected here all along, would never hear it while its session lasts (the chaos
run with 20 clients, seed 407).

So the node keeps, per sender, the messages its sessions sent whose outcome it has not
seen, and after a break asks the store how each one ended (relay.resync). Bounded: at most
:data:`PER_SENDER` a sender (the oldest go first: their device finds them in ``history``
at its next reconnection, as PROTOCOL.md says), and nothing of a sender once their last
session here has left.
"""

from __future__ import annotations

from collections.abc import Iterator

# At most this many messages a sender waits for are remembered (per sender, on one node).
PER_SENDER = 1000


class Awaiting:
    """Sender key -> {msg_id: request id} of the messages whose outcome this node has not seen."""

    def __init__(self, per_sender: int = PER_SENDER) -> None:
        self.per_sender = per_sender
        self._by_sender: dict[str, dict[int, str]] = {}

    def __len__(self) -> int:
        return sum(len(waiting) for waiting in self._by_sender.values())

    def sent(self, sender_key: str, msg_id: int, request_id: str) -> None:
        """``sender_key`` was told ``accepted`` or ``queued`` for ``msg_id`` here."""
        waiting = self._by_sender.get(sender_key)
        if waiting is None:
            waiting = self._by_sender[sender_key] = {}
        waiting[msg_id] = request_id
        if len(waiting) > self.per_sender:
            del waiting[next(iter(waiting))]  # the oldest (dicts keep their order)

    def told(self, sender_key: str, msg_id: int) -> None:
        """The outcome of ``msg_id`` was told to ``sender_key``'s sessions here."""
        waiting = self._by_sender.get(sender_key)
        if waiting is not None and waiting.pop(msg_id, None) is not None and not waiting:
            del self._by_sender[sender_key]

    def forget(self, sender_key: str) -> None:
        """``sender_key`` has no session here any more: nobody here to tell."""
        self._by_sender.pop(sender_key, None)

    def all(self) -> Iterator[tuple[str, int, str]]:
        """Every (sender key, msg_id, request id) remembered, a copy: safe to change meanwhile."""
        return iter([(key, msg_id, request_id) for key, waiting in self._by_sender.items()
                     for msg_id, request_id in waiting.items()])

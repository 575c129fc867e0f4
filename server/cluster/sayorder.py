"""The order of a ``say``'s answer and its ``room`` frames on the node that stored it.

A say in a cluster is stored and put on the events stream in one script step
(stores/redis_scripts.py ``ROOM_SAY``), and every node, the sender's too, writes it to its
sessions as its events reader brings the entry. That reader is another connection to
Redis than the store's, so it may bring the entry before the store's connection brings
the answer; PROTOCOL.md promises the sender ``accepted``, then the ``room`` frame (as one
server sends them). So while says sent from this node wait for their answers, the
default room's messages the stream brings wait here:

- an answer lets go of the held messages up to the msg_id it answered, after it was
  given: ids are given in the stream's order (the store's script is one step), and a
  node's answers come in the order it asked, so every say of this node up to that id
  has been answered;
- the last answer outstanding (an ``unavailable`` too) lets go of every held message.

So a message waits at most until the answers this node was waiting for when it came
(each within the store's timeout), never behind a steady flow of says. Sans-I/O:
messages in, messages out, in the stream's order.
"""

from __future__ import annotations

from collections import deque

from ..mailbox import StoredMessage


class SayOrder:
    """The says of this node waiting for their answers, and the messages held for them."""

    def __init__(self) -> None:
        self._waiting = 0
        self._held: deque[StoredMessage] = deque()

    def asked(self) -> None:
        """A say was sent to the store: :meth:`answered` must follow once, whatever the answer."""
        self._waiting += 1

    def arrived(self, message: StoredMessage) -> bool:
        """The events stream brought default room ``message``: True to write it now,
        False if it is held (a later :meth:`answered` gives it back)."""
        if not self._waiting:
            return True
        self._held.append(message)
        return False

    def answered(self, msg_id: int) -> list[StoredMessage]:
        """A say's answer was given (``msg_id``: the message it answered with; 0 for none,
        as an ``unavailable`` or an ``id_reused``): the held messages to write now, in order."""
        self._waiting -= 1
        held = self._held
        if not self._waiting:
            out = list(held)
            held.clear()
            return out
        out = []
        while held and held[0].msg_id <= msg_id:
            out.append(held.popleft())
        return out

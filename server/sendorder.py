"""A conversation keeps its sender's order across a refusal "for now": the rule, stated once.

A client writes its messages without waiting for each answer (PROTOCOL.md, "Order after a
refusal for now"). When the server refuses one of them for now (``unavailable``: the store
could not take it; ``rate_limited``: over a budget), a later message of the same session to
the same conversation may already be on its way; taken, it would be stored, and shown,
before the refused one, which its client writes again only after a wait. (Seen in the
cluster's chaos run: a node's Redis link down for a sender's first message and up again
for the second.)

So a conversation in which a session's message was refused for now is *held*: the
session's messages to it are taken only if they were refused before (the client writing
them again, in its order), and any other is refused the same way (and joins them), until:

- every refused one came again (then the conversation is free);
- :data:`HOLD_SECONDS` pass since the last refusal by the store or a budget (not by the
  hold itself): a client that gave a message up does not hold the conversation for ever;
- the session ends (the holds live on it): a new session's client writes again, in order,
  what it has not seen answered.

Refusals reach the relay in any order (a rate limit's at once, the store's when it
answers), so the hold is a set of ids, not "the first one": whichever came first, each
refused message is let through when it comes again, and a message never refused is not.
But a message let through that is refused *again* (over the budget once more as it comes
again, or by the store) goes ahead of the others, in the order they were let through:
until it comes again, no other is taken. Else, written again in order, the client's second
message refused again at once, its third (noted) was taken and stored first (found with a
disk that failed and recovered every few milliseconds: 15 to 24 pairs out of order in 300
messages before, none after).

Bounded: at most :data:`MAX_HELD_IDS` ids noted per session, in all its conversations, as
many remembered as let through per session, and at most :data:`MAX_HOLDS` conversations
(one more, and a single overflowed hold stands for every conversation of the session). A
hold that cannot note a refusal, its own or the store's or a budget's (no room left, or one
more let through than it can remember), *overflows*: it forgets its ids and refuses
every message of its conversation until the wait its last refusal asked for, and at least
:data:`OVERFLOW_SECONDS`, has passed; then the conversation is free, and the client writes
its refused messages again in its order. Noting some refusals and not others would not
do: refusals reach the relay out of order (a rate limit's at once, the store's later), so
a refusal left out may be of an earlier message than those noted, which would then be let
through ahead of it (found with Redis's memory filled and freed every few ms and 150
messages pipelined: one message stored after all the others, once in 7 to 20 runs).

Sans-I/O: times come in, refusals go out; the relay sends and counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol import ErrorCode, ErrorReply

from .limits import retry_seconds, wait_words

# Longer than a client waits between two attempts of one message (client/core.py:
# THROTTLE_MAX_DELAY, 30 s, times its jitter, 1.2; the server's unavailable wait is 5 s),
# so a hold does not lapse while its client is still going to write the messages again.
HOLD_SECONDS = 60.0
MAX_HOLDS = 16
MAX_HELD_IDS = 128  # ids are at most 64 characters (protocol/codec.py): under 20 KB a session
# An overflowing hold refuses everything at least this long after its last real refusal:
# long enough for what its client wrote before the refusals reached it (already on its
# way, or waiting while the server holds the connection's reading) to arrive and be
# refused too, so that the messages the client writes again after the wait come first.
OVERFLOW_SECONDS = 5.0

# The key of the one hold that stands for every conversation of a session refused in more
# than MAX_HOLDS at once (see refused): no conversation is keyed so (a name, a room's pair).
EVERY = ("every conversation",)

# The default room is one conversation, whether posted to by ``say`` or by its name.
DEFAULT_ROOM = ("room", None)


def room(key: str) -> tuple[str, str]:
    """The conversation of the named room whose comparison form is ``key``."""
    return ("room", key)


@dataclass(slots=True)
class Hold:
    """A held conversation: the ids refused in it, to be let through when they come again
    (in the order they were noted), and the last real refusal's ``code`` and times."""

    code: ErrorCode
    until: float  # the hold lapses then (monotonic seconds)
    retry_at: float  # when the last refusal said to try again (monotonic seconds)
    refused: dict[str, None] = field(default_factory=dict)  # an ordered set
    taken: dict[str, None] = field(default_factory=dict)  # let through, in that order (the latest: _let_through)
    again: dict[str, None] = field(default_factory=dict)  # of those, refused again: first, in that order
    # Overflowed (see the module's docstring): everything refused until then (monotonic
    # seconds), no id noted; 0.0 while not overflowed.
    overflow_until: float = 0.0
    forgot: bool = False  # an id let through was forgotten (_let_through)


def refused(holds: dict | None, conversation: object, request_id: str | None, code: ErrorCode,
            retry_after: float, now: float) -> dict | None:
    """Note that ``request_id`` (to ``conversation``) was refused for now with ``code`` by
    the store or a budget, to be tried again in ``retry_after`` seconds; return the holds to
    keep (``holds``, or a new dict)."""
    if request_id is None:
        return holds
    if holds is None:
        holds = {}
    room_for_one = _noted(holds) < MAX_HELD_IDS
    hold = holds.get(conversation) or holds.get(EVERY)
    if hold is None:
        if len(holds) >= MAX_HOLDS:
            # Letting the oldest hold go would let its conversation's later messages
            # overtake its refused ones, as a refusal left out would (see the docstring):
            # every conversation is held instead, overflowed, by one hold.
            holds.clear()
            hold = holds[EVERY] = Hold(code, now + HOLD_SECONDS, now + retry_after)
            _overflow(hold, now, retry_after)
            return holds
        else:
            hold = holds[conversation] = Hold(code, 0.0, 0.0)
    hold.code, hold.until, hold.retry_at = code, now + HOLD_SECONDS, now + retry_after
    if hold.overflow_until:
        _overflow(hold, now, retry_after)  # a later refusal: the wait grows, if it asks more
    elif request_id in hold.taken:  # let through, refused again: ahead of the others
        position = {taken: n for n, taken in enumerate(hold.taken)}
        hold.again[request_id] = None
        hold.again = dict.fromkeys(sorted(hold.again, key=lambda again: position.get(again, -1)))
    elif room_for_one and not hold.forgot:
        hold.refused[request_id] = None
    else:  # no room to note it, or it may be one let through and forgotten: see the docstring
        _overflow(hold, now, retry_after)
    return holds


def _overflow(hold: Hold, now: float, retry_after: float) -> None:
    """``hold`` refuses everything until ``retry_after`` and OVERFLOW_SECONDS from
    ``now`` have both passed (or later, if it already did), and notes nothing."""
    hold.overflow_until = max(hold.overflow_until, now + max(retry_after, OVERFLOW_SECONDS))
    hold.refused, hold.taken, hold.again, hold.forgot = {}, {}, {}, False


def _noted(holds: dict) -> int:
    """The ids noted in all of a session's holds (bounded by MAX_HELD_IDS)."""
    return sum(len(hold.refused) + len(hold.again) for hold in holds.values())


def _let_through(holds: dict, conversation: object, hold: Hold, request_id: str) -> None:
    """``request_id`` is taken: remembered as let through (at most MAX_HELD_IDS in all of
    the session's holds: the oldest is forgotten, and a refusal of an id not remembered then
    overflows the hold); the hold ends once no noted id is left."""
    hold.taken[request_id] = None
    if sum(len(each.taken) for each in holds.values()) > MAX_HELD_IDS:
        # From now on a refusal of an id not remembered may be of one let through here,
        # which would have to go first (``again``): not known, so refused() overflows.
        del hold.taken[next(iter(hold.taken))]
        hold.forgot = True
    if not hold.refused and not hold.again:
        del holds[conversation]


def held(holds: dict, conversation: object, request_id: str, now: float) -> ErrorReply | None:
    """The refusal of ``request_id`` to ``conversation`` if the conversation's hold keeps it
    back (then it is noted with the refused ones), else None: it may be taken (and the hold
    ends once no refused one is left, or once it lapsed)."""
    hold = holds.get(conversation)
    if hold is None:
        hold = holds.get(EVERY)
        if hold is None:
            return None
        conversation = EVERY
    if now >= hold.until or now >= hold.overflow_until > 0.0:
        del holds[conversation]
        return None
    if hold.overflow_until:
        return _overflowed(hold, request_id, now)
    first = next(iter(hold.again), None)
    if first is None and request_id in hold.refused:
        del hold.refused[request_id]
        _let_through(holds, conversation, hold, request_id)
        return None
    if first is not None and request_id == first:
        del hold.again[request_id]
        _let_through(holds, conversation, hold, request_id)
        return None
    if first is None:
        first = next(iter(hold.refused), None)
    if request_id not in hold.refused and request_id not in hold.again:
        if _noted(holds) >= MAX_HELD_IDS:  # not noted, it could be let through after later ones
            _overflow(hold, now, hold.retry_at - now)
            return _overflowed(hold, request_id, now)
        hold.refused[request_id] = None
    wait = max(hold.retry_at - now, 0.1)
    earlier = f" (id {first!r})" if first is not None else ""
    return ErrorReply(hold.code, f"nothing was done: an earlier message of yours in this conversation{earlier} was "
                                 f"refused for now and must come first, so that the conversation keeps your order; "
                                 f"send it again, then this one, in {wait_words(wait)}", request_id,
                      retry_seconds(wait))


def _overflowed(hold: Hold, request_id: str, now: float) -> ErrorReply:
    """The refusal of ``request_id`` by overflowed ``hold``: no id named, the wait its end."""
    wait = hold.overflow_until - now
    return ErrorReply(hold.code, f"nothing was done: earlier messages of yours in this conversation were refused for "
                                 f"now and must come first, so that the conversation keeps your order; send them "
                                 f"again, in your order, in {wait_words(wait)}", request_id, retry_seconds(wait))

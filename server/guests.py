"""Guest names: who holds each one, proven by a resume token, and for how long.

A guest name (one without an account) belongs to its **holder**, the person who took it.
At that login the client's hello may propose its own secret token (it keeps the token
before sending the hello, so that a retry after a lost ``welcome`` still proves it is the
same guest); the server adopts it if it is long enough, or else issues one. The token is
sent back in the ``welcome``, and the server keeps only its SHA-256 hash: a random secret
of 256 bits needs no slow hash, and a stolen database gives nobody the token. A later hello for the name that carries the token is the
same guest: it gets the messages that waited and its history. The rules:

- while the holder is online, and for ``hold`` seconds after their last session left,
  the name is **held**: a hello without the token (or with a wrong one) is refused
  ``name_taken``, saying until when;
- after the hold, the holder still gets back in with the token, as long as nobody else
  took the name;
- a hello without the token after the hold **takes** the name: a new holder, a new token,
  and a new **epoch**, the highest message id given out before that login. Nothing of the
  earlier holders passes on: history shows the new holder only messages with a larger id,
  and what still waited for the earlier holder is expired (its senders are told);
- the holder may **give the name up** (a ``revoke`` carrying its own token: "Log out" on the
  web page; :meth:`GuestNames.give_up`): its holding keeps its epoch but no token proves
  it any more (its hash is :data:`GIVEN_UP`), and once its session has left there is no
  hold: the next hello, with that token or not, takes the name as after a hold, with what
  a take does to what waited for the earlier holder;
- an account (a password) is unaffected by all this; a guest who registers its name keeps
  its epoch, so it keeps its queue and its history, and nothing older;
- once the hold is over, a holding nothing refers to any more (no message waiting for the
  name, none from it unconfirmed or whose outcome its holder was not told) is **forgotten**,
  with the name's known-user entry, whom it blocked and its rooms, as when the name changes
  hands: a name taken by a hello a second cannot grow the server for ever. The holder's
  token then no longer proves anything; a hello takes the name afresh (a new epoch).
  :meth:`GuestNames.forgettable` offers the candidates, oldest hold first, a bounded number
  per call; the relay asks the store which of them are referenced (Relay.forget_guests).

Policy and bookkeeping only: the relay applies the decisions and writes them through to
the store with the functions at the bottom. Time comes in as an argument: ``now``, the wall
clock (Unix time: what ``left_at`` is stored and told in), and, for the hold itself, a
monotonic clock given at construction. The hold is a duration, and a wall clock steps (NTP
correcting it, a VM restored from a snapshot): measured on the wall clock, a step back of an
hour would hold a name an hour longer, a step forward would free it early. So each holding
notes when its holder left on the monotonic clock too, and the hold runs on that. A
``left_at`` is turned into monotonic time once, when told (:meth:`GuestNames.left`: this
server's leaving, or another node's) or first looked at (the store's, at a start), as
``now - left_at`` ago by the wall clock then, never less than 0: a
``left_at`` in the future (this clock stepped back since, or another node's runs ahead)
counts as just now. So within one process a step changes no hold; across a restart, or
between nodes, a step back lengthens a hold by no more than the hold itself.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from itertools import islice

from registry import Lookalikes, canonical


class Claim(Enum):
    """What a hello for a guest name amounts to (see :meth:`GuestNames.decide`)."""

    RESUME = "resume"  # the holder is back (valid token)
    TAKE = "take"      # the name is free: a new holder
    HELD = "held"      # someone else holds it: name_taken


@dataclass(slots=True)
class Holding:
    """The current holder of one guest name."""

    name: str
    token_hash: bytes
    # Message ids up to this one belong to earlier holders of the name.
    epoch: int
    # When the holder's last session left (Unix time, as stored and told); None while online.
    left_at: float | None
    # (left_at, the same moment on the monotonic clock) once GuestNames has looked at it:
    # the hold runs on the second (see the module docstring); a left_at changed since
    # (another node's word, the store's) is looked at afresh.
    steady: tuple[float, float] | None = None


# No guest's holding: what ``holdings.get(key, NO_HOLDING)`` finds for a name nobody holds,
# so its ``epoch`` is 0, as GuestNames.epoch's. Never stored, never changed.
NO_HOLDING = Holding("", b"", 0, None)


def earlier_holding(epoch: int, msg_id: int) -> bool:
    """Whether message ``msg_id`` belongs to an earlier holding of the name of a session
    whose epoch is ``epoch`` (its ``ClientSession.epoch``): nothing of it passes on
    (PROTOCOL.md "Guest names"). The one rule for every frame that names such a message:
    a ``receipt``, ``ack``, ``edit_receipt`` or ``read`` of it is answered as one of an id
    that is not the session's (``unknown_message``), and the store is not asked; an
    ``edit`` or ``delete``, as someone else's message; a read mark up to it is not told."""
    return msg_id <= epoch


# The token hash of a holding its guest gave up (GuestNames.give_up): no token's digest is
# empty, so none proves it, and once its holder left it is not held (GuestNames.hold_left).
# Stored as it is (SQLite, Redis): a holding read back at a restart, or by another node, is
# given up too.
GIVEN_UP = b""


# A token a client proposes must be at least this long (base64url of 32 random bytes is
# 43 characters; 32 characters of it still carry 192 bits), from the URL-safe alphabet.
MIN_PROPOSED_TOKEN = 32
_TOKEN_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


_URL_SAFE = bytes.maketrans(b"+/", b"-_")  # base64 to base64url (RFC 4648 section 5)


def acceptable_token(token: str | None) -> bool:
    """True if a client's proposed resume token is long and plain enough to adopt."""
    return token is not None and len(token) >= MIN_PROPOSED_TOKEN and set(token) <= _TOKEN_ALPHABET


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def proves(holding: Holding, token: str | None) -> bool:
    """Whether ``token`` is the resume token of ``holding``'s guest."""
    return token is not None and hmac.compare_digest(_digest(token), holding.token_hash)


class GuestNames:
    """The holdings of all guest names, keyed by canonical name; ``hold`` in seconds."""

    def __init__(self, holdings: dict[str, Holding], hold: float, remembered: float = 0.0,
                 most: int | None = None, clock: Callable[[], float] | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        """``clock``: the monotonic clock the hold runs on (time.monotonic), and ``wall``
        the wall clock it is read with (to place a time given to :meth:`left`); None:
        ``now``, the wall clock given to each call, is taken as steady (a test's time)."""
        self.holdings = holdings
        self.hold = hold
        self.clock = clock
        self.wall = wall
        # Seconds an offline guest's name is remembered (const.GUEST_REMEMBERED; never less
        # than the hold), unless more than ``most`` names are held (const.GUEST_REMEMBERED_MOST):
        # then those longest gone, past their hold, are offered at once (see forgettable).
        self.remembered = max(hold, remembered)
        self.most = most
        # The holders' names by look-alike key; whether each is still held is asked of
        # its holding (see held_lookalikes).
        self.lookalikes = Lookalikes(h.name for h in holdings.values())
        # Key -> when it is no longer remembered, in the order they left: a dict written
        # in left() (a heap's push was a call more per login, test_login_cost); one who
        # leaves again moves to its end, so the times stay in order. A key whose holder
        # came back is dropped when it comes up. Key -> when to look again, for names still referred to (one delay for
        # all: in order too).
        self._leavings: dict[str, float] = {key: h.left_at + self.remembered for key, h in sorted(
            holdings.items(), key=lambda item: item[1].left_at or 0.0) if h.left_at is not None}
        self._rechecks: dict[str, float] = {}
        # Key -> the token hash its guest gave up here (give_up), until this cache hears the
        # give-up itself back, or a newer holding (echoed): in a cluster a node reads back
        # on the events stream what it published, and an echo of the holding from before
        # the give-up must not bring the token back (it did, and the leaving published then
        # carried it to every node).
        self.giving_up: dict[str, bytes] = {}

    def decide(self, key: str, token: str | None, now: float) -> tuple[Claim, float]:
        """What a hello for guest name ``key`` with ``token`` gets, and, for HELD, until
        when (a time; ``inf`` while the holder is online)."""
        holding = self.holdings.get(key)
        if holding is None:
            return Claim.TAKE, 0.0
        if proves(holding, token):
            return Claim.RESUME, 0.0
        if holding.left_at is None:
            return Claim.HELD, float("inf")
        left = self.hold_left(holding, now)
        return (Claim.HELD, now + left) if left > 0 else (Claim.TAKE, 0.0)

    def hold_left(self, holding: Holding, now: float) -> float:
        """Seconds left of the hold of ``holding``, whose holder is offline, at ``now``
        (the wall clock); 0 or less once it is over. On the monotonic clock: see the module
        docstring. A holding given up (:data:`GIVEN_UP`) is held by nobody once its holder left."""
        if holding.token_hash == GIVEN_UP:
            return 0.0
        steady = self.clock() if self.clock is not None else now
        noted = holding.steady
        if noted is None or noted[0] != holding.left_at:
            noted = holding.steady = (holding.left_at, steady - max(0.0, now - holding.left_at))
        return noted[1] + self.hold - steady

    def take(self, key: str, name: str, epoch: int, proposed: str | None = None) -> tuple[str, Holding]:
        """Make a new holder of ``key`` (online now); returns the token to give them: the
        one the client ``proposed``, if it is a good secret, else a new one."""
        if proposed is not None and acceptable_token(proposed):
            token = proposed
        else:  # secrets.token_urlsafe(32), byte for byte, without its five Python calls, nor one of ours (issue 9)
            token = binascii.b2a_base64(os.urandom(32), newline=False).translate(_URL_SAFE).rstrip(b"=").decode()
        holding = self.holdings[key] = Holding(name, _digest(token), epoch, None)
        self.lookalikes.add(name)
        if self.giving_up:  # (a test, not a call, on every take: test_login_cost)
            self.giving_up.pop(key, None)
        return token, holding

    def give_up(self, key: str, token: str | None) -> Holding | None:
        """The guest online under ``key`` gives its name up with ``token``, its own: returns
        the holding, whose token hash is now :data:`GIVEN_UP` (the caller stores it, and puts
        the old hash back if the store fails), or None if ``token`` proves no holding of
        ``key``: nobody gives up a name with a token that is not the name's. While the
        holder is online the name stays held (``decide``); once it left, nobody holds it."""
        holding = self.holdings.get(key)
        if holding is None or not proves(holding, token):
            return None
        self.giving_up[key] = holding.token_hash
        holding.token_hash = GIVEN_UP
        return holding

    def not_given_up(self, key: str, token_hash: bytes, epoch: int) -> None:
        """The store failed the give-up of ``key``: its holding of ``epoch`` (the one here
        now: an echo may have replaced the object) proves ``token_hash`` again."""
        self.giving_up.pop(key, None)
        holding = self.holdings.get(key)
        if holding is not None and holding.epoch == epoch and holding.token_hash == GIVEN_UP:
            holding.token_hash = token_hash

    def echoed(self, key: str, token_hash: bytes) -> bytes:
        """The token hash to keep for a holding of ``key`` heard from the events stream with
        ``token_hash``: :data:`GIVEN_UP` for the one this node's guest gave up (an echo of
        what this node published before), else ``token_hash``, and once that is another
        (the give-up's own echo, or a newer holding) nothing older can follow."""
        old = self.giving_up.get(key)
        if old is None:
            return token_hash
        if hmac.compare_digest(old, token_hash):
            return GIVEN_UP
        del self.giving_up[key]
        return token_hash

    def held_lookalikes(self, name: str, now: float) -> list[str]:
        """The guest names held now (holder online, or within the hold) that look like
        ``name`` but are other names."""
        held = []
        for rival in self.lookalikes.rivals(name):
            claim, _ = self.decide(canonical(rival), None, now)
            if claim is Claim.HELD:
                held.append(rival)
        return held

    def epoch(self, key: str) -> int:
        """Message ids up to this belong to earlier holders of ``key`` (0: none). (The
        relay's message path reads ``holdings.get(key, NO_HOLDING).epoch`` itself: a Python
        call fewer a message; issue 9.)"""
        return self.holdings.get(key, NO_HOLDING).epoch

    def arrived(self, key: str) -> None:
        holding = self.holdings.get(key)
        if holding is not None:
            holding.left_at = holding.steady = None

    def left(self, key: str, now: float) -> Holding | None:
        """The holder's last session left at ``now``: the hold starts."""
        holding = self.holdings.get(key)
        if holding is not None:
            holding.left_at = now
            # ``now`` is this clock's time of leaving (just now), or another node's word:
            # that long ago, never less than 0 (see the module docstring).
            holding.steady = (now, now if self.clock is None else self.clock() - max(0.0, self.wall() - now))
            leavings = self._leavings
            if key in leavings:  # to the end: in the order they left (no call: test_login_cost)
                del leavings[key]
            leavings[key] = now + self.remembered
        return holding

    def forgettable(self, now: float, limit: int) -> list[str]:
        """Up to ``limit`` keys whose holder is offline and that are no longer remembered at
        ``now`` (``remembered`` after they left; or, while more than ``most`` names are held,
        any past its hold, longest gone first), or that :meth:`recheck` asked to be looked
        at again, in the order they left; each is offered once, and is the caller's to
        :meth:`forget` or :meth:`recheck`."""
        offered: dict[str, None] = {}
        holdings = self.holdings
        for due in (self._rechecks, self._leavings):
            # Crowded: as many past their hold as there are names too many (not a whole
            # pass's worth, which would forget names a day early for nothing).
            excess = len(holdings) - self.most if due is self._leavings and self.most is not None else 0
            done = []
            for key, when in due.items():
                if len(offered) >= limit:
                    break
                holding = holdings.get(key)
                gone = holding is not None and holding.left_at is not None
                if when > now:
                    if excess <= 0 or (gone and self.hold_left(holding, now) > 0):
                        break  # (crowded: the longest gone is still held, so are those after it)
                    excess -= gone
                done.append(key)
                if gone and self.hold_left(holding, now) <= 0:
                    offered[key] = None
            for key in done:
                del due[key]
        return list(offered)

    def has_due(self, now: float) -> bool:
        """Whether :meth:`forgettable` would look at something at ``now``."""
        if any(when <= now for due in (self._rechecks, self._leavings) for when in islice(due.values(), 1)):
            return True
        if self.most is None or len(self.holdings) <= self.most:
            return False
        for key in islice(self._leavings, 1):
            holding = self.holdings.get(key)
            return holding is None or holding.left_at is None or self.hold_left(holding, now) <= 0
        return False

    def recheck(self, key: str, when: float) -> None:
        """Offer ``key`` again at ``when`` (something still referred to it); the caller
        uses one delay for all, so that they come up in order."""
        self._rechecks.pop(key, None)
        self._rechecks[key] = when

    def hold_for_nobody(self, key: str, name: str, epoch: int, now: float) -> Holding:
        """A holding of ``key`` as if its guest had just left at ``now``, under a token nobody
        is given (a deleted account's name: nobody may take it for the hold, then a hello
        takes it afresh with a new epoch): for the store, and the name's once stored
        (:meth:`install`). Until then the name keeps the holding it has: a deletion the store
        refuses leaves the account its epoch, from which its history and outcomes count."""
        return Holding(name, _digest(secrets.token_urlsafe(32)), epoch, now)  # (rare: not take's fast way)

    def install(self, key: str, holding: Holding) -> None:
        """``holding`` (:meth:`hold_for_nobody`'s, now stored) is the holding of ``key``; its
        hold runs from its ``left_at``."""
        self.holdings[key] = holding
        self.lookalikes.add(holding.name)
        self.left(key, holding.left_at)

    def forget(self, key: str) -> None:
        """Drop the holding of ``key``: the name is anyone's, as if it had never been held."""
        holding = self.holdings.pop(key, None)
        self.giving_up.pop(key, None)
        if holding is not None:
            self.lookalikes.discard(holding.name)


# --- Store operations (run by the store; see store.py) ------------------------------------


def load_holdings(db: sqlite3.Connection, now: float) -> dict[str, Holding]:
    """Every holding; a holder the server thought online (it stopped without noting their
    leaving) left at ``now``, the start, so their hold runs from then."""
    rows = db.execute("SELECT name_key, name, token_hash, epoch, left_at FROM guests").fetchall()
    return {key: Holding(name, token_hash, epoch, now if left_at is None else left_at)
            for key, name, token_hash, epoch, left_at in rows}


def save_holding(db: sqlite3.Connection, key: str, holding: Holding) -> None:
    db.execute("INSERT INTO guests (name_key, name, token_hash, epoch, left_at) VALUES (?, ?, ?, ?, ?)"
               " ON CONFLICT (name_key) DO UPDATE SET name = excluded.name, token_hash = excluded.token_hash,"
               " epoch = excluded.epoch, left_at = excluded.left_at",
               (key, holding.name, holding.token_hash, holding.epoch, holding.left_at))


def set_left_at(db: sqlite3.Connection, key: str, left_at: float | None) -> None:
    db.execute("UPDATE guests SET left_at = ? WHERE name_key = ?", (left_at, key))

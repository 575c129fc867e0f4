"""The memory store (``--memory``): the store interface (base.py) on Python structures.

Nothing survives a restart, so there is nothing to wait for: each operation is done at
once, in submission order, when it is submitted, and its answer is queued; the answers
of a loop turn run together at the start of the next one, in submission order, as the
SQLite store's do after its commit. So the relay sees the same thing from both stores:
an operation sees everything submitted before it and nothing after; a callback never runs
inside the call that submitted it (the relay sets its bookkeeping after submitting, and
a callback that ran at once would find it unset); answers come in order.

The structures hold what the SQLite store's indexes hold, and nothing that costs more
per message than a few dictionary operations:

- ``_messages``: msg_id -> :class:`_Row`, in msg_id order (ids only grow);
- ``_client_ids``: sender -> request id -> msg_id, to recognise resends;
- ``_pending``: recipient -> msg_id -> row, the messages waiting for a receipt, in order;
- ``_untold``: sender -> msg_id -> row, outcomes the sender has not acknowledged;
- ``_conversations``: (key, key) -> msg_ids of the direct messages between two users,
  for history; purged ids are dropped from the front;
- ``_changes``: recipient -> msg_id -> row, the edits and deletes not confirmed yet;
- ``_reads``: (reader, peer) -> the msg_id the reader has seen the peer's messages up to;
- ``_room_posts``: named room key -> msg_ids of its messages, for room history (what the
  SQLite store's messages_room index holds); purged ids are dropped from the front;
- ``_room_cursors``: name key -> room key -> the last id of the room the member has had
  (at the join: the last id stored then);
- ``_room_changes``: named room key -> msg_id -> row, its posts last edited or deleted,
  in the order of their last change, the newest ``const.ROOM_BACKLOG_LIMIT`` only (what
  the SQLite store's messages_changes_to index gives, read with that limit);
- ``_dm_changed``: name key -> msg_id -> row, their direct messages (sent or received)
  last edited or deleted, in the order of their last change, the newest
  ``const.DM_CHANGES_KEPT`` only (mailbox.dm_changes, by messages_changes_to and _by);
- ``_blocked``: msg_id -> row, the blocked messages not expired yet (they are in
  ``_expiring`` too: a blocked message expires as a pending one does, see _expire);
- ``_expiring``: the pending (and blocked) messages by when they expire, in buckets of
  ``EXPIRY_BUCKET`` seconds, whose numbers wait in the heap ``_buckets``: the expiry pass
  takes the buckets that are due and looks into one more, so it costs what expires, not
  the whole offline backlog (scanning 500,000 pending rows stalls the loop for 0.4 s in
  SQLite, 0.14 s here). A bucket lives until its time: emptied by receipts,
  it stays (an empty dict) so that its number is pushed once.

Purge walks ``_messages`` from its oldest end.

An operation that raises (a bug) is answered ``StoreUnavailable(storage=False)`` and
logged with its traceback; operations check before they change anything, so none is
left half done. The storage itself never fails, so ``on_recovered`` is never called.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
import copy
import logging
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import const
from protocol import HistoryEntry

from ..accounts import Account, same_account
from ..credentials import Credential
from ..guests import Holding
from ..mailbox import (
    BLOCKED_EXPIRED, BLOCKED_STATES, CHANGED, ID_REUSED, LEFT_AT, NEW, PENDING, RESEND, ROOM_MESSAGE_STATE, UNKNOWN,
    SeenMark, StoredMessage, as_told, change_refused, change_time, same_request, new_stored_message, superseded_client_id,
    with_msg_id,
)
from ..mailbox import history_entry, since_page, since_visible  # feature since (and dm_changes)
from ..store import StoreUnavailable
from .base import Callback, ErrorCallback

log = logging.getLogger("chat.store")

_FINAL_OUTCOMES = ("delivered", "expired", BLOCKED_EXPIRED)

# Seconds of expiry times per bucket (see the module docstring): a week of queue lifetime
# is 10,080 buckets at most.
EXPIRY_BUCKET = 60.0


class _Row:
    """One stored message: as submitted, plus what changes (its state; whether its sender
    took in its outcome). Made by :meth:`MemoryStore._store`. ``bucket``, set only for a
    pending message with an expiry: the key of its bucket in ``_expiring``, computed once
    when it is stored and read when it leaves, not computed again (a float floor division;
    its ``expires_at`` never changes; issue 9, round fifteen). The fourth slot keeps the
    row in pymalloc's 64-byte class."""

    __slots__ = ("message", "state", "told", "bucket")

    def current(self) -> StoredMessage:
        """The message with its current state, as the SQLite store would return it."""
        message = self.message
        return message if message.state == self.state else replace(message, state=self.state)


class MemoryStore:
    """See the module docstring and base.py for the contract of every method."""

    # Everyone the store holds anything for (messages to or from them, outcomes, a guest
    # holding) is in known_users(): the relay remembers a user at their first login,
    # before any of that, and nothing here survives a restart. So a name not in it has
    # nothing to fetch, and the relay skips asking (see Relay._may_have_stored). A guest
    # name forgotten after its hold (forget_users) leaves only history older than any
    # epoch its next holder gets: nothing to fetch either.
    knows_every_user = True

    def __init__(self) -> None:
        self.on_recovered: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # (callback, result) of the operations done since the last flush, in order.
        self._answers: list[tuple[Callable[[Any], None], Any]] = []
        self._scheduled = False
        # Called after each batch of answers (the server sets it to its write batcher's
        # flush): the frames the answers made (accepted, dm, delivered) go out at once,
        # before the reads of this loop turn are handled, rather than after them at the
        # start of the next turn. Each hop of a message waited a whole turn of other
        # sessions' reads for it (issue 9: the delivered p99 at 2,000/s).
        self.after_answers: Callable[[], None] | None = None
        self._last_msg_id = 0
        self._messages: dict[int, _Row] = {}
        self._client_ids: dict[str, dict[str, int]] = {}
        self._pending: dict[str, dict[int, _Row]] = {}
        self._untold: dict[str, dict[int, _Row]] = {}
        self._conversations: dict[tuple[str, str], list[int]] = {}
        self._room_posts: dict[str, list[int]] = {}
        self._room_cursors: dict[str, dict[str, int]] = {}  # name key -> room key -> last id
        self._expiring: dict[int, dict[int, _Row]] = {}
        self._blocked: dict[int, _Row] = {}
        self._buckets: list[int] = []  # a heap of the keys of _expiring
        self._users: dict[str, str] = {}
        self._blocks: set[tuple[str, str]] = set()
        self._accounts: dict[str, Account] = {}
        # The holdings the relay saved: the Holding objects themselves, not a copy of each
        # (a copy was 72 bytes per guest online), in the dict guest_holdings hands to the
        # relay's GuestNames, which keeps the same objects and changes them only together
        # with save_holding or set_left_at, which write what it now holds.
        self._holdings: dict[str, Holding] = {}
        self._credentials: dict[bytes, Credential] = {}
        self._rooms: dict[str, str] = {}  # room key -> record
        self._changes: dict[str, dict[int, _Row]] = {}
        self._room_changes: dict[str, dict[int, _Row]] = {}
        self._dm_changed: dict[str, dict[int, _Row]] = {}
        self._reads: dict[tuple[str, str], int] = {}
        self._receipts_off: set[str] = set()

    # --- Lifecycle ------------------------------------------------------------------------

    def open(self) -> None:
        pass

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def queue_depth(self) -> int:
        """Answers waiting for the next loop turn (for /metrics)."""
        return len(self._answers)

    async def drain(self, timeout: float = 10.0) -> None:
        deadline = self._loop.time() + timeout
        while self._answers and self._loop.time() < deadline:
            await asyncio.sleep(0)

    def close(self) -> None:
        """Run the answers still queued (and any they cause)."""
        while self._answers:
            self._flush()

    async def wait_closed(self) -> None:
        """Nothing to wait for: :meth:`close` ends everything it started."""

    def _answer(self, callback: Callable[[Any], None] | None, result: Any) -> None:
        if callback is None:
            return  # nothing to call: skipping it keeps the others in order
        self._answers.append((callback, result))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        answers, self._answers = self._answers, []
        self._scheduled = False
        for callback, result in answers:
            try:
                callback(result)
            except Exception:
                log.exception("store callback failed")
        if self.after_answers is not None:
            self.after_answers()

    def _do(self, operation: Callable[..., Any], args: tuple, callback: Callback | None,
            on_error: ErrorCallback | None) -> None:
        """Run ``operation(*args)`` now; queue its answer. (The message path's three
        operations, once a message each, do this themselves: store_fields, record_receipt,
        record_ack, without this frame and its call by ``*args``, which CPython makes by
        a new evaluation of the operation's frame from C.)"""
        try:
            result = operation(*args)
        except Exception:
            self._failed(operation, on_error)
            return
        if callback is not None:  # nothing to answer (a receipt's record, issue 9): no call
            self._answer(callback, result)

    def _failed(self, operation: Callable[..., Any], on_error: ErrorCallback | None) -> None:
        """``operation`` raised, a bug in it (worth its traceback): answer ``on_error``."""
        name = operation.__name__
        log.exception("store operation %s failed", name)
        self._answer(on_error, StoreUnavailable(f"store operation {name} failed", storage=False))

    # --- Loading, at start ------------------------------------------------------------------

    def last_msg_id(self) -> int:
        return self._last_msg_id

    def known_users(self) -> dict[str, str]:
        # The store's own dict, not a copy: the relay keeps it as its cache of everyone
        # known and writes each login to it as remember_user does here, so one dict of all
        # users serves both (a copy cost a dict entry per user). Nothing else writes to it.
        return self._users

    def blocks(self) -> list[tuple[str, str]]:
        return sorted(self._blocks)

    def accounts(self) -> dict[str, Account]:
        return dict(self._accounts)

    def account_credentials(self, now: float) -> dict[bytes, Credential]:
        return {h: c for h, c in self._credentials.items() if c.expires_at > now}

    def guest_holdings(self, now: float) -> dict[str, Holding]:
        # The store's own dict, not a copy (as known_users): the relay's GuestNames keeps
        # it and saves each holding it makes into it again (a copy cost a dict entry per
        # guest). A holder still noted online left at ``now``, as load_holdings has it.
        for holding in self._holdings.values():
            if holding.left_at is None:
                holding.left_at = now
        return self._holdings

    def rooms(self) -> dict[str, str]:
        return dict(self._rooms)

    def receipts_off(self) -> set[str]:
        return set(self._receipts_off)

    # --- Messages: the message path ------------------------------------------------------------

    def store_message(self, message: StoredMessage, callback: Callback | None = None,
                      on_error: ErrorCallback | None = None) -> None:
        # Stored at once, so the next id is one more than the last stored (a resend uses none).
        self._do(self._store, (with_msg_id(message, self._last_msg_id + 1),), callback, on_error)

    def store_fields(self, fields: tuple, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        # As store_message, the message built once, under the id it is stored with. Its
        # arguments as one tuple, the id's joined to the fields: a call with ``id, *fields``
        # builds a list, extends it and copies it to a tuple (about 400 instructions more a
        # message; issue 9, round eighteen).
        message = new_stored_message(*((self._last_msg_id + 1,) + fields))
        try:  # (what _do does, inline: see there)
            result = self._store(message)
        except Exception:
            self._failed(self._store, on_error)
            return
        self._answer(callback, result)

    def sent_under(self, sender_key: str, client_id: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self._do(self._sent_under, (sender_key, client_id), callback, on_error)

    def _sent_under(self, sender_key: str, client_id: str) -> StoredMessage | None:
        msg_id = self._client_ids.get(sender_key, {}).get(client_id)
        row = None if msg_id is None else self._messages.get(msg_id)
        return None if row is None else as_told(row.current())

    def _store(self, message: StoredMessage) -> tuple[StoredMessage, str]:
        sender_key = message.sender_key
        client_ids = self._client_ids.get(sender_key)
        if client_ids is None:
            client_ids = self._client_ids[sender_key] = {}
        earlier = client_ids.get(message.client_id)
        if earlier is not None:
            stored = as_told(self._messages[earlier].current())
            return (stored, RESEND) if same_request(stored, message) else (message, ID_REUSED)
        msg_id = message.msg_id
        if msg_id <= self._last_msg_id:  # ids only grow: _messages is kept in id order
            raise ValueError(f"message id {msg_id} is not above the last one stored ({self._last_msg_id})")
        # The row: a _Row() with its slots set here, not by a Python __init__ (a second
        # interpreter frame entered from C and a tuple of the arguments; issue 9, round
        # fourteen) nor by a function of its own (a frame; round eighteen), once a message.
        row = _Row()
        row.message = message
        state = row.state = message.state
        # A room or blocked message has no outcome to tell (mailbox.store_messages).
        row.told = state in ("room", "blocked")
        client_ids[message.client_id] = msg_id
        self._messages[msg_id] = row
        self._last_msg_id = msg_id
        recipient_key = message.recipient_key
        if recipient_key is not None and state == "room":
            posts = self._room_posts.get(recipient_key)
            if posts is None:
                self._room_posts[recipient_key] = [msg_id]
            else:
                posts.append(msg_id)
        elif recipient_key is not None:
            pair = (sender_key, recipient_key) if sender_key <= recipient_key else (recipient_key, sender_key)
            conversation = self._conversations.get(pair)
            if conversation is None:
                self._conversations[pair] = [msg_id]
            else:
                conversation.append(msg_id)
            if state in PENDING:
                pending = self._pending.get(recipient_key)
                if pending is None:
                    self._pending[recipient_key] = {msg_id: row}
                else:
                    pending[msg_id] = row
                if message.expires_at is not None:
                    # (math.floor, not int(): the same int of a whole float, at half the cost
                    # of a type call, once a message; issue 9, round seventeen)
                    bucket = row.bucket = math.floor(message.expires_at // EXPIRY_BUCKET)
                    expiring = self._expiring.get(bucket)
                    if expiring is None:
                        self._expiring[bucket] = {msg_id: row}
                        heapq.heappush(self._buckets, bucket)
                    else:
                        expiring[msg_id] = row
            elif state == "blocked":  # (never a sent or queued message's path)
                self._expire_later(row)
        return message, NEW

    def _expire_later(self, row: _Row) -> None:
        """A blocked message expires as a pending one does (mailbox.expire): into its
        bucket, and ``_blocked``."""
        message = row.message
        self._blocked[message.msg_id] = row
        if message.expires_at is None:
            return
        bucket = row.bucket = math.floor(message.expires_at // EXPIRY_BUCKET)
        expiring = self._expiring.get(bucket)
        if expiring is None:
            self._expiring[bucket] = {message.msg_id: row}
            heapq.heappush(self._buckets, bucket)
        else:
            expiring[message.msg_id] = row

    def _end_blocked(self, row: _Row, tell: bool) -> None:
        """A blocked message ends (blocked_expired): an outcome for its sender to hear
        (``tell``), or none (its sender gave the name up: hand_over)."""
        message = row.message
        del self._blocked[message.msg_id]
        if message.expires_at is not None:
            expiring = self._expiring.get(row.bucket)
            if expiring is not None:
                expiring.pop(message.msg_id, None)
        row.state = BLOCKED_EXPIRED
        if tell:
            row.told = False
            self._untold.setdefault(message.sender_key, {})[message.msg_id] = row

    def record_receipt(self, msg_id: int, recipient_key: str, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None, *, sender_key: str | None = None) -> None:
        try:  # (what _do does, inline: see there)
            result = self._deliver(msg_id, recipient_key)
        except Exception:
            self._failed(self._deliver, on_error)
            return
        if callback is not None:
            self._answer(callback, result)

    def _deliver(self, msg_id: int, recipient_key: str) -> None:
        """Pending -> delivered (an outcome for its sender to hear); else nothing."""
        pending = self._pending.get(recipient_key)
        row = pending.get(msg_id) if pending else None
        if row is not None:
            self._unpend(row, "delivered")
        return None

    def record_ack(self, msg_id: int, sender_key: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        try:  # (what _do does, inline: see there)
            result = self._acknowledge(msg_id, sender_key)
        except Exception:
            self._failed(self._acknowledge, on_error)
            return
        if callback is not None:
            if self._scheduled:  # this turn's answers are under way: _answer's work is the append
                self._answers.append((callback, result))
            else:
                self._answer(callback, result)

    def _acknowledge(self, msg_id: int, sender_key: str) -> bool:
        row = self._messages.get(msg_id)
        if row is None or row.message.sender_key != sender_key:
            return False
        if not row.told and row.state in _FINAL_OUTCOMES:
            self._remove_untold(row)
        return True

    def _remove_untold(self, row: _Row) -> None:
        """The sender took in the outcome (or nobody is left to tell)."""
        row.told = True
        sender_key = row.message.sender_key
        untold = self._untold.get(sender_key)
        if untold is not None:
            untold.pop(row.message.msg_id, None)
            if not untold:
                del self._untold[sender_key]

    def _unpend(self, row: _Row, state: str) -> None:
        """A pending message reaches its final ``state`` (delivered, expired): an outcome
        for its sender to hear."""
        message = row.message
        pending = self._pending[message.recipient_key]
        del pending[message.msg_id]
        if not pending:
            del self._pending[message.recipient_key]
        if message.expires_at is not None:
            expiring = self._expiring.get(row.bucket)  # (set by _store with the expiry)
            if expiring is not None:  # (the expiry pass has taken the bucket out)
                expiring.pop(message.msg_id, None)
        row.state = state
        # Untold until its sender acknowledges it (_remove_untold). Here, not in a method
        # of its own: its one caller, once a message (issue 9, round fifteen).
        sender_key, msg_id = message.sender_key, message.msg_id
        untold = self._untold.get(sender_key)
        if untold is None:
            self._untold[sender_key] = {msg_id: row}
        else:
            untold[msg_id] = row

    # --- Messages: the rest ----------------------------------------------------------------------

    def confirm_late(self, msg_id: int, recipient_key: str, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._do(self._confirm_late, (msg_id, recipient_key), callback, on_error)

    def _confirm_late(self, msg_id: int, recipient_key: str) -> tuple[StoredMessage | None, str | None]:
        row = self._messages.get(msg_id)
        if row is None:
            return None, None
        pending = self._pending.get(recipient_key)
        if pending and msg_id in pending:
            self._deliver(msg_id, recipient_key)
            return row.current(), row.message.recipient_key
        return None, row.message.recipient_key

    def restate(self, msg_id: int, state: str, callback: Callback | None = None,
                on_error: ErrorCallback | None = None) -> None:
        self._do(self._restate, (msg_id, state), callback, on_error)

    def _restate(self, msg_id: int, state: str) -> None:
        row = self._messages.get(msg_id)
        if row is not None and row.state in PENDING:
            row.state = state

    def pending_for(self, recipient_key: str, after: int, limit: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self._do(self._pending_for, (recipient_key, after, limit), callback, on_error)

    def _pending_for(self, recipient_key: str, after: int, limit: int) -> list[StoredMessage]:
        found: list[StoredMessage] = []
        # The ones at or before ``after`` are in flight (sent, not confirmed yet): few.
        for msg_id, row in self._pending.get(recipient_key, {}).items():
            if len(found) == limit:
                break
            if msg_id > after:
                found.append(row.current())
        return found

    def outcomes_for_sender(self, sender_key: str, after: int, limit: int, callback: Callback | None = None,
                            on_error: ErrorCallback | None = None) -> None:
        self._do(self._outcomes_for_sender, (sender_key, after, limit), callback, on_error)

    def _outcomes_for_sender(self, sender_key: str, after: int, limit: int) -> list[StoredMessage]:
        untold = self._untold.get(sender_key)
        if not untold:
            return []
        # Outcomes come in the order of receipts, not of ids.
        ids = sorted(msg_id for msg_id in untold if msg_id > after)
        if limit >= 0:
            ids = ids[:limit]
        return [as_told(untold[msg_id].current()) for msg_id in ids]

    def history(self, me_key: str, peer_key: str, before: int | None, limit: int, after: int,
                callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        self._do(self._history, (me_key, peer_key, before, limit, after), callback, on_error)

    def _history(self, me_key: str, peer_key: str, before: int | None, limit: int,
                 after: int) -> tuple[list[HistoryEntry], int | None]:
        pair = (me_key, peer_key) if me_key <= peer_key else (peer_key, me_key)
        ids = self._conversations.get(pair, [])
        end = len(ids) if before is None else bisect.bisect_left(ids, before)
        rows: list[_Row] = []
        for index in range(end - 1, -1, -1):  # newest first, one more than a page
            msg_id = ids[index]
            if msg_id <= after or len(rows) > limit:
                break
            row = self._messages.get(msg_id)
            if row is None:  # purged (an id behind one that was kept)
                continue
            if row.state in BLOCKED_STATES and row.message.recipient_key == me_key:
                continue  # blocked by me: not mine to see
            rows.append(row)
        more = len(rows) > limit
        rows = rows[:limit]
        entries = [history_entry(m.msg_id, m.sender, m.recipient, m.text, m.sent_at, row.state, m.edited_at,
                                 m.deleted)
                   for row in reversed(rows) for m in (row.message,)]
        return entries, (entries[0].msg_id if more and entries else None)

    def since(self, me_key: str, after: int, limit: int, callback: Callback | None = None,
              on_error: ErrorCallback | None = None) -> None:
        self._do(self._since, (me_key, after, limit), callback, on_error)

    def _since(self, me_key: str, after: int, limit: int) -> tuple[list[HistoryEntry], int | None]:
        # Ids one by one, as the SQLite store walks its primary key: purged ones are gone.
        top = self._last_msg_id
        walked_to = min(after + const.SINCE_SCAN, top)
        entries: list[HistoryEntry] = []
        for msg_id in range(after + 1, walked_to + 1):
            row = self._messages.get(msg_id)
            if row is None:
                continue
            m = row.message
            if since_visible(m.sender_key, m.recipient_key, row.state, me_key):
                entries.append(history_entry(msg_id, m.sender, m.recipient, m.text, m.sent_at, row.state,
                                             m.edited_at, m.deleted))
                if len(entries) > limit:
                    break
        return since_page(entries, limit, walked_to, top)

    def room_history(self, room_key: str, before: int | None, limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._do(self._room_history, (room_key, before, limit), callback, on_error)

    def _room_history(self, room_key: str, before: int | None, limit: int) -> tuple[list[HistoryEntry], int | None]:
        ids = self._room_posts.get(room_key, [])
        end = len(ids) if before is None else bisect.bisect_left(ids, before)
        rows = [row for msg_id in ids[max(0, end - limit - 1):end][::-1]
                if (row := self._messages.get(msg_id)) is not None]  # purged ones only at the front
        more = len(rows) > limit
        entries = [HistoryEntry(m.msg_id, m.sender, m.recipient, m.text, m.sent_at, ROOM_MESSAGE_STATE,
                                m.edited_at is not None and not m.deleted, m.deleted)
                   for row in reversed(rows[:limit]) for m in (row.message,)]
        return entries, (entries[0].msg_id if more and entries else None)

    def room_backlog(self, name_key: str, room_keys: list[str], limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._do(self._room_backlog, (name_key, room_keys, limit), callback, on_error)

    def _room_backlog(self, name_key: str, room_keys: list[str],
                      limit: int) -> tuple[list[StoredMessage], dict[str, int]]:
        mine = self._room_cursors.get(name_key, {})
        cursors = {key: mine[key] for key in room_keys if key in mine}
        messages = []
        for room_key in room_keys:
            ids = self._room_posts.get(room_key, [])
            start = max(bisect.bisect_right(ids, cursors.get(room_key, 0)), len(ids) - limit)
            messages += [self._messages[msg_id].current() for msg_id in ids[start:] if msg_id in self._messages]
        return sorted(messages, key=lambda m: m.msg_id), cursors

    def set_room_cursors(self, name_key: str, cursors: dict[str, int], callback: Callback | None = None,
                         on_error: ErrorCallback | None = None) -> None:
        self._do(self._set_room_cursors, (name_key, dict(cursors)), callback, on_error)

    def _set_room_cursors(self, name_key: str, cursors: dict[str, int]) -> None:
        left = self._room_cursors.get(name_key, {}).get(LEFT_AT)
        if left is not None and LEFT_AT not in cursors:  # the stored mark stays (base.py)
            cursors[LEFT_AT] = left
        if cursors:
            self._room_cursors[name_key] = cursors
        else:
            self._room_cursors.pop(name_key, None)

    def room_joined(self, name_key: str, room_key: str, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self._do(self._room_joined, (name_key, room_key), callback, on_error)

    def _room_joined(self, name_key: str, room_key: str) -> int:
        self._room_cursors.setdefault(name_key, {})[room_key] = self._last_msg_id
        return self._last_msg_id

    def expire(self, now: float, callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        self._do(self._expire, (now,), callback, on_error)

    def _expire(self, now: float) -> list[StoredMessage]:
        due: list[_Row] = []
        current = math.floor(now // EXPIRY_BUCKET)  # the bucket ``now`` is in (as _store numbers them)
        while self._buckets and self._buckets[0] <= current:
            bucket = heapq.heappop(self._buckets)
            expiring = self._expiring.pop(bucket)
            if bucket < current:  # it ended before now: all of it is due
                due.extend(expiring.values())
                continue
            keep = {}
            for msg_id, row in expiring.items():
                if row.message.expires_at <= now:
                    due.append(row)
                else:
                    keep[msg_id] = row
            self._expiring[bucket] = keep
            heapq.heappush(self._buckets, bucket)
            break
        for row in due:
            if row.state == "blocked":
                self._end_blocked(row, tell=True)
            else:
                self._unpend(row, "expired")
        return sorted((as_told(row.current()) for row in due), key=lambda m: m.msg_id)

    def purge(self, older_than: float, unacknowledged_older_than: float | None,
              callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        self._do(self._purge, (older_than, unacknowledged_older_than), callback, on_error)

    def _purge(self, older_than: float, unacknowledged_older_than: float | None) -> int:
        """As mailbox.purge: each bound is cut at the first message sent at or after it
        (ids grow with time), and the newest message stays, so ids are never reused."""
        newest = self._last_msg_id
        doomed: list[_Row] = []
        old, unacknowledged_old = True, unacknowledged_older_than is not None
        for msg_id, row in self._messages.items():
            sent_at = row.message.sent_at
            old = old and sent_at < older_than
            unacknowledged_old = unacknowledged_old and sent_at < unacknowledged_older_than
            if msg_id >= newest or not (old or unacknowledged_old):
                break
            state = row.state
            if state in PENDING:
                continue
            if (old and (row.told or state in ("room", "blocked"))) or \
                    (unacknowledged_old and state in _FINAL_OUTCOMES):
                doomed.append(row)
        pairs, rooms = set(), set()
        for row in doomed:
            message = row.message
            del self._messages[message.msg_id]
            client_ids = self._client_ids.get(message.sender_key)
            if client_ids is not None and client_ids.get(message.client_id) == message.msg_id:
                del client_ids[message.client_id]
                if not client_ids:
                    del self._client_ids[message.sender_key]
            if not row.told:
                self._remove_untold(row)
            if row.state == "blocked":  # purged before its expiry (a retention shorter than it)
                self._end_blocked(row, tell=False)
            if message.recipient_key is not None and row.state == "room":
                rooms.add(message.recipient_key)
            elif message.recipient_key is not None:
                a, b = message.sender_key, message.recipient_key
                pairs.add((a, b) if a <= b else (b, a))
        # Drop purged ids from the front of each conversation and room touched.
        for index, key in [(self._conversations, pair) for pair in pairs] + [(self._room_posts, k) for k in rooms]:
            ids = index[key]
            start = 0
            while start < len(ids) and ids[start] not in self._messages:
                start += 1
            if start == len(ids):
                del index[key]
            else:
                del ids[:start]
        return len(doomed)

    def hand_over(self, name_key: str, epoch: int, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        self._do(self._hand_over, (name_key, epoch), callback, on_error)

    def _hand_over(self, name_key: str, epoch: int) -> list[StoredMessage]:
        """As mailbox.hand_over."""
        expired = [row for msg_id, row in self._pending.get(name_key, {}).items() if msg_id <= epoch]
        for row in expired:
            self._unpend(row, "expired")
        # What they had blocked ends too, its sender told (mailbox.hand_over).
        blocked = [row for msg_id, row in self._blocked.items() if msg_id <= epoch
                   and row.message.recipient_key == name_key]
        for row in blocked:
            self._end_blocked(row, tell=True)
        expired = sorted(expired + blocked, key=lambda row: row.message.msg_id)
        # What they sent that was blocked ends, told to nobody (mailbox.hand_over).
        for row in [row for msg_id, row in self._blocked.items() if msg_id <= epoch
                    and row.message.sender_key == name_key]:
            self._end_blocked(row, tell=False)
        answer = [as_told(row.current()) for row in expired]  # as they were before their ids change below
        for row in [row for msg_id, row in self._untold.get(name_key, {}).items() if msg_id <= epoch]:
            self._remove_untold(row)
        client_ids = self._client_ids.get(name_key, {})
        for client_id, msg_id in list(client_ids.items()):
            if msg_id <= epoch:  # a send of the new holder under this id is a new message
                del client_ids[client_id]
                row = self._messages[msg_id]
                row.message = replace(row.message, client_id=superseded_client_id(msg_id))
        return answer

    def referenced(self, name_keys: list[str], callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self._do(self._referenced, (name_keys,), callback, on_error)

    def _referenced(self, name_keys: list[str]) -> list[str]:
        """As mailbox.referenced (what they sent: through their request ids)."""
        messages = self._messages
        return [key for key in name_keys if self._pending.get(key) or self._untold.get(key) or any(
            (row := messages.get(msg_id)) is not None and row.state in ("sent", "queued", "blocked")
            for msg_id in self._client_ids.get(key, {}).values())]

    def forget_users(self, name_keys: list[str], epoch: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._do(self._forget_users, (name_keys, epoch), callback, on_error)

    def _forget_users(self, name_keys: list[str], epoch: int) -> list[StoredMessage]:
        """As mailbox.forget_users, but their read marks stay: they are keyed by pairs, and
        finding theirs would read every mark of everyone."""
        told = []
        for key in name_keys:
            told += self._hand_over(key, epoch)
            self._users.pop(key, None)
            self._holdings.pop(key, None)
            self._room_cursors.pop(key, None)
            self._dm_changed.pop(key, None)
            self._receipts_off.discard(key)
            if self._client_ids.get(key) == {}:
                del self._client_ids[key]
        owners = set(name_keys)
        if any(owner in owners for owner, _ in self._blocks):
            self._blocks = {pair for pair in self._blocks if pair[0] not in owners}
        return told

    # --- After delivered: edit, delete, read ------------------------------------------------------

    def change_message(self, msg_id: int, sender_key: str, text: str | None, now: float, window: float,
                       quiet_for: frozenset[str], callback: Callback | None = None, on_error: ErrorCallback | None = None,
                       *, may_post_in: frozenset[str] | None = None) -> None:
        self._do(self._change, (msg_id, sender_key, text, now, window, quiet_for, may_post_in), callback, on_error)

    def _change(self, msg_id: int, sender_key: str, text: str | None, now: float, window: float,
                quiet_for: frozenset[str], may_post_in: frozenset[str] | None = None) -> tuple[str, StoredMessage | None]:
        """As mailbox.change_message."""
        row = self._messages.get(msg_id)
        if row is None or (row.message.recipient_key is None and row.state != "room"):
            return UNKNOWN, None
        message = row.current()
        refused = change_refused(message, sender_key, text, now, window, may_post_in)
        if refused is not None:
            return refused
        row.message = replace(row.message, text="" if text is None else text, edited_at=change_time(message, now),
                              deleted=text is None)
        if row.state == "room" and message.recipient_key is None:
            pass  # the default room's: no change log (no history, no missed messages)
        elif row.state == "room":
            log_ = self._room_changes.setdefault(message.recipient_key, {})
            log_.pop(msg_id, None)
            log_[msg_id] = row  # the newest change last
            while len(log_) > const.ROOM_BACKLOG_LIMIT:
                del log_[next(iter(log_))]
        else:
            for key in {message.sender_key, message.recipient_key}:  # (once for a message to oneself)
                log_ = self._dm_changed.setdefault(key, {})
                log_.pop(msg_id, None)
                log_[msg_id] = row  # the newest change last
                while len(log_) > const.DM_CHANGES_KEPT:
                    del log_[next(iter(log_))]
            if message.recipient_key not in quiet_for and row.state not in BLOCKED_STATES:
                self._changes.setdefault(message.recipient_key, {})[msg_id] = row
        return CHANGED, row.current()

    def dm_changes(self, name_key: str, after_id: int, since: float, limit: int, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self._do(self._dm_changes, (name_key, after_id, since, limit), callback, on_error)

    def _dm_changes(self, name_key: str, after_id: int, since: float, limit: int) -> list[StoredMessage]:
        """As mailbox.dm_changes."""
        log_ = self._dm_changed.get(name_key, {})
        return sorted((m for row in log_.values() if self._messages.get(row.message.msg_id) is row
                       for m in (row.current(),)
                       if m.edited_at > since and m.msg_id > after_id
                       and since_visible(m.sender_key, m.recipient_key, row.state, name_key)),
                      key=lambda m: m.msg_id)[:limit]

    def room_changes(self, name_key: str, room_keys: list[str], limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None, *, seen: SeenMark | None = None) -> None:
        self._do(self._room_changes_for, (name_key, list(room_keys), limit, seen), callback, on_error)

    def _room_changes_for(self, name_key: str, room_keys: list[str], limit: int,
                          seen: SeenMark | None) -> list[StoredMessage]:
        """As mailbox.room_changes."""
        mine = self._room_cursors.get(name_key, {})
        if seen is not None:  # one client's mark, in every room: {room: upto}, since
            mine, left = dict.fromkeys(room_keys, seen.upto), seen.since_ms
        else:
            left = mine.get(LEFT_AT)
        if left is None:
            return []
        changed = []
        for room_key in room_keys:
            if room_key not in mine:
                continue
            rows = list(self._room_changes.get(room_key, {}).values())[-limit:]
            changed += [m for row in rows if self._messages.get(row.message.msg_id) is row
                        for m in (row.current(),) if m.msg_id <= mine[room_key] and m.edited_at * 1000 > left]
        return sorted(changed, key=lambda m: m.msg_id)

    def changes_for(self, recipient_key: str, after: int, limit: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self._do(self._changes_for, (recipient_key, after, limit), callback, on_error)

    def _changes_for(self, recipient_key: str, after: int, limit: int) -> list[StoredMessage]:
        changes = self._changes.get(recipient_key, {})
        for msg_id in [m for m, row in changes.items() if self._messages.get(m) is not row]:
            del changes[msg_id]  # purged since
        return [changes[m].current() for m in sorted(changes) if m > after][:limit]

    def confirm_change(self, msg_id: int, recipient_key: str, at: float | None, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None) -> None:
        self._do(self._confirm_change, (msg_id, recipient_key, at), callback, on_error)

    def _confirm_change(self, msg_id: int, recipient_key: str, at: float | None) -> bool:
        changes = self._changes.get(recipient_key)
        pending = changes.get(msg_id) if changes is not None else None
        if pending is not None and (at is None or pending.message.edited_at <= at):
            del changes[msg_id]
            if not changes:
                del self._changes[recipient_key]
        row = self._messages.get(msg_id)
        return row is not None and row.message.recipient_key == recipient_key

    def record_read(self, reader_key: str, peer_key: str, msg_id: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self._do(self._record_read, (reader_key, peer_key, msg_id), callback, on_error)

    def _record_read(self, reader_key: str, peer_key: str, msg_id: int) -> tuple[int | None, bool]:
        row = self._messages.get(msg_id)
        if (row is None or row.message.sender_key != peer_key or row.message.recipient_key != reader_key
                or row.state in BLOCKED_STATES):
            return None, False
        before = self._reads.get((reader_key, peer_key))
        if before is not None and before >= msg_id:
            return before, False
        self._reads[(reader_key, peer_key)] = msg_id
        return msg_id, True

    def record_room_read(self, reader_key: str, room_key: str, msg_id: int, callback: Callback | None = None,
                         on_error: ErrorCallback | None = None) -> None:
        self._do(self._record_room_read, (reader_key, room_key, msg_id), callback, on_error)

    def _record_room_read(self, reader_key: str, room_key: str, msg_id: int) -> tuple[int | None, bool]:
        """As mailbox.record_room_read: the mark under (reader, room key) in ``_reads``."""
        row = self._messages.get(msg_id)
        if row is None or row.message.recipient_key != room_key or row.state != "room":
            return None, False
        before = self._reads.get((reader_key, room_key))
        if before is not None and before >= msg_id:
            return before, False
        self._reads[(reader_key, room_key)] = msg_id
        return msg_id, True

    def room_read_marks(self, room_key: str, reader_keys: list[str], callback: Callback | None = None,
                        on_error: ErrorCallback | None = None) -> None:
        self._do(self._room_read_marks, (room_key, list(reader_keys)), callback, on_error)

    def _room_read_marks(self, room_key: str, reader_keys: list[str]) -> dict[str, int]:
        return {key: self._reads[(key, room_key)] for key in reader_keys if (key, room_key) in self._reads}

    def read_mark(self, reader_key: str, peer_key: str, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        self._do(self._read_mark, (reader_key, peer_key), callback, on_error)

    def _read_mark(self, reader_key: str, peer_key: str) -> int | None:
        return self._reads.get((reader_key, peer_key))

    def set_read_receipts(self, name_key: str, on: bool, callback: Callback | None = None,
                          on_error: ErrorCallback | None = None) -> None:
        self._do(self._set_read_receipts, (name_key, on), callback, on_error)

    def _set_read_receipts(self, name_key: str, on: bool) -> None:
        if on:
            self._receipts_off.discard(name_key)
        else:
            self._receipts_off.add(name_key)

    # --- Users, blocks, guests, accounts ----------------------------------------------------

    def remember_user(self, name_key: str, name: str, now: float, callback: Callback | None = None,
                      on_error: ErrorCallback | None = None) -> None:
        self._users[name_key] = name
        if callback is not None:  # the relay asks for no answer: no call per login (issue 9)
            self._answer(callback, None)

    def set_block(self, owner_key: str, blocked_key: str, blocked: bool, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        if blocked:
            self._blocks.add((owner_key, blocked_key))
        else:
            self._blocks.discard((owner_key, blocked_key))
        self._answer(callback, None)

    def clear_blocks(self, owner_key: str, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._blocks = {pair for pair in self._blocks if pair[0] != owner_key}
        self._answer(callback, None)

    def save_holding(self, name_key: str, holding: Holding, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._holdings[name_key] = holding
        if callback is not None:  # as in remember_user
            self._answer(callback, True)

    def set_left_at(self, name_key: str, left_at: float | None, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None, holding: Holding | None = None) -> None:
        held = self._holdings.get(name_key)
        if held is not None:
            held.left_at = left_at
        self._answer(callback, True)

    def save_account(self, name_key: str, account: Account, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None, by_holder: bool = False,
                     hold: float | None = None, resumed: bool = False) -> None:
        stored = self._accounts.get(name_key)
        if stored is None:
            self._accounts[name_key] = account
        self._answer(callback, stored is None or same_account(stored, account))  # (a resend's: base.py)

    def set_password(self, name_key: str, account: Account, keep: bytes | None, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        found = name_key in self._accounts
        if found:
            self._accounts[name_key] = account
            self._credentials = {h: c for h, c in self._credentials.items() if c.name_key != name_key or h == keep}
        self._answer(callback, found)

    def save_account_credential(self, token_hash: bytes, credential: Credential, now: float,
                                callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        self._credentials = {h: c for h, c in self._credentials.items() if c.expires_at > now}
        self._credentials[token_hash] = credential
        self._answer(callback, None)

    def revoke_account_credential(self, token_hash: bytes, callback: Callback | None = None,
                                  on_error: ErrorCallback | None = None) -> None:
        self._credentials.pop(token_hash, None)
        self._answer(callback, None)

    def revoke_account_credentials(self, name_key: str, callback: Callback | None = None,
                                   on_error: ErrorCallback | None = None) -> None:
        self._credentials = {h: c for h, c in self._credentials.items() if c.name_key != name_key}
        self._answer(callback, None)

    def delete_account(self, name_key: str, epoch: int, holding: Holding, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None) -> None:
        self._do(self._delete_account, (name_key, epoch, copy.copy(holding)), callback, on_error)

    def _delete_account(self, name_key: str, epoch: int, holding: Holding) -> list[StoredMessage]:
        """As base.MessageStore.delete_account; its read marks go too (they are keyed by
        pairs: every mark is read, once, for a deletion)."""
        told = self._forget_users([name_key], epoch)
        self._accounts.pop(name_key, None)
        self._credentials = {h: c for h, c in self._credentials.items() if c.name_key != name_key}
        self._blocks = {pair for pair in self._blocks if pair[1] != name_key}
        self._reads = {pair: mark for pair, mark in self._reads.items() if pair[0] != name_key}
        self._holdings[name_key] = holding
        return told

    # --- Rooms ----------------------------------------------------------------------------

    def save_room(self, room_key: str, record: str | None, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        if record is None:
            self._rooms.pop(room_key, None)
        else:
            self._rooms[room_key] = record
        self._answer(callback, None)

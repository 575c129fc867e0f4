"""The store interface: every operation the relay needs, stated once.

Three stores implement it: :class:`~server.stores.sqlite.SQLiteStore` (durable: SQLite on
disk with group commit), :class:`~server.stores.memory.MemoryStore` (``--memory``:
Python structures, nothing survives a restart) and :class:`~server.stores.redis.RedisStore`
(``--cluster``: Redis, shared by the nodes of a cluster). The relay and the login desk talk
only to this interface, so the same relay tests run against all three
(tests/integration/test_store.py, ``RelayBench``).

The contract, for every asynchronous operation (all but the loading ones)::

    store.pending_for(key, after, limit, callback, on_error)

- the relay never waits: the operation is done at once or later (SQLite: at the end of
  the loop turn, in a transaction with everything else submitted meanwhile; memory: at
  once), and exactly one of ``callback(result)`` or ``on_error(StoreUnavailable)`` is
  called (either may be None), on the loop, never from inside the call that submitted it
  (the relay updates its bookkeeping after submitting);
- an operation sees the effect of every operation submitted before it, and of none
  submitted after it, but for one freedom: a receipt or an ack (:meth:`record_receipt`,
  :meth:`record_ack`) may run ahead of the message stores (:meth:`store_message`,
  :meth:`store_fields`) and the acks submitted before it since the last operation of any
  other kind (the SQLite and Redis stores join a turn's receipts and acks so), and such
  a store may then see it. That changes no other answer than a resend's, which may
  then read its message delivered: a receipt or an ack concerns a message whose store
  was answered before, so it is never of a message those stores store, and an ack is
  sent only for a message no longer pending, which no receipt changes;
- callbacks run in submission order, and only once the operation is durable (SQLite: its
  COMMIT has returned; memory: at the next loop turn, with nothing to wait for).
  "accepted" is only ever said from such a callback. One freedom: a receipt submitted
  without a callback may wait for its ack (the SQLite store: up to two tenths of a second,
  so that one UPDATE records both); every later operation but a message's store sees it
  (and a resend of its message reads it delivered), but its ``on_error``, if it fails,
  comes in the place it went, with its ack;
- ``on_error`` gets :class:`StoreUnavailable` when the operation was not done, or not
  durably: nothing of it happened. ``failure.storage`` says the storage failed (full,
  read-only, I/O error), which may go away by itself; the store logs such failures once
  (see :class:`~server.store.FailureLog`), so ``on_error`` need not log them again.
  When a write succeeds after such failures the store calls ``on_recovered()`` (if set)
  on the loop, so the relay can retry what it keeps (receipts, backlog fetches);
- the loading operations (``last_msg_id``, ``known_users``, ``blocks``, ``accounts``,
  ``guest_holdings``, ``account_credentials``, ``rooms``, ``receipts_off``) are synchronous: call them after :meth:`open` and before
  :meth:`start`, to fill the relay's caches.

Message ids are chosen by the store, when it stores a message (:meth:`store_message`):
the relay submits the message with any ``msg_id`` (0) and takes the id from the answer.
Ids only grow, are never given out twice (a store keeps the highest id it ever stored:
see ``mailbox.purge``), and a message stored after another gets a higher id, so the
per-conversation order, the backlog cursor and history pages can follow ids. With
several servers on one store (issue 10) only the store can promise that: blocks of ids
handed out per server would break the order across servers. The SQLite and memory
stores number messages as they are submitted (their own counter, from the highest id
stored); the Redis store numbers them in its storing script.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..accounts import Account
from ..credentials import Credential
from ..guests import Holding
from ..mailbox import SeenMark, StoredMessage
from ..store import StoreUnavailable

Callback = Callable[[Any], None]
ErrorCallback = Callable[[StoreUnavailable], None]

# save_account's result when a store several nodes share (Redis) finds a guest online under
# the name on some node of the cluster, welcomed there after this node looked: nothing saved.
GUEST_ONLINE = "guest_online"


@dataclass(frozen=True, slots=True)
class LooksLike:
    """save_account's result when a store several nodes share finds that the name looks
    like ``name``, another account's, registered on another node after this node looked:
    nothing saved."""

    name: str


@dataclass(frozen=True, slots=True)
class GuestHeld:
    """save_account's result when a store several nodes share finds the name held for the
    guest who left it less than the hold ago (on another node, which this node's cache had
    not heard of): held ``until`` then (a time); nothing saved."""

    until: float


__all__ = ["GUEST_ONLINE", "Callback", "ErrorCallback", "GuestHeld", "LooksLike", "MessageStore",
           "StoreUnavailable"]


class MessageStore(Protocol):
    """What the relay asks of a store. Results are described in server/mailbox.py, whose
    functions are the SQLite store's operations; the memory store answers the same."""

    # Called on the loop when a write succeeds after the store had failed.
    on_recovered: Callable[[], None] | None

    # --- Lifecycle ------------------------------------------------------------------

    def open(self) -> None:
        """Open (and migrate) the storage; the loading operations work from now on."""

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start taking asynchronous operations; callbacks run on ``loop``."""

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything submitted so far is done and answered (at most
        ``timeout`` seconds)."""

    def close(self) -> None:
        """Finish what is pending (its callbacks run), then release the storage."""

    async def wait_closed(self) -> None:
        """Return once :meth:`close` has finished releasing the storage: a connection it
        closes from inside the running loop is closed a loop turn or more later (at most
        the store's connect timeout). So a server that stopped leaves nothing running."""

    # --- Loading, at start (synchronous) ----------------------------------------------

    def last_msg_id(self) -> int:
        """The highest message id given out (0: none). Also callable after :meth:`start`
        (the relay takes a guest name's epoch from it): the SQLite and memory stores
        then count the messages submitted but not stored yet; a store that numbers
        messages elsewhere (Redis) answers the highest id it has seen, a lower bound."""

    def known_users(self) -> dict[str, str]:
        """Canonical name -> name of everyone who ever logged in."""

    def blocks(self) -> list[tuple[str, str]]:
        """Every (owner key, blocked key)."""

    def accounts(self) -> dict[str, Account]:
        """Every account, by canonical name."""

    def guest_holdings(self, now: float) -> dict[str, Holding]:
        """Every guest holding; a holder still noted online left at ``now`` (see guests.py)."""

    def account_credentials(self, now: float) -> dict[bytes, Credential]:
        """Every account resume credential still live at ``now``, by the hash of its
        secret (see credentials.py)."""

    def rooms(self) -> dict[str, str]:
        """Every stored room: room key -> its record (server/rooms.py, ``Rooms.changes``)."""

    def receipts_off(self) -> set[str]:
        """The keys of the users who turned read receipts off."""

    # --- Messages ---------------------------------------------------------------------

    def store_message(self, message: StoredMessage, callback: Callback | None = None,
                      on_error: ErrorCallback | None = None) -> None:
        """Store a new message under the next message id (``message.msg_id`` is ignored),
        recognising a resend: ``(message with its id, NEW)``, ``(earlier, RESEND)`` or
        ``(message, ID_REUSED)`` (see mailbox.store_messages, same_request)."""

    def sent_under(self, sender_key: str, client_id: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        """The message ``sender_key`` sent under request id ``client_id`` (as a resend of it
        would find it: its current state and text), or None. Read only: what the relay
        asks when it would refuse a request that may be a resend of one stored before the
        refusal's cause (a mute, a kick): only for such refusals, never on the message path."""

    def store_fields(self, fields: tuple, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        """:meth:`store_message` of the message whose fields after ``msg_id`` are ``fields``
        (in :class:`~server.mailbox.StoredMessage`'s order): the same operation, answered
        the same way, but the store builds the message once, under its id, rather than the
        caller one under id 0 and the store a copy (issue 9: the direct message's path)."""

    def record_receipt(self, msg_id: int, recipient_key: str, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None, *, sender_key: str | None = None) -> None:
        """The recipient confirmed ``msg_id``: pending -> delivered (else nothing); result None.
        ``sender_key``, if given, is the key of the message's sender (the relay has it in
        flight), so that a store need not read it (the Redis store: one command less per
        message); a store may ignore it. It must be right when given."""

    def record_ack(self, msg_id: int, sender_key: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        """The sender took in the outcome of ``msg_id``: not told again. Result False if
        it is not a message of that sender (see mailbox.acknowledge). An ack submitted
        after a receipt sees that receipt, even within one batch."""

    def confirm_late(self, msg_id: int, recipient_key: str, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        """A receipt for a message not in flight: ``(the message, if this receipt
        delivered it, else None; the recipient key of msg_id, None if unknown)``."""

    def restate(self, msg_id: int, state: str, callback: Callback | None = None,
                on_error: ErrorCallback | None = None) -> None:
        """A pending direct message's first answer was ``state`` (``sent`` or ``queued``),
        not the one it was stored with: record it (see mailbox.restate); result None."""

    def pending_for(self, recipient_key: str, after: int, limit: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        """Up to ``limit`` messages waiting for ``recipient_key``, msg_id > ``after``, oldest first."""

    def outcomes_for_sender(self, sender_key: str, after: int, limit: int, callback: Callback | None = None,
                            on_error: ErrorCallback | None = None) -> None:
        """Delivered or expired messages of ``sender_key`` not acknowledged yet, msg_id >
        ``after``, oldest first, at most ``limit`` (-1: all)."""

    def history(self, me_key: str, peer_key: str, before: int | None, limit: int, after: int,
                callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        """A page of the conversation: ``(entries oldest first, cursor or None)``
        (see mailbox.history)."""

    def since(self, me_key: str, after: int, limit: int, callback: Callback | None = None,
              on_error: ErrorCallback | None = None) -> None:
        """Feature since: ``me_key``'s direct messages in every conversation after id
        ``after``, as history shows them: ``(entries oldest first, cursor or None)`` (see
        mailbox.since; each store looks through at most ``const.SINCE_SCAN`` ids)."""

    def room_history(self, room_key: str, before: int | None, limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        """A page of named room ``room_key``'s messages: ``(entries oldest first, cursor or
        None)`` (see mailbox.room_history). Who may read it is the caller's business."""

    def room_backlog(self, name_key: str, room_keys: list[str], limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        """What ``name_key`` missed in those rooms: ``(messages oldest first, cursors found)``
        (see mailbox.room_backlog)."""

    def set_room_cursors(self, name_key: str, cursors: dict[str, int], callback: Callback | None = None,
                         on_error: ErrorCallback | None = None) -> None:
        """Replace ``name_key``'s room cursors (room key -> last id had) with ``cursors``;
        without a ``mailbox.LEFT_AT`` entry, the stored LEFT_AT mark stays."""

    def room_joined(self, name_key: str, room_key: str, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        """``name_key`` joined named room ``room_key``: their cursor of it becomes the
        highest message id stored so far (what came before the join is not theirs to be
        sent as missed), their other cursors stay; result: that id (mailbox.room_joined)."""

    def expire(self, now: float, callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        """Pending messages past their expiry become expired, and blocked ones
        blocked_expired (mailbox.expire); result: those, by msg_id, as their senders are
        told of them (both ``expired``: mailbox.as_told)."""

    def purge(self, older_than: float, unacknowledged_older_than: float | None,
              callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        """Forget old messages in a final state (see mailbox.purge); result: how many."""

    def hand_over(self, name_key: str, epoch: int, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        """A guest name changes hands (see mailbox.hand_over); result: what expired."""

    def referenced(self, name_keys: list[str], callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        """Result: those of ``name_keys`` a message still refers to (see mailbox.referenced)."""

    def forget_users(self, name_keys: list[str], epoch: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        """Forget the guest names ``name_keys`` (see mailbox.forget_users); result: what
        expired, as :meth:`hand_over`'s."""

    # --- After delivered: edit, delete, read (issue 13) --------------------------------

    def change_message(self, msg_id: int, sender_key: str, text: str | None, now: float, window: float,
                       quiet_for: frozenset[str], callback: Callback | None = None, on_error: ErrorCallback | None = None,
                       *, may_post_in: frozenset[str] | None = None) -> None:
        """Edit (``text``) or delete (None) a direct message or room post of ``sender_key``
        (None: anyone's, a moderator's delete): ``(status, message or None)`` (see
        mailbox.change_message; ``may_post_in``: the rooms whose posts an edit may change)."""

    def dm_changes(self, name_key: str, after_id: int, since: float, limit: int, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        """``name_key``'s direct messages, sent or received, edited or deleted after
        ``since`` (seconds), msg_id above ``after_id``, among their latest
        ``const.DM_CHANGES_KEPT`` changes, oldest msg_id first, at most ``limit`` (see
        mailbox.dm_changes): what a device back from away missed."""

    def room_changes(self, name_key: str, room_keys: list[str], limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None, *, seen: SeenMark | None = None) -> None:
        """The edited or deleted posts of ``room_keys`` that ``name_key`` had before it
        left, among each room's newest ``limit`` changes; with ``seen``, those one client
        of theirs had before it left (see mailbox.room_changes)."""

    def changes_for(self, recipient_key: str, after: int, limit: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        """Up to ``limit`` messages to ``recipient_key`` whose latest change it has not
        confirmed, msg_id > ``after``, oldest first (see mailbox.changes_for)."""

    def confirm_change(self, msg_id: int, recipient_key: str, at: float | None, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None) -> None:
        """The recipient took in the change of ``msg_id`` stamped ``at`` (None: the latest),
        so not a later one; result False if it is not a message to ``recipient_key`` (see
        mailbox.confirm_change)."""

    def record_read(self, reader_key: str, peer_key: str, msg_id: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        """The reader has seen ``peer_key``'s messages up to ``msg_id``: ``(mark, moved)``,
        ``(None, False)`` if not a message from ``peer_key`` to the reader (see mailbox.record_read)."""

    def read_mark(self, reader_key: str, peer_key: str, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        """Up to which msg_id the reader has seen ``peer_key``'s messages (None: none)."""

    def record_room_read(self, reader_key: str, room_key: str, msg_id: int, callback: Callback | None = None,
                         on_error: ErrorCallback | None = None) -> None:
        """The member has seen room ``room_key``'s posts up to ``msg_id``: ``(mark, moved)``,
        ``(None, False)`` if not a post of that room (see mailbox.record_room_read)."""

    def room_read_marks(self, room_key: str, reader_keys: list[str], callback: Callback | None = None,
                        on_error: ErrorCallback | None = None) -> None:
        """``{reader key: mark}`` in room ``room_key`` for those of ``reader_keys`` with one."""

    def set_read_receipts(self, name_key: str, on: bool, callback: Callback | None = None,
                          on_error: ErrorCallback | None = None) -> None:
        """``name_key`` turns read receipts (and typing) on or off."""

    # --- Users, blocks, guests, accounts (write-through of the relay's caches) ---------

    def remember_user(self, name_key: str, name: str, now: float, callback: Callback | None = None,
                      on_error: ErrorCallback | None = None) -> None:
        """``name`` logged in at ``now``."""

    def set_block(self, owner_key: str, blocked_key: str, blocked: bool, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        """``owner_key`` blocks (or no longer blocks) ``blocked_key``."""

    def clear_blocks(self, owner_key: str, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        """Forget whom ``owner_key`` blocks."""

    def save_holding(self, name_key: str, holding: Holding, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        """Store (a copy of) the guest holding of ``name_key``; result True, or False if the
        store kept a newer holding of the name instead (a store the nodes of a cluster share:
        another node's guest took the name after this holding's guest; redis_scripts.py
        SAVE_HOLDING). A store alone has no other writer: always True."""

    def set_left_at(self, name_key: str, left_at: float | None, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None, holding: Holding | None = None) -> None:
        """The holder of guest name ``name_key`` left at ``left_at`` (None: is online); result
        True, or False if ``holding`` (the one this is for) is not the name's holding stored
        (a store the nodes of a cluster share: a newer holder's is kept as it is;
        redis_scripts.py SET_LEFT_AT). A store alone has no other writer: always True."""

    def save_account(self, name_key: str, account: Account, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None, by_holder: bool = False,
                     hold: float | None = None, resumed: bool = False) -> None:
        """Create the account; result True (also when the name holds this very record
        already, :func:`~server.accounts.same_account`: a resend of a claim answered
        uncertain, server/login.py), False if the name was claimed meanwhile, or
        :data:`GUEST_ONLINE` or :class:`LooksLike` (a store the nodes of a cluster share,
        unless ``by_holder``: the guest online under the name claims it). With ``hold`` (the
        guest names' hold, seconds), such a store also answers :class:`GuestHeld` for a name
        whose guest left less than that ago (unless ``resumed``: the registrant proved it is
        that guest) and :class:`LooksLike` for a look-alike of a guest name held so. A store
        of one server answers none of these: its login desk knows who is online, every
        account and every holding."""

    def set_password(self, name_key: str, account: Account, keep: bytes | None, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        """Replace the password hash of the existing account ``name_key`` with
        ``account``'s and forget every resume credential of the account but the one whose
        hash is ``keep`` (None: all), in one step (the new password and the old
        credentials are never both live, nor the old password after the result); result
        False if there is no such account (nothing done)."""

    def save_account_credential(self, token_hash: bytes, credential: Credential, now: float,
                                callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        """Store a new account resume credential, and forget those expired by ``now``."""

    def revoke_account_credential(self, token_hash: bytes, callback: Callback | None = None,
                                  on_error: ErrorCallback | None = None) -> None:
        """Forget one account resume credential (the client logged out)."""

    def revoke_account_credentials(self, name_key: str, callback: Callback | None = None,
                                   on_error: ErrorCallback | None = None) -> None:
        """Forget every resume credential of the account ``name_key`` (its password was set)."""

    def delete_account(self, name_key: str, epoch: int, holding: Holding, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None) -> None:
        """Delete the account ``name_key`` at its owner's request (PROTOCOL.md, "``unregister``"),
        in one step: the account and its password hash, its resume credentials, its
        known-user row, its blocks both ways, its read marks, receipts switch and room
        cursors, and what waits for it (handed over to nobody up to ``epoch``, as
        :meth:`forget_users`: its senders are told ``expired``); the name is then held by
        ``holding`` (a guest holding whose token nobody has). What it sent stays: each
        copy is its recipient's. Result: what expired, as :meth:`forget_users`'s. A store
        several nodes share raises ``epoch`` to the last id any of them gave out (another
        node's message for her ends too) and ``holding.epoch`` with it, before the result."""

    # --- Rooms (server/rooms.py) ------------------------------------------------------------

    def save_room(self, room_key: str, record: str | None, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        """Store ``record`` (opaque text) as room ``room_key``'s, replacing any; None
        forgets the room. Result None."""


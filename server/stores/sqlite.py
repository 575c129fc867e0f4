"""The durable store: the store interface (base.py) over SQLite with group commit.

Each operation is a function of the sqlite3 connection (server/mailbox.py, guests.py,
accounts.py) submitted to the group-commit engine, :class:`server.store.Store`: it runs
on the store's committer thread with everything else submitted in its loop turn (so it
uses only the connection and values copied at submission, never the relay's state that
the loop may change meanwhile), and its callback
runs once the transaction's COMMIT (and so its fsync) has returned. The operations the
message path submits for every message (store, receipt, ack) are batch operations, so a
busy loop turn is a few ``executemany`` calls.
"""

from __future__ import annotations

import copy
import logging
import sqlite3
import time

import const

from .. import mailbox
from .. import credentials
from ..accounts import Account, load_accounts, save_account, set_password
from ..credentials import Credential
from ..guests import Holding, load_holdings, save_holding, set_left_at
from ..mailbox import StoredMessage
from ..store import Store, drop_upgrade_copies
from .base import Callback, ErrorCallback

log = logging.getLogger("chat.store")

# Receipts held for their acks (issue 9, bench/PROFILE.md "Round twenty-two (durable)").
# A direct message's receipt and its sender's ack of ``delivered`` each rewrote its row:
# the receipt moved it out of the inbox and expiry indexes and into the untold one, the
# ack a transaction later out of the untold one again (six b-tree writes). Met in one
# batch, they are one UPDATE (mailbox._deliver_and_acknowledge: three writes), but under
# load the ack comes a round trip after the receipt, which had long gone in the next
# message's transaction. So a receipt nobody waits for (no callback: the relay's) waits
# here for its ack, up to between one and two of these periods, and goes with it; one
# whose ack does not come goes alone after that, as before. Nothing acknowledged
# depends on it: ``delivered`` was sent as the receipt was read, and a receipt lost in a
# crash means its message is delivered again (PROTOCOL.md, "receipt").
RECEIPT_HOLD_SECONDS = 0.1
# At most this many held: past it, every held receipt goes at once (a bounded buffer).
MAX_HELD_RECEIPTS = 8192


class _Receipted:
    """The ids of the messages whose receipt a :class:`SQLiteStore` was given and has not
    had answered yet (held, or handed over): what a resend of one must read as delivered
    (mailbox.store_messages). Read on the committer thread while the loop moves ids:
    each is put where it goes before it leaves where it was."""

    __slots__ = ("store",)

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def __contains__(self, msg_id: object) -> bool:
        store = self.store
        return (msg_id in store._held or msg_id in store._held_before
                or any(msg_id in ids for ids in list(store._receipts_sent.values())))


class SQLiteStore(Store):
    """:class:`server.store.Store` (``path=None``: SQLite in memory, for tests) speaking the
    store interface. See base.py for the contract of every method.

    Message ids are given out as messages are submitted (so that a loop turn's messages
    are one ``executemany``), counting on from the highest id stored at :meth:`open`.

    On disk, a receipt without a callback may wait for its ack (RECEIPT_HOLD_SECONDS);
    every other operation but a message's store sees it: it goes before them."""

    def __init__(self, path) -> None:
        super().__init__(path)
        # Held receipts: msg_id -> (recipient_key, on_error), of this hold period and of
        # the one before (they go at the next tick).
        self._held: dict[int, tuple] = {}
        self._held_before: dict[int, tuple] = {}
        self._hold_timer = None
        # The ids of receipts let go, by the handover they go in (Store.handovers), until
        # that one is answered.
        self._receipts_sent: dict[int, list[int]] = {}
        self._receipted = receipted = _Receipted(self)

        def store_messages(db, messages):
            return mailbox.store_messages(db, messages, receipted)

        store_messages.__qualname__ = mailbox.store_messages.__qualname__  # its kind in the failure log
        self._store_messages = store_messages

    def open(self) -> None:
        super().open()
        self._last_msg_id = self.read(mailbox.last_msg_id)

    # --- Loading, at start --------------------------------------------------------------

    def last_msg_id(self) -> int:
        return self._last_msg_id

    def known_users(self) -> dict[str, str]:
        return self.read(mailbox.known_users)

    def blocks(self) -> list[tuple[str, str]]:
        return self.read(mailbox.blocks)

    def accounts(self) -> dict[str, Account]:
        return self.read(load_accounts)

    def guest_holdings(self, now: float) -> dict[str, Holding]:
        return self.read(lambda db: load_holdings(db, now))

    def account_credentials(self, now: float) -> dict[bytes, Credential]:
        return self.read(lambda db: credentials.load_credentials(db, now))

    def rooms(self) -> dict[str, str]:
        return self.read(lambda db: dict(db.execute("SELECT room_key, record FROM rooms")))

    def receipts_off(self) -> set[str]:
        return self.read(mailbox.receipts_off)

    # --- Messages -------------------------------------------------------------------------

    def store_message(self, message: StoredMessage, callback: Callback | None = None,
                      on_error: ErrorCallback | None = None) -> None:
        self._last_msg_id += 1
        self.submit_many(self._store_messages, mailbox.with_msg_id(message, self._last_msg_id), callback, on_error)

    def store_fields(self, fields: tuple, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._last_msg_id += 1
        self.submit_many(self._store_messages, mailbox.new_stored_message(self._last_msg_id, *fields), callback,
                         on_error)

    def sent_under(self, sender_key: str, client_id: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.find_resend(db, sender_key, client_id), callback, on_error)

    def record_receipt(self, msg_id: int, recipient_key: str, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None, *, sender_key: str | None = None) -> None:
        # Receipts and acks are one batch operation: see mailbox.record_confirmations. Lazy:
        # nobody waits for their commit (``delivered`` was sent as the receipt was read,
        # an ack has no answer but an error), so they ride in the next message's. One
        # without a callback waits for its ack first (RECEIPT_HOLD_SECONDS).
        held = self._held
        if callback is None and self._committer is not None and msg_id not in held:
            held[msg_id] = (recipient_key, on_error)
            if self._hold_timer is None:
                self._hold_timer = self._loop.call_later(RECEIPT_HOLD_SECONDS, self._hold_tick)
            elif len(held) > MAX_HELD_RECEIPTS:
                self._release_held()
            return
        self.submit_many(mailbox.record_confirmations, (mailbox.RECEIPT, msg_id, recipient_key), callback, on_error,
                         lazy=True)

    def record_ack(self, msg_id: int, sender_key: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        held = self._held
        receipt = held.get(msg_id)
        if receipt is None and self._held_before:
            held = self._held_before
            receipt = held.get(msg_id)
        if receipt is not None:  # its receipt waited for it: both go now, one UPDATE of the row
            self._sent_receipt(msg_id)
            del held[msg_id]
            self.submit_many(mailbox.record_confirmations, (mailbox.RECEIPT, msg_id, receipt[0]), None, receipt[1],
                             lazy=True)
        self.submit_many(mailbox.record_confirmations, (mailbox.ACK, msg_id, sender_key), callback, on_error,
                         lazy=True)

    def _sent_receipt(self, msg_id: int) -> None:
        """Before a held receipt leaves the held ones: file it under the handover it goes in."""
        serial = self.handovers + 1
        ids = self._receipts_sent.get(serial)
        if ids is None:
            ids = self._receipts_sent[serial] = []
        ids.append(msg_id)

    def _let_go(self, held: dict[int, tuple]) -> None:
        """Submit the receipts ``held`` (which the caller then drops), in the order they came."""
        for msg_id, (recipient_key, on_error) in held.items():
            self._sent_receipt(msg_id)
            self.submit_many(mailbox.record_confirmations, (mailbox.RECEIPT, msg_id, recipient_key), None, on_error,
                             lazy=True)

    def _hold_tick(self) -> None:
        """Every RECEIPT_HOLD_SECONDS while receipts are held: the period before's go."""
        self._hold_timer = None
        self._let_go(self._held_before)
        self._held_before = self._held
        self._held = {}
        if self._held_before:
            self._hold_timer = self._loop.call_later(RECEIPT_HOLD_SECONDS, self._hold_tick)

    def _release_held(self) -> None:
        """Every held receipt goes now, before what is submitted next."""
        if self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None
        self._let_go(self._held_before)
        self._let_go(self._held)
        self._held_before = {}
        self._held = {}

    def submit(self, operation, callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        # Any operation but a message's store (whose resend reads _Receipted) sees the
        # held receipts: they go before it.
        if self._held or self._held_before:
            self._release_held()
        super().submit(operation, callback, on_error)

    async def drain(self, timeout: float = 10.0) -> None:
        self._release_held()
        await super().drain(timeout)

    def close(self) -> None:
        self._release_held()
        super().close()

    def _committed(self, batches: int, *args) -> None:
        super()._committed(batches, *args)
        sent = self._receipts_sent
        if sent:  # the receipts of the handovers answered are in the database (or failed)
            answered = self.answered_handovers
            for serial in [serial for serial in sent if serial <= answered]:
                del sent[serial]

    def confirm_late(self, msg_id: int, recipient_key: str, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: (mailbox.mark_delivered(db, msg_id, recipient_key), mailbox.recipient_of(db, msg_id)),
                    callback, on_error)

    def restate(self, msg_id: int, state: str, callback: Callback | None = None,
                on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.restate(db, msg_id, state), callback, on_error)

    def pending_for(self, recipient_key: str, after: int, limit: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.pending_for(db, recipient_key, after, limit), callback, on_error)

    def outcomes_for_sender(self, sender_key: str, after: int, limit: int, callback: Callback | None = None,
                            on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.outcomes_for_sender(db, sender_key, after, limit), callback, on_error)

    def history(self, me_key: str, peer_key: str, before: int | None, limit: int, after: int,
                callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.history(db, me_key, peer_key, before, limit, after), callback, on_error)

    def since(self, me_key: str, after: int, limit: int, callback: Callback | None = None,
              on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.since(db, me_key, after, limit, const.SINCE_SCAN), callback, on_error)

    def room_history(self, room_key: str, before: int | None, limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.room_history(db, room_key, before, limit), callback, on_error)

    def room_backlog(self, name_key: str, room_keys: list[str], limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        room_keys = list(room_keys)  # as it is now: the operation runs later, on the committer thread
        self.submit(lambda db: mailbox.room_backlog(db, name_key, room_keys, limit), callback, on_error)

    def set_room_cursors(self, name_key: str, cursors: dict[str, int], callback: Callback | None = None,
                         on_error: ErrorCallback | None = None) -> None:
        cursors = dict(cursors)  # as it is now: the caller's dict may change before the write
        self.submit(lambda db: mailbox.set_room_cursors(db, name_key, cursors), callback, on_error)

    def room_joined(self, name_key: str, room_key: str, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.room_joined(db, name_key, room_key), callback, on_error)

    def expire(self, now: float, callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.expire(db, now), callback, on_error)

    def purge(self, older_than: float, unacknowledged_older_than: float | None,
              callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        def purge(db: sqlite3.Connection) -> int:
            # The copy kept before an upgrade holds purged texts too: it goes in its time.
            drop_upgrade_copies(self.path, older_than, time.time())
            return mailbox.purge(db, older_than, unacknowledged_older_than)
        self.submit(purge, callback, on_error)

    def hand_over(self, name_key: str, epoch: int, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.hand_over(db, name_key, epoch), callback, on_error)

    def referenced(self, name_keys: list[str], callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.referenced(db, name_keys), callback, on_error)

    def forget_users(self, name_keys: list[str], epoch: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.forget_users(db, name_keys, epoch), callback, on_error)

    # --- After delivered: edit, delete, read ------------------------------------------------

    def change_message(self, msg_id: int, sender_key: str, text: str | None, now: float, window: float,
                       quiet_for: frozenset[str], callback: Callback | None = None, on_error: ErrorCallback | None = None,
                       *, may_post_in: frozenset[str] | None = None) -> None:
        def changed(result: tuple[str, StoredMessage | None]) -> None:
            if text is None and result[0] == mailbox.CHANGED:
                self._forget_old_pages()
            if callback is not None:
                callback(result)

        self.submit(lambda db: mailbox.change_message(db, msg_id, sender_key, text, now, window, quiet_for,
                                                           may_post_in),
                    changed, on_error)

    def _forget_old_pages(self) -> None:
        """A deleted message's text must leave the files (issue 13): ``secure_delete``
        zeroes it in the new page, but the write-ahead log still holds the page as it was
        when the message was stored, and the database file the old page until a
        checkpoint. So, once the delete is committed: checkpoint, and empty the log. It
        costs a checkpoint's writes and fsync on the loop, once per delete (deletes are
        rare; messages are not)."""
        if self.db is None or self.db.in_transaction or self._committing:
            return  # a commit is under way: the next delete checkpoints (or the close does)
        # The committer thread's own checkpoint (see server/store.py), if one is under way,
        # finishes first (a few milliseconds on the loop, for a rare delete).
        try:
            self.checkpoint_now("TRUNCATE")
        except sqlite3.Error as exc:
            log.warning("could not checkpoint after a delete: %s", exc)

    def dm_changes(self, name_key: str, after_id: int, since: float, limit: int, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.dm_changes(db, name_key, after_id, since, limit, const.DM_CHANGES_KEPT),
                    callback, on_error)

    def room_changes(self, name_key: str, room_keys: list[str], limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None, *, seen: mailbox.SeenMark | None = None) -> None:
        self.submit(lambda db: mailbox.room_changes(db, name_key, list(room_keys), limit, seen), callback, on_error)

    def changes_for(self, recipient_key: str, after: int, limit: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.changes_for(db, recipient_key, after, limit), callback, on_error)

    def confirm_change(self, msg_id: int, recipient_key: str, at: float | None, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.confirm_change(db, msg_id, recipient_key, at), callback, on_error)

    def record_read(self, reader_key: str, peer_key: str, msg_id: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.record_read(db, reader_key, peer_key, msg_id), callback, on_error)

    def record_room_read(self, reader_key: str, room_key: str, msg_id: int, callback: Callback | None = None,
                         on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.record_room_read(db, reader_key, room_key, msg_id), callback, on_error)

    def room_read_marks(self, room_key: str, reader_keys: list[str], callback: Callback | None = None,
                        on_error: ErrorCallback | None = None) -> None:
        keys = list(reader_keys)
        self.submit(lambda db: mailbox.room_read_marks(db, room_key, keys), callback, on_error)

    def read_mark(self, reader_key: str, peer_key: str, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.read_mark(db, reader_key, peer_key), callback, on_error)

    def set_read_receipts(self, name_key: str, on: bool, callback: Callback | None = None,
                          on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.set_read_receipts(db, name_key, on), callback, on_error)

    # --- Users, blocks, guests, accounts --------------------------------------------------

    def remember_user(self, name_key: str, name: str, now: float, callback: Callback | None = None,
                      on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.remember_user(db, name_key, name, now), callback, on_error)

    def set_block(self, owner_key: str, blocked_key: str, blocked: bool, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.set_block(db, owner_key, blocked_key, blocked), callback, on_error)

    def clear_blocks(self, owner_key: str, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.clear_blocks(db, owner_key), callback, on_error)

    def save_holding(self, name_key: str, holding: Holding, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        holding = copy.copy(holding)  # as it is now: the loop changes it (left_at) while the write waits
        self.submit(lambda db: save_holding(db, name_key, holding) or True, callback, on_error)

    def set_left_at(self, name_key: str, left_at: float | None, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None, holding: Holding | None = None) -> None:
        self.submit(lambda db: set_left_at(db, name_key, left_at) or True, callback, on_error)

    def save_account(self, name_key: str, account: Account, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None, by_holder: bool = False,
                     hold: float | None = None, resumed: bool = False) -> None:
        self.submit(lambda db: save_account(db, name_key, account), callback, on_error)

    def set_password(self, name_key: str, account: Account, keep: bytes | None, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: set_password(db, name_key, account, keep), callback, on_error)

    def save_account_credential(self, token_hash: bytes, credential: Credential, now: float,
                                callback: Callback | None = None, on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: credentials.save_credential(db, token_hash, credential, now), callback, on_error)

    def revoke_account_credential(self, token_hash: bytes, callback: Callback | None = None,
                                  on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: credentials.delete_credential(db, token_hash), callback, on_error)

    def revoke_account_credentials(self, name_key: str, callback: Callback | None = None,
                                   on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: credentials.delete_account_credentials(db, name_key), callback, on_error)

    def delete_account(self, name_key: str, epoch: int, holding: Holding, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None) -> None:
        holding = copy.copy(holding)  # the relay's may change before the committer runs
        self.submit(lambda db: _delete_account(db, name_key, epoch, holding), callback, on_error)

    # --- Rooms ------------------------------------------------------------------------------

    def save_room(self, room_key: str, record: str | None, callback: Callback | None = None,
                  on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: _save_room(db, room_key, record), callback, on_error)


def _save_room(db, room_key: str, record: str | None) -> None:
    if record is None:
        db.execute("DELETE FROM rooms WHERE room_key = ?", (room_key,))
    else:
        db.execute("INSERT INTO rooms (room_key, record) VALUES (?, ?)"
                   " ON CONFLICT (room_key) DO UPDATE SET record = excluded.record", (room_key, record))


def _delete_account(db, name_key: str, epoch: int, holding: Holding) -> list[StoredMessage]:
    """As base.MessageStore.delete_account: one transaction."""
    told = mailbox.forget_users(db, [name_key], epoch)
    db.execute("DELETE FROM accounts WHERE name_key = ?", (name_key,))
    credentials.delete_account_credentials(db, name_key)
    db.execute("DELETE FROM blocks WHERE blocked_key = ?", (name_key,))
    save_holding(db, name_key, holding)
    return told

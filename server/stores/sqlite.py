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


class SQLiteStore(Store):
    """:class:`server.store.Store` (``path=None``: SQLite in memory, for tests) speaking the
    store interface. See base.py for the contract of every method.

    Message ids are given out as messages are submitted (so that a loop turn's messages
    are one ``executemany``), counting on from the highest id stored at :meth:`open`."""

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
        self.submit_many(mailbox.store_messages, mailbox.with_msg_id(message, self._last_msg_id), callback, on_error)

    def store_fields(self, fields: tuple, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self._last_msg_id += 1
        self.submit_many(mailbox.store_messages, mailbox.new_stored_message(self._last_msg_id, *fields), callback,
                         on_error)

    def sent_under(self, sender_key: str, client_id: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.find_resend(db, sender_key, client_id), callback, on_error)

    def record_receipt(self, msg_id: int, recipient_key: str, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None, *, sender_key: str | None = None) -> None:
        # Receipts and acks are one batch operation: see mailbox.record_confirmations. Lazy:
        # nobody waits for their commit (``delivered`` was sent as the receipt was read,
        # an ack has no answer but an error), so they ride in the next message's.
        self.submit_many(mailbox.record_confirmations, (mailbox.RECEIPT, msg_id, recipient_key), callback, on_error,
                         lazy=True)

    def record_ack(self, msg_id: int, sender_key: str, callback: Callback | None = None,
                   on_error: ErrorCallback | None = None) -> None:
        self.submit_many(mailbox.record_confirmations, (mailbox.ACK, msg_id, sender_key), callback, on_error,
                         lazy=True)

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

    def room_changes(self, name_key: str, room_keys: list[str], limit: int, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.room_changes(db, name_key, list(room_keys), limit), callback, on_error)

    def changes_for(self, recipient_key: str, after: int, limit: int, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.changes_for(db, recipient_key, after, limit), callback, on_error)

    def confirm_change(self, msg_id: int, recipient_key: str, callback: Callback | None = None,
                       on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: mailbox.confirm_change(db, msg_id, recipient_key), callback, on_error)

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
        self.submit(lambda db: save_holding(db, name_key, holding), callback, on_error)

    def set_left_at(self, name_key: str, left_at: float | None, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None) -> None:
        self.submit(lambda db: set_left_at(db, name_key, left_at), callback, on_error)

    def save_account(self, name_key: str, account: Account, callback: Callback | None = None,
                     on_error: ErrorCallback | None = None) -> None:
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

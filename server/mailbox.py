"""Store operations for messages: each function takes the sqlite3 connection; the SQLite
store (stores/sqlite.py) submits them to its group commit (store.py), and the memory store
(stores/memory.py) answers exactly the same on Python structures
(tests/integration/test_memory_store.py holds it to that). Their docstrings are the contract of the store interface's operations.

Message states in the database::

    sent       accepted while the recipient was online, not yet confirmed
    queued     accepted while the recipient was offline, not yet confirmed
    delivered  the recipient's client confirmed it                      (final)
    expired    not confirmed before its expiry time                      (final)
    blocked    the recipient blocks the sender: never delivered; the sender sees "sent",
               then, at its expiry time, "expired" (it becomes blocked_expired)
    blocked_expired  a blocked message past its expiry time                 (final)
               its sender is told "expired" and sees it so, as for any message never
               confirmed (no sign of the block); its recipient, who blocked the sender,
               still never sees it (history, since, reads, edits)
    room       a room message (kept for deduplication of resends)

Besides its state, a direct message may be edited or deleted by its sender within
``const.EDIT_WINDOW`` (issue 13): ``edited_at`` is when it last changed, ``deleted`` says
its text ("" now) is gone, and ``change_pending`` that its recipient has not confirmed
the latest change yet (told again at every login until it does, as a message is).
"""

from __future__ import annotations

import operator
import sqlite3
import typing
from collections.abc import Callable, Container
from dataclasses import dataclass, fields, replace
from itertools import chain, compress, repeat

from protocol import HistoryEntry
from protocol.frozen import fast_init, fast_new

from .lookups import CONVERSATION_SQL, in_conversation

PENDING = ("sent", "queued")
BLOCKED_EXPIRED = "blocked_expired"
# The states of a message its recipient blocked: never shown or told to that recipient.
BLOCKED_STATES = ("blocked", BLOCKED_EXPIRED)
# The rows of the partial indexes messages_expiry (a message that may still expire) and
# messages_untold (with ``sender_notified = 0``: an outcome its sender is to be told), in
# SQL, spelled exactly as the indexes' conditions are (server/store.py, migration 13): a
# query spelled otherwise, as an IN list for one, cannot use them. Comparisons, not an IN
# list of three, which SQLite evaluates by a temporary table built anew at every write of
# a row (issue 9); the message path's own statements say them so too.
PENDING_OR_BLOCKED_SQL = "(state = 'sent' OR state = 'queued' OR state = 'blocked')"
FINAL_SQL = "(state = 'delivered' OR state = 'expired' OR state = 'blocked_expired')"
# The ``state`` a room message shows in a history page: stored (kind "room"), it has no
# receipts, so "accepted" is all there is to say of it.
ROOM_MESSAGE_STATE = "accepted"


@dataclass(frozen=True, slots=True)
class StoredMessage:
    msg_id: int
    sender: str
    sender_key: str
    recipient: str | None
    recipient_key: str | None
    text: str
    sent_at: float
    client_id: str
    state: str
    expires_at: float | None = None
    edited_at: float | None = None  # when its sender last edited or deleted it
    deleted: bool = False  # deleted by its sender: ``text`` is ""


# Built for every message stored (once for a direct message: store_fields), and read back: issue 9.
fast_init(StoredMessage)
# What ``StoredMessage(...)`` builds, at half its cost even with fast_init (462 ns against 986: no
# class call into a Python ``__init__``, no descriptor call per field: protocol/frozen.py).
# Both stores build every message they store with it: in the SQLite store the class itself
# was ~8,600 instructions a direct message on the loop, the top of the durable loop's
# difference from the memory server (issue 9, bench/PROFILE.md "Round eighteen (durable)").
new_stored_message = fast_new(StoredMessage)

# A message's fields after its id, read in one call (see with_msg_id).
_BUT_THE_ID = operator.attrgetter(*(f.name for f in fields(StoredMessage)[1:]))


def with_msg_id(message: StoredMessage, msg_id: int) -> StoredMessage:
    """``message`` under ``msg_id``: what ``dataclasses.replace(message, msg_id=msg_id)``
    gives, at a tenth of its cost (replace walks the fields and builds keyword arguments;
    every store calls this for every message it stores: issue 9)."""
    return new_stored_message(msg_id, *_BUT_THE_ID(message))


# What stands for the default room among the keys of ``may_post_in`` (change_refused):
# its posts have no recipient, and no named room's key is "#" alone.
DEFAULT_ROOM_SLOT = "#"

_COLUMNS = ("msg_id, sender, sender_key, recipient, recipient_key, text, sent_at, client_id, state, expires_at,"
            " edited_at, deleted")


def _row(row: tuple) -> StoredMessage:
    return new_stored_message(*row[:-1], bool(row[-1]))


def as_told(message: StoredMessage) -> StoredMessage:
    """``message`` as its sender is told of it: a blocked message past its expiry is
    ``expired``, as any message never confirmed is (the sender learns nothing of the
    block). Every store hands the relay the outcomes, expiries and resends so."""
    return replace(message, state="expired") if message.state == BLOCKED_EXPIRED else message


def find_resend(db: sqlite3.Connection, sender_key: str, client_id: str) -> StoredMessage | None:
    """The message this sender already sent under ``client_id``, if any (a resend): by
    the lookups (server/lookups.py), the row checked against the entry's keys."""
    row = db.execute(f"SELECT {_COLUMNS} FROM messages WHERE msg_id = (SELECT msg_id FROM lookups.by_client_id"
                     " WHERE sender_key = ?1 AND client_id = ?2) AND sender_key = ?1 AND client_id = ?2",
                     (sender_key, client_id)).fetchone()
    return as_told(_row(row)) if row else None


def last_msg_id(db: sqlite3.Connection) -> int:
    return db.execute("SELECT COALESCE(MAX(msg_id), 0) FROM messages").fetchone()[0]


# What store_messages made of each request.
NEW, RESEND, ID_REUSED = "new", "resend", "id_reused"


def same_request(stored: StoredMessage, request: StoredMessage) -> bool:
    """True if ``request`` asks for what ``stored`` already is: same kind (direct or room),
    same recipient, same text. Only then is a request under a used id a resend."""
    return stored.recipient_key == request.recipient_key and stored.text == request.text


# The message path's statements run on batches of rows, by as few executions as these sizes
# allow, in order: a statement of 64 rows as often as the batch holds 64, then one of 32,
# 16 ... for the rest (issue 9, bench/PROFILE.md "Round fourteen (durable)"). Each
# execution of a statement ends by freeing the memory SQLite took for its bound values and
# records, and the next takes it again, each time under SQLite's mutex: by ``executemany``
# of a one-row statement, a free and a malloc per value per row. Rows fewer than a
# statement's ``fewest`` go by ``executemany`` of its one-row form, as before (a multi-row
# UPDATE has a fixed cost of its own: below that it costs more than it saves). Seven
# statement texts at most per statement, all kept in the connection's statement cache
# (128); at most 64 x 11 = 704 parameters.
_MOST_ROWS = 64
# Measured (valgrind, transactions of 4 and of 16 messages with their receipts and acks):
# a multi-row INSERT saves already at 2 to 4 rows; a multi-row UPDATE costs more than 4
# one-row executions, and saves at 16.
INSERT_FEWEST = 2
UPDATE_FEWEST = 8


def _by_size(sql_for_rows: Callable[[int], str], fewest: int) -> dict[int, str]:
    """The SQL text for 1 row, and for ``fewest`` rows and each power of two up to
    _MOST_ROWS, by number of rows (``fewest`` a power of two)."""
    sizes = [1] + [1 << bit for bit in range(fewest.bit_length() - 1, _MOST_ROWS.bit_length())]
    return {size: sql_for_rows(size) for size in sizes}


def _run_rows(db: sqlite3.Connection, statements: dict[int, str], rows: list[tuple]) -> int:
    """Run ``statements`` (from :func:`_by_size`) on ``rows`` (each a tuple of one row's
    parameters), in order; returns SQLite's count of rows changed."""
    if len(rows) == 1:  # an idle server's transaction: straight to the one-row statement
        return db.execute(statements[1], rows[0]).rowcount
    full, rest = divmod(len(rows), _MOST_ROWS)
    changed = at = 0
    if full:
        at = full * _MOST_ROWS
        changed = db.executemany(statements[_MOST_ROWS], [tuple(chain.from_iterable(rows[start:start + _MOST_ROWS]))
                                                          for start in range(0, at, _MOST_ROWS)]).rowcount
    while rest:
        size = 1 << (rest.bit_length() - 1)  # the most rows one statement takes of the rest
        if size not in statements:  # fewer than the fewest: each row on its own
            return changed + db.executemany(statements[1], rows[at:]).rowcount
        changed += db.execute(statements[size], rows[at] if size == 1
                              else tuple(chain.from_iterable(rows[at:at + size]))).rowcount
        at += size
        rest -= size
    return changed


# A message's row: its parameters are the first ten fields of its StoredMessage
# (_INSERTED takes them in one C call: no tuple built in Python per message, issue 9), and
# its ``sender_notified`` is worked out by SQLite from its own ``state`` (the row's ninth
# parameter, numbered: ``?`` after ``?N`` is N + 1): a room or blocked message has no
# outcome to tell its sender.
_INSERTED = operator.attrgetter(*(f.name for f in fields(StoredMessage)[:10]))


def _insert_rows(rows: int) -> str:
    values = ", ".join(f"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?{10 * row + 9} IN ('room', 'blocked'))" for row in range(rows))
    return ("INSERT INTO messages (msg_id, sender, sender_key, recipient, recipient_key, text, sent_at,"
            " client_id, state, expires_at, sender_notified) VALUES " + values)


_INSERT_MESSAGES = _by_size(_insert_rows, INSERT_FEWEST)

# Its lookups (server/lookups.py). A multi-row INSERT OR IGNORE skips each conflicting row
# alone, in order, as the rows one by one would; its row count is the rows it inserted.
_BY_CLIENT_ID = operator.attrgetter("sender_key", "client_id", "msg_id")
_INSERT_BY_CLIENT_ID = _by_size(lambda rows: "INSERT OR IGNORE INTO lookups.by_client_id (sender_key, client_id,"
                                             " msg_id) VALUES " + ", ".join(["(?, ?, ?)"] * rows), INSERT_FEWEST)
# The conversation entries of a batch's new rows, read back from the rows just inserted
# (their ids run from the least to the greatest of the batch's): two parameters a batch,
# not three a message bound from Python (a text's bind is a copy and a malloc under
# SQLite's mutex), and no tuple built a message (issue 9: 2,800 instructions a message of
# the committer's 121,000, bench/PROFILE.md "Round twenty-one (durable)"). Any other row
# in that range (none on the message path: ids are given out in order, and a resend's has
# no row) gets the entry lookups.rebuild would give it; INSERT OR IGNORE passes over the
# ones it has. The bounds are read in C from the rows' tuples (600 instructions a
# message; from the messages' slots, 1,050), so a caller's batch need not be in order.
_ROW_ID = operator.itemgetter(0)
_CONVERSATION_OF_ROWS = ("INSERT OR IGNORE INTO lookups.conversation (sender_key, recipient_key, msg_id)"
                         " SELECT sender_key, recipient_key, msg_id FROM messages WHERE msg_id BETWEEN ? AND ?"
                         f" AND {CONVERSATION_SQL}")


def _update_by_rows(assignments: str, keys: tuple[str, ...], condition: str) -> Callable[[int], str]:
    """The SQL of an UPDATE of the messages whose (msg_id, ``*keys``) is one of the ``rows``
    rows given, where ``condition`` holds. Each row's new values are constants and its
    condition reads only its own columns, so one UPDATE of them all leaves the rows and the
    count of rows changed as the rows one by one would (a row given twice changes its
    message once, as the second of two statements would find nothing to change). EXPLAIN
    QUERY PLAN: ``SCAN`` of the rows, ``SEARCH messages USING INTEGER PRIMARY KEY``."""
    def sql(rows: int) -> str:
        if rows == 1:
            return (f"UPDATE messages SET {assignments} WHERE msg_id = ?"
                    f"{''.join(f' AND {key} = ?' for key in keys)} AND {condition}")
        row = f"({', '.join(['?'] * (1 + len(keys)))})"
        matched = "".join(f" AND messages.{key} = given.column{column}" for column, key in enumerate(keys, 2))
        return (f"UPDATE messages SET {assignments} FROM (VALUES {', '.join([row] * rows)}) AS given"
                f" WHERE messages.msg_id = given.column1{matched} AND {condition}")
    return sql


def store_messages(db: sqlite3.Connection, messages: list[StoredMessage],
                   receipted: Container[int] = ()) -> list[tuple[StoredMessage, str]]:
    """Insert new messages (their msg_id already chosen), skipping resends.

    Returns, for each, (the stored message, NEW); for a resend of a message the same
    sender already sent under the same client id, (that earlier message, RESEND); for a
    different request under a client id the sender already used, (the request, ID_REUSED),
    and nothing is stored. A few multi-row INSERTs for the batch (see _run_rows): the
    request ids' lookups first, which find the resends; conflicts, which are rare, cost a
    lookup each. Then the new messages' rows and their conversation lookups.

    ``receipted``: the ids of messages whose receipt was submitted before these and is not
    in the database yet (a store that holds receipts for their acks: stores/sqlite.py); a
    resend of one, still pending in its row, is answered as delivered, as it would be with
    the receipt recorded. Read only for a resend, which is rare.
    """
    if _run_rows(db, _INSERT_BY_CLIENT_ID, list(map(_BY_CLIENT_ID, messages))) == len(messages):
        results, new = [(m, NEW) for m in messages], messages
    else:
        results = _resolve_conflicts(db, messages, receipted)
        new = [message for message, outcome in results if outcome is NEW]
    if new:
        rows = list(map(_INSERTED, new))
        _run_rows(db, _INSERT_MESSAGES, rows)
        ids = list(map(_ROW_ID, rows))
        db.execute(_CONVERSATION_OF_ROWS, (min(ids), max(ids)))
    return results


def _resolve_conflicts(db: sqlite3.Connection, messages: list[StoredMessage],
                       receipted: Container[int] = ()) -> list[tuple[StoredMessage, str]]:
    """store_messages's answer for each of ``messages``, some of whose request ids the
    lookups already held, by the message each id's entry names: the message's own (NEW),
    an earlier one of this batch or a stored one (RESEND or ID_REUSED, as same_request
    says), or none any more (an entry nothing backs: the message takes it over, NEW)."""
    batch = {message.msg_id: message for message in messages}
    results = []
    for message in messages:
        msg_id = db.execute("SELECT msg_id FROM lookups.by_client_id WHERE sender_key = ? AND client_id = ?",
                            (message.sender_key, message.client_id)).fetchone()[0]
        if msg_id == message.msg_id:
            results.append((message, NEW))
            continue
        # An entry of this batch's is an earlier message's, whose row is not inserted yet.
        stored = batch.get(msg_id)
        if stored is None or stored.sender_key != message.sender_key or stored.client_id != message.client_id:
            stored = find_resend(db, message.sender_key, message.client_id)
        if stored is None:
            db.execute("UPDATE lookups.by_client_id SET msg_id = ? WHERE sender_key = ? AND client_id = ?",
                       (message.msg_id, message.sender_key, message.client_id))
            results.append((message, NEW))
        elif same_request(stored, message):
            if stored.state in PENDING and stored.msg_id in receipted:  # its receipt is on its way
                stored = replace(stored, state="delivered")
            results.append((as_told(stored), RESEND))  # a blocked one past its time: expired
        else:
            results.append((message, ID_REUSED))
    return results


def record_deliveries(db: sqlite3.Connection, receipts: list[tuple[int, str]]) -> list[None]:
    """Mark (msg_id, recipient_key) as delivered, by a few UPDATEs (see _run_rows). The
    sender counts as told only once its client acknowledges the outcome (see
    :func:`acknowledge`)."""
    _run_rows(db, _DELIVER, receipts)
    return [None] * len(receipts)


_DELIVER = _by_size(_update_by_rows("state = 'delivered'", ("recipient_key",), "state IN ('sent', 'queued')"),
                    UPDATE_FEWEST)
_ACKNOWLEDGE = _by_size(_update_by_rows("sender_notified = 1", ("sender_key",), f"sender_notified = 0 AND {FINAL_SQL}"),
                        UPDATE_FEWEST)


def pending_for(db: sqlite3.Connection, recipient_key: str, after: int, limit: int) -> list[StoredMessage]:
    """Unconfirmed messages waiting for a recipient, oldest first, with msg_id > ``after``."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM messages WHERE recipient_key = ? AND state IN ('sent', 'queued')"
        " AND msg_id > ? ORDER BY msg_id LIMIT ?", (recipient_key, after, limit)).fetchall()
    return [_row(r) for r in rows]


def restate(db: sqlite3.Connection, msg_id: int, state: str) -> None:
    """Pending message ``msg_id`` was answered ``state`` (``sent`` or ``queued``), not as it
    was stored: a cluster node stores a message with its directory's view of the
    recipient and answers with Redis's, which the directory follows a stream read behind
    (docs/cluster.md, "What the sender is told"). A message no longer pending (delivered,
    expired) keeps its final state."""
    db.execute("UPDATE messages SET state = ? WHERE msg_id = ? AND state IN ('sent', 'queued')", (state, msg_id))


def mark_delivered(db: sqlite3.Connection, msg_id: int, recipient_key: str) -> StoredMessage | None:
    """Record the recipient's receipt; returns the message if this receipt delivered it,
    None if it was not pending for that recipient (already delivered, or not theirs)."""
    cursor = db.execute(
        "UPDATE messages SET state = 'delivered' WHERE msg_id = ? AND recipient_key = ?"
        " AND state IN ('sent', 'queued')", (msg_id, recipient_key))
    if cursor.rowcount == 0:
        return None
    row = db.execute(f"SELECT {_COLUMNS} FROM messages WHERE msg_id = ?", (msg_id,)).fetchone()
    return _row(row)


def recipient_of(db: sqlite3.Connection, msg_id: int) -> str | None:
    row = db.execute("SELECT recipient_key FROM messages WHERE msg_id = ?", (msg_id,)).fetchone()
    return row[0] if row else None


def acknowledge(db: sqlite3.Connection, acks: list[tuple[int, str]]) -> list[bool]:
    """Record (msg_id, sender_key) acknowledgements of outcomes: the sender's client has
    taken in that its message was delivered or expired, so it is not told again.

    Returns, for each, False if ``msg_id`` is not a message of that sender (or no longer
    stored), else True, also when there was nothing to record (acknowledged before, or
    not final yet: then it is told, and must be acknowledged, once it is). A few UPDATEs
    (see _run_rows); only a batch with such acks costs a lookup each.
    """
    if _run_rows(db, _ACKNOWLEDGE, acks) == len(acks):
        return [True] * len(acks)
    return [db.execute("SELECT 1 FROM messages WHERE msg_id = ? AND sender_key = ?", ack).fetchone() is not None
            for ack in acks]


# The kinds of item record_confirmations takes.
RECEIPT, ACK = "receipt", "ack"


def record_confirmations(db: sqlite3.Connection, items: list[tuple[str, int, str]]) -> list[bool | None]:
    """Receipts ``(RECEIPT, msg_id, recipient_key)`` and acks ``(ACK, msg_id, sender_key)``
    as ONE batch operation: every receipt of the batch is recorded before any ack. An ack
    always comes after the receipt it acknowledges, but under load both can land in one
    transaction, and two batch operations would run as two groups in the order each
    started (see Store._execute): an earlier ack would pull every ack before the receipt,
    which would then not count. Returns None for a receipt, :func:`acknowledge`'s answer
    for an ack.

    A message's receipt and its ack in the same batch (the sender acknowledges
    ``delivered``, sent as the receipt was read, before the lazy receipt is committed) are
    first tried as one UPDATE, which rewrites the row once instead of twice (issue
    9); see :func:`_deliver_and_acknowledge`. Rows and answers are the same as without it.
    """
    if len(items) < _SPLIT_IN_C:
        is_receipt = None
        receipts = [(msg_id, key) for kind, msg_id, key in items if kind == RECEIPT]
        acks = [(msg_id, key) for kind, msg_id, key in items if kind != RECEIPT]
    else:  # split in C (map, compress, itemgetter): no Python step per item (issue 9)
        is_receipt = list(map(_EQ, map(_KIND, items), repeat(RECEIPT)))
        receipts = list(map(_PAIR, compress(items, is_receipt)))
        acks = list(map(_PAIR, compress(items, map(_NOT, is_receipt))))
    done = _deliver_and_acknowledge(db, receipts, acks) if receipts and acks else None
    if done:  # their receipts have nothing left to do; their acks are answered True
        receipts = [receipt for receipt in receipts if receipt[0] not in done]
        acks = [ack for ack in acks if ack[0] not in done]
    if receipts:
        _run_rows(db, _DELIVER, receipts)  # record_deliveries, without its list of Nones
    answers = acknowledge(db, acks) if acks else []
    if done:
        answers = iter(answers)
        return [None if kind == RECEIPT else True if msg_id in done else next(answers) for kind, msg_id, _ in items]
    if len(answers) == len(items):  # acks only
        return answers
    if is_receipt is not None and all(answers):  # the everyday case: every ack is the sender's (in C)
        return list(map(_NONE_OR_TRUE.__getitem__, is_receipt))
    answers = iter(answers)
    return [None if kind == RECEIPT else next(answers) for kind, _, _ in items]


# Its group runs first in a transaction (Store._execute): a receipt or an ack concerns a
# message committed in an earlier transaction (its recipient or sender heard of it only
# after that commit), so it needs no store of its own transaction; and a resend merged into
# the turn's stores must see a receipt of its message submitted before it, or it would read
# "sent" and the relay would forward the message again.
record_confirmations.runs_first = True


# From this many items a batch is split by C iterators, whose setup (a few objects the
# collector tracks) costs more than Python's loops over fewer (valgrind: a receipt and its
# ack alone cost ~8,000 instructions more by the iterators; bench/PROFILE.md "Round
# fifteen (durable)"). Both ways make the same lists.
_SPLIT_IN_C = 16
_KIND, _PAIR, _EQ, _NOT = operator.itemgetter(0), operator.itemgetter(1, 2), operator.eq, operator.not_
_NONE_OR_TRUE = (True, None)  # by is_receipt: an ack's answer when every ack's is True, a receipt's


def _deliver_and_acknowledge(db: sqlite3.Connection, receipts: list[tuple[int, str]],
                             acks: list[tuple[int, str]]) -> set[int]:
    """Try each message with both a receipt and an ack in the batch as one UPDATE that
    delivers it and records its ack: what :func:`record_deliveries` and then
    :func:`acknowledge` would do to its row when the receipt delivers it. Returns the ids
    of the messages so done if every pair applied, else none: then every receipt and ack
    goes through the two statements, and those of a pair that applied find their row
    already as they would have left it (no change; the ack answered True by its lookup).

    Each statement touches its own message's row only, so running a message's pair
    before the other receipts changes no other row's outcome; once applied, the row is
    delivered and acknowledged, so any other receipt of it would change nothing, and its
    ack (one: a second ack of it would have found nothing to change, so not every pair
    applied) answers True, the message being that sender's."""
    recipients = dict(receipts)
    if recipients.keys().isdisjoint(dict(acks)):  # mostly so under heavy load (bench/PROFILE.md, round thirteen)
        return set()
    pairs = [(msg_id, recipients[msg_id], sender_key) for msg_id, sender_key in acks if msg_id in recipients]
    applied = _run_rows(db, _DELIVER_AND_ACKNOWLEDGE, pairs) == len(pairs)
    return {msg_id for msg_id, _, _ in pairs} if applied else set()


# The paired UPDATE of _deliver_and_acknowledge, by _run_rows like the receipts' and the
# acks' own: one execution a pair cost ~10,000 instructions a message more when every
# receipt meets its ack (issue 9, bench/PROFILE.md "Round nineteen (durable)").
_DELIVER_AND_ACKNOWLEDGE = _by_size(_update_by_rows("state = 'delivered', sender_notified = 1",
                                                    ("recipient_key", "sender_key"),
                                                    "state IN ('sent', 'queued') AND sender_notified = 0"),
                                    UPDATE_FEWEST)


def outcomes_for_sender(db: sqlite3.Connection, sender_key: str, after: int = 0,
                        limit: int = -1) -> list[StoredMessage]:
    """Delivered or expired messages whose sender has not acknowledged the outcome yet,
    oldest first, with msg_id > ``after``, at most ``limit`` (-1: all)."""
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM messages WHERE sender_key = ? AND sender_notified = 0"
        f" AND {FINAL_SQL} AND msg_id > ? ORDER BY msg_id LIMIT ?",
        (sender_key, after, limit)).fetchall()
    return [as_told(_row(r)) for r in rows]


def superseded_client_id(msg_id: int) -> str:
    """The request id a message of an earlier holder of a guest name gets (see
    :func:`hand_over`, whose SQL spells the same rule: ``printf('%-65s', ...)``)."""
    return f"superseded {msg_id}".ljust(65)


def hand_over(db: sqlite3.Connection, name_key: str, epoch: int) -> list[StoredMessage]:
    """A guest name changes hands: what still waits for its earlier holders (msg_id up to
    ``epoch``) is expired, the messages they blocked too (blocked_expired, as at their
    expiry time), and returned so that its senders are told; the outcomes of what they
    sent are marked as told, since nobody is left to tell.

    The request ids of what they sent are replaced by ``superseded <msg_id>`` padded to 65
    characters, longer than any request id: a ``send`` of the new holder that happens to
    reuse an old id is a new message, not a resend of theirs.
    """
    rows = db.execute(
        f"UPDATE messages SET state = 'expired' WHERE recipient_key = ? AND state IN ('sent', 'queued')"
        f" AND msg_id <= ? RETURNING {_COLUMNS}", (name_key, epoch)).fetchall()
    # Blocked messages *to* them end now too, told "expired" as the others: left to their
    # own time, their senders heard nothing while everyone else's messages to the name
    # expired at once, and could tell they were blocked. Found through the expiry index
    # (every unconfirmed row, blocked ones included: schema 12), spelled as it is, or the
    # planner cannot use it and reads the whole table.
    rows += db.execute(
        f"UPDATE messages SET {_EXPIRED} WHERE msg_id IN (SELECT msg_id FROM messages INDEXED BY messages_expiry"
        f" WHERE {PENDING_OR_BLOCKED_SQL} AND recipient_key = ? AND msg_id <= ?) AND state = 'blocked'"
        f" RETURNING {_COLUMNS}", (name_key, epoch)).fetchall()
    # What they sent that was blocked ends here, told to nobody: its expiry must not tell
    # the new holder of an earlier one's message.
    db.execute("UPDATE messages SET state = 'blocked_expired', sender_notified = 1 WHERE msg_id IN"
               " (SELECT msg_id FROM lookups.by_client_id WHERE sender_key = ?1 AND msg_id <= ?2)"
               " AND sender_key = ?1 AND state = 'blocked'", (name_key, epoch))
    db.execute("UPDATE messages SET sender_notified = 1 WHERE sender_key = ? AND sender_notified = 0"
               f" AND {FINAL_SQL} AND msg_id <= ?", (name_key, epoch))
    db.execute("UPDATE messages SET client_id = printf('%-65s', 'superseded ' || msg_id) WHERE msg_id IN"
               " (SELECT msg_id FROM lookups.by_client_id WHERE sender_key = ?1 AND msg_id <= ?2) AND sender_key = ?1",
               (name_key, epoch))
    db.execute("UPDATE lookups.by_client_id SET client_id = printf('%-65s', 'superseded ' || msg_id)"
               " WHERE sender_key = ? AND msg_id <= ?", (name_key, epoch))
    return sorted((as_told(_row(r)) for r in rows), key=lambda m: m.msg_id)


# A pending or blocked message that ends unconfirmed: expired, or blocked_expired (hidden
# from its recipient still); either is an outcome its sender is told (sender_notified 0: a
# blocked message was stored with 1, nothing to tell until now).
_EXPIRED = ("state = CASE state WHEN 'blocked' THEN 'blocked_expired' ELSE 'expired' END, sender_notified = 0")


def expire(db: sqlite3.Connection, now: float) -> list[StoredMessage]:
    """Mark unconfirmed messages past their expiry time as expired, blocked ones too
    (their senders are told ``expired`` as for any other: see :func:`as_told`); returns
    them as told. By the partial index messages_expiry (server/store.py), which holds
    exactly the rows this can still change."""
    rows = db.execute(
        f"UPDATE messages SET {_EXPIRED} WHERE {PENDING_OR_BLOCKED_SQL} AND expires_at <= ?"
        f" RETURNING {_COLUMNS}", (now,)).fetchall()
    return sorted((as_told(_row(r)) for r in rows), key=lambda m: m.msg_id)


def purge(db: sqlite3.Connection, older_than: float, unacknowledged_older_than: float | None = None) -> int:
    """Forget messages in a final state sent before ``older_than``; returns how many.

    A delivered or expired message whose sender has not acknowledged the outcome is kept
    longer, until ``unacknowledged_older_than`` (None: kept), so that a sender away for a
    while still hears it, and a client that never acknowledges cannot keep rows forever.

    Message ids grow with time, so each cut-off is found by walking the table in id order
    from its oldest row (what earlier purges left), and the delete is a rowid range: no
    index on sent_at is needed, and no pass reads the whole table.
    """
    newest = last_msg_id(db)

    def cutoff(when: float) -> int:
        row = db.execute("SELECT msg_id FROM messages WHERE sent_at >= ? ORDER BY msg_id LIMIT 1",
                         (when,)).fetchone()
        # The newest message always stays: message ids continue from the highest one stored,
        # and a reused id would make clients hide a new message as one they have already seen.
        return min(row[0] if row else newest, newest)

    gone = db.execute(
        "DELETE FROM messages WHERE msg_id < ? AND state NOT IN ('sent', 'queued')"
        f" AND (sender_notified = 1 OR state IN ('room', 'blocked')) RETURNING {_LOOKUP_KEYS}",
        (cutoff(older_than),)).fetchall()
    if unacknowledged_older_than is not None:
        gone += db.execute("DELETE FROM messages WHERE msg_id < ? AND state IN ('delivered', 'expired', 'blocked_expired')"
                           f" RETURNING {_LOOKUP_KEYS}", (cutoff(unacknowledged_older_than),)).fetchall()
    # Their lookups go with them (server/lookups.py).
    db.executemany("DELETE FROM lookups.by_client_id WHERE sender_key = ? AND client_id = ? AND msg_id = ?",
                   [(s, c, i) for i, s, c, _ in gone])
    db.executemany("DELETE FROM lookups.conversation WHERE sender_key = ? AND recipient_key = ? AND msg_id = ?",
                   [(s, r, i) for i, s, _, r in gone if in_conversation(r)])
    return len(gone)


_LOOKUP_KEYS = "msg_id, sender_key, client_id, recipient_key"


# A page of the conversation of ?1 and ?2, newest first: one arm per direction, each a
# SEARCH of the conversation lookups (server/lookups.py) in msg_id order, each entry's row
# by its id (CROSS JOIN: the lookups lead), merged on the entries' ids (MERGE (UNION ALL),
# no sort: ``c.msg_id`` is selected, not the row's equal ``m.msg_id``, or each arm sorts): the page
# stops after ?5 rows, where one query over both directions read and sorted every message
# of the pair (issue 9). The second arm is empty for a conversation with oneself, which
# the first already has. A row must bear its entry's keys (an entry nothing backs any
# more is passed over).
_HISTORY_TERMS = (" AND c.msg_id < ?3 AND c.msg_id > ?4 AND m.msg_id = c.msg_id AND m.sender_key = c.sender_key"
                  " AND m.recipient_key = c.recipient_key"
                  " AND NOT (m.state IN ('blocked', 'blocked_expired') AND m.recipient_key = ?1)"
                  " AND m.state != 'room'")
_HISTORY_COLUMNS = "c.msg_id, m.sender, m.recipient, m.text, m.sent_at, m.state, m.sender_key, m.edited_at, m.deleted"
HISTORY_QUERY = (
    f"SELECT {_HISTORY_COLUMNS} FROM lookups.conversation AS c CROSS JOIN messages AS m"
    f" WHERE c.sender_key = ?1 AND c.recipient_key = ?2{_HISTORY_TERMS}"
    f" UNION ALL SELECT {_HISTORY_COLUMNS} FROM lookups.conversation AS c CROSS JOIN messages AS m"
    f" WHERE c.sender_key = ?2 AND c.recipient_key = ?1 AND ?1 != ?2{_HISTORY_TERMS} ORDER BY 1 DESC LIMIT ?5")


def history(db: sqlite3.Connection, me_key: str, peer_key: str, before: int | None,
            limit: int, after: int = 0) -> tuple[list[HistoryEntry], int | None]:
    """The conversation between two users, newest ``limit`` messages older than ``before``
    and newer than ``after`` (``me``'s epoch: older ones are an earlier holder's of the
    name), returned oldest first, with the cursor for the next older page (None if no more).

    Messages ``me`` blocked are left out; a message ``me`` sent that was blocked shows as
    ``sent``, as it did when it was sent, then ``expired`` (see :func:`history_entry`).
    """
    before = before if before is not None else 1 << 62
    rows = db.execute(HISTORY_QUERY, (me_key, peer_key, before, after, limit + 1)).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [history_entry(r[0], r[1], r[2], r[3], r[4], r[5], r[7], r[8]) for r in reversed(rows)]
    return entries, (entries[0].msg_id if more and entries else None)


def since_visible(sender_key: str, recipient_key: str | None, state: str, me_key: str) -> bool:
    """Whether a stored message is one of ``me_key``'s direct messages as :func:`history`
    shows them: sent or received by them, not a room's (no conversation entry), and not one
    they blocked. The SQL of :data:`SINCE_QUERY` and the Redis store's script say the same
    (tests/integration/test_since_store.py holds all three to it)."""
    return ((sender_key == me_key or recipient_key == me_key) and state != "room" and in_conversation(recipient_key)
            and not (state in BLOCKED_STATES and recipient_key == me_key))


def since_page(entries: list[HistoryEntry], limit: int, walked_to: int, top: int) -> tuple[list[HistoryEntry], int | None]:
    """The page of a ``since`` walk, and its cursor: ``entries`` are what the walk found
    after the cursor, oldest first, at most ``limit + 1``; it looked through ids up to
    ``walked_to``, the highest id given out being ``top``. More than ``limit`` found: the
    page ends at its last entry; else, a walk that stopped short of ``top`` goes on from
    where it stopped; else there is nothing more (None)."""
    if len(entries) > limit:
        entries = entries[:limit]
        return entries, entries[-1].msg_id
    return entries, (walked_to if walked_to < top else None)


def history_entry(msg_id: int, sender: str, recipient: str, text: str, sent_at: float, state: str,
                  edited_at: float | None, deleted: bool) -> HistoryEntry:
    """A message as a history (or since) page shows it: one of ours that was blocked shows
    as ``sent``, as it did when it was sent, and ``expired`` once past its expiry (as a
    message never confirmed: the block stays untold); a deleted one is not also marked
    edited."""
    return HistoryEntry(msg_id, sender, recipient, text, sent_at, _SHOWN.get(state, state),
                        edited_at is not None and not deleted, bool(deleted))


_SHOWN = {"blocked": "sent", BLOCKED_EXPIRED: "expired"}


# One walk of feature since (:func:`since`): the rows of ?3's direct messages with ids in
# (?1, ?2], by the primary key (no index of a user's messages across conversations).
SINCE_QUERY = (
    "SELECT msg_id, sender, recipient, text, sent_at, state, edited_at, deleted FROM messages"
    " WHERE msg_id > ?1 AND msg_id <= ?2 AND (sender_key = ?3 OR recipient_key = ?3) AND state != 'room'"
    f" AND {CONVERSATION_SQL} AND NOT (state IN ('blocked', 'blocked_expired') AND recipient_key = ?3)"
    " ORDER BY msg_id LIMIT ?4")


def since(db: sqlite3.Connection, me_key: str, after: int, limit: int,
          scan: int) -> tuple[list[HistoryEntry], int | None]:
    """Feature since: ``me_key``'s direct messages, sent and received, in every
    conversation, with ids after ``after`` (which the caller raises to a guest's epoch, as
    for :func:`history`), oldest first, at most ``limit``, looking through at most ``scan``
    ids; with the cursor for the next page (:func:`since_page`)."""
    top = last_msg_id(db)
    walked_to = min(after + scan, top)
    rows = db.execute(SINCE_QUERY, (after, walked_to, me_key, limit + 1)).fetchall()
    return since_page([history_entry(*r) for r in rows], limit, walked_to, top)


def room_history(db: sqlite3.Connection, room_key: str, before: int | None,
                 limit: int) -> tuple[list[HistoryEntry], int | None]:
    """The messages of named room ``room_key``, newest ``limit`` older than ``before``,
    returned oldest first, with the cursor for the next older page (None if no more), as
    :func:`history`. Each entry's ``to`` is the room's name, its state ROOM_MESSAGE_STATE.
    Uses the partial index messages_room (migration 8)."""
    before = before if before is not None else 1 << 62
    rows = db.execute(
        "SELECT msg_id, sender, recipient, text, sent_at, edited_at, deleted FROM messages"
        " WHERE recipient_key = ? AND state = 'room' AND msg_id < ?"
        " ORDER BY msg_id DESC LIMIT ?", (room_key, before, limit + 1)).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    entries = [HistoryEntry(r[0], r[1], r[2], r[3], r[4], ROOM_MESSAGE_STATE, r[5] is not None and not r[6],
                            bool(r[6])) for r in reversed(rows)]
    return entries, (entries[0].msg_id if more and entries else None)


def room_backlog(db: sqlite3.Connection, name_key: str, room_keys: list[str],
                 limit: int) -> tuple[list[StoredMessage], dict[str, int]]:
    """What ``name_key`` missed in the named rooms ``room_keys``: for each, its newest
    ``limit`` messages after the member's cursor (all of them back to the oldest kept, for
    a room without a cursor), together oldest first by msg_id; and the cursors found
    (room key -> last id; rooms without one are left out)."""
    cursors = dict(db.execute(
        f"SELECT room_key, last_id FROM room_cursors WHERE name_key = ? AND room_key IN"
        f" ({', '.join('?' * len(room_keys))})", (name_key, *room_keys)).fetchall()) if room_keys else {}
    messages = []
    for room_key in room_keys:
        messages += db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE recipient_key = ? AND state = 'room' AND msg_id > ?"
            " ORDER BY msg_id DESC LIMIT ?", (room_key, cursors.get(room_key, 0), limit)).fetchall()
    return sorted((_row(r) for r in messages), key=lambda m: m.msg_id), cursors


def set_room_cursors(db: sqlite3.Connection, name_key: str, cursors: dict[str, int]) -> None:
    """``name_key``'s cursors become ``cursors`` (room key -> last id): the rooms they are
    in now; the rows of any other room go. Without a LEFT_AT entry the stored mark stays
    (the changes since it were not told yet: roomdesk.py, ``_changes_untold``)."""
    if LEFT_AT in cursors:
        db.execute("DELETE FROM room_cursors WHERE name_key = ?", (name_key,))
    else:
        db.execute("DELETE FROM room_cursors WHERE name_key = ? AND room_key != ?", (name_key, LEFT_AT))
    db.executemany("INSERT INTO room_cursors (name_key, room_key, last_id) VALUES (?, ?, ?)",
                   [(name_key, room_key, last_id) for room_key, last_id in cursors.items()])


def room_joined(db: sqlite3.Connection, name_key: str, room_key: str) -> int:
    """``name_key`` joined ``room_key``: their cursor of it becomes the highest message id
    stored (every message stored before the join counts as had, so a crash before their
    logout does not send them the room's earlier posts as missed); returns it. Their other
    rooms' cursors stay."""
    last_id = last_msg_id(db)
    db.execute("INSERT OR REPLACE INTO room_cursors (name_key, room_key, last_id) VALUES (?, ?, ?)",
               (name_key, room_key, last_id))
    return last_id


def remember_user(db: sqlite3.Connection, name_key: str, name: str, now: float) -> None:
    db.execute("INSERT INTO users (name_key, name, last_seen) VALUES (?, ?, ?)"
               " ON CONFLICT (name_key) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen",
               (name_key, name, now))


def known_users(db: sqlite3.Connection) -> dict[str, str]:
    return dict(db.execute("SELECT name_key, name FROM users").fetchall())


def referenced(db: sqlite3.Connection, keys: list[str]) -> list[str]:
    """Those of ``keys`` that messages still refer to (guests.py, forgetting a name): one
    waits for them, or one from them is unconfirmed, or its outcome is not told yet. Each
    is a search of an index (inbox, by request id, untold), whatever the table holds."""
    return [key for key in keys if db.execute(
        "SELECT EXISTS (SELECT 1 FROM messages WHERE recipient_key = ?1 AND state IN ('sent', 'queued'))"
        " OR EXISTS (SELECT 1 FROM messages WHERE msg_id IN (SELECT msg_id FROM lookups.by_client_id"
        f" WHERE sender_key = ?1) AND {PENDING_OR_BLOCKED_SQL})"
        " OR EXISTS (SELECT 1 FROM messages WHERE sender_key = ?1 AND sender_notified = 0"
        f" AND {FINAL_SQL})", (key,)).fetchone()[0]]


def forget_users(db: sqlite3.Connection, keys: list[str], epoch: int) -> list[StoredMessage]:
    """Forget the guest names ``keys`` (guests.py): what still waits for them is handed over
    to nobody (:func:`hand_over` up to ``epoch``; returned, for its senders), and their
    holding, known-user row, blocks, room cursors, read marks and receipts switch go."""
    told = []
    for key in keys:
        told += hand_over(db, key, epoch)
        for table, column in (("guests", "name_key"), ("users", "name_key"), ("blocks", "owner_key"),
                              ("room_cursors", "name_key"), ("reads", "reader_key"), ("receipts_off", "name_key")):
            db.execute(f"DELETE FROM {table} WHERE {column} = ?", (key,))
    return told


def blocks(db: sqlite3.Connection) -> list[tuple[str, str]]:
    return db.execute("SELECT owner_key, blocked_key FROM blocks").fetchall()


def set_block(db: sqlite3.Connection, owner_key: str, blocked_key: str, blocked: bool) -> None:
    if blocked:
        db.execute("INSERT OR IGNORE INTO blocks (owner_key, blocked_key) VALUES (?, ?)", (owner_key, blocked_key))
    else:
        db.execute("DELETE FROM blocks WHERE owner_key = ? AND blocked_key = ?", (owner_key, blocked_key))


def clear_blocks(db: sqlite3.Connection, owner_key: str) -> None:
    """Forget whom ``owner_key`` blocks (its guest name changed hands)."""
    db.execute("DELETE FROM blocks WHERE owner_key = ?", (owner_key,))


# --- Edit, delete and read (issue 13) --------------------------------------------------------

# What change_message made of a request.
CHANGED, UNCHANGED, UNKNOWN, FORBIDDEN, TOO_LATE, GONE = "changed", "unchanged", "unknown", "forbidden", "too_late", "gone"
# An edit of a room post whose sender may not post to that room now (muted, kicked,
# banned): comes with the message, so that the relay can ask the rooms core why.
BARRED = "barred"
# In a cluster only (stores/redis_scripts.py CHANGE): the post's room changed since the
# node decided on its copy of it (a moderator removed, a member muted through another node):
# nothing changed; comes with the room as it is (a StaleRoom), for the node to decide again.
# One server has one copy of each room, never behind: no store of its answers this.
STALE = "stale"


class StaleRoom(typing.NamedTuple):
    """Room ``key`` as the cluster's store holds it: ``record`` (None: it ended) at ``version``."""
    key: str
    record: str | None
    version: int


def change_refused(message: StoredMessage, sender_key: str | None, text: str | None, now: float,
                   window: float, may_post_in: frozenset[str] | None = None) -> tuple[str, StoredMessage | None] | None:
    """The answer to an edit (``text``) or delete (``text`` None) of the direct
    ``message`` by ``sender_key`` when it changes nothing (see :func:`change_message`),
    or None when the change is to be made. The rule every store follows (the Redis
    store's script states it in Lua; the differential tests hold it to this).

    ``sender_key`` None is a delete the relay has found someone else entitled to
    (an administrator, or a room's moderator: server/afterdelivered.py decides who):
    any sender's, at any time. ``FORBIDDEN`` comes with the message, so that the relay
    can tell whose it is and where it was sent.

    ``may_post_in`` (for an edit): the keys of the rooms its sender may post to now, as
    the rooms core says (server/rooms.py ``may_post``); an edit of a post in any other
    room is ``BARRED``, with the message (a mute is not to be got round by editing); the
    default room's posts (no recipient) count as in :data:`DEFAULT_ROOM_SLOT`.
    None: no such check (a delete, which stays allowed)."""
    if sender_key is not None and message.sender_key != sender_key:
        return FORBIDDEN, message
    if message.deleted:
        return (UNCHANGED, message) if text is None else (GONE, None)
    if text is not None and text == message.text:
        return UNCHANGED, message
    if (text is not None and may_post_in is not None and message.state == "room"
            and (message.recipient_key or DEFAULT_ROOM_SLOT) not in may_post_in):
        return BARRED, message
    if sender_key is not None and now - message.sent_at > window:
        return TOO_LATE, None
    return None


# How much later than a message's last change its next one is stamped, when the clock says
# no later (see change_time).
CHANGE_STEP = 0.001


def change_time(message: StoredMessage, now: float) -> float:
    """When a change of ``message`` made at ``now`` is stamped (its ``edited_at``, the
    ``at`` its ``edited``/``deleted`` frames carry): ``now``, or ``CHANGE_STEP`` after the
    message's last change when ``now`` is not later (a wall clock that stepped back; in a
    cluster, a node whose clock is behind the one that made the change before). So the
    times of one message's changes grow in the order they were stored, and a client that
    gets two late or out of order (a cluster's route tried again) shows the latest by
    ``at`` (PROTOCOL.md, "`edited`, `deleted`, `edit_receipt`"). The rule every store
    follows (the Redis store's script states it in Lua)."""
    last = message.edited_at
    return now if last is None or now > last else last + CHANGE_STEP


def change_message(db: sqlite3.Connection, msg_id: int, sender_key: str | None, text: str | None, now: float,
                   window: float, quiet_for: frozenset[str],
                   may_post_in: frozenset[str] | None = None) -> tuple[str, StoredMessage | None]:
    """Edit (``text``) or delete (``text`` None) the direct message ``msg_id`` of ``sender_key``.

    A room's post (state 'room') is changed the same way by its sender; it is never
    marked ``change_pending``: a named room's members learn of it by :func:`room_changes`,
    and the default room's (no recipient) keeps no change log (it has no history and no
    missed messages: only those online are told, by the relay).

    Returns ``(CHANGED, the message as it now is)``; ``(UNCHANGED, the message)`` when it
    already is what is asked (a resend: the same text, or a delete of a deleted message),
    whatever the time; else ``(UNKNOWN, None)`` (no such direct message), ``(FORBIDDEN,
    the message)`` (another user's; ``sender_key`` None: see :func:`change_refused`), ``(GONE, None)`` (an edit of a deleted message),
    ``(TOO_LATE, None)`` (sent more than ``window`` seconds before ``now``), ``(BARRED, the
    message)`` (an edit of a post in a room not in ``may_post_in``). A delete
    blanks the text in the row (the SQLite store runs with ``secure_delete``, so the
    freed bytes are zeroed too). The recipient is to be told of the change
    (``change_pending``), unless its key is in ``quiet_for`` (those who block the sender)
    or the message was blocked (never delivered).
    """
    row = db.execute(f"SELECT {_COLUMNS} FROM messages WHERE msg_id = ?", (msg_id,)).fetchone()
    if row is None or (row[4] is None and row[8] != "room"):
        return UNKNOWN, None
    message = _row(row)
    refused = change_refused(message, sender_key, text, now, window, may_post_in)
    if refused is not None:
        return refused
    # A room's post is told to its members by the room's change log, not per member.
    notify = message.recipient_key not in quiet_for and message.state not in ("blocked", BLOCKED_EXPIRED, "room")
    at = change_time(message, now)
    db.execute("UPDATE messages SET text = ?, edited_at = ?, deleted = ?,"
               " change_pending = CASE WHEN ? THEN 1 ELSE change_pending END WHERE msg_id = ?",
               ("" if text is None else text, at, int(text is None), int(notify), msg_id))
    return CHANGED, replace(message, text="" if text is None else text, edited_at=at, deleted=text is None)


def changes_for(db: sqlite3.Connection, recipient_key: str, after: int, limit: int) -> list[StoredMessage]:
    """Messages to ``recipient_key`` whose latest edit or delete it has not confirmed,
    msg_id > ``after``, oldest first, at most ``limit``."""
    rows = db.execute(f"SELECT {_COLUMNS} FROM messages WHERE recipient_key = ? AND change_pending = 1"
                      " AND msg_id > ? ORDER BY msg_id LIMIT ?", (recipient_key, after, limit)).fetchall()
    return [_row(r) for r in rows]


def confirm_change(db: sqlite3.Connection, msg_id: int, recipient_key: str, at: float | None) -> bool:
    """The recipient took in the change of ``msg_id`` stamped ``at`` (None: its latest):
    not told again, unless a later change was stored meanwhile (its ``edited_at`` is after
    ``at``), which stays to be told (the receipt was on its way when it was made). False if
    ``msg_id`` is not a message to ``recipient_key`` (or no longer stored)."""
    db.execute("UPDATE messages SET change_pending = 0 WHERE msg_id = ? AND recipient_key = ? AND change_pending = 1"
               " AND (? IS NULL OR edited_at <= ?)", (msg_id, recipient_key, at, at))
    return db.execute("SELECT 1 FROM messages WHERE msg_id = ? AND recipient_key = ?",
                      (msg_id, recipient_key)).fetchone() is not None


def record_read(db: sqlite3.Connection, reader_key: str, peer_key: str, msg_id: int) -> tuple[int | None, bool]:
    """``reader_key`` has seen the messages from ``peer_key`` up to ``msg_id``, one that
    ``peer_key`` sent it. Marks only grow (one row per conversation and reader).

    Returns ``(the mark now, True if this moved it)``; ``(None, False)`` if ``msg_id`` is
    not a message from ``peer_key`` to ``reader_key`` that the reader could have seen.
    """
    if db.execute("SELECT 1 FROM messages WHERE msg_id = ? AND sender_key = ? AND recipient_key = ?"
                  " AND state NOT IN ('blocked', 'blocked_expired')", (msg_id, peer_key, reader_key)).fetchone() is None:
        return None, False
    return _raise_mark(db, reader_key, peer_key, msg_id)


def _raise_mark(db: sqlite3.Connection, reader_key: str, peer_key: str, msg_id: int) -> tuple[int, bool]:
    """The read mark of ``reader_key`` on ``peer_key`` (a user's key, or a named room's)
    raised to ``msg_id`` if it is below it: marks only grow, one row each in ``reads``.
    Returns ``(the mark now, True if this moved it)``; the callers check ``msg_id`` first."""
    before = read_mark(db, reader_key, peer_key)
    if before is not None and before >= msg_id:
        return before, False
    db.execute("INSERT INTO reads (reader_key, peer_key, up_to) VALUES (?, ?, ?)"
               " ON CONFLICT (reader_key, peer_key) DO UPDATE SET up_to = excluded.up_to", (reader_key, peer_key, msg_id))
    return msg_id, True


def read_mark(db: sqlite3.Connection, reader_key: str, peer_key: str) -> int | None:
    """Up to which msg_id ``reader_key`` has seen the messages from ``peer_key`` (None: none)."""
    row = db.execute("SELECT up_to FROM reads WHERE reader_key = ? AND peer_key = ?", (reader_key, peer_key)).fetchone()
    return row[0] if row else None


def record_room_read(db: sqlite3.Connection, reader_key: str, room_key: str, msg_id: int) -> tuple[int | None, bool]:
    """``reader_key`` has seen the posts of the named room ``room_key`` up to ``msg_id``, a
    post of that room (issue 13). One row per member and room in ``reads``, the room's key
    (which starts with "#", as no user's does) as the peer; marks only grow.

    Returns ``(the mark now, True if this moved it)``; ``(None, False)`` if ``msg_id`` is not
    a post of that room. Whether the reader is a member is the rooms core's to say."""
    if db.execute("SELECT 1 FROM messages WHERE msg_id = ? AND recipient_key = ? AND state = 'room'",
                  (msg_id, room_key)).fetchone() is None:
        return None, False
    return _raise_mark(db, reader_key, room_key, msg_id)


def room_read_marks(db: sqlite3.Connection, room_key: str, reader_keys: list[str]) -> dict[str, int]:
    """The read marks in room ``room_key`` of those of ``reader_keys`` who have one."""
    marks: dict[str, int] = {}
    for start in range(0, len(reader_keys), 500):  # under SQLite's limit of bound parameters
        part = reader_keys[start:start + 500]
        marks.update(db.execute(f"SELECT reader_key, up_to FROM reads WHERE peer_key = ? AND reader_key IN"
                                f" ({', '.join('?' * len(part))})", (room_key, *part)))
    return marks


def receipts_off(db: sqlite3.Connection) -> set[str]:
    """The users who turned read receipts (and typing) off."""
    return {key for (key,) in db.execute("SELECT name_key FROM receipts_off")}


def set_read_receipts(db: sqlite3.Connection, name_key: str, on: bool) -> None:
    if on:
        db.execute("DELETE FROM receipts_off WHERE name_key = ?", (name_key,))
    else:
        db.execute("INSERT OR IGNORE INTO receipts_off (name_key) VALUES (?)", (name_key,))


# --- Changes of room posts (issue 13) ----------------------------------------------------------

# The room cursor row (room_cursors, as set_room_cursors writes) under this key, which no
# room's key can be (they start with "#"), holds when the member last had the rooms'
# news (milliseconds since the epoch): when their last session ended, or when their missed
# messages were sent at login. Changes to posts they had before are told from there.
LEFT_AT = "@left"


@dataclass(frozen=True, slots=True)
class SeenMark:
    """What one client of a member said, at its login, that it has: the named rooms' posts
    up to msg_id ``upto`` (its hello's room_seen), and their changes up to ``since_ms``
    (ms since the epoch: its last_heard, less const.LAST_HEARD_MARGIN). It stands for
    the member's cursors and LEFT_AT mark when :func:`room_changes` reads for that client:
    one device's, where those are what the member's last session had."""

    upto: int
    since_ms: int


def room_changes(db: sqlite3.Connection, name_key: str, room_keys: list[str],
                 limit: int, seen: SeenMark | None = None) -> list[StoredMessage]:
    """The posts of the named rooms ``room_keys`` that ``name_key`` had (msg_id at most
    their cursor there) and that were edited or deleted after their LEFT_AT mark: among
    each room's newest ``limit`` changes (a change log bounded per room, never a record
    per member), oldest msg_id first. Nothing without a LEFT_AT mark. With ``seen``, one
    client's instead: the posts of every room of ``room_keys`` up to ``seen.upto``
    changed after ``seen.since_ms``. Uses the partial index messages_changes_to."""
    if not room_keys:
        return []
    if seen is not None:
        return sorted((m for room_key in room_keys for m in _room_changes_of(db, room_key, limit)
                       if m.msg_id <= seen.upto and m.edited_at * 1000 > seen.since_ms), key=lambda m: m.msg_id)
    cursors = dict(db.execute(
        f"SELECT room_key, last_id FROM room_cursors WHERE name_key = ? AND room_key IN"
        f" ({', '.join('?' * (len(room_keys) + 1))})", (name_key, LEFT_AT, *room_keys)).fetchall())
    left = cursors.pop(LEFT_AT, None)
    if left is None:
        return []
    changed = []
    for room_key in room_keys:
        if room_key not in cursors:
            continue
        changed += [m for m in _room_changes_of(db, room_key, limit)
                    if m.msg_id <= cursors[room_key] and m.edited_at * 1000 > left]
    return sorted(changed, key=lambda m: m.msg_id)


# One direction of dm_changes: ``column`` (recipient_key or sender_key) is the user, by the
# partial index messages_changes_to or messages_changes_by, the latest change first.
_DM_CHANGES_QUERY = {column: f"SELECT {_COLUMNS} FROM messages WHERE {column} = ? AND edited_at > ?"
                             " AND state <> 'room' ORDER BY edited_at DESC LIMIT ?"
                     for column in ("recipient_key", "sender_key")}


def dm_changes(db: sqlite3.Connection, name_key: str, after_id: int, since: float, limit: int,
               kept: int) -> list[StoredMessage]:
    """``name_key``'s direct messages, sent or received, as :func:`since_visible` shows
    them, edited or deleted after ``since`` (seconds) and with a msg_id above ``after_id``
    (a guest's epoch, or the last of the page before): among the user's latest ``kept``
    changes (const.DM_CHANGES_KEPT: as many as the other stores keep), oldest msg_id first,
    at most ``limit``. What a device back from away missed while another session of the
    user took them in (PROTOCOL.md "Changes a device missed")."""
    latest: dict[int, StoredMessage] = {}
    for query in _DM_CHANGES_QUERY.values():
        latest.update((m.msg_id, m) for m in map(_row, db.execute(query, (name_key, since, kept))))
    newest = sorted(latest.values(), key=lambda m: m.edited_at, reverse=True)[:kept]
    return sorted((m for m in newest if m.msg_id > after_id
                   and since_visible(m.sender_key, m.recipient_key, m.state, name_key)),
                  key=lambda m: m.msg_id)[:limit]


def _room_changes_of(db: sqlite3.Connection, room_key: str, limit: int) -> list[StoredMessage]:
    """The room's ``limit`` posts changed last, the latest change first."""
    return list(map(_row, db.execute(
        f"SELECT {_COLUMNS} FROM messages WHERE recipient_key = ? AND state = 'room' AND edited_at IS NOT NULL"
        " ORDER BY edited_at DESC LIMIT ?", (room_key, limit)).fetchall()))

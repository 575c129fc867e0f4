"""What the chat window shows, as plain data: contacts, conversations, unread counts,
delivery states and the connection state. No tkinter here, so all of it is unit-tested.

The window (:mod:`client.gui.app`) feeds every library event to :meth:`ChatModel.apply`
(and its own actions to :meth:`ChatModel.sent`, :meth:`ChatModel.open`...), then takes the
resulting :class:`~client.gui.changes.Change` records (client/gui/changes.py) with
:meth:`ChatModel.take_changes` and redraws only what they name. The model never looks at
widgets; the window never decides what an event means.

Keys. Conversations and contacts are keyed by the lower-cased user name (the server
compares names case-insensitively); the broadcast room is :data:`ROOM`, which no user name
can be (names start with a letter or a digit).

Connection. The status bar speaks words ("Connected", "Reconnecting in 3 s…"), never the
library's figures; while the connection is away no presence is known, so every contact's
dot is grey (:meth:`ChatModel.presence`). Coming back costs the open conversation one
"reconnected" line and nothing else: users who were online when the connection went away,
or who left only because the server stopped, come back quietly (no "joined" line) when
they rejoin within :data:`REJOIN_GRACE` seconds of our reconnection; in named rooms, their
"is online in #room" likewise. The rule is client/returns.py's, which the terminal follows too.

Rooms (protocol version 2). A named room the user joined is a conversation like a user's,
keyed :func:`room_key` (``##`` and the room's comparison form, which neither a user name
nor :data:`ROOM` can be), listed after the default room; its :class:`RoomState` keeps the
topic, the member count and, once asked, the members with their roles, which say whether
the moderation menu is offered (:meth:`ChatModel.may_moderate`; the server decides in the
end). Room posts and notices go to the room's conversation; a kick or ban of ourselves
takes the room off the list. The server keeps memberships across logins: after each
welcome the window asks for the rooms we are in (``rooms`` with ``mine``) and
:meth:`ChatModel.rooms_listed` lists them, quiet ones too, without joining. A server older
than that does not say; for it (and for a room joined meanwhile from another device), what
the server sends only to a room's members (a post, among them the missed ones right after
the welcome; a read mark, typing, an edit or delete, a notice not about ourselves) says we
are in that room, so a room not listed yet is listed then, unread count and all, and a
:class:`RoomInfoWanted` change asks for its topic and count.

Other devices. The user may be logged in elsewhere too (the terminal, the page): a direct
message sent there comes as a carbon (PROTOCOL.md, "`sent`") and is our line, whose state
then moves with the ``delivered``, ``queued``, ``expired`` and ``read`` that follow under
its msg_id, as the sending session's does; a room post whose sender is the user is our line
too ("sent": rooms have no receipts); and our ``read`` forwarded from another session
clears the unread count up to its msg_id, a person's or a room's (a room's own mark comes
as a ``read`` with ``room`` and ``msg_id``, no ``marks``: PROTOCOL.md, "In rooms"). What
our other sessions got or sent while this one was reconnecting never comes to it: after a
reconnection every conversation's messages after the newest one shown are asked for
(:class:`SinceWanted`, feature since; from a server without it the newest page of each of
its people's conversations, :class:`CatchUpWanted`) and merged (:meth:`ChatModel.catch_up`).
So they are when a cluster node tells a ``catch_up`` (it was cut off from the others for a
while, and our other devices may have been told what this session was not).

Delivery states are the library's (``sending``, ``sent``, ``queued``, ``delivered``,
``failed``, and whatever it adds later): a :class:`~client.outgoing.MessageUpdate` is the
authority and is applied as it comes. A raw ``Queued`` answer (from a library that does
not match it to its tracker yet) only moves a message that is still ``sending`` or
``sent``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace

import const
from protocol import (
    ErrorCode,
    MemberEntry,
    RoomEntry,
    RoomInfo,
    RoomNotice,
    RoomPost,
    Carbon,
    ConnectionClosed,
    Deleted,
    Delivered,
    DirectMessage,
    Edited,
    ErrorReply,
    Event,
    FrameRejected,
    Goodbye,
    HistoryPage,
    LookupResult,
    Presence,
    Queued,
    Read,
    RoomMessage,
    RoomSkipped,
    Settings,
    Typing,
    UserJoined,
    UserLeft,
    Watching,
)

from protocol import RoomDeleted, RoomEdited, RoomTyping  # in rooms (issue 13)
from protocol import RoomRead  # read marks in rooms (issue 13)
from protocol import Blocked, Unblocked  # feature blocks: made on another device
from protocol import CatchUp  # feature catch_up: a cluster node back from a break

from i18n import N_, _, ngettext
from registry import canonical

from registry.collation import name_order
from registry.names import lookalike_among
from ..clock import WaitsClock
from ..core import SIGNED_OUT, is_default_room, late_change
from ..display import (
    FAILED_MARKS, NOT_DELIVERED, NOT_SENT, cut_whole, describe_room_notice, describe_skipped,
    explain_refusal, failed_outcome, format_when, late_answer_words, left_why, lost_words, ours_alike, sanitize,
    sanitize_lines, shown_text, unavailable_words, window_gone_while_away, window_out_of_room_recipient,
    window_out_of_room_refused, window_out_of_room_words,
)
from ..errors import NotConnected, RequestFailed
from ..events import AnsweredLate, ServerUnavailable
from ..outgoing import Failure, MessageUpdate
from ..returns import REJOIN_GRACE, SERVER_STOPPING, Returns  # noqa: F401 (REJOIN_GRACE: the docstring names it)
from ..serverclock import server_now
from ..serverwindow import edit_window
from .changes import (
    Change,
    LineAdded,
    LinesPrepended,
    StateChanged,
    LineChanged,
    TypingChanged,
    ContactsChanged,
    ReceiptsChanged,
    StatusChanged,
    HistoryWanted,
    CatchUpWanted,
    SinceWanted,
    LinesInserted,
    MembersChanged,
    MembersWanted,
    RoomInfoWanted,
    WatchWanted,
    WhereWanted,
)
from .session import failure_words, maybe_done

ROOM = "#room"
ROOM_TITLE = N_("Everyone")  # shown through _()


def connection_ended_text() -> str:
    """The status detail when the connection ended with nothing more said."""
    return _("the connection ended")

# Connection states shown in the status bar.
CONNECTING, CONNECTED, RECONNECTING, DISCONNECTED = "connecting", "connected", "reconnecting", "disconnected"
# Presence as the contact list shows it; UNKNOWN (a grey dot) while we are not connected;
# NOBODY: the server said nobody has the name (the answer to a watch: PROTOCOL.md "watching").
ONLINE, OFFLINE, UNKNOWN, NOBODY = "online", "offline", "unknown", "nobody"

# How a delivery state is written after an outgoing message. Unknown states (a future
# library's) are shown by name. Shown through _().
STATE_LABELS = {
    "sending": N_("… sending"),
    "sent": N_("✓ sent"),
    "queued": N_("◷ queued"),
    "delivered": N_("✓✓ delivered"),
    # A failure is said by what became of the message (client.display.FAILED_MARKS): not
    # sent, not delivered (it expired), not confirmed, not delivered yet; "failed" alone
    # read as if nothing had gone.
    "failed": FAILED_MARKS[NOT_SENT],
}
# A delivered message the recipient has seen (issue 13).
READ_LABEL = N_("✓✓ read")
# States a raw Queued answer may move a message out of.
_BEFORE_QUEUED = frozenset({"sending", "sent"})
# After a reconnection (ChatModel.catch_up_wanted): how many conversations, the most recent
# first, are asked for what our other sessions got or sent meanwhile.
CATCH_UP_CONVERSATIONS = 20
# Edits and deletes kept for messages not here yet (ChatModel._keep_early), the newest: a
# login may tell a thousand (PROTOCOL.md "Changes a device missed") of messages whose
# conversation is never opened, and what is kept must stay bounded (the page's MAX_ITEMS).
EARLY_CHANGES_KEPT = 1000


def broadcast_subtitle(online: int, short: bool = False) -> str:
    """The broadcast room's subtitle: how many are online in it (this user included); with
    ``short``, the count alone (for a narrow header: ChatApp._update_header)."""
    if short:
        return ngettext("{n} online", "{n} online", online).format(n=online)
    return ngettext("broadcast room · {n} online", "broadcast room · {n} online", online).format(n=online)


def key_of(name: str) -> str:
    """The conversation and contact key of user ``name``: the registry's comparison form,
    so that "JOÃO", "joão" and a decomposed "joão" are one contact, as on the server."""
    return canonical(name)


def clean_text(text: object) -> str:
    """Message text made safe for a text widget: every line sanitised (control and
    format characters shown as escapes), the line breaks the sender typed kept."""
    return sanitize_lines(text)


def state_label(state: str | None, error: tuple[str, str] | None = None, to: str | None = None,
                msg_id: int | None = None, waited: float | None = None) -> str:
    """The words after an outgoing message to ``to`` (None: a room): ``✓✓ delivered``,
    ``✗ not sent: nobody called Bob has ever logged in here: check the name``, ``✗ not
    delivered: it waited 7 days for Bob and expired...``. ``msg_id``: the server's id of it,
    if it took it; ``waited``: the seconds an expired one waited, if known."""
    if state is None:
        return ""
    if state != "failed":
        return _(STATE_LABELS[state]) if state in STATE_LABELS else sanitize(state)
    outcome = failed_outcome(error, stored=to is not None and msg_id is not None)
    label = _(FAILED_MARKS[outcome])
    if error is not None:
        label += ": " + explain_refusal(error, to, waited)
    return label


def cut_to_fit(text: str, width: int, measure: Callable[[str], int], rest: str = "") -> str:
    """``text`` and ``rest`` after it in at most ``width`` (as ``measure`` counts text): the
    text cut at the end with "…" as far as needed (between characters as a reader sees
    them: cut_whole), ``rest`` whole; "" when not even a character of the text fits. The
    one rule by which a header's subtitle is cut (fit_topic, fit_first)."""
    if measure(text + rest) <= width:
        return text + rest
    low, high = 0, len(text) - 1  # the longest cut that fits: binary search on its length
    while low < high:
        middle = (low + high + 1) // 2
        if measure(f"{cut_whole(text, middle).rstrip()}…{rest}") <= width:
            low = middle
        else:
            high = middle - 1
    shown = cut_whole(text, low).rstrip()
    return f"{shown}…{rest}" if shown else ""


def fit_topic(topic: str, count: str, width: int, measure: Callable[[str], int]) -> str:
    """``topic · count`` in at most ``width`` (as ``measure`` counts text): the topic cut
    at the end with "…" as far as needed (cut_to_fit), the count whole (alone if nothing
    else fits)."""
    return cut_to_fit(topic, width, measure, f" · {count}") or count


def fit_first(forms: Sequence[str], width: int | None = None, measure: Callable[[str], int] | None = None) -> str:
    """The first of ``forms`` (a subtitle whole, then shorter ones that leave out what
    matters least: ChatModel.person_subtitle) that fits in ``width`` as ``measure`` counts
    text; else the last, cut at the end with "…" to fit (cut_to_fit). Without a width (the
    header not laid out yet), the first."""
    if width is None or measure is None:
        return forms[0]
    for form in forms:
        if measure(form) <= width:
            return form
    return cut_to_fit(forms[-1], width, measure)


def describe_event(event: Event) -> str:
    """A generic one-line description of an event the model has no special rule for,
    e.g. ``Reconnecting: attempt 2, delay 1.5`` for a future ``Reconnecting(attempt=2,
    delay=1.5)`` of the library."""
    name = type(event).__name__
    words = "".join(" " + c.lower() if c.isupper() and i else c for i, c in enumerate(name))
    parts = []
    if is_dataclass(event):
        for f in fields(event):
            value = getattr(event, f.name, None)
            if value is None or f.name in ("password",) or not f.repr:
                continue
            if isinstance(value, float):
                value = f"{value:.3g}"
            elif not isinstance(value, (str, int)):
                continue  # nested objects (a Welcome, an exception) say little here
            parts.append(f"{f.name.replace('_', ' ')} {sanitize(value)}")
    return words + (": " + ", ".join(parts) if parts else "")


@dataclass(slots=True)
class Contact:
    """One user in the contact list."""

    name: str
    online: bool = False
    unread: int = 0
    # Kept in the list (as offline) after leaving: we exchanged messages with them.
    talked: bool = False
    # The server said nobody has this name (a watch's answer: never logged in, or a guest's
    # name forgotten since), until they come online or a later answer says otherwise.
    nobody: bool = False
    # The registry's entry while online, (address, port, since), from a lookup (set_where);
    # None until asked, and again when they come or go (another connection then) or we
    # reconnect; asked again while their conversation is on screen (WhereWanted).
    where: tuple[str, int, float | None] | None = None

    @property
    def key(self) -> str:
        return key_of(self.name)


@dataclass(slots=True)
class Line:
    """One entry of a conversation.

    ``kind``: ``"in"`` (someone else's message), ``"out"`` (ours: ``request_id`` and
    ``state`` follow its delivery), ``"notice"`` (joined, left, connection news).
    ``old`` is True for a line that came from the server's history.
    """

    kind: str
    sender: str
    text: str
    at: float
    request_id: str | None = None
    state: str | None = None
    error: tuple[str, str] | None = None
    msg_id: int | None = None
    to: str | None = None
    old: bool = False
    # After delivered (issue 13): seen by the recipient; changed by its sender.
    read: bool = False
    edited: bool = False
    deleted: bool = False
    deleted_by: str | None = None  # a room's moderator or an administrator, not its sender
    changed_at: float | None = None  # the ``at`` of the change shown (changed_own holds ours to it)
    read_by: int = 0  # our post in a small room: how many other members have seen it
    # Ours sent from here: when the server took it (its id came), on the model's clock of
    # waits: where the edit window starts (ChatModel.editable).
    taken: float | None = None
    # Our message that expired while this window followed it: the seconds it waited (its
    # label says it; a history's expired message has none, only that it expired).
    waited: float | None = None

    @property
    def label(self) -> str:
        """The delivery state in words (empty for anything but our messages)."""
        if self.kind == "out" and self.read and self.state == "delivered":
            return _(READ_LABEL)
        label = state_label(self.state, self.error, self.to, self.msg_id, self.waited) if self.kind == "out" else ""
        if self.kind == "out" and self.read_by and self.error is None:
            # Lower case in mid-line, as the window's other labels ("✓✓ read"); the page's
            # capitalised "Read by {n}" is its own entry.
            label += " · " + _("read by {n}").format(n=self.read_by)
        return label

    @property
    def shown_text(self) -> str:
        """The text as shown: with its "edited" mark, or that it was deleted."""
        return shown_text(self.text, self.edited, self.deleted, self.deleted_by)


@dataclass(slots=True)
class Conversation:
    key: str
    title: str
    lines: list[Line] = field(default_factory=list)
    # None: not asked yet; "loading", "loaded", or "unavailable" (the library has no history call).
    history: str | None = None
    # The server's ids of the messages shown, so that none is shown twice.
    msg_ids: set[int] = field(default_factory=set)
    # A named room's history comes a page at a time (issue 13): the cursor of the next
    # older page (PROTOCOL.md, "Room history"); None: no older page, or none asked yet.
    older: int | None = None


def room_key(room: str) -> str:
    """The conversation key of named room ``room`` (``#redes``)."""
    return "##" + canonical(room.removeprefix("#"))


def is_room_key(key: str) -> bool:
    """True if ``key`` is a named room's (not the default room's, not a user's)."""
    return key.startswith("##")


# Roles that may moderate a room (PROTOCOL.md, "Roles").
MODERATING = frozenset({"owner", "moderator"})
# Room notices naming us that say we are in the room (an invite or unban may come to an
# outsider, and a kick or ban puts us out: PROTOCOL.md, "room_notice").
_MEMBER_ACTS = frozenset({"mute", "unmute", "appoint", "owner", "delete"})


@dataclass(slots=True)
class RoomState:
    """A room the user is in: as the server last described it."""

    name: str
    topic: str = ""
    count: int = 0
    owner: str | None = None
    invite_only: bool = False
    members: list[MemberEntry] | None = None  # None: not asked yet
    unread: int = 0


# --- The model --------------------------------------------------------------------------


class ChatModel:
    """Everything the chat window shows for user ``me``. Not thread-safe: the window
    uses it on the Tk thread only."""

    def __init__(self, me: str, server: str = "", *, clock: Callable[[], float] | None = None) -> None:
        self.me = me
        # Seconds for waits (the reconnect countdown, the rejoin grace, "typing…"), on the
        # clock that counts a sleep of the computer (client/clock.py): on the monotonic
        # clock, "Alice is typing…" came back with a laptop woken twenty minutes later.
        self._clock = clock or WaitsClock()
        self.server = server
        self.contacts: dict[str, Contact] = {}
        self.conversations: dict[str, Conversation] = {ROOM: Conversation(ROOM, ROOM_TITLE)}
        self.active = ROOM
        self.state = CONNECTING
        self.status_detail = ""
        self.reconnects = 0
        # The server's last message id as it first welcomed this window (its welcome's
        # last_id, feature since; None: unknown): a catch-up before any direct message is
        # shown asks from there (:meth:`catch_up_wanted`). The window sets it once.
        self.began_after: int | None = None
        # When the next reconnection attempt starts (clock time), while one is awaited.
        self.retry_at: float | None = None
        # While the server answers our messages unavailable (client.events.ServerUnavailable):
        # when the client writes them again (clock time); None: it does not.
        self.unavailable_until: float | None = None
        # Why the server signed this session out for its password (client.core.SIGNED_OUT) or
        # ended it with its deleted account, in words, once it did: the window then shows
        # its login form saying so (app.py); ``account_gone``: it ended with the account,
        # so that the form does not ask for the password of an account there is no more.
        self.signed_out: str | None = None
        self.account_gone = False
        # Whose next join (or "online" in a room) is a return, not news: see the module
        # docstring and client/returns.py.
        self._returns = Returns(self._clock)
        self._room_unread = 0
        # The conversation of the latest direct message from someone else: where Ctrl+R goes.
        self.reply_to: str | None = None
        # request_id -> (conversation key, line) for our messages, to apply state changes.
        self._outgoing: dict[str, tuple[str, Line]] = {}
        # Our messages sent by another session (carbons), by msg_id: their outcomes come
        # under that session's request id, which this window never saw.
        self._carbons: dict[int, tuple[str, Line]] = {}
        # msg_ids of our own room messages, so the server's echo is not shown twice.
        self._own_room_ids: set[int] = set()
        # After delivered (issue 13). Conversation key -> clock time until which "NAME is
        # typing…" shows; edits and deletes of messages not here yet, by msg_id (applied
        # when the message comes); the newest msg_id we said we read, per conversation.
        self.typing: dict[str, float] = {}
        # In rooms: room key -> name key -> (name, clock time until which it shows).
        self.room_typing: dict[str, dict[str, tuple[str, float]]] = {}
        self._early_changes: dict[int, Edited | Deleted | RoomEdited | RoomDeleted] = {}
        self._read_sent: dict[str, int] = {}
        # How far each peer has read our messages (conversation key -> msg_id), as the
        # server last said: the "read" that follows a history page may come before the
        # page reaches the model (the window fetches it on a worker thread), so lines
        # that come later are marked from here.
        self._read_by_peer: dict[str, int] = {}
        # Small rooms' read marks, as the server last told them: room key -> marks.
        self.room_marks: dict[str, tuple[int, ...]] = {}
        self.read_receipts = True  # this user's setting (the welcome says)
        self._changes: list[Change] = []
        # Named rooms the user is in, by room_key, in the order joined.
        self.rooms: dict[str, RoomState] = {}
        # Rooms we left or were put out of since: what was on its way from them before is
        # not taken for membership (see _member_of) until we are in them again.
        self._rooms_left: set[str] = set()
        # Rooms a kick or ban of us ("kick"/"ban"), or the list after a reconnection ("gone"),
        # put us out of while they were on screen: their conversation stays there, and a line
        # typed in it is refused (send_refused).
        self._out_of: dict[str, str] = {}
        # Rooms whose leave was asked and not yet answered (leave_asked; forgotten at a
        # reconnection): no read mark nor typing notice goes for them (may_tell_room).
        self._leaving: set[str] = set()
        # Rooms joined or learned of since the server was last asked for ours (rooms_asked):
        # its answer, made before, says nothing of them.
        self._rooms_since_asked: set[str] = set()
        # Rooms left or put out of since then: its answer may have been made before.
        self._left_since_asked: set[str] = set()
        # Whom the user blocks (key -> name), as the server last said (its list after each
        # welcome, then each block or unblock it answered ok); None until it said: a
        # server older than the ``blocks`` request never does, and nobody is marked then.
        self.blocked: dict[str, str] | None = None
        # Keys with a block or unblock on its way: their button waits for the answer.
        self.blocking: set[str] = set()
        # Whom the user banned in this session, by room key (the latest, as the server took
        # it, or a notice said of a ban by us): "Lift a ban…" offers the name, since a
        # banned person is in no member list. The latest lifting of a ban the rooms told
        # (room key, name key), so that our unban's ok does not say it again.
        self.banned: dict[str, str] = {}
        self._unban_told: tuple[str, str] | None = None

    # --- Reading ------------------------------------------------------------------------

    def take_changes(self) -> list[Change]:
        """The changes since the last call, oldest first (and forget them)."""
        changes, self._changes = self._changes, []
        return changes

    def contact_order(self) -> list[str]:
        """Conversation keys in the order the contact list shows them: the room, then the
        named rooms, then people, each by name (:func:`registry.collation.name_order`).
        Presence plays no part (the dot shows it), so a row never moves because someone
        came online or left: a click lands on the row that was under the pointer."""
        people = sorted(self.contacts.values(), key=lambda c: name_order(c.name))
        rooms = sorted(self.rooms, key=lambda key: name_order(self.rooms[key].name))
        return [ROOM] + rooms + [c.key for c in people]

    def title(self, key: str) -> str:
        if key == ROOM:
            return _(ROOM_TITLE)
        if is_room_key(key):
            return self.rooms[key].name if key in self.rooms else self.conversations[key].title
        contact = self.contacts.get(key)
        return contact.name if contact else self.conversations[key].title

    def set_where(self, result: LookupResult) -> None:
        """The answer to the lookup asked when a person's conversation opened: where their
        connection comes from, for the header (:meth:`where_text`)."""
        contact = self.contacts.get(key_of(result.name))
        if contact is not None and contact.online:
            online = result.status == "online" and result.address is not None and result.port is not None
            contact.where = (result.address, result.port, result.since) if online else None

    def where_text(self, key: str) -> str:
        """A person's registry entry in words while they are online ("192.168.1.31:50412 ·
        online since 09:02"), as the terminal's /whois says it; "" if not known."""
        forms = self._where_forms(key)
        return forms[0] if forms else ""

    def _where_forms(self, key: str) -> tuple[str, ...]:
        """where_text, then shorter: the port left out (it tells a reader least), then when
        they came, then the address alone; () if not known."""
        contact = self.contacts.get(key)
        if contact is None or not contact.online or contact.where is None:
            return ()
        address, port, since = contact.where
        host = sanitize(f"[{address}]" if ":" in address else address)
        where, when = _("{address} · online since {when}"), format_when(since)
        return (where.format(address=f"{host}:{port}", when=when),
                where.format(address=sanitize(address), when=when), sanitize(address))

    def person_subtitle(self, key: str) -> tuple[str, ...]:
        """What the header says under person ``key``'s name, in the forms it may take, the
        first whole, each next leaving out what matters least (the app shows the first
        that fits: fit_first). Blocked: that and what it does, then that alone ("offline ·
        blocked: their messages do not reach you", "offline · blocked"); else while online,
        where their connection comes from (_where_forms) once a lookup said it; else
        "online" or "offline"."""
        contact = self.contacts.get(key)
        presence = _("online") if contact is not None and contact.online else \
            _("nobody by that name has logged in here") if contact is not None and contact.nobody else _("offline")
        if self.is_blocked(key):  # what blocking does, where one sees whom it concerns
            return (_("{presence} · blocked: their messages do not reach you").format(presence=presence),
                    _("{presence} · blocked").format(presence=presence))
        return self._where_forms(key) or (presence,)

    def recipient(self, key: str) -> str:
        """Who a line typed in conversation ``key`` goes to, in words (shown by the input
        box, so that where Enter sends is never a surprise)."""
        if key in self._out_of:
            return window_out_of_room_recipient(self.title(key))
        if is_room_key(key):
            return _("To everyone in {room}").format(room=sanitize(self.title(key)))
        return _("To everyone in the room") if key == ROOM else _("To {name}").format(name=self.title(key))

    def unread(self, key: str) -> int:
        if key == ROOM:
            return self._room_unread
        if is_room_key(key):
            return self.rooms[key].unread if key in self.rooms else 0
        contact = self.contacts.get(key)
        return contact.unread if contact else 0

    @property
    def total_unread(self) -> int:
        return self._room_unread + sum(c.unread for c in self.contacts.values()) + \
            sum(r.unread for r in self.rooms.values())

    def status_text(self) -> str:
        """The status bar's text, in words: the state ("Reconnecting in 3 s…" counts down
        to the next attempt), the server and name while connected, and while the server
        answers unavailable that it is and when the client tries again (counts down too:
        call again each half second while :attr:`counting_down`), then the latest detail
        (why the connection went)."""
        if self.state == RECONNECTING:
            left = None if self.retry_at is None else math.ceil(self.retry_at - self._clock())
            text = _("Reconnecting in {seconds} s…").format(seconds=left) if left is not None and left > 0 \
                else _("Reconnecting…")
        elif self.state == DISCONNECTED:
            text = _("Disconnected")
        else:
            words = {CONNECTING: _("Connecting…"), CONNECTED: _("Connected")}.get(self.state, self.state)
            text = _("{state} to {server} as {name}").format(state=words, server=self.server, name=self.me) \
                if self.server else _("{state} as {name}").format(state=words, name=self.me)
            if self.unavailable_until is not None and self.state == CONNECTED:
                text += f" · {unavailable_words(self.unavailable_until - self._clock())}"
        if self.status_detail:
            text += f" · {self.status_detail}"
        return text

    @property
    def counting_down(self) -> bool:
        """Whether the status bar's text changes with time (a wait it counts down)."""
        return (self.state == RECONNECTING and self.retry_at is not None) or \
            (self.state == CONNECTED and self.unavailable_until is not None)

    def presence(self, key: str) -> str:
        """How the list shows contact ``key``: :data:`ONLINE`, :data:`OFFLINE`, :data:`NOBODY`
        (nobody has the name, the server said), or :data:`UNKNOWN` while we are not
        connected (what we knew may be stale)."""
        if self.state != CONNECTED:
            return UNKNOWN
        contact = self.contacts.get(key)
        if contact is not None and contact.online:
            return ONLINE
        return NOBODY if contact is not None and contact.nobody else OFFLINE

    def state_of(self, request_id: str) -> str | None:
        found = self._outgoing.get(request_id)
        return found[1].state if found else None

    # --- Contacts -----------------------------------------------------------------------

    def set_online(self, users: Iterable[Presence | str]) -> None:
        """The answer to ``who()``: exactly these users are online now (not ourselves)."""
        online = {}
        for user in users:
            name = user if isinstance(user, str) else user.name
            if key_of(name) != key_of(self.me):
                online[key_of(name)] = name
        for key, contact in list(self.contacts.items()):
            if key not in online:
                contact.online = False
                if self._droppable(key, contact):
                    del self.contacts[key]
        for key, name in online.items():
            contact = self.contacts.setdefault(key, Contact(name))
            contact.name = name
            self._came_online(contact)
        self._changes.append(ContactsChanged())

    def _came_online(self, contact: Contact, again: bool = False) -> None:
        """``contact`` is online now (a "joined", or an answer of "who" or "watch" that lists
        them); ``again``: on a new connection of theirs (a "joined"), so that what we knew
        of their old one goes, even if we took them for online. When their conversation is
        on screen and this is news, a :class:`WhereWanted` asks their entry again, as
        opening it does: else the header said "online" and nothing more until it was
        opened again."""
        was = contact.online
        contact.online = True
        contact.nobody = False
        if again:
            contact.where = None
        if again or not was:
            self._where_wanted(contact.key)

    def _where_wanted(self, key: str) -> None:
        """Ask (:class:`WhereWanted`) the registry entry of person ``key`` if theirs is the
        conversation on screen: the header shows it."""
        if key == self.active and key != ROOM and not is_room_key(key):
            self._changes.append(WhereWanted(key))

    def _droppable(self, key: str, contact: Contact) -> bool:
        """An offline contact leaves the list unless we talked, it has unread messages, its
        conversation is open, or we block it (the list is where one sees and undoes that)."""
        return not contact.talked and not contact.unread and key not in self.conversations \
            and not self.is_blocked(key)

    # --- Blocking -----------------------------------------------------------------------

    def is_blocked(self, key: str) -> bool:
        """True if the server said the user blocks ``key`` (a person's key)."""
        return self.blocked is not None and key in self.blocked

    def may_block(self, key: str) -> bool:
        """Whether the block button and menu are offered for ``key``: a person, not
        ourselves, with no block or unblock on its way and a server that keeps a list."""
        return (key != ROOM and not is_room_key(key) and key != key_of(self.me) and key not in self.blocking
                and self.blocked is not None and self.state == CONNECTED)

    def blocks_listed(self, names: Iterable[str]) -> None:
        """The server's answer to ``blocks`` (after each welcome): exactly these are
        blocked. Each is listed as a contact (offline unless we know better), marked."""
        self.blocked = {}
        for name in names:
            key = key_of(name)
            if key == key_of(self.me):
                continue
            self.blocked[key] = name
            self._contact(name)
        self._changes.append(ContactsChanged())

    def block_told(self, name: str, block: bool) -> None:
        """Another device of the user blocked (``block``) or unblocked ``name``, as the
        server told (feature blocks): the mark and the list follow at once, as they would
        after the next welcome's ``blocks``. Before the list came, nothing: it will say."""
        key = key_of(name)
        if self.blocked is None or key == key_of(self.me):
            return
        if block:
            self.blocked[key] = name
            self._contact(name)
        else:
            self.blocked.pop(key, None)
        self._changes.append(ContactsChanged())

    def block_asked(self, key: str) -> None:
        """A block or unblock of ``key`` left: its button waits until the answer."""
        self.blocking.add(key)
        self._changes.append(ContactsChanged())

    def block_answered(self, name: str, block: bool, error: BaseException | None) -> bool:
        """The answer to a block (``block``) or unblock of ``name``. ``error``: None for
        ``ok``; else the exception of the request. The mark follows only an ``ok``; the
        conversation says the outcome in one line, in the window's words
        (:func:`~client.gui.session.failure_words`). Returns True when the outcome is not
        certain (sent, and no answer in time, the connection ended before it, or the server
        could not tell): then the window asks for the list again, which says what the
        server holds."""
        key = key_of(name)
        self.blocking.discard(key)
        shown = sanitize(self.contacts[key].name if key in self.contacts else name)
        self._changes.append(ContactsChanged())
        if error is None:
            if self.blocked is None:
                self.blocked = {}
            if block:
                self.blocked[key] = name
                self._contact(name)
                text = _("You blocked {name}: their messages no longer reach you (yours still reach them)")
            else:
                self.blocked.pop(key, None)
                text = _("You unblocked {name}: their new messages reach you again")
            self.notice(key, text.format(name=shown))
            return False
        # Not sent (no connection), or refused: nothing changed. Sent and unanswered (the
        # connection ended first, no answer in time, the server could not tell): nobody knows.
        definite = isinstance(error, (RequestFailed, NotConnected)) and not maybe_done(error)
        why = failure_words(error, name)
        if definite:
            text = _("{name} was not blocked: {why}") if block else _("{name} was not unblocked: {why}")
        else:
            text = _("Blocking {name} is not confirmed: {why}") if block \
                else _("Unblocking {name} is not confirmed: {why}")
        self.notice(key, text.format(name=shown, why=why))
        return not definite

    def start_conversation(self, name: str) -> str:
        """A conversation with person ``name`` (as the server spells it), who need not be
        online: asked for by name (client/gui/newchat.py). They are listed, offline too (a
        contact with a conversation stays: _droppable), under that spelling; their presence
        comes with the answer to the watch the new conversation asks (WatchWanted), not
        from the lookup, which an event may have overtaken. Returns its key, to
        :meth:`open`."""
        self._contact(name).name = name
        self._changes.append(ContactsChanged())
        self._conversation(name)
        return key_of(name)

    def like(self, name: str, yourself: bool = False, told: str | None = None) -> str | None:
        """The one name this window knows (the list: who is online, whom we talked with;
        the rooms' members) that looks like ``name`` and is someone else's, as the server
        spells it (``João`` for a typed ``joao``: registry.names.lookalike_among, the
        terminal's rule); None when there is none, or several. For "did you mean João?"
        when nobody has ``name`` (a ``whois`` answers ``unknown``). ``told``: the server's
        own choice, the whois answer's ``like``, which comes first: it knows everyone
        online on every node, and never names us; the window's guess only without it (an
        older server, a contact offline). ``yourself``: else our own, said as ours
        ("Conceição (you)": display.ours_alike), as the terminal says it; words for the
        sentence, not a name for the box."""
        if told:
            return told
        members = (member.name for state in self.rooms.values() for member in state.members or ())
        theirs = lookalike_among(name, [*(c.name for c in self.contacts.values()), *members], (self.me,))
        return ours_alike(name, self.me) if theirs is None and yourself else theirs

    def _contact(self, name: str) -> Contact:
        key = key_of(name)
        contact = self.contacts.get(key)
        if contact is None:
            contact = self.contacts[key] = Contact(name)
            self._changes.append(ContactsChanged())
        return contact

    def _conversation(self, name_or_key: str) -> Conversation:
        key = name_or_key if name_or_key == ROOM else key_of(name_or_key)
        conversation = self.conversations.get(key)
        if conversation is None:
            conversation = self.conversations[key] = Conversation(key, name_or_key)
            if key != ROOM and key != key_of(self.me):
                self._changes.append(WatchWanted(name_or_key))
        return conversation

    # --- Applying events ----------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Apply one event from the client library (on the Tk thread)."""
        if isinstance(event, DirectMessage):
            self._direct(event)
        elif isinstance(event, RoomPost):
            self._room_post(event)
        elif isinstance(event, RoomNotice):
            self._room_notice(event)
        elif isinstance(event, RoomMessage):
            self._room(event)
        elif isinstance(event, RoomSkipped):
            self.notice(ROOM, describe_skipped(event.room))
        elif isinstance(event, MessageUpdate):
            self.update(event.message.request_id, event.state, event.error, event.message.msg_id)
        elif isinstance(event, Carbon):
            self._carbon(event)
        elif isinstance(event, Read):
            self._read(event)
        elif isinstance(event, Typing):
            if event.sender is not None and key_of(event.sender) != key_of(self.me):
                self.typing[key_of(event.sender)] = self._clock() + const.TYPING_EXPIRES
                self._changes.append(TypingChanged())
        elif isinstance(event, (Edited, Deleted)):
            self._changed(event)
        elif isinstance(event, RoomTyping):
            self._member_of(event.room_name)
            if event.sender is not None and key_of(event.sender) != key_of(self.me):
                typing = self.room_typing.setdefault(room_key(event.room_name), {})
                typing[key_of(event.sender)] = (event.sender, self._clock() + const.TYPING_EXPIRES)
                self._changes.append(TypingChanged())
        elif isinstance(event, (RoomEdited, RoomDeleted)):
            self._room_changed(event)
        elif isinstance(event, RoomRead):
            self._room_read(event)
        elif isinstance(event, Settings):
            self._receipts_switched(event.read_receipts)
        elif isinstance(event, (Blocked, Unblocked)):
            self.block_told(event.name, isinstance(event, Blocked))
        elif isinstance(event, (Delivered, Queued, ErrorReply)) and getattr(event, "msg_id", None) in self._carbons:
            self._carbon_outcome(event)
        elif isinstance(event, Queued):
            found = self._outgoing.get(event.request_id)
            if found is not None and found[1].state in _BEFORE_QUEUED:
                self.update(event.request_id, "queued", None, event.msg_id)
        elif isinstance(event, UserJoined):
            self._joined(event.name, event.at)
        elif isinstance(event, UserLeft):
            self._left(event.name, event.reason, event.at)
        elif isinstance(event, Watching):
            self._watching(event)
        elif isinstance(event, HistoryPage):
            self.add_history(event.peer, event.messages)
        elif isinstance(event, Goodbye):
            self._went_away()
            self.set_state(DISCONNECTED, _("the server stopped or is restarting") if event.reason == SERVER_STOPPING
                           else _("the server went away: {why}").format(why=sanitize(event.reason)
                                                                         or _("no reason given")))
        elif isinstance(event, ConnectionClosed):
            self._went_away()
            if self.state != DISCONNECTED:
                self.set_state(DISCONNECTED, connection_ended_text())
        elif type(event).__name__.startswith("Reconnect"):
            self._reconnect_event(event)
        elif isinstance(event, CatchUp):
            # What another device of ours got or sent meanwhile, as after a reconnection;
            # the states of our own messages the library moves (its history per peer).
            self.catch_up_wanted()
        elif isinstance(event, ServerUnavailable):
            self.unavailable_until = None if event.retry_in is None else self._clock() + event.retry_in
            self._changes.append(StatusChanged())
        elif isinstance(event, AnsweredLate):
            # The window said this change may or may not have been made (its answer did not
            # come in time): the answer came after all, and the library applied it; what the
            # window keeps of it follows (a room left first, so that the line goes where the
            # user is then).
            if event.done:
                self._late_done(event)
            elif event.request == "leave" and getattr(event.asked, "room_name", None) is not None:
                self.leave_not_done(event.asked.room_name)
            text = late_answer_words(event, self.me)
            self.notice(self.active, text[:1].upper() + text[1:])
        elif isinstance(event, ErrorReply) and event.request_id is None and (
                event.code in SIGNED_OUT or event.code == ErrorCode.ACCOUNT_DELETED):
            # The session ends for its password, or with its account: the window shows the
            # login form with this (no reconnection: the library forgot the credential).
            self.signed_out = explain_refusal(event)
            self.account_gone = event.code == ErrorCode.ACCOUNT_DELETED
            self.set_state(DISCONNECTED, self.signed_out)
        elif isinstance(event, ErrorReply) and event.request_id is None and event.code == ErrorCode.HEARTBEAT_TIMEOUT:
            # The server gave the session up for silence (a laptop that slept, a network
            # gone): no error of anyone's, and the words say who closed it; said alone, as
            # the terminal says it (a reconnection follows).
            text = explain_refusal(event)
            self.notice(self.active, text[:1].upper() + text[1:])
        elif isinstance(event, (ErrorReply, FrameRejected)):
            text = explain_refusal(event)
            self.notice(self.active, _("The server reported an error: {why}").format(why=text))
        # Anything else (late answers to who/whois, pongs...) needs nothing on screen.

    def _late_done(self, event: AnsweredLate) -> None:
        """A change the server made after all (``event``: an AnsweredLate, ``done``), applied
        where the window keeps it, as its answer in time would have been: a room joined is
        listed and what it is like asked (RoomInfoWanted, whose answer goes to
        :meth:`room_joined`, as a join's does; not opened: the user has moved on); a room
        left goes; an act in a room asks its member list again (:meth:`act_done`); a block
        or unblock marks the list; our edit or delete shows on its message. The read
        receipts switch is the window's (app.py: the library holds the setting)."""
        asked, request = event.asked, event.request
        room = getattr(asked, "room_name", None)
        if request == "join" and room is not None:
            self._back_in(room_key(room))
            self._member_of(room)
        elif request == "leave" and room is not None:
            self.room_left(room)
        elif room is not None:
            self.act_done(room, request, getattr(asked, "name", ""))
        elif request in ("block", "unblock") and asked is not None:
            self.block_told(asked.name, request == "block")
        elif request in ("edit", "delete") and asked is not None:
            self._own_change_late(asked.msg_id, getattr(asked, "text", None) if request == "edit" else None, event.at)

    def _own_change_late(self, msg_id: int, text: str | None, at: float | None) -> None:
        """Our edit (``text``) or delete (None) of message ``msg_id``, taken by the server
        after the window gave up waiting: shown on its line, as :meth:`changed_own` shows
        one answered in time; a moderator's delete of someone else's room post, as
        :meth:`deleted_by_us`. Nothing if the message is not shown here."""
        for key, conversation in self.conversations.items():
            line = next((each for each in conversation.lines if each.msg_id == msg_id), None)
            if line is None:
                continue
            if line.kind == "out":
                self.changed_own(key, line, text, at)
            elif text is None:
                self.deleted_by_us(key, msg_id)
            return

    def act_done(self, room: str, act: str, name: str) -> None:
        """The server took act ``act`` (a room act's frame type: ``ban``, ``unban``, ``kick``,
        ``topic``...) on ``name`` in ``room``, in time or late: the member list is asked
        again (MembersWanted); a ban is remembered, for "Lift a ban…" to offer the name
        (:meth:`banned_in`), and forgotten once lifted."""
        key = room_key(room)
        if act == "ban" and name:
            self.banned[key] = name
        elif act == "unban" and key_of(self.banned.get(key, "")) == key_of(name):
            del self.banned[key]
        if key in self.rooms:
            self._changes.append(MembersWanted(key, self.rooms[key].name))

    def banned_in(self, key: str) -> str:
        """The name "Lift a ban…" offers in room ``key``: the latest banned there in this
        session and not lifted since, or ""."""
        return self.banned.get(key, "")

    def ban_lifted(self, key: str, name: str) -> None:
        """The server answered ``ok`` to our unban of ``name`` in room ``key``. It answers so
        whether or not they were banned, and announces only a ban lifted (PROTOCOL.md,
        "unban"): unless the room's notice said it already, a line says what is true
        either way (the notice may also come after the ok)."""
        state = self.rooms.get(key)
        if state is None:
            return  # left meanwhile
        self.act_done(state.name, "unban", name)
        if self._unban_told == (key, key_of(name)):
            self._unban_told = None
            return
        self.notice(key, _("{name} is not banned from {room} now").format(name=sanitize(name),
                                                                          room=sanitize(state.name)))

    def receipts_settled(self, on: bool | None) -> None:
        """Read receipts are ``on`` (or off) as the library holds them now: our own switch,
        answered after the window gave up waiting (AnsweredLate; said by :meth:`apply`)."""
        if on is None or on == self.read_receipts:
            return
        self.read_receipts = on
        self._changes.append(ReceiptsChanged())

    def _receipts_switched(self, on: bool | None) -> None:
        """Another session of this user turned read receipts ``on`` (or off): the switch
        shows it and no read or typing goes while off."""
        if on is None or on == self.read_receipts:
            return
        self.read_receipts = on
        self.notice(self.active, _("Read receipts were turned on on another of your devices") if on else
                    _("Read receipts were turned off on another of your devices: nobody sees when you have read "
                      "their messages or type, and you do not see theirs"))
        self._changes.append(ReceiptsChanged())

    def _direct(self, event: DirectMessage) -> None:
        incoming = key_of(event.sender) != key_of(self.me)
        peer = event.sender if incoming else event.to
        contact = self._contact(peer)
        contact.talked = True
        conversation = self._conversation(peer)
        if event.msg_id in conversation.msg_ids:
            return  # already shown (it came with the history)
        if self.typing.pop(conversation.key, None) is not None:
            self._changes.append(TypingChanged())  # their message ends "typing"
        line = Line("in" if incoming else "out", event.sender, clean_text(event.text), event.sent_at,
                    msg_id=event.msg_id, state=None if incoming else "delivered", to=event.to,
                    deleted=bool(event.deleted))  # deleted before it came: "(this message was deleted)"
        early = self._early_changes.pop(event.msg_id, None)
        if early is not None:
            self._change_line(line, early)
        self._add(conversation, line)
        if incoming:
            self.reply_to = conversation.key
        if self.active != conversation.key and not event.deleted:  # nothing there to read
            contact.unread += 1
            self._changes.append(ContactsChanged())

    def _carbon(self, event: Carbon) -> None:
        """Our message sent by another session: a line of ours, with its state."""
        conversation = self._conversation(event.to)
        self._contact(event.to).talked = True
        if event.msg_id in conversation.msg_ids:
            return  # already shown (it came with the history)
        line = Line("out", self.me, clean_text(event.text), event.sent_at, msg_id=event.msg_id,
                    state=event.state, to=event.to)
        self._carbons[event.msg_id] = (conversation.key, line)
        self._add(conversation, line)

    def _carbon_outcome(self, event: Delivered | Queued | ErrorReply) -> None:
        """The outcome of a message another session of ours sent (see :meth:`_carbon`)."""
        key, line = self._carbons[event.msg_id]
        old_label = line.label
        if isinstance(event, Delivered):
            line.state = "delivered"
            del self._carbons[event.msg_id]
        elif isinstance(event, Queued):
            if line.state not in _BEFORE_QUEUED:
                return
            line.state = "queued"
        else:  # expired
            # Its label says how long it waited: as the server says (the error's waited), or
            # since it was sent (client/display.py expired_wait).
            line.state, line.error = "failed", Failure.of(event)
            line.waited = max(0.0, time.time() - line.at)
            del self._carbons[event.msg_id]
        self._changes.append(StateChanged(key, line, old_label))

    def _room(self, event: RoomMessage) -> None:
        mine = key_of(event.sender) == key_of(self.me)
        if mine and event.msg_id in self._own_room_ids:
            self._own_room_ids.discard(event.msg_id)
            return  # the echo of a message already shown with its state
        line = self._room_line(event, mine)
        early = self._early_changes.pop(event.msg_id, None)  # a change that came first (in a cluster)
        if early is not None:
            self._change_line(line, early)
        self._add(self.conversations[ROOM], line)
        if self.active != ROOM and not mine:
            self._room_unread += 1
            self._changes.append(ContactsChanged())

    @staticmethod
    def _room_line(event: RoomMessage | RoomPost, mine: bool) -> Line:
        """The line of a room message: someone else's, or ours sent from another device
        (the page, the terminal), which is ours like one sent here ("You", editable) with
        the state a room message reaches, ``sent`` (the server took it; rooms have no
        receipts), as in a room's history."""
        return Line("out" if mine else "in", event.sender, clean_text(event.text), event.sent_at,
                    msg_id=event.msg_id, state="sent" if mine else None)

    def _joined(self, name: str, at: float) -> None:
        if key_of(name) == key_of(self.me):
            return  # another session of our own account
        contact = self._contact(name)
        contact.name = name
        self._came_online(contact, again=True)
        self._changes.append(ContactsChanged())
        if self._returns.joined(contact.key):
            return  # back after the outage, as we are: the dot says it
        self.notice(ROOM, _("{name} joined").format(name=sanitize(name)), at)
        if contact.key in self.conversations:
            self.notice(contact.key, _("{name} is online").format(name=sanitize(name)), at)

    def _left(self, name: str, reason: str, at: float) -> None:
        key = key_of(name)
        if key == key_of(self.me):
            return
        contact = self.contacts.get(key)
        if contact is not None:
            contact.online, contact.where = False, None
            if self._droppable(key, contact):
                del self.contacts[key]
            self._changes.append(ContactsChanged())
        if not self._returns.left(key, reason, self.rooms):
            return  # gone with the server, as we are about to be
        why = left_why(reason)
        self.notice(ROOM, _("{name} left{why}").format(name=sanitize(name), why=why), at)
        if key in self.conversations:
            # Why is said in the room's notice; here once would be twice (as on the web page).
            self.notice(key, _("{name} went offline{why}").format(name=sanitize(name), why=""), at)

    def _watching(self, event: Watching) -> None:
        """The presence of watched users now (after a reconnection, say): quietly, since
        nothing happened that a notice should tell. Offline says "not online", no more (a
        cluster that could not ask its store says it of names it does not know); ``unknown``
        (a newer server's) says nobody has the name."""
        for user in event.users:
            if key_of(user.name) != key_of(self.me):
                contact = self._contact(user.name)
                contact.name = user.name
                self._came_online(contact)
        for name in event.offline:
            contact = self.contacts.get(key_of(name))
            if contact is not None:
                contact.online = contact.nobody = False
        for name in event.unknown or ():
            key = key_of(name)
            contact = self.contacts.get(key) or (self._contact(name) if key in self.conversations else None)
            if contact is not None and key != key_of(self.me):
                contact.online, contact.nobody, contact.where = False, True, None
        self._changes.append(ContactsChanged())

    def _reconnect_event(self, event: Event) -> None:
        name = type(event).__name__
        if name == "Reconnected" or name.endswith("Succeeded"):
            self.reconnects += 1
            self._returns.reconnected()
            # A leave asked on the connection that ended gets no answer on this one (nor a
            # late one): the server's list of our rooms (rooms_listed) says if it was done,
            # and a "left" of us from now on is another device's (as the terminal has it).
            self._leaving.clear()
            resent = getattr(event, "resent", None)
            # The one line a reconnection costs, where the user is looking.
            self.notice(self.active, ngettext("reconnected; {n} message sent again",
                                              "reconnected; {n} messages sent again", resent).format(n=resent)
                        if isinstance(resent, int) and resent > 0 else _("reconnected"))
            # On another server of the list (a failover): the status bar names that one.
            server = getattr(event, "server", "")
            if isinstance(server, str) and server:
                self.server = server
            self.set_state(CONNECTED)
            self.catch_up_wanted()
            self._history_wanted(self.active)  # if the outage kept it away (history_not_loaded)
            self._where_wanted(self.active)  # the entry _went_away forgot, if they are still online
            # The new session's switch (another device may have changed it meanwhile).
            on = getattr(getattr(event, "welcome", None), "read_receipts", None)
            if isinstance(on, bool):
                self._receipts_switched(on)
        elif name == "Reconnecting" and isinstance(getattr(event, "attempt", None), int):
            self._went_away()
            # Why the connection went stays said (the server's goodbye, say), and is said
            # when the client knows it in people's words (no data from the server for
            # 45 s...); attempts and the operating system's wording of socket errors are
            # not for people (lost_words).
            detail = self.status_detail if self.state in (DISCONNECTED, RECONNECTING) and self.status_detail \
                and self.status_detail != connection_ended_text() \
                else lost_words(str(getattr(event, "reason", "") or "")) or _("the connection was lost")
            self.set_state(RECONNECTING, detail)
            self.retry_at = self._clock() + float(getattr(event, "delay", 0.0) or 0.0)
        elif any(word in name for word in ("Fail", "Abandon", "GaveUp", "Given")):
            self.set_state(DISCONNECTED, describe_event(event))
        else:
            self.set_state(RECONNECTING, describe_event(event))

    def _went_away(self) -> None:
        """The connection is going or gone: whoever was online is expected back."""
        for contact in self.contacts.values():
            contact.where = None  # of a connection that may not outlive our absence (a restart)
        if self.state == CONNECTED:
            # Whoever we knew online, and in each room its members online as last told.
            self._returns.went_away(
                {key for key, contact in self.contacts.items() if contact.online}, self.rooms,
                {(room, key_of(m.name)) for room, state in self.rooms.items() for m in state.members or ()
                 if m.online and key_of(m.name) != key_of(self.me)})

    def set_state(self, state: str, detail: str = "") -> None:
        """Set the connection state shown in the status bar (and, since presence is only
        known while connected, redraw the contact list's dots)."""
        self.state, self.status_detail = state, detail
        if state == CONNECTED:
            self._returns.connected()  # the outage is over (a reconnection started its grace first)
        self.retry_at = self.unavailable_until = None  # a new connection's answers will tell
        self._changes.append(StatusChanged())
        self._changes.append(ContactsChanged())

    # --- Our own actions ----------------------------------------------------------------

    # --- After delivered (issue 13) -------------------------------------------------------

    def _read(self, event: Read) -> None:
        """``event.sender`` has seen our messages up to ``event.msg_id``."""
        if event.sender is None or key_of(event.sender) == key_of(self.me):
            key = key_of(event.peer)  # we read them on another device
            self._read_sent[key] = max(self._read_sent.get(key, 0), event.msg_id)
            self._read_elsewhere(key, event.msg_id)
            return
        key = key_of(event.sender)
        self._read_by_peer[key] = max(self._read_by_peer.get(key, 0), event.msg_id)
        conversation = self.conversations.get(key)
        if conversation is None:
            return
        for line in conversation.lines:
            if line.kind == "out" and line.msg_id is not None and line.msg_id <= event.msg_id and not line.read:
                old_label = line.label
                line.read = True
                if line.label != old_label:
                    self._changes.append(StateChanged(conversation.key, line, old_label))

    def _read_elsewhere(self, key: str, msg_id: int) -> None:
        """The user has seen ``key``'s messages (a person's, or a named room's posts) up to
        ``msg_id`` on another device (the server forwards their ``read``): those of the
        unread ones, the newest messages from the peer or the room's others, are not unread
        here any more; any newer one still is."""
        holder = self.rooms.get(key) if is_room_key(key) else self.contacts.get(key)
        conversation = self.conversations.get(key)
        if holder is None or not holder.unread or conversation is None:
            return
        incoming = [line.msg_id for line in conversation.lines if line.kind == "in" and line.msg_id is not None]
        left = sum(1 for each in incoming[-holder.unread:] if each > msg_id)
        if left < holder.unread:
            holder.unread = left
            self._changes.append(ContactsChanged())

    def _changed(self, event: Edited | Deleted) -> None:
        """A message was edited or deleted by its sender (maybe by us, elsewhere)."""
        mine = key_of(event.sender) == key_of(self.me)
        conversation = self.conversations.get(key_of(event.to if mine else event.sender))
        line = None
        if conversation is not None:
            line = next((each for each in conversation.lines if each.msg_id == event.msg_id), None)
        if line is None:
            self._keep_early(event)  # before its message: applied then
            return
        self._change_line(line, event)
        self._changes.append(LineChanged(conversation.key, line))

    def _room_read(self, event: RoomRead) -> None:
        """A small room's read marks (the other members', anonymous): each of our posts
        there shows how many are at or above its id ("read by N"). Without ``marks``, our
        own mark, moved on another device: the room's unread count up to it is cleared."""
        if event.marks is None:
            if event.msg_id is not None and (event.sender is None or key_of(event.sender) == key_of(self.me)):
                self._member_of(event.room_name)
                key = room_key(event.room_name)
                self._read_sent[key] = max(self._read_sent.get(key, 0), event.msg_id)  # not to be said again
                self._read_elsewhere(key, event.msg_id)
            return
        self._member_of(event.room_name)
        key = room_key(event.room_name)
        self.room_marks[key] = event.marks
        conversation = self.conversations.get(key)
        if conversation is not None:
            for line in conversation.lines:
                self._count_readers(key, line)

    def _count_readers(self, key: str, line: Line) -> None:
        """Bring the "read by" count of ``line`` up to date, if it is our post in room ``key``."""
        marks = self.room_marks.get(key)
        if marks is None or line.kind != "out" or line.msg_id is None:
            return
        count = sum(1 for mark in marks if mark >= line.msg_id)
        if count != line.read_by:
            old_label = line.label
            line.read_by = count
            self._changes.append(StateChanged(key, line, old_label))

    def _room_changed(self, event: RoomEdited | RoomDeleted) -> None:
        """A room post was edited by its sender, or deleted (by its sender, a moderator or
        an administrator): its line changes (kept for later if it is not here yet). The
        default room's are its conversation's ("Everyone")."""
        key = ROOM if is_default_room(event.room_name) else room_key(event.room_name)
        self._member_of(event.room_name)
        conversation = self.conversations.get(key)
        line = None
        if conversation is not None:
            line = next((each for each in conversation.lines if each.msg_id == event.msg_id), None)
        if line is None:
            self._keep_early(event)
            return
        self._change_line(line, event)
        self._changes.append(LineChanged(key, line))

    def _keep_early(self, event: Edited | Deleted | RoomEdited | RoomDeleted) -> None:
        """Keep a change of a message not here yet, applied when it comes; the oldest kept
        go past EARLY_CHANGES_KEPT (a history page shows such a message as it is now)."""
        self._early_changes.pop(event.msg_id, None)
        self._early_changes[event.msg_id] = event
        if len(self._early_changes) > EARLY_CHANGES_KEPT:
            del self._early_changes[next(iter(self._early_changes))]

    def deleted_by_us(self, key: str, msg_id: int) -> None:
        """The server took our delete of someone else's post ``msg_id`` in room ``key`` (as
        its moderator): the session that asked is not told "deleted", so mark it here."""
        state = self.rooms.get(key)
        conversation = self.conversations.get(key)
        line = next((each for each in conversation.lines if each.msg_id == msg_id), None) if conversation else None
        if state is not None and line is not None:
            self._room_changed(RoomDeleted(msg_id, line.sender, state.name, time.time(), self.me))

    def last_post_of(self, key: str, name: str) -> int | None:
        """The msg_id of ``name``'s newest post shown in room ``key`` that is not deleted
        (what a moderator's "Delete their last post" deletes), or None."""
        conversation = self.conversations.get(key)
        if conversation is None:
            return None
        for line in reversed(conversation.lines):
            if (line.kind == "in" and line.msg_id is not None and not line.deleted
                    and key_of(line.sender) == key_of(name)):
                return line.msg_id
        return None

    @staticmethod
    def _change_line(line: Line, event: Edited | Deleted | RoomEdited | RoomDeleted) -> None:
        """The change ``event`` shown on ``line`` (the client core hands on none older than
        the one shown: client/core.py)."""
        line.changed_at = event.at
        if isinstance(event, (Deleted, RoomDeleted)):
            line.deleted, line.text = True, ""
            line.deleted_by = event.by
        else:
            line.edited, line.text = True, clean_text(event.text)

    def changed_own(self, key: str, line: Line, text: str | None, at: float | None = None) -> None:
        """The server took our edit (``text``) or delete (None) of ``line``, stamped ``at``
        (its ok's; None: an older server's). A newer change made on another device that
        came before the ok stays (PROTOCOL.md, "`edited`, `deleted`, `edit_receipt`")."""
        conversation = self.conversations.get(key)
        if conversation is None:
            return
        if late_change(line.changed_at, line.deleted, at, text is None):
            return
        line.changed_at = at if at is not None else line.changed_at
        if text is None:
            line.deleted, line.text = True, ""
        else:
            line.edited, line.text = True, clean_text(text)
        self._changes.append(LineChanged(key, line))

    def editable(self, key: str, now: float | None = None, msg_id: int | None = None) -> Line | None:
        """Our newest message in conversation ``key`` (a direct one, a room post, or one to
        Everyone), or our message ``msg_id`` there, if it may still be edited or deleted
        (not deleted, sent less than the server's edit window ago, client/serverwindow.py;
        the server is the judge).
        Ago: since its time (the server's), by ``now`` (default: the server's clock as this
        client reckons it, client/serverclock.py: this computer's may be hours off); for
        one sent from here, unless ``now`` is given, the longer of that and the time since
        the server took it on the model's clock of waits: a step of the wall clock back
        kept Edit an hour past the window (that clock counts a sleep, and takes a step
        forward for one)."""
        conversation = self.conversations.get(key)
        if conversation is None:
            return None
        for line in reversed(conversation.lines):
            if line.kind == "out" and line.msg_id is not None and not line.deleted \
                    and (msg_id is None or line.msg_id == msg_id):
                age = (server_now() if now is None else now) - line.at
                if line.taken is not None and now is None:
                    age = max(self._clock() - line.taken, age)
                return line if age < edit_window() else None
        return None

    def typing_text(self, key: str) -> str:
        """``NAME is typing…`` for conversation ``key``, or "" (expired ones are forgotten)."""
        now = self._clock()
        for each in [k for k, until in self.typing.items() if until <= now]:
            del self.typing[each]
        if is_room_key(key):
            typing = self.room_typing.get(key, {})
            for each in [k for k, (_name, until) in typing.items() if until <= now]:
                del typing[each]
            names = [name for name, _until in typing.values()]
            if len(names) > 1:  # the verb in the plural ("estão digitando")
                return _("{names} are typing…").format(names=", ".join(names))
            return _("{name} is typing…").format(name=names[0]) if names else ""
        if key == ROOM or key not in self.typing:
            return ""
        return _("{name} is typing…").format(name=self.title(key))

    def read_due(self, focused: bool) -> tuple[str, int] | None:
        """``(peer, msg_id)`` to send as "read" now: the newest message from the peer of
        the open conversation, if the window is ``focused``, receipts are on, and it was
        not said yet. Noted as said."""
        key = self.active
        conversation = self.conversations.get(key)
        # Not for named rooms: theirs is room_read_due's.
        if not focused or not self.read_receipts or key == ROOM or is_room_key(key) or conversation is None \
                or self.state != CONNECTED:
            return None
        newest = max((line.msg_id for line in conversation.lines if line.kind == "in" and line.msg_id is not None),
                     default=0)
        if newest <= self._read_sent.get(key, 0):
            return None
        self._read_sent[key] = newest
        return self.title(key), newest

    def room_read_due(self, focused: bool) -> tuple[str, int] | None:
        """``(room, msg_id)`` to send as the room's "read" now: the newest post of the open
        room (ours included), if the window is ``focused``, receipts are on, and it was not
        said yet. Noted as said."""
        key = self.active
        conversation = self.conversations.get(key)
        if (not focused or not self.read_receipts or not is_room_key(key) or conversation is None
                or self.state != CONNECTED or not self.may_tell_room(key)):
            return None
        newest = max((line.msg_id for line in conversation.lines if line.kind in ("in", "out") and line.msg_id is not None),
                     default=0)
        if newest <= self._read_sent.get(key, 0):
            return None
        self._read_sent[key] = newest
        return conversation.title, newest

    def sent(self, message: object) -> Line:
        """Show a message we just sent (an :class:`~client.outgoing.OutgoingMessage`)."""
        to = getattr(message, "to", None)
        room = getattr(message, "room", None)
        conversation = self._room_conversation(room) if room is not None else \
            self.conversations[ROOM] if to is None else self._conversation(to)
        if to is not None:
            self._contact(to).talked = True
        line = Line("out", self.me, clean_text(getattr(message, "text", "")), getattr(message, "created", time.time()),
                    request_id=message.request_id, state=message.state, error=getattr(message, "error", None),
                    msg_id=getattr(message, "msg_id", None), to=to)
        self._outgoing[message.request_id] = (conversation.key, line)
        self._note_room_id(conversation.key, line)
        self._add(conversation, line)
        return line

    def update(self, request_id: str, state: str, error: tuple[str, str] | None = None,
               msg_id: int | None = None) -> None:
        """Our message ``request_id`` moved to ``state`` (the library says so)."""
        found = self._outgoing.get(request_id)
        if found is None:
            return  # sent before this window knew about it (another front end)
        key, line = found
        if line.state == state and line.error == error:
            return
        old_label = line.label
        line.state, line.error = state, error if error is not None else line.error
        if state == "failed" and failed_outcome(line.error) == NOT_DELIVERED:
            line.waited = max(0.0, time.time() - line.at)  # now: a label drawn later says no longer a wait
        if msg_id is not None:
            line.msg_id = msg_id
            if line.taken is None:
                line.taken = self._clock()
            self.conversations[key].msg_ids.add(msg_id)
        self._note_room_id(key, line)
        self._changes.append(StateChanged(key, line, old_label))
        if is_room_key(key):
            self._count_readers(key, line)

    def _note_room_id(self, key: str, line: Line) -> None:
        if (key == ROOM or is_room_key(key)) and line.msg_id is not None:
            self._own_room_ids.add(line.msg_id)

    def open(self, key: str) -> None:
        """Make ``key`` the conversation on screen; clears its unread count. The first time
        a user's conversation opens, a :class:`HistoryWanted` change asks for its history."""
        if key != ROOM and not is_room_key(key) and key not in self.conversations:
            contact = self.contacts.get(key)
            self._conversation(contact.name if contact else key)
        self.active = key
        if is_room_key(key):
            state = self.rooms.get(key)
            if state is not None:
                if state.unread:
                    state.unread = 0
                    self._changes.append(ContactsChanged())
                if state.members is None:
                    self._changes.append(MembersWanted(key, state.name))
                self._history_wanted(key)  # its newest page, above what came live
            return
        if key == ROOM:
            if self._room_unread:
                self._room_unread = 0
                self._changes.append(ContactsChanged())
        else:
            contact = self.contacts.get(key)
            if contact is not None and contact.unread:
                contact.unread = 0
                self._changes.append(ContactsChanged())
            self._history_wanted(key)

    def _history_wanted(self, key: str) -> None:
        """Ask for the history of conversation ``key`` (a person's, or a room we are in) with
        a :class:`HistoryWanted` change, unless it was asked for already."""
        if is_room_key(key):
            state = self.rooms.get(key)
            if state is not None:
                conversation = self._room_conversation(state.name)
                if conversation.history is None:
                    conversation.history = "loading"
                    self._changes.append(HistoryWanted(key, state.name))
            return
        conversation = self.conversations.get(key)
        if key != ROOM and conversation is not None and conversation.history is None:
            contact = self.contacts.get(key)
            conversation.history = "loading"
            self._changes.append(HistoryWanted(key, contact.name if contact else conversation.title))

    def has_older(self, key: str) -> bool:
        """True if room ``key`` has older messages than those shown (a page to load)."""
        conversation = self.conversations.get(key)
        return conversation is not None and conversation.older is not None and conversation.history == "loaded"

    def load_older(self, key: str) -> bool:
        """Ask for the page of room ``key`` older than what is shown (a HistoryWanted
        change); False if there is none, or a page is on its way."""
        state = self.rooms.get(key)
        if state is None or not self.has_older(key):
            return False
        conversation = self.conversations[key]
        conversation.history = "loading"
        self._changes.append(HistoryWanted(key, state.name, conversation.older))
        return True

    def history_not_loaded(self, key: str) -> None:
        """The history of ``key`` could not be fetched for want of a connection (the
        client's NotConnected): not asked yet, then. It is asked for again when the
        conversation is open as the connection comes back (_reconnect_event), else when it
        is opened; nothing is said meanwhile (the status bar says the connection is away)."""
        conversation = self.conversations.get(key)
        if conversation is not None and conversation.history == "loading":
            conversation.history = None

    def history_unavailable(self, key: str, why: str = "") -> None:
        conversation = self.conversations.get(key)
        if conversation is not None:
            conversation.history = "unavailable"

    def add_history(self, peer: str, entries: Sequence[object], before: int | None = None,
                    paged: bool = False) -> None:
        """Older messages with ``peer`` (``HistoryEntry`` values, oldest first) from the
        server, put before everything shown; those already shown are left out (same
        msg_id, or our own message whose msg_id has not reached us yet, by its text).
        ``peer`` may be a named room (``#redes``): then ``before`` is the page's cursor to
        the next older one (None: none), and ``paged`` says the user asked for it.

        Only older ones go before: in a person's conversation that showed live messages
        before its history came, an entry newer than the oldest of them that is not shown
        (one our other sessions got or sent while this one was reconnecting) is merged in
        its place by :meth:`catch_up`, not put on top."""
        room = peer.startswith("#")
        conversation = self._room_conversation(peer) if room else self._conversation(peer)
        conversation.history = "loaded"
        if room:
            conversation.older = before
        oldest = None if room else min(conversation.msg_ids, default=None)
        unnumbered = self._unnumbered(conversation)
        older, newer = [], []
        for entry in entries:
            msg_id = getattr(entry, "msg_id", None)
            if oldest is not None and msg_id is not None and msg_id > oldest:
                newer.append(entry)  # not shown (checked there) and not older than what is
                continue
            line = self._entry_line(conversation, entry, unnumbered, room=room, old=True)
            if line is not None:
                older.append(line)
                if msg_id is not None:
                    conversation.msg_ids.add(msg_id)
        if older:
            conversation.lines[:0] = older
            self._changes.append(LinesPrepended(conversation.key, tuple(older), paged))
        if newer:
            self.catch_up(peer, newer)

    @staticmethod
    def _unnumbered(conversation: Conversation) -> list[str]:
        """The texts of our messages shown in ``conversation`` whose msg_id has not reached
        us yet (a history entry with the same text is one of them)."""
        return [line.text for line in conversation.lines if line.kind == "out" and line.msg_id is None]

    def _entry_line(self, conversation: Conversation, entry: object, unnumbered: list[str], *, room: bool = False,
                    old: bool) -> Line | None:
        """The line of history entry ``entry`` in ``conversation``, or None if it is shown
        already (its msg_id; or our own message whose msg_id has not reached us yet, by its
        text, then taken off ``unnumbered``)."""
        msg_id = getattr(entry, "msg_id", None)
        sender = getattr(entry, "sender", "")
        text = clean_text(getattr(entry, "text", ""))
        mine = key_of(sender) == key_of(self.me)
        if msg_id in conversation.msg_ids:
            return None
        if mine and text in unnumbered:
            unnumbered.remove(text)
            return None
        state = getattr(entry, "state", None)
        if room:
            state = "sent"  # a room message has no receipts: accepted is as far as it goes
        expired = mine and state == "expired"
        read = mine and not room and msg_id is not None and msg_id <= self._read_by_peer.get(conversation.key, 0)
        return Line("out" if mine else "in", sender, text, getattr(entry, "sent_at", 0.0),
                    msg_id=msg_id, state=("failed" if expired else state) if mine else None,
                    error=("expired", _("it expired before it was delivered")) if expired else None,
                    to=getattr(entry, "to", None), old=old, edited=getattr(entry, "edited", False),
                    deleted=getattr(entry, "deleted", False), read=read)

    def _newest_incoming(self, key: str | None) -> int:
        """The msg_id of the newest message from someone else shown in conversation ``key``
        (0: none)."""
        conversation = self.conversations.get(key) if key is not None else None
        if conversation is None:
            return 0
        return max((line.msg_id for line in conversation.lines if line.kind == "in" and line.msg_id is not None),
                   default=0)

    def catch_up_wanted(self) -> None:
        """After a reconnection: ask for every conversation's messages after the newest one
        shown, or before any, after :attr:`began_after` (a :class:`SinceWanted`, if there
        is either: the window uses it when the server has the feature since), and (for a
        server without it; a
        :class:`CatchUpWanted` change each) for the newest
        page of the people's conversations this window has, the most recent first (by the
        newest message shown), at most :data:`CATCH_UP_CONVERSATIONS`; those whose history
        was asked for or that show a message. Rooms are not asked: the server sends a
        returning member the posts it missed (PROTOCOL.md, "Rooms and moderation")."""
        wanted = []
        for key, conversation in self.conversations.items():
            if key == ROOM or is_room_key(key) or key == key_of(self.me):
                continue
            messages = [line for line in conversation.lines if line.kind in ("in", "out")]
            if conversation.history is None and not messages:
                continue
            newest = max((line.msg_id for line in messages if line.msg_id is not None), default=0)
            wanted.append((newest, max((line.at for line in messages), default=0.0), key))
        wanted.sort(reverse=True)
        newest_shown = max((newest for newest, _at, _key in wanted), default=0)
        # Nothing shown, and no first welcome's id: nothing to go on from (every message
        # ever is not news).
        if newest_shown or self.began_after is not None:
            self._changes.append(SinceWanted(max(newest_shown, self.began_after or 0)))
        for _newest, _at, key in wanted[:CATCH_UP_CONVERSATIONS]:
            contact = self.contacts.get(key)
            self._changes.append(CatchUpWanted(key, contact.name if contact else self.conversations[key].title))

    def catch_up_since(self, entries: Sequence[object]) -> None:
        """Merge what a :class:`SinceWanted` fetched (``HistoryEntry`` values of every
        conversation, oldest first): each person's through :meth:`catch_up`, the people in
        the order their first message came."""
        me = key_of(self.me)
        by_peer: dict[str, tuple[str, list[object]]] = {}
        for entry in entries:
            sender, to = getattr(entry, "sender", ""), getattr(entry, "to", "")
            peer = to if key_of(sender) == me else sender
            by_peer.setdefault(key_of(peer), (peer, []))[1].append(entry)
        for peer, mine in by_peer.values():
            self.catch_up(peer, mine)

    def catch_up(self, peer: str, entries: Sequence[object]) -> None:
        """Merge the newest page of the conversation with ``peer`` (``HistoryEntry`` values),
        fetched after a reconnection (:class:`CatchUpWanted`): what our other sessions (the
        terminal, the page) got or sent while this one was away. The server gives a direct
        message, and the copy of one we sent from another device (PROTOCOL.md, "`sent`"),
        only to the sessions online at that moment; one that was reconnecting "finds the
        message in history".

        Merged, not put on top as :meth:`add_history` puts *older* pages: an entry already
        shown (its msg_id, or our own message whose msg_id has not reached us yet, by its
        text) or older than everything shown (that is the history's, which the
        conversation loads when it opens) is left out; the others go in msg_id order: after
        the last line when newer than every message shown (a :class:`LineAdded` each, as
        live), else before the first newer one, a message that came live since (one
        :class:`LinesInserted`: the pane is drawn again). Each is shown as it would have
        been live: someone else's counted unread unless the conversation is open (then the
        window says it read it, as for a live one: :meth:`read_due`), ours with its state
        (its later outcomes move it, as a carbon's), edits and deletes kept.

        With a server of the feature since, :meth:`catch_up_since` hands the messages of
        every conversation here, those of a person this window never talked with
        included; from a server without it only the conversations this window has are
        asked for, and a person who is not among them and wrote during the gap shows when
        their conversation is opened (its history)."""
        key = key_of(peer)
        conversation = self.conversations.get(key) or self._conversation(peer)
        oldest = min(conversation.msg_ids, default=None)
        unnumbered = self._unnumbered(conversation)
        inserted = False
        for entry in sorted(entries, key=lambda each: getattr(each, "msg_id", 0) or 0):
            msg_id = getattr(entry, "msg_id", None)
            if msg_id is None or (oldest is not None and msg_id < oldest):
                continue
            line = self._entry_line(conversation, entry, unnumbered, old=False)
            if line is None:
                continue
            early = self._early_changes.pop(msg_id, None)  # an edit or delete told before it came
            if early is not None:
                self._change_line(line, early)
            contact = self._contact(peer)
            contact.talked = True
            if line.kind == "out" and line.state in _BEFORE_QUEUED | {"queued"}:
                self._carbons[msg_id] = (key, line)  # its delivered, queued or expired may follow
            place = next((i for i, each in enumerate(conversation.lines)
                          if each.msg_id is not None and each.msg_id > msg_id), None)
            if place is None:
                self._add(conversation, line)
            else:
                conversation.lines.insert(place, line)
                conversation.msg_ids.add(msg_id)
                inserted = True
            if line.kind == "in":
                if msg_id > self._newest_incoming(self.reply_to):
                    self.reply_to = key  # Ctrl+R: the latest direct message, wherever it came from
                if self.active != key and not line.deleted:  # as when it comes live: nothing to read
                    contact.unread += 1
                    self._changes.append(ContactsChanged())
        if inserted:
            self._changes.append(LinesInserted(key))

    def notice(self, key: str, text: str, at: float | None = None) -> None:
        """A system line (joined, left, connection news) in conversation ``key``."""
        conversation = self.conversations.get(key) or self._conversation(key)
        self._add(conversation, Line("notice", "", text, time.time() if at is None else at))

    def _add(self, conversation: Conversation, line: Line) -> None:
        conversation.lines.append(line)
        if line.msg_id is not None:
            conversation.msg_ids.add(line.msg_id)
        self._changes.append(LineAdded(conversation.key, line))


    # --- Rooms (protocol version 2) --------------------------------------------------------

    def _room_conversation(self, room: str) -> Conversation:
        key = room_key(room)
        conversation = self.conversations.get(key)
        if conversation is None:
            conversation = self.conversations[key] = Conversation(key, room)
        return conversation

    def room_joined(self, info: RoomInfo) -> str:
        """We are in the room ``info`` describes (the answer to a join); returns its key."""
        key = room_key(info.room_name)
        self._back_in(key)
        self._rooms_since_asked.add(key)
        state = self.rooms.get(key)
        if state is None:
            state = self.rooms[key] = RoomState(info.room_name)
        state.name, state.topic, state.count = info.room_name, info.topic, info.count
        state.owner, state.invite_only = info.owner, info.invite_only
        self._room_conversation(info.room_name)
        self._changes += [ContactsChanged(), MembersChanged(key)]
        return key

    def rooms_asked(self) -> None:
        """The server is being asked for our rooms (``rooms`` with ``mine``): rooms joined
        or learned of from now on are not in its answer, and stay, and rooms left from now on
        may still be in it, and stay out (see rooms_listed)."""
        self._rooms_since_asked = set()
        self._left_since_asked = set()

    def rooms_listed(self, entries: Iterable[RoomEntry]) -> None:
        """The server's whole list of the named rooms we are in (the answer to ``rooms``
        with ``mine``, asked after each welcome): each is listed as a join would list it,
        with its topic, member count and mode as they are now (changed while we were away,
        say), but nothing is joined (its owner and our role come with its members, once it
        is opened). A room we left since the list was asked for is not listed again (the
        list may have been made before the leave); one left before is, as we are in it again
        (joined on another device while we were away): a normal room. A room listed here
        and not in it goes (we were put out of it while away, or left it from another
        device), unless it was joined or learned of since the list was asked for; on screen,
        it stays as after a kick (:meth:`room_left`): why it went is not known here, and a
        line typed for it must not go to everyone."""
        listed = set()
        for entry in entries:
            key = room_key(entry.room_name)
            listed.add(key)
            if key in self._left_since_asked or is_default_room(entry.room_name):
                continue
            if key in self._rooms_left:
                self._back_in(key)
            state = self.rooms.get(key)
            if state is None:
                state = self.rooms[key] = RoomState(entry.room_name)
                self._room_conversation(entry.room_name)
            state.name, state.topic, state.count = entry.room_name, entry.topic, entry.count
            state.invite_only = entry.invite_only
            self._changes += [ContactsChanged(), MembersChanged(key)]
        for key, state in list(self.rooms.items()):
            if key not in listed and key not in self._rooms_since_asked:
                self.notice(ROOM, window_gone_while_away(state.name))  # said, as a kick seen live is
                self.room_left(state.name, put_out="gone")

    def room_left(self, room: str, put_out: str | None = None) -> None:
        """We are no longer in ``room``: off the list. Left (``put_out`` None), the room for
        everyone is shown if it was on screen: the user chose to go. Put out by a ``kick`` or
        ``ban`` (``put_out``), its conversation says what to do, and lines typed there are
        refused (:meth:`send_refused`) until we are in again; on screen, it stays: Enter a
        moment after a kick must not send a reply meant for the room to everyone, as IRC
        clients do. Off screen too, as the web page does (rooms.js roomGone): joined again,
        its conversation shows where we were out. ``gone``: off the server's list of our
        rooms after a reconnection, why not known (kicked, or left on another device);
        ``left``: left on another device: said and refused as after a kick."""
        key = room_key(room)
        self._rooms_left.add(key)
        self._left_since_asked.add(key)
        self._leaving.discard(key)
        if self.rooms.pop(key, None) is not None:
            self._changes.append(ContactsChanged())
        if put_out is not None:
            self._out_of[key] = put_out
            self.notice(key, window_out_of_room_words(room, put_out))
        elif self.active == key:
            self.open(ROOM)

    def _back_in(self, key: str) -> None:
        """We are in room ``key`` again (joined here or on another device): a normal room."""
        self._rooms_left.discard(key)
        self._out_of.pop(key, None)
        self._leaving.discard(key)

    def leave_asked(self, room: str) -> None:
        """The server is asked to let us out of ``room`` (Leave): until it answers, no read
        mark nor typing notice goes for it (:meth:`may_tell_room`)."""
        self._leaving.add(room_key(room))

    def leave_not_done(self, room: str) -> None:
        """The leave of ``room`` was refused (in time or late): we are in it as before."""
        self._leaving.discard(room_key(room))

    def may_tell_room(self, key: str) -> bool:
        """True unless room ``key`` is one we left, were put out of, or asked to leave: the
        server refuses a read mark or typing notice about it (``not_member``, with no id a
        request could match), which the window could only show as an error of the server."""
        return key not in self._rooms_left and key not in self._leaving

    def is_out_of(self, key: str) -> bool:
        """True if ``key`` is a room we were put out of (a kick or ban of us, a leave on
        another device, off our list after a reconnection: :meth:`room_left`)."""
        return key in self._out_of

    def send_refused(self, key: str) -> bool:
        """True if a line typed in conversation ``key`` may not be sent: a room we were put
        out of (:meth:`room_left`); then its conversation says why and what to do, and
        nothing is sent (the window keeps the text in the input box)."""
        act = self._out_of.get(key)
        if act is None:
            return False
        self.notice(key, window_out_of_room_refused(self.title(key), act))
        return True

    def edit_refused(self, key: str, saving: bool) -> bool:
        """True if our message in conversation ``key`` may not be edited: a room we were put
        out of (:meth:`room_left`), where the server refuses a sender's edit as it would
        their post (PROTOCOL.md, "In rooms"); then its conversation says why and what to
        do, ``saving`` (Enter on an edit under way) that the text stays in the box. Deleting
        one's own post stays allowed there, and is not refused here."""
        act = self._out_of.get(key)
        if act is None:
            return False
        room = self.title(key)
        self.notice(key, window_out_of_room_refused(room, act) if saving else window_out_of_room_words(room, act))
        return True

    def set_members(self, room: str, members: Sequence[MemberEntry]) -> None:
        """The answer to ``members``: exactly these are in ``room`` now, kept in name order
        (the server's is code points'), as a join inserts them."""
        state = self.rooms.get(room_key(room))
        if state is not None:
            state.members, state.count = sorted(members, key=lambda m: name_order(m.name)), len(members)
            self._changes.append(MembersChanged(room_key(room)))

    def my_role(self, key: str) -> str | None:
        """Our role in room ``key`` as last known (None: not known, or not in it)."""
        state = self.rooms.get(key)
        if state is None:
            return None
        if state.owner is not None and key_of(state.owner) == key_of(self.me):
            return "owner"
        for member in state.members or ():
            if key_of(member.name) == key_of(self.me):
                return member.role
        return "member"

    def may_set_mode(self, key: str) -> bool:
        """True if the invite-only switch is offered in room ``key``: its owner's
        (PROTOCOL.md, "Roles": ``mode`` is the owner's, and administrators')."""
        return self.my_role(key) == "owner"

    def may_moderate(self, key: str) -> bool:
        """True if the moderation menu is offered in room ``key`` (owner or moderator)."""
        return self.my_role(key) in MODERATING

    def is_muted(self, key: str, name: str) -> bool:
        """True if member ``name`` of room ``key`` is muted there, as the member list said
        (``muted``) and the mute and unmute notices since: the menu offers Unmute, not Mute."""
        state = self.rooms.get(key)
        return any(key_of(m.name) == key_of(name) and m.muted for m in (state.members if state else None) or ())

    def _member_of(self, room: str) -> None:
        """The server sent us what it sends only to the members of ``room``: if it is not
        listed (joined before this window started, or from another device), list it now
        and ask what it is like. The default room is "Everyone", always listed."""
        key = room_key(room)
        if key in self.rooms or key in self._rooms_left or is_default_room(room):
            return
        self._rooms_since_asked.add(key)
        self.rooms[key] = RoomState(room)
        self._room_conversation(room)
        self._changes += [ContactsChanged(), RoomInfoWanted(key, room)]

    def _room_post(self, event: RoomPost) -> None:
        key = room_key(event.room_name)
        self._member_of(event.room_name)
        mine = key_of(event.sender) == key_of(self.me)
        if mine and event.msg_id in self._own_room_ids:
            self._own_room_ids.discard(event.msg_id)
            return  # the echo of a message already shown with its state
        conversation = self._room_conversation(event.room_name)
        if event.msg_id in conversation.msg_ids:
            return
        line = self._room_line(event, mine)
        early = self._early_changes.pop(event.msg_id, None)  # a change that came before the post
        if early is not None:
            self._change_line(line, early)
        if self.room_typing.get(key, {}).pop(key_of(event.sender), None) is not None:
            self._changes.append(TypingChanged())  # their post ends "typing"
        self._add(conversation, line)
        self._count_readers(key, line)
        state = self.rooms.get(key)
        if state is not None and self.active != key and not mine:
            state.unread += 1
            self._changes.append(ContactsChanged())

    def _room_notice(self, event: RoomNotice) -> None:
        """A notice of a room: a line in its conversation, and what it changes."""
        key = room_key(event.room_name)
        me = key_of(event.name) == key_of(self.me)
        if event.act == "left" and me:
            # Our leave: asked here, the user chose to go (Everyone shown, as its answer
            # does); from another device, a line typed here for the room must not go to
            # everyone: on screen, the room stays, as after a kick. Out of it already: the
            # notice of our leave whose answer (in time or late) came first.
            if key not in self._rooms_left:
                self.room_left(event.room_name, put_out=None if key in self._leaving else "left")
            return
        if event.act == "joined" and me:
            self._back_in(key)  # in it again (joined here or on another device)
            return  # our own join: the list says it (from another device: its next post will)
        if not me or event.act in _MEMBER_ACTS:  # told to members; to the person named too
            self._member_of(event.room_name)
        state = self.rooms.get(key)
        self._room_conversation(event.room_name)
        if not (event.act == "online" and self._returns.room_online(key, key_of(event.name))):
            self.notice(key, describe_room_notice(event, self.me).removeprefix("* "), event.at)
        if event.act == "ban" and event.by is not None and key_of(event.by) == key_of(self.me):
            self.banned[key] = event.name  # from another device of ours too
        elif event.act == "unban":
            self._unban_told = (key, key_of(event.name))
            if key_of(self.banned.get(key, "")) == key_of(event.name):
                del self.banned[key]
            if me and self._out_of.get(key) == "ban":  # on screen: out still, but a join would do now
                self._out_of[key] = "kick"
                self.notice(key, window_out_of_room_words(event.room_name, "kick"))
        if state is None:
            if me:
                # About us, of a room we are not in (an invitation, a ban or its end): its
                # conversation is not in the list, so it is said in the room for everyone
                # too, as a kick or ban that puts us out is (below), where it is seen.
                self.notice(ROOM, describe_room_notice(event, self.me).removeprefix("* "), event.at)
            return
        members = state.members
        if event.act == "topic":
            state.topic = event.topic or ""
        elif event.act == "owner":
            state.owner = event.name
        elif event.act in ("invite_only", "public"):  # the room's mode changed
            state.invite_only = event.act == "invite_only"
        if event.act in ("kick", "ban") and me:
            # The room leaves the list, and its conversation can no longer be opened once
            # another is: said in the room for everyone too. On screen, it stays (room_left).
            self.notice(ROOM, describe_room_notice(event, self.me).removeprefix("* "), event.at)
            self.room_left(event.room_name, put_out=event.act)
            return
        if event.act == "joined":
            state.count += 1
            if members is not None:
                members.append(MemberEntry(event.name, "member", True))
                members.sort(key=lambda m: name_order(m.name))
        elif event.act in ("left", "kick", "ban"):
            state.count = max(0, state.count - 1)
            if members is not None:
                state.members = [m for m in members if key_of(m.name) != key_of(event.name)]
        elif event.act in ("online", "offline") and members is not None:  # presence in the room
            state.members = [replace(m, online=event.act == "online")
                             if key_of(m.name) == key_of(event.name) else m for m in members]
        elif event.act in ("mute", "unmute") and members is not None:  # (a timed mute's end is an unmute)
            state.members = [replace(m, muted=event.act == "mute")
                             if key_of(m.name) == key_of(event.name) else m for m in members]
        elif event.act in ("appoint", "owner") and members is not None:
            role = "owner" if event.act == "owner" else event.role or "member"
            # A new owner: the owner before is a moderator now (PROTOCOL.md, "appoint").
            state.members = [replace(m, role=role) if key_of(m.name) == key_of(event.name)
                             else replace(m, role="moderator") if event.act == "owner"
                             and m.role == "owner" else m
                             for m in members]
        self._changes.append(MembersChanged(key))

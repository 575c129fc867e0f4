"""Events: one small frozen dataclass for each thing that can happen on a chat connection.

Each wire event class carries ``TYPE``, the value of the ``"type"`` key of its JSON frame,
and ``SENDER``, the role allowed to put it on the wire (``"client"``, ``"server"`` or
``"both"``). Field names are shared across events and each name has one meaning and one
wire type everywhere (see ``codec.FIELDS``); ``request_id`` travels as ``"id"``.

Events compare by value, so tests can say ``assert events == [...]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from .frozen import fast_init


class Event:
    """Base class of everything :meth:`Connection.events` yields."""

    __slots__ = ()
    TYPE: ClassVar[str] = ""
    SENDER: ClassVar[str] = ""
    # The protocol version that brought this event: a session opened at an older version
    # neither sends nor accepts it (see connection.py).
    SINCE: ClassVar[int] = 1


# Optional features a client may ask for in its hello (see Hello.features), each turning on
# frames an older client would not understand. One name each; PROTOCOL.md "Features".
CARBONS = "carbons"
# The welcome after a password login carries ``resume``: a credential that logs in to the
# account without the password (a reloaded web page stays logged in); see Revoke.
RESUME = "resume"
# Issue 13, after "delivered" (direct messages): ``read`` turns on Read frames and the
# read_receipts setting; ``typing`` turns on Typing frames; ``edits`` turns on Edit,
# Delete, Edited, Deleted and EditReceipt, and the edited/deleted marks in history.
READ = "read"
TYPING = "typing"
EDITS = "edits"
FEATURES: tuple[str, ...] = (CARBONS, RESUME, READ, TYPING, EDITS)
# Issue 9: ``batch_acks`` lets a client confirm several direct messages with one ``receipt``
# and acknowledge several outcomes with one ``ack`` (``msg_ids``: Receipts, OutcomeAcks),
# as TCP's delayed acks do: a client that handled several frames in one read answers them
# with one frame each way.
BATCH_ACKS = "batch_acks"
FEATURES += (BATCH_ACKS,)
# ``since`` turns on SinceRequest and SincePage: a device back from a disconnection asks
# for the direct messages of every conversation after the last id it had, those of
# conversations it never knew included (they came to another device of the account).
# (Not named SINCE: that is every event's protocol version.)
SINCE_FEATURE = "since"
FEATURES += (SINCE_FEATURE,)
# ``blocks`` turns on Blocked and Unblocked: a block or unblock made on another session of
# this user, told at once (as the read-receipts switch is, with ``read``), so that a page
# or window open meanwhile shows whom its user blocks without asking again.
BLOCKS_FEATURE = "blocks"
FEATURES += (BLOCKS_FEATURE,)
# ``catch_up`` turns on CatchUp: a cluster node back from a break tells its sessions that
# what was decided meanwhile may not have reached them (a message's outcome that another
# device of the user acknowledged), and the client asks again as after a reconnection.
CATCH_UP = "catch_up"
FEATURES += (CATCH_UP,)


# --- Sent by clients --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello(Event):
    """First frame of a client: log in as ``name`` speaking protocol ``version``.

    ``password`` is needed for a claimed name; with ``register`` true, an unclaimed name is
    claimed with that password as part of logging in. ``resume`` is the secret token a
    :class:`Welcome` gave this guest name earlier: it proves the same guest is back.
    ``features`` names the optional frames this client understands (``FEATURES``); the
    server turns on those it knows and says which in the :class:`Welcome`.
    ``room_seen`` (version 2, optional) is the highest msg_id of a named room's message
    this client has shown: the server sends its user's rooms' messages above it first
    (PROTOCOL.md, "Room messages cut mid-stream"). ``last_heard`` (with it, optional) is
    the server's clock, in ms since the epoch, as this client reckons it, when the last
    frame it read of its last session was sent: the server tells it the edits and deletes
    of those posts made since (PROTOCOL.md, "Changes a device missed").
    """

    TYPE: ClassVar[str] = "hello"
    SENDER: ClassVar[str] = "client"
    request_id: str
    name: str
    version: int
    password: str | None = field(default=None, repr=False)
    register: bool = False
    resume: str | None = field(default=None, repr=False)
    features: tuple[str, ...] | None = None
    room_seen: int | None = None
    last_heard: int | None = None


@dataclass(frozen=True, slots=True)
class SendDirect(Event):
    """Ask the server to relay ``text`` to the user ``to``."""

    TYPE: ClassVar[str] = "send"
    SENDER: ClassVar[str] = "client"
    request_id: str
    to: str
    text: str


@dataclass(frozen=True, slots=True)
class SendRoom(Event):
    """Ask the server to relay ``text`` to everyone in the broadcast room."""

    TYPE: ClassVar[str] = "say"
    SENDER: ClassVar[str] = "client"
    request_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Register(Event):
    """Claim the name this session is logged in with, protected by ``password``."""

    TYPE: ClassVar[str] = "register"
    SENDER: ClassVar[str] = "client"
    request_id: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class HistoryRequest(Event):
    """Ask for the conversation with ``peer``: up to ``limit`` messages older than
    ``before`` (a msg_id cursor; None for the newest). Answered by :class:`HistoryPage`."""

    TYPE: ClassVar[str] = "history"
    SENDER: ClassVar[str] = "client"
    request_id: str
    peer: str
    limit: int = 50
    before: int | None = None


@dataclass(frozen=True, slots=True)
class SinceRequest(Event):
    """Feature ``since``: ask for one's direct messages, sent and received, with a msg_id
    above ``after_id``, across every conversation, oldest first, at most ``limit``.
    Answered by :class:`SincePage`."""

    TYPE: ClassVar[str] = "since"
    SENDER: ClassVar[str] = "client"
    request_id: str
    after_id: int
    limit: int = 50


@dataclass(frozen=True, slots=True)
class Block(Event):
    """Stop receiving messages from ``name`` (the sender is not told). Answered by Done."""

    TYPE: ClassVar[str] = "block"
    SENDER: ClassVar[str] = "client"
    request_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Unblock(Event):
    """Receive messages from ``name`` again. Answered by :class:`Done`."""

    TYPE: ClassVar[str] = "unblock"
    SENDER: ClassVar[str] = "client"
    request_id: str
    name: str


@dataclass(frozen=True, slots=True)
class BlockList(Event):
    """Ask whom this user blocks; answered by :class:`Blocking`. ``after`` (a name) asks
    for the next page: the names after it in the order of the list (the ``next`` of a
    page). A client that shows whom its user blocks asks after each welcome: the list is
    kept by the server, across restarts, for every session of the user."""

    TYPE: ClassVar[str] = "blocks"
    SENDER: ClassVar[str] = "client"
    request_id: str
    after: str | None = None


@dataclass(frozen=True, slots=True)
class Receipt(Event):
    """The recipient's client confirms it received direct message ``msg_id``."""

    TYPE: ClassVar[str] = "receipt"
    SENDER: ClassVar[str] = "client"
    msg_id: int


@dataclass(frozen=True, slots=True)
class OutcomeAck(Event):
    """The sender's client has taken in the outcome (``delivered``, or the ``expired``
    error) of its own message ``msg_id``; until it says so, the server tells it again at
    every login."""

    TYPE: ClassVar[str] = "ack"
    SENDER: ClassVar[str] = "client"
    msg_id: int


@dataclass(frozen=True, slots=True)
class Receipts(Event):
    """Feature ``batch_acks``: a ``receipt`` with ``msg_ids``, meaning exactly what a
    :class:`Receipt` for each of them, in this order, would."""

    TYPE: ClassVar[str] = "receipt"
    SENDER: ClassVar[str] = "client"
    msg_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class OutcomeAcks(Event):
    """Feature ``batch_acks``: an ``ack`` with ``msg_ids``, meaning exactly what an
    :class:`OutcomeAck` for each of them, in this order, would."""

    TYPE: ClassVar[str] = "ack"
    SENDER: ClassVar[str] = "client"
    msg_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class WhoRequest(Event):
    """Ask who is online; answered by :class:`UserList`. ``after`` (a name) asks for the
    next page: the users after it in the order of the list (the ``next`` of a page)."""

    TYPE: ClassVar[str] = "who"
    SENDER: ClassVar[str] = "client"
    request_id: str
    after: str | None = None


@dataclass(frozen=True, slots=True)
class LookupRequest(Event):
    """Ask the registry where ``name`` is; answered by :class:`LookupResult`."""

    TYPE: ClassVar[str] = "whois"
    SENDER: ClassVar[str] = "client"
    request_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Watch(Event):
    """Subscribe this session to the presence of ``names`` (IRC's MONITOR): their
    ``joined`` and ``left`` notices reach it even when the room is too large to announce
    them to everyone. Answered by :class:`Watching`."""

    TYPE: ClassVar[str] = "watch"
    SENDER: ClassVar[str] = "client"
    request_id: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Unwatch(Event):
    """Stop watching ``names`` (names not watched are ignored). Answered by :class:`Done`."""

    TYPE: ClassVar[str] = "unwatch"
    SENDER: ClassVar[str] = "client"
    request_id: str
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Revoke(Event):
    """Forget the account resume credential ``resume`` (one the server issued to this
    account: "Log out" on a page that kept it), or, from a guest's session with its own
    resume token, give the guest name up (PROTOCOL.md, "``revoke``"). Answered by
    :class:`Done`."""

    TYPE: ClassVar[str] = "revoke"
    SENDER: ClassVar[str] = "client"
    request_id: str
    resume: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class ChangePassword(Event):
    """Set this session's account password to ``new_password``, proving ``old_password``.
    ``resume`` is the account resume credential this client holds, if any: it keeps
    working, every other one of the account stops (PROTOCOL.md, "``password``").
    Answered by :class:`Done` once the new hash is stored."""

    TYPE: ClassVar[str] = "password"
    SENDER: ClassVar[str] = "client"
    request_id: str
    old_password: str = field(repr=False)
    new_password: str = field(repr=False)
    resume: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Unregister(Event):
    """Delete this session's account, proving its ``password`` (a resume credential is
    not enough: PROTOCOL.md, "``unregister``"). Answered by :class:`Done` once it is
    deleted; then the session, and every other one of the account, ends (``error``
    ``account_deleted`` without id, then ``bye``)."""

    TYPE: ClassVar[str] = "unregister"
    SENDER: ClassVar[str] = "client"
    request_id: str
    password: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class Edit(Event):
    """Replace the text of this user's own direct message ``msg_id`` (feature ``edits``),
    within ``const.EDIT_WINDOW`` of its sending. Answered by :class:`Done`, or ``error``
    ``forbidden`` (not yours), ``too_late``, ``unknown_message``."""

    TYPE: ClassVar[str] = "edit"
    SENDER: ClassVar[str] = "client"
    request_id: str
    msg_id: int
    text: str


@dataclass(frozen=True, slots=True)
class Delete(Event):
    """Delete this user's own direct message ``msg_id`` (feature ``edits``): its text is
    removed from the server's storage. Answered like :class:`Edit`; deleting a deleted
    message is answered :class:`Done` again (a resend)."""

    TYPE: ClassVar[str] = "delete"
    SENDER: ClassVar[str] = "client"
    request_id: str
    msg_id: int


@dataclass(frozen=True, slots=True)
class EditReceipt(Event):
    """The recipient's client took in the :class:`Edited` or :class:`Deleted` of message
    ``msg_id`` stamped ``at`` (None: a client of before, which confirms the latest); until
    one says so of its latest change, the server tells it again at every login."""

    TYPE: ClassVar[str] = "edit_receipt"
    SENDER: ClassVar[str] = "client"
    msg_id: int
    at: float | None = None


@dataclass(frozen=True, slots=True)
class Settings(Event):
    """Change this user's settings, kept by the server (feature ``read``):
    ``read_receipts`` false means this user neither sends nor sees reads and typing.
    None changes nothing. Answered by :class:`Done`; a client's needs ``request_id``.

    From the server, without ``request_id``: another session of this user changed them,
    and ``read_receipts`` is now the setting (a client stops sending reads and typing
    while it is false)."""

    TYPE: ClassVar[str] = "settings"
    SENDER: ClassVar[str] = "both"
    request_id: str | None = None
    read_receipts: bool | None = None


# --- Sent by the server -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Welcome(Event):
    """The server accepted the hello: the session is open under ``name``.

    ``resume``, set when a guest took the name afresh, is the secret that later hellos for
    this name must carry to get its waiting messages and history (None: keep the old one).
    ``features``: those of the hello's that the server turned on for this session (None:
    none, or a server that knows none).
    """

    TYPE: ClassVar[str] = "welcome"
    SENDER: ClassVar[str] = "server"
    request_id: str
    name: str
    version: int
    server: str
    heartbeat: float
    registered: bool = False
    resume: str | None = field(default=None, repr=False)
    features: tuple[str, ...] | None = None
    # With the ``read`` feature: this user's setting (see :class:`Settings`).
    read_receipts: bool | None = None
    # The server's wall clock as it welcomed, in ms since the epoch (None: an older server):
    # how far this client's clock is off, for the waits the server gives as Unix times.
    now: int | None = None
    # With the ``edits`` feature: how long after sending a message its sender may still
    # edit or delete it, in seconds (this server's setting; None: an older server, whose
    # window is ``const.EDIT_WINDOW``).
    edit_window: float | None = None
    # With the ``since`` feature: the highest message id the server had given out as it
    # welcomed (a cluster node's: as the login claimed its name; None: an older server).
    # Every direct message of this user above it came after this login: a client that has
    # shown none yet catches up from here after a reconnection (PROTOCOL.md, ``since``).
    last_id: int | None = None


@dataclass(frozen=True, slots=True)
class Accepted(Event):
    """The server took responsibility for request ``request_id`` as message ``msg_id``."""

    TYPE: ClassVar[str] = "accepted"
    SENDER: ClassVar[str] = "server"
    request_id: str
    msg_id: int


@dataclass(frozen=True, slots=True)
class Queued(Event):
    """The recipient is offline: message ``msg_id`` is stored and will be delivered when
    they log in (then :class:`Delivered` follows, or an ``expired`` error)."""

    TYPE: ClassVar[str] = "queued"
    SENDER: ClassVar[str] = "server"
    request_id: str
    msg_id: int


@dataclass(frozen=True, slots=True)
class Done(Event):
    """Request ``request_id`` (register, block, unblock, ...) succeeded. For an
    :class:`Edit` or a :class:`Delete`, ``at`` is when the message's latest change was
    stamped (its ``edited`` or ``deleted`` carries the same), by which the client tells a
    change of it told late from a newer one (PROTOCOL.md)."""

    TYPE: ClassVar[str] = "ok"
    SENDER: ClassVar[str] = "server"
    request_id: str
    at: float | None = None


@dataclass(frozen=True, slots=True)
class Delivered(Event):
    """The recipient's client confirmed receipt of message ``msg_id``; ``to``: the recipient,
    where the sender's client may not know it (an earlier run's message, told at the login),
    else None (not on the wire: the live one answers a message the client tracks)."""

    TYPE: ClassVar[str] = "delivered"
    SENDER: ClassVar[str] = "server"
    request_id: str
    msg_id: int
    to: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorReply(Event):
    """Request ``request_id`` (or, if None, the connection) failed with ``code``."""

    TYPE: ClassVar[str] = "error"
    SENDER: ClassVar[str] = "server"
    code: str
    message: str
    request_id: str | None = None
    # For rate_limited and unavailable (and the name_taken of a guest whose own earlier
    # session still holds its name): seconds after which the request may be tried again;
    # for muted (with room_name): the seconds left of a timed mute (none: until unmuted).
    retry_after: float | None = None
    # For expired: the message whose outcome this is, to acknowledge with OutcomeAck.
    msg_id: int | None = None
    # For confusable_name: the name it looks like, so that a client can say it in its words.
    like: str | None = None
    # With like: True when it is a reserved word (rule 6: nobody holds it, and typed exactly
    # it is invalid_name), not someone's name; absent otherwise (PROTOCOL.md, "error").
    reserved: bool | None = None
    # For muted, and banned from one's own join: the room the refusal is about (display
    # form). An invite of a banned person is banned without it (PROTOCOL.md, "error").
    room_name: str | None = None
    # For banned (with room_name): the ban's reason, when it has one.
    reason: str | None = None
    # For unavailable: True when the server cannot tell whether the request was done (its
    # store took it and did not answer in time); absent (None) when it certainly was not.
    uncertain: bool | None = None
    # For name_taken of a guest name kept for the guest who used it last: when the hold
    # ends (a Unix time), for a client to say until when and for how long.
    until: float | None = None
    # For expired: the seconds the message waited, from its sending to its expiry (this
    # server's QUEUE_TTL when it was sent), for a client to say rather than its own idea.
    waited: float | None = None
    # With until: the server's wall clock as it refused, in ms since the epoch (as a
    # welcome's now: a refused login has no welcome), for a client to say the wait from.
    now: int | None = None
    # For not_member of a moderation act (kick, appoint) on someone not in the room: that
    # person (display form), so that a client can say whom it is about in its words; absent
    # when the error is about the asker (PROTOCOL.md, "error").
    name: str | None = None
    # For a string too long (bad_field, message_too_large, invalid_name): its key on the
    # wire, and its limit, in characters (max_chars) or in bytes of UTF-8 (max_bytes), so
    # that a client can say it in its words ("the topic is too long: at most 256 characters").
    field: str | None = None
    max_chars: int | None = None
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class DirectMessage(Event):
    """Message ``msg_id`` from ``sender`` to ``to``; answer it with a :class:`Receipt`.

    ``deleted`` is True when its sender (or an administrator) deleted it before it was
    delivered (``text`` is then ""); None otherwise, and then left out of the frame, so
    that every other ``dm`` is as it always was (PROTOCOL.md, "dm")."""

    TYPE: ClassVar[str] = "dm"
    SENDER: ClassVar[str] = "server"
    msg_id: int
    sender: str
    to: str
    text: str
    sent_at: float
    deleted: bool | None = None


@dataclass(frozen=True, slots=True)
class Carbon(Event):
    """A copy of a direct message that another session of this user sent (like XMPP
    carbons, XEP-0280): message ``msg_id`` to ``to``, stored at ``sent_at``, as the sending
    session was answered: ``state`` ``sent`` (the recipient was online) or ``queued``.
    Sent only to sessions whose hello asked for the ``carbons`` feature; needs no answer.
    Its later outcome (``delivered``, ``queued``, the ``expired`` error) comes with the
    same ``msg_id`` to every session of the sender, as for the session that sent it."""

    TYPE: ClassVar[str] = "sent"
    SENDER: ClassVar[str] = "server"
    msg_id: int
    to: str
    text: str
    sent_at: float
    state: str


@dataclass(frozen=True, slots=True)
class Edited(Event):
    """Direct message ``msg_id`` from ``sender`` to ``to`` now reads ``text`` (edited at
    ``at``). Sent to sessions with the ``edits`` feature of the recipient (answer with
    :class:`EditReceipt`) and of the sender (no answer)."""

    TYPE: ClassVar[str] = "edited"
    SENDER: ClassVar[str] = "server"
    msg_id: int
    sender: str
    to: str
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class Deleted(Event):
    """Direct message ``msg_id`` from ``sender`` to ``to`` was deleted at ``at``; its
    text is gone. Sent as :class:`Edited` is."""

    TYPE: ClassVar[str] = "deleted"
    SENDER: ClassVar[str] = "server"
    msg_id: int
    sender: str
    to: str
    at: float
    by: str | None = None  # an administrator who deleted another's message (issue 13)


@dataclass(frozen=True, slots=True)
class RoomMessage(Event):
    """Message ``msg_id`` from ``sender`` to everyone in the broadcast room."""

    TYPE: ClassVar[str] = "room"
    SENDER: ClassVar[str] = "server"
    msg_id: int
    sender: str
    text: str
    sent_at: float


@dataclass(frozen=True, slots=True)
class UserJoined(Event):
    """System notice: ``name`` came online."""

    TYPE: ClassVar[str] = "joined"
    SENDER: ClassVar[str] = "server"
    name: str
    at: float


@dataclass(frozen=True, slots=True)
class UserLeft(Event):
    """System notice: ``name`` went offline, because of ``reason``."""

    TYPE: ClassVar[str] = "left"
    SENDER: ClassVar[str] = "server"
    name: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class RoomSkipped(Event):
    """System notice: ``room`` room messages were not sent to this client because its
    connection was too slow to take them (its outgoing queue was over the soft mark)."""

    TYPE: ClassVar[str] = "skipped"
    SENDER: ClassVar[str] = "server"
    room: int


@dataclass(frozen=True, slots=True)
class Presence:
    """One online user in a :class:`UserList` (not an event: a value inside one)."""

    name: str
    since: float


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One message in a :class:`HistoryPage` (a value inside an event).

    ``state`` is ``sent`` (accepted, not yet confirmed), ``queued``, ``delivered`` or
    ``expired``.
    """

    msg_id: int
    sender: str
    to: str
    text: str
    sent_at: float
    state: str
    # Feature ``edits``: the text was edited, or the message deleted (its text is "").
    edited: bool = False
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class HistoryPage(Event):
    """Answer to :class:`HistoryRequest`: messages oldest first; ``before`` is the cursor
    for the next older page, None when there is none. ``read_up_to`` (feature ``read``, a
    person's conversation): the peer has seen this user's messages up to that msg_id, as
    the ``read`` frame after the page says; None when there is no such mark to tell."""

    TYPE: ClassVar[str] = "history_page"
    SENDER: ClassVar[str] = "server"
    request_id: str
    peer: str
    messages: tuple[HistoryEntry, ...]
    before: int | None = None
    read_up_to: int | None = None


@dataclass(frozen=True, slots=True)
class SincePage(Event):
    """Answer to :class:`SinceRequest`: messages oldest first, each once, as a
    :class:`HistoryPage` shows them; ``next_id`` is the ``after_id`` of the next page, None
    when there is nothing after this one (so far)."""

    TYPE: ClassVar[str] = "since_page"
    SENDER: ClassVar[str] = "server"
    request_id: str
    messages: tuple[HistoryEntry, ...]
    next_id: int | None = None


@dataclass(frozen=True, slots=True)
class UserList(Event):
    """Answer to :class:`WhoRequest`: who is online, sorted by name case-insensitively, as
    many as fit in one frame; ``next`` is the cursor (``after``) for the rest, None when
    this page is the last."""

    TYPE: ClassVar[str] = "users"
    SENDER: ClassVar[str] = "server"
    request_id: str
    users: tuple[Presence, ...]
    next: str | None = None


@dataclass(frozen=True, slots=True)
class Blocking(Event):
    """Answer to :class:`BlockList`: the names this user blocks (as registered, or as the
    block spelled them for a name nobody has logged in with), sorted case-insensitively,
    as many as fit in one frame; ``next`` is the cursor (``after``) for the rest, None
    when this page is the last."""

    TYPE: ClassVar[str] = "blocking"
    SENDER: ClassVar[str] = "server"
    request_id: str
    blocked: tuple[str, ...]
    next: str | None = None


@dataclass(frozen=True, slots=True)
class Blocked(Event):
    """Feature ``blocks``: another session of this user blocked ``name`` (as that block
    spelled it when nobody has logged in with it, else as registered). Sent once it is
    stored, to the user's other sessions with the feature, on every node; needs no answer.
    A client adds ``name`` to the list it shows (the one :class:`Blocking` gave)."""

    TYPE: ClassVar[str] = "blocked"
    SENDER: ClassVar[str] = "server"
    name: str


@dataclass(frozen=True, slots=True)
class Unblocked(Event):
    """Feature ``blocks``: another session of this user unblocked ``name``; as
    :class:`Blocked` (a client takes ``name`` out of the list it shows)."""

    TYPE: ClassVar[str] = "unblocked"
    SENDER: ClassVar[str] = "server"
    name: str


@dataclass(frozen=True, slots=True)
class CatchUp(Event):
    """Feature ``catch_up``: this server (a cluster node) was cut off from the rest of the
    cluster for a while, and is back: outcomes of this user's direct messages decided
    meanwhile may have been told to another device of theirs, acknowledged there, and so
    never told to this session. Also to one session that another node saw late (what
    another device sent there was not copied to it). Needs no answer; a client asks the
    ``history`` of each conversation in which it still shows a message ``sent`` or
    ``queued``, as it does after a reconnection (PROTOCOL.md, "catch_up")."""

    TYPE: ClassVar[str] = "catch_up"
    SENDER: ClassVar[str] = "server"


@dataclass(frozen=True, slots=True)
class Watching(Event):
    """Answer to :class:`Watch`: the names of that request online now, each with the time
    since when (``users``, as in :class:`UserList`), those offline (``offline``, as the
    request spelled them) and those nobody has (``unknown``, as spelled; None when there
    are none, and from an older server, which counts them offline), so the answer says
    all by itself. Each name of the request is in one of the three, once."""

    TYPE: ClassVar[str] = "watching"
    SENDER: ClassVar[str] = "server"
    request_id: str
    users: tuple[Presence, ...]
    offline: tuple[str, ...] = ()
    unknown: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class LookupResult(Event):
    """Answer to :class:`LookupRequest`.

    ``status`` is ``"online"`` (then ``address``, ``port`` and ``since`` say where the
    user's connection comes from, as the server sees it), ``"offline"`` or ``"unknown"``
    (then ``like`` may name the one user online whose name looks like ``name``, never the
    asker: see ``RegistryDesk.rival``).
    """

    TYPE: ClassVar[str] = "user"
    SENDER: ClassVar[str] = "server"
    request_id: str
    name: str
    status: str
    address: str | None = None
    port: int | None = None
    since: float | None = None
    node: str | None = None  # in a cluster: the node that holds that connection
    like: str | None = None  # with "unknown": the look-alike online, so a client can ask "did you mean…?"


# --- Sent by either side ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Read(Event):
    """Read receipts, cumulative per conversation (feature ``read``).

    From a client: this user has seen the messages from ``peer`` up to ``msg_id`` (a
    message ``peer`` sent it). From the server (``sender`` set): ``sender`` has seen the
    messages from ``peer`` up to ``msg_id``; sent to ``peer``'s sessions and to the
    other sessions of ``sender``. No answer.
    """

    TYPE: ClassVar[str] = "read"
    SENDER: ClassVar[str] = "both"
    peer: str
    msg_id: int
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class Typing(Event):
    """Someone is typing to ``to`` (feature ``typing``): from a client, this user; from
    the server, ``sender``. Never stored; a receiver shows it for
    ``const.TYPING_EXPIRES`` seconds. No answer."""

    TYPE: ClassVar[str] = "typing"
    SENDER: ClassVar[str] = "both"
    to: str
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class Ping(Event):
    """Are you there? The :class:`Connection` answers it with a Pong by itself."""

    TYPE: ClassVar[str] = "ping"
    SENDER: ClassVar[str] = "both"
    token: str = ""


@dataclass(frozen=True, slots=True)
class Pong(Event):
    """Answer to a :class:`Ping`, echoing its ``token``; a server's says its wall clock
    (``now``, ms since the epoch, as the welcome's), a client's has none."""

    TYPE: ClassVar[str] = "pong"
    SENDER: ClassVar[str] = "both"
    token: str = ""
    now: int | None = None


@dataclass(frozen=True, slots=True)
class Goodbye(Event):
    """The sender ends the session (a client leaving, the server shutting down)."""

    TYPE: ClassVar[str] = "bye"
    SENDER: ClassVar[str] = "both"
    reason: str = ""


# --- Rooms and moderation: protocol version 2 ------------------------------------------------
# Requests name a room in ``room_name`` (``"room"`` on the wire): ``#`` and a name under the
# user-name rules. server/rooms.py decides them; PROTOCOL.md "Rooms" says the rules.


@dataclass(frozen=True, slots=True)
class JoinRoom(Event):
    """Join ``room_name``, creating it if it does not exist (then ``invite_only`` applies);
    with ``create``, only create it. Answered by :class:`RoomInfo`."""

    TYPE: ClassVar[str] = "join"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    create: bool = False
    invite_only: bool = False


@dataclass(frozen=True, slots=True)
class LeaveRoom(Event):
    """Leave ``room_name``. Answered by :class:`Done`."""

    TYPE: ClassVar[str] = "leave"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str


@dataclass(frozen=True, slots=True)
class RoomsRequest(Event):
    """Ask for the rooms one may see, with member counts and topics; ``after`` (a room
    name, the ``next`` of a page) asks for the next page; with ``mine``, only the named
    rooms one is a member of. Answered by :class:`RoomList` (whose ``mine`` is True when
    the server honoured ``mine``: an older server ignores the key and lists all)."""

    TYPE: ClassVar[str] = "rooms"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    after: str | None = None
    mine: bool = False


@dataclass(frozen=True, slots=True)
class MembersRequest(Event):
    """Ask who is in ``room_name``; ``after`` (a name) asks for the next page. Answered
    by :class:`MemberList`."""

    TYPE: ClassVar[str] = "members"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    after: str | None = None


@dataclass(frozen=True, slots=True)
class SendToRoom(Event):
    """Ask the server to relay ``text`` to the members of ``room_name``: on the wire a
    ``send`` with ``room`` in place of ``to``. Answered like a ``say``: ``accepted``."""

    TYPE: ClassVar[str] = "send"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    text: str


@dataclass(frozen=True, slots=True)
class Invite(Event):
    """Invite ``name`` into ``room_name`` (needed for an invite-only room). Answered by Done."""

    TYPE: ClassVar[str] = "invite"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    name: str


@dataclass(frozen=True, slots=True)
class SetTopic(Event):
    """Set the topic of ``room_name``. Answered by :class:`Done`."""

    TYPE: ClassVar[str] = "topic"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    topic: str


@dataclass(frozen=True, slots=True)
class Kick(Event):
    """Put member ``name`` out of ``room_name`` (they may join again). Answered by Done."""

    TYPE: ClassVar[str] = "kick"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    name: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Ban(Event):
    """Put ``name`` out of ``room_name`` and keep them out (a guest by name and address)
    until an :class:`Unban`. Answered by :class:`Done`."""

    TYPE: ClassVar[str] = "ban"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    name: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Unban(Event):
    """Let ``name`` into ``room_name`` again. Answered by :class:`Done`."""

    TYPE: ClassVar[str] = "unban"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    name: str


@dataclass(frozen=True, slots=True)
class Mute(Event):
    """Keep ``name`` from writing in ``room_name`` for ``seconds`` (None: until an
    :class:`Unmute`). Answered by :class:`Done`."""

    TYPE: ClassVar[str] = "mute"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    name: str
    reason: str | None = None
    seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Unmute(Event):
    """Let ``name`` write in ``room_name`` again. Answered by :class:`Done`."""

    TYPE: ClassVar[str] = "unmute"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    name: str


@dataclass(frozen=True, slots=True)
class Appoint(Event):
    """Make member ``name`` of ``room_name`` a ``"moderator"``, or a ``"member"`` again,
    or its ``"owner"`` (the owner before becomes a moderator). Answered by :class:`Done`."""

    TYPE: ClassVar[str] = "appoint"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class SetRoomMode(Event):
    """Make ``room_name`` invite-only, or public again (its owner or an administrator).
    Answered by :class:`Done`."""

    TYPE: ClassVar[str] = "mode"
    SENDER: ClassVar[str] = "client"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    invite_only: bool


@dataclass(frozen=True, slots=True)
class RoomInfo(Event):
    """Answer to :class:`JoinRoom`: the room as it is now (``count`` members), and whether
    this join ``created`` it."""

    TYPE: ClassVar[str] = "room_info"
    SENDER: ClassVar[str] = "server"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    count: int
    invite_only: bool = False
    topic: str = ""
    owner: str | None = None
    created: bool = False


@dataclass(frozen=True, slots=True)
class RoomEntry:
    """One room in a :class:`RoomList` (a value inside an event). ``invite_only`` is on
    the wire only when True: an entry without it (a public room, or an older server's
    list) decodes as False."""

    room_name: str
    count: int
    topic: str
    invite_only: bool = False


@dataclass(frozen=True, slots=True)
class MemberEntry:
    """One member in a :class:`MemberList`: ``role`` is owner, moderator or member;
    ``muted``: a mute keeps them from posting in the room now (on the wire only when true)."""

    name: str
    role: str
    online: bool
    muted: bool = False


@dataclass(frozen=True, slots=True)
class RoomList(Event):
    """Answer to :class:`RoomsRequest`, sorted by name case-insensitively, as many as fit
    in one frame; ``next`` is the ``after`` for the rest (None: this page is the last).
    ``mine`` is True in the answer to a request with ``mine`` (only the asker's rooms),
    None (left out on the wire) otherwise: a page without it lists every room one may see."""

    TYPE: ClassVar[str] = "room_list"
    SENDER: ClassVar[str] = "server"
    SINCE: ClassVar[int] = 2
    request_id: str
    rooms: tuple[RoomEntry, ...]
    next: str | None = None
    mine: bool | None = None


@dataclass(frozen=True, slots=True)
class MemberList(Event):
    """Answer to :class:`MembersRequest`, paged like :class:`RoomList`."""

    TYPE: ClassVar[str] = "member_list"
    SENDER: ClassVar[str] = "server"
    SINCE: ClassVar[int] = 2
    request_id: str
    room_name: str
    members: tuple[MemberEntry, ...]
    next: str | None = None


@dataclass(frozen=True, slots=True)
class RoomPost(Event):
    """Message ``msg_id`` from ``sender`` to the members of ``room_name``: on the wire a
    ``room`` frame with ``room``, beside the default room's plain ``room`` frames."""

    TYPE: ClassVar[str] = "room"
    SENDER: ClassVar[str] = "server"
    SINCE: ClassVar[int] = 2
    msg_id: int
    sender: str
    room_name: str
    text: str
    sent_at: float


@dataclass(frozen=True, slots=True)
class RoomNotice(Event):
    """Announcement to the members of ``room_name`` (and to the one it names): ``act``
    (joined, left, topic, invite, kick, ban, unban, mute, unmute, appoint, owner; online,
    offline: presence) happened
    to ``name``, done ``by`` someone (None: by the rules, as when a mute ends).
    ``address_banned``: a ban of a guest, which keeps the other guests of its address
    out too (left out otherwise)."""

    TYPE: ClassVar[str] = "room_notice"
    SENDER: ClassVar[str] = "server"
    SINCE: ClassVar[int] = 2
    room_name: str
    act: str
    name: str
    at: float
    by: str | None = None
    reason: str | None = None
    topic: str | None = None
    until: float | None = None
    role: str | None = None
    address_banned: bool | None = None


ROOM_EVENTS: tuple[type[Event], ...] = (
    JoinRoom, LeaveRoom, RoomsRequest, MembersRequest, SendToRoom, Invite, SetTopic, Kick, Ban,
    Unban, Mute, Unmute, Appoint, SetRoomMode,
    RoomInfo, RoomList, MemberList, RoomPost, RoomNotice,
)
# --- After delivered in rooms (issue 13; features typing, edits; protocol version 2) ------


@dataclass(frozen=True, slots=True)
class RoomTyping(Event):
    """Someone is typing in ``room_name`` (feature ``typing``): on the wire a ``typing``
    with ``room`` in place of ``to``. From a client, this user; from the server,
    ``sender``. Never stored; no answer."""

    TYPE: ClassVar[str] = "typing"
    SENDER: ClassVar[str] = "both"
    SINCE: ClassVar[int] = 2
    room_name: str
    sender: str | None = None


@dataclass(frozen=True, slots=True)
class RoomEdited(Event):
    """Post ``msg_id`` of ``sender`` in ``room_name`` now reads ``text`` (edited at
    ``at``): an ``edited`` with ``room`` in place of ``to`` (feature ``edits``). No answer."""

    TYPE: ClassVar[str] = "edited"
    SENDER: ClassVar[str] = "server"
    SINCE: ClassVar[int] = 2
    msg_id: int
    sender: str
    room_name: str
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class RoomDeleted(Event):
    """Post ``msg_id`` of ``sender`` in ``room_name`` was deleted at ``at``, ``by`` a
    moderator or administrator (None: by its sender): a ``deleted`` with ``room`` in place
    of ``to`` (feature ``edits``). No answer."""

    TYPE: ClassVar[str] = "deleted"
    SENDER: ClassVar[str] = "server"
    SINCE: ClassVar[int] = 2
    msg_id: int
    sender: str
    room_name: str
    at: float
    by: str | None = None


@dataclass(frozen=True, slots=True)
class RoomRead(Event):
    """Read marks in a room (feature ``read``): on the wire a ``read`` with ``room`` in
    place of ``with``. From a client, ``msg_id``: this member has seen ``room_name``'s posts
    up to it. From the server, ``marks``: how far the room's other members (with receipts
    on) have read, one anonymous msg_id each, highest first (a client counts those at or
    above a post's id: "read by N"); or ``msg_id`` and ``sender`` (the receiver's own
    name): the user read ``room_name`` up to ``msg_id`` on another session, as a direct
    ``read`` is forwarded to one's other sessions (so they clear the room's unread
    count). No answer."""

    TYPE: ClassVar[str] = "read"
    SENDER: ClassVar[str] = "both"
    SINCE: ClassVar[int] = 2
    room_name: str
    msg_id: int | None = None
    marks: tuple[int, ...] | None = None
    sender: str | None = None


ROOM_AFTER_EVENTS: tuple[type[Event], ...] = (RoomTyping, RoomEdited, RoomDeleted, RoomRead)

# Events that share a wire type with an older one and are told apart by a key of their
# own: a ``send`` with ``room`` is a SendToRoom, a ``room`` frame with ``room`` a RoomPost.
# (older event, key) -> the newer event.
VARIANTS: dict[type[Event], tuple[str, type[Event]]] = {
    SendDirect: ("room", SendToRoom),
    RoomMessage: ("room", RoomPost),
    Receipt: ("msg_ids", Receipts),
    OutcomeAck: ("msg_ids", OutcomeAcks),
    Typing: ("room", RoomTyping),
    Edited: ("room", RoomEdited),
    Deleted: ("room", RoomDeleted),
    Read: ("room", RoomRead),
}


# --- Produced locally, never on the wire ------------------------------------------------


@dataclass(frozen=True, slots=True)
class FrameRejected(Event):
    """A frame from the peer was malformed or not allowed now; the connection goes on.

    ``code`` is an :class:`~protocol.errors.ErrorCode` value; ``request_id`` is the
    frame's ``id`` when it could be read, so the error can be matched to its request.
    """

    code: str
    message: str
    request_id: str | None = None
    # A string too long: its key, and its limit (as ErrorReply's fields of these names).
    field: str | None = None
    max_chars: int | None = None
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class ConnectionClosed(Event):
    """The peer closed the byte stream (``receive_data(b"")``)."""


WIRE_EVENTS: tuple[type[Event], ...] = (
    Hello, SendDirect, SendRoom, Receipt, OutcomeAck, WhoRequest, LookupRequest,
    Register, HistoryRequest, Block, Unblock,
    Welcome, Accepted, Queued, Delivered, Done, ErrorReply, DirectMessage, RoomMessage,
    UserJoined, UserLeft, UserList, LookupResult, HistoryPage,
    Ping, Pong, Goodbye,
    RoomSkipped,
    Watch, Unwatch, Watching,
    Carbon, Revoke, ChangePassword, Unregister,
    BlockList, Blocking, Blocked, Unblocked, CatchUp,
    Edit, Delete, EditReceipt, Settings, Edited, Deleted, Read, Typing,
    SinceRequest, SincePage,
) + ROOM_EVENTS
# Feature batch_acks. First, so that a table of wire types built from this tuple in order
# ({cls.TYPE: cls}, the last one winning) keeps "receipt" and "ack" for the single forms.
WIRE_EVENTS = (Receipts, OutcomeAcks) + WIRE_EVENTS
# Typing, edits and deletes in rooms (issue 13): last, so that the table by wire type keeps
# the direct forms.
WIRE_EVENTS += ROOM_AFTER_EVENTS

# Issue 9: every frozen event here built by the cheaper __init__ of protocol/frozen.py (the
# same fields, defaults and frozenness; a class it cannot copy exactly keeps its own).
_FAST_INIT = tuple(cls for cls in list(globals().values())
                   if isinstance(cls, type) and issubclass(cls, Event) and fast_init(cls))

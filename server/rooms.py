"""Named rooms and their moderation: every rule, with no I/O.

The shell (the relay, the server console, a test) calls one method of :class:`Rooms` per
request, with who asks (a :class:`Person`) and the time. Each method changes the state and
returns the decision as a list of small frozen events: a single :class:`Refused` (nothing
changed), or what happened: the answer for the one who asked (:class:`Entered`,
:class:`RoomSummary`, :class:`Member`; none when a plain ``ok`` answers), then a
:class:`Notice` for the room and a :class:`LogLine` for the server's log. Nothing here
touches a socket, a disk, a clock or a log: time comes in as ``now``.

The rules (PROTOCOL.md "Rooms" says them for client writers; the tables below are the only
copy of who may do what):

1. **Names.** A room is named ``#`` and then a name under the user-name rules of
   registry/names.py (letters and digits of one script, ``_-.``, 1 to 32 characters).
   ``#redes`` and ``#REDES`` are one room (the comparison form). A new room whose name
   looks like an existing one's (the look-alike key) is refused with ``confusable_name``;
   ``#rеdes`` with a Cyrillic ``е`` mixes scripts and is ``invalid_name``.
2. **The default room** (``const.DEFAULT_ROOM``) always exists, has no owner and holds
   everyone logged in: it cannot be joined, left, made invite-only, nor kicked or banned
   from (mute instead). Administrators appoint its moderators.
3. **Roles**, by rank: administrator (an account named in ``const.ADMINS``) > owner (the
   creator) > moderator (appointed by the owner) > member > outsider. ``RIGHTS`` says which
   roles may do each act. An act on another person also needs a rank above theirs (a
   moderator cannot kick the owner or another moderator; nobody acts on an administrator),
   and nobody acts on themselves (``leave`` instead).
4. **Joining.** A banned person cannot join: an account is banned by account; a guest by
   name and by address, so another guest name from the same address is kept out too (but
   never the one who made the ban: one address may be the moderator's too). An
   invite-only room admits those invited (joining uses the invitation up) and
   administrators. On a server that admits only accounts, an invitation is for an
   account: one of a name with no account is ``unknown_recipient`` (it would be kept for
   whoever registered the name first: a mistyped name, a stranger). Where guests log
   in, any valid name may be invited: the guest may come later. A join of a room that
   does not exist creates it (IRC's way), unless the request asked only to create
   (``room_exists`` then).
5. **Moderation.** Kick removes a member; ban removes and keeps out until unban; mute keeps
   a person from posting until unmute, or until its end (``seconds``). Unban, unmute and
   appoint of what already is so change nothing and announce nothing.
6. **Announcements.** Every change (and a moderator's delete of a post) yields a :class:`Notice`: the shell sends it to the
   room's members after the change and to the person it names (so a kicked member hears
   why). Every moderation act also yields a :class:`LogLine`.
7. **Leaving.** When the owner leaves, the first moderator to have joined (else the first
   member) becomes owner (a Notice says so). A room ends when its last member leaves, and
   its bans and invitations with it; a room made again under its name is a new room, which
   shows nobody the posts of the one before (:meth:`Rooms.holds`). Members stay members
   while offline; a guest leaves every room when their name changes hands
   (:meth:`Rooms.forget`): a room of guests who are gone ends once their names are taken by
   others, and no newcomer inherits it.
8. **Persistence.** Every room that changed is listed by :meth:`Rooms.changes` with its
   record (JSON text, or None when it ended) for the shell to store; :meth:`Rooms.restore`
   builds the rooms again from the records at start.
9. **Bounds.** ``const.MAX_ROOMS`` rooms, ``const.MAX_ROOMS_PER_USER`` rooms per person,
   ``const.MAX_ROOM_INVITES`` invitations per room (the oldest goes first), and
   ``const.ROOMS_CREATED_PER_ADDRESS`` rooms created from one address (whatever names it
   uses) per ``const.ROOM_CREATION_WINDOW`` seconds, administrators aside: so that one
   user cannot use up ``MAX_ROOMS`` for everyone. Topic and reason lengths are the
   codec's to check (``const.MAX_TOPIC_CHARS``, 256 for a reason).
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import const
from protocol.compat import StrEnum
from protocol.errors import ErrorCode
from protocol.events import ErrorReply
from registry.lookalikes import Lookalikes
from registry.names import InvalidName, canonical, display_form, validate_name

from .limits import retry_seconds

PREFIX = "#"


class Role(StrEnum):
    """A person's standing in one room. ``RANK`` orders them."""

    ADMIN = "admin"
    OWNER = "owner"
    MODERATOR = "moderator"
    MEMBER = "member"
    OUTSIDER = "outsider"


def a_role(role: Role) -> str:
    """"a member", "an owner": a role with its article, as the server's messages say it."""
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}"


RANK = {Role.ADMIN: 4, Role.OWNER: 3, Role.MODERATOR: 2, Role.MEMBER: 1, Role.OUTSIDER: 0}

_STAFF = frozenset({Role.ADMIN, Role.OWNER, Role.MODERATOR})
_MEMBERS = frozenset({Role.OWNER, Role.MODERATOR, Role.MEMBER})

# act -> the roles that may do it: the one table of rights. The acts in MEMBERS_ONLY need
# membership too (an administrator joins first, as anyone); the acts in TARGETED need a
# rank above the target's as well (rule 3).
RIGHTS: dict[str, frozenset[Role]] = {
    "post": _MEMBERS | {Role.ADMIN},
    "history": _MEMBERS | {Role.ADMIN},
    "leave": _MEMBERS | {Role.ADMIN},
    "topic": _STAFF,
    "invite": _STAFF,
    "kick": _STAFF,
    "ban": _STAFF,
    "unban": _STAFF,
    "mute": _STAFF,
    "unmute": _STAFF,
    "appoint": frozenset({Role.ADMIN, Role.OWNER}),
    "mode": frozenset({Role.ADMIN, Role.OWNER}),  # invite-only or public
    # Delete someone else's post (issue 13; one's own: its sender's right, within
    # const.EDIT_WINDOW, server/mailbox.py change_refused). Any post of the room, whoever
    # wrote it, at any time.
    "delete": _STAFF,
    # Post past the room's budget of posts (const.ROOM_POST_BURST; server/roomdesk.py): a
    # teacher pasting an exercise is not paced as a student's loop is.
    "post freely": _STAFF,
}
MEMBERS_ONLY = frozenset({"post", "leave", "history"})
# Acts done to another person: they need a rank above the target's.
TARGETED = frozenset({"kick", "ban", "unban", "mute", "unmute", "appoint"})
# Acts that make no sense in the default room, which holds everyone (rule 2).
NOT_IN_DEFAULT = frozenset({"leave", "invite", "kick", "ban", "unban"})


# --- Who asks, and what comes out --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    """Someone acting or acted on: ``name`` as they logged in, whether it is an ``account``
    (registered), and the IP ``address`` of their connection (None when not known, e.g.
    offline): what a guest's ban is keyed by besides the name."""

    name: str
    account: bool = False
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """The request was not done: ``code`` is an ErrorCode, ``message`` English words.

    A refusal about the asker's own standing in a room says the facts too, so that a
    client can say it in its user's language (the ``error``'s fields, PROTOCOL.md): ``room``,
    the room it is about (``muted``; ``banned``, of one's own join); ``retry_after``, the
    seconds left of a timed mute (None: until unmuted), or until the asker's address may
    create a room again (``too_many_rooms``); ``reason``, the ban's. A refusal
    about someone else (the invite of a banned person) has no ``room``. ``like``: the room
    a ``no_such_room`` name meant, written without its ``#`` (see :meth:`Rooms.missing`),
    or the existing room a new room's ``confusable_name`` looks like.
    ``name``: the person a refusal of an act on someone is about, when it is not the asker
    (``not_member``: they are not in the room; :meth:`Rooms.not_in`). ``field`` with
    ``max_chars`` or ``max_bytes``: a name too long, its key on the wire and the limit it broke."""

    code: str
    message: str
    room: str | None = None
    retry_after: float | None = None
    reason: str | None = None
    like: str | None = None
    name: str | None = None
    field: str | None = None
    max_chars: int | None = None
    max_bytes: int | None = None

    @classmethod
    def invalid_name(cls, exc: InvalidName, field: str, message: str | None = None) -> Refused:
        """``invalid_name`` of the name in ``field`` (its key on the wire), in ``message``
        (default: the reason), with the limit it broke if it is too long."""
        return cls(ErrorCode.INVALID_NAME, str(exc) if message is None else message,
                   field=field if exc.limit() else None, **exc.limit())

    def reply(self, request_id: str | None) -> ErrorReply:
        """The ``error`` answering request ``request_id`` with this refusal, its facts
        included: the one place where a refusal becomes a frame (the room desk's answers,
        an edit refused as a post would be)."""
        return ErrorReply(self.code, self.message, request_id, self.retry_after, like=self.like,
                          room_name=self.room, reason=self.reason, name=self.name, field=self.field,
                          max_chars=self.max_chars, max_bytes=self.max_bytes)


@dataclass(frozen=True, slots=True)
class Entered:
    """Answer to a join: ``room`` (display form), whether this join ``created`` it."""

    room: str
    owner: str | None
    topic: str
    invite_only: bool
    count: int
    created: bool = False


@dataclass(frozen=True, slots=True)
class RoomSummary:
    """One room in a list: its name, how many members, its topic, whether invite-only
    (told only to those the list shows such a room to: its members and administrators)."""

    room: str
    count: int
    topic: str
    invite_only: bool = False


@dataclass(frozen=True, slots=True)
class Member:
    """One member of a room, their role there, and whether they are ``muted`` there now
    (so that a moderator's client offers Unmute, not Mute, for them)."""

    name: str
    role: str
    muted: bool = False


@dataclass(frozen=True, slots=True)
class Notice:
    """Announcement for ``room``: ``act`` happened to ``name`` (joined, left, topic,
    invite, kick, ban, unban, mute, unmute, appoint, owner), done ``by`` someone (None: by
    the rules themselves, as when a mute ends). ``until``: end of a mute; ``role``: the
    new role of an appoint; ``topic``: the new topic; ``address_banned``: a ban of a
    guest, which keeps the other guests of its address out too. ``tell_named`` (not on
    the wire): the person it names hears it too, though not a member; False when it does
    not change where they stand (banned or muted again), so that a moderator cannot send
    someone outside the room a notice per request."""

    room: str
    act: str
    name: str
    at: float
    by: str | None = None
    reason: str | None = None
    topic: str | None = None
    until: float | None = None
    role: str | None = None
    address_banned: bool | None = None
    tell_named: bool = True


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line for the server's log (a moderation act, a room created or ended). ``kind``
    names lines that one user can cause in numbers ("room{s} created", shared/plural.py): the shell logs a few
    from one address in full and summarises a flood of them; None: each line is logged.
    ``room``: the name of the room it is about (None: of none), so that the shell logs it
    only if that room's change was stored."""

    text: str
    kind: str | None = None
    room: str | None = None


Decision = list  # of the events above; a list with one Refused means nothing changed


# --- The state ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Ban:
    name: str  # display form of the banned name
    by: str
    at: float
    reason: str | None
    address: str | None  # a guest's address, banned with the name; None for an account


@dataclass(slots=True)
class Room:
    """One room's state. Keys of the dicts and sets are comparison forms of user names."""

    name: str  # display form, with the prefix
    owner: str | None
    invite_only: bool = False
    topic: str = ""
    created_at: float = 0.0
    members: dict[str, str] = field(default_factory=dict)  # key -> display name, join order
    moderators: set[str] = field(default_factory=set)
    invited: dict[str, None] = field(default_factory=dict)  # an ordered set: oldest first
    banned: dict[str, _Ban] = field(default_factory=dict)
    banned_addresses: dict[str, str] = field(default_factory=dict)  # address -> banned key
    muted: dict[str, float | None] = field(default_factory=dict)  # key -> until, or None
    # key -> the muted person's name as written: a ban between the mute and its end takes
    # them out of members, and the end must not name them by their key ("otávio").
    muted_names: dict[str, str] = field(default_factory=dict)
    # key -> a timed mute's length (seconds): what its end may be from now at most, at a
    # start (Rooms.clamp_mutes). None in records written before it was kept.
    mute_lengths: dict[str, float] = field(default_factory=dict)
    # The highest message id given out when the room was made: posts up to it are an
    # earlier room's of the same name, which ended (rule 7), not this one's (Rooms.holds).
    first_id: int = 0


def room_key(name: str) -> str:
    """The comparison form of a room name (``#REDES`` -> ``#redes``); no validation."""
    return PREFIX + canonical(name[len(PREFIX):]) if name.startswith(PREFIX) else canonical(name)


def check_room_name(name: str) -> str | Refused:
    """The display form of room ``name`` (``#`` + a valid user name), or why not."""
    if not name.startswith(PREFIX):
        return Refused(ErrorCode.INVALID_NAME, f"a room's name starts with {PREFIX}: {PREFIX}{name}")
    try:
        validate_name(name[len(PREFIX):], prefix=PREFIX)
    except InvalidName as exc:
        return Refused.invalid_name(exc, "room", f"{name}: {exc}")
    return PREFIX + display_form(name[len(PREFIX):])


class Rooms:
    """Every room of one server, and the rules (see the module's docstring).

    ``admins`` are the administrators' names (default ``const.ADMINS``). ``online_count``
    says how many are logged in: the size of the default room, which presence owns.
    ``accounts_only``: the server admits only accounts (``require_accounts``), so an
    invitation of a name with no account is refused (rule 4).
    """

    def __init__(self, admins: Iterable[str] = const.ADMINS, default_room: str = const.DEFAULT_ROOM,
                 online_count: Callable[[], int] = lambda: 0, accounts_only: bool = False) -> None:
        self._admins = frozenset(canonical(name) for name in admins)
        self._accounts_only = accounts_only
        self._online_count = online_count
        self._rooms: dict[str, Room] = {}
        self._lookalikes = Lookalikes()  # names of the rooms, without the prefix
        self._joined: dict[str, set[str]] = {}  # person key -> keys of their rooms
        self._mute_ends: list[tuple[float, str, str]] = []  # heap of (until, room key, person key)
        self._dirty: set[str] = set()  # keys of the rooms changed since changes() was called
        # Address (a name's key when none is known) -> room key -> when it was created from
        # there, within the creation window (rule 9). Keyed by room so that a creation
        # decided again (in a cluster, after another node changed the room first) counts
        # once. Not stored: a restart forgets it, as it forgets rate buckets.
        self._created: dict[str, dict[str, float]] = {}
        name = check_room_name(default_room)
        assert not isinstance(name, Refused), name
        self.default = self._add(Room(name, owner=None))

    # --- Reading -----------------------------------------------------------------------

    def get(self, name: str) -> Room | None:
        """The room called ``name`` in any spelling, or None."""
        return self._rooms.get(room_key(name))

    def missing(self, name: str) -> Refused:
        """``no_such_room`` for ``name``, which names no room. A room's name is exact (it
        starts with ``#``: a name without it is never taken for the room), but when
        ``#name`` is a room the refusal names it in ``like`` ("did you mean #redes?"), as an
        unknown recipient names the user it looks like."""
        meant = None if name.startswith(PREFIX) else self._rooms.get(room_key(PREFIX + name))
        if meant is None:
            return Refused(ErrorCode.NO_SUCH_ROOM, f"there is no room {name[:40]}")
        return Refused(ErrorCode.NO_SUCH_ROOM, f"there is no room {name[:40]}; did you mean {meant.name}?",
                       like=meant.name)

    @staticmethod
    def not_in(room: Room, target: Person) -> Refused:
        """``not_member`` for an act on ``target``, who is not in ``room``: about them, not
        the asker (whose own is :meth:`_find`'s), so it names them in ``name``, and a client
        can say "Olga is not in #turma" in its words (PROTOCOL.md, "error")."""
        shown = display_form(target.name)
        return Refused(ErrorCode.NOT_MEMBER, f"{shown} is not in {room.name}", name=shown)

    def add_admin(self, name: str) -> None:
        """Make the account ``name`` an administrator (the server console's ``/admin``)."""
        self._admins = self._admins | {canonical(name)}

    def remove_admin(self, name: str) -> None:
        """``name`` is no administrator any more: its account was deleted. An administrator
        is an account, never a name: whoever registered the name after its hold would
        otherwise administer every room (``const.ADMINS`` names too, until a restart
        finds the account again)."""
        self._admins = self._admins - {canonical(name)}

    def is_admin(self, person: Person) -> bool:
        """Whether ``person`` is a server administrator (an account named in ``admins`` or
        made one at the console): the one test of it. The seam for an administrator's
        delete of any message (issue 13; edit and delete live on branch convo's
        server/afterdelivered.py): a delete by someone for whom this is true need not be
        of their own message."""
        return self._admin(person, canonical(person.name))

    def _admin(self, person: Person, key: str) -> bool:
        return person.account and key in self._admins

    def admins(self) -> list[str]:
        """The administrators' comparison forms, sorted."""
        return sorted(self._admins)

    def role(self, room: Room, person: Person) -> Role:
        """``person``'s role in ``room``: administrators are administrators everywhere."""
        me = canonical(person.name)
        if self._admin(person, me):
            return Role.ADMIN
        if room.owner == me:
            return Role.OWNER
        if me in room.moderators:
            return Role.MODERATOR
        if me in room.members or room is self.default:
            return Role.MEMBER
        return Role.OUTSIDER

    def rooms_of(self, name: str) -> list[str]:
        """The rooms ``name`` is a member of (besides the default room), by name."""
        joined = self._joined.get(canonical(name))
        if not joined:  # most users: no generator to sort (a login asks twice; issue 9)
            return []
        return sorted(self._rooms[key].name for key in joined)

    def count(self, room: Room) -> int:
        return self._online_count() if room is self.default else len(room.members)

    def list_rooms(self, person: Person, after: str | None = None, mine: bool = False) -> Decision:
        """The rooms ``person`` may see (public ones, and invite-only ones they are in or
        administer), sorted by comparison form, after ``after`` if given. With ``mine``,
        only the named rooms ``person`` is a member of (invite-only ones too; never the
        default room, which holds everyone), from the per-person index, in the same order."""
        start = room_key(after) if after is not None else ""
        if mine:
            return [RoomSummary(room.name, self.count(room), room.topic, room.invite_only)
                    for room in (self._rooms[key] for key in sorted(self._joined.get(canonical(person.name), ()))
                                 if key > start)]
        out = []
        for key in sorted(self._rooms):
            room = self._rooms[key]
            if key <= start or room.invite_only and self.role(room, person) not in (Role.ADMIN, *_MEMBERS):
                continue
            out.append(RoomSummary(room.name, self.count(room), room.topic, room.invite_only))
        return out

    def members(self, person: Person, name: str, after: str | None = None, now: float | None = None) -> Decision:
        """The members of room ``name`` sorted by comparison form, after ``after`` if given
        (a page's cursor), each said ``muted`` while a mute keeps them from posting at
        ``now`` (as :meth:`may_post` decides; None: until :meth:`expire` ends it). Anyone
        may list a public room's; an invite-only room's only its members and administrators."""
        room = self._rooms.get(room_key(name))
        if room is None:
            return [self.missing(name)]
        if room is self.default:
            return [Refused(ErrorCode.FORBIDDEN, f"everyone online is in {room.name}: ask who is online")]
        if room.invite_only and self.role(room, person) not in (Role.ADMIN, *_MEMBERS):
            return [Refused(ErrorCode.NOT_MEMBER, f"{room.name} is invite-only and you are not in it")]
        start = canonical(after) if after is not None else ""
        return [Member(room.members[key], self._role_of_key(room, key), self._muted(room, key, now))
                for key in sorted(room.members) if key > start]

    @staticmethod
    def _muted(room: Room, key: str, now: float | None) -> bool:
        """Whether the person ``key`` is muted in ``room`` at ``now`` (see :meth:`members`)."""
        if key not in room.muted:
            return False
        until = room.muted[key]
        return until is None or now is None or until > now

    def may_post(self, person: Person, name: str, now: float) -> Refused | None:
        """None if ``person`` may post to room ``name`` now, else why not."""
        room, refusal = self._find(person, name, "post")
        if refusal is not None:
            return refusal
        me = canonical(person.name)
        if self._muted(room, me, now):
            until = room.muted[me]
            left = None if until is None else until - now
            when = "until a moderator unmutes you" if left is None else f"for {left:.0f} s more"
            return Refused(ErrorCode.MUTED, f"you are muted in {room.name} {when}", room=room.name, retry_after=left)
        return None

    def paced(self, person: Person, name: str) -> bool:
        """Whether ``person``'s posts to room ``name`` count against its budget of posts
        (the shell keeps the budget: server/roomdesk.py): all but those with the right to
        "post freely". Asked once :meth:`may_post` let the post pass."""
        room = self._rooms.get(room_key(name))
        return room is None or self.role(room, person) not in RIGHTS["post freely"]

    def may_read_history(self, person: Person, name: str) -> Refused | None:
        """None if ``person`` may page room ``name``'s history now (its members only: an
        administrator joins first, as to post), else why not. The default room keeps no
        history of its own (its messages are the broadcast room's): ``forbidden``."""
        room = self._rooms.get(room_key(name))
        if room is self.default:
            return Refused(ErrorCode.FORBIDDEN, f"{room.name} keeps no history: ask for a room or a person's")
        return self._find(person, name, "history")[1]

    @staticmethod
    def holds(room: Room, msg_id: int) -> bool:
        """Whether post ``msg_id`` of ``room``'s name is ``room``'s own, not one of an earlier
        room of that name that ended (its last member left: rule 7). Posts are stored under
        the room's name, so a room made again under it must not show, tell or let anyone
        moderate the posts of the one before: an invite-only room's history would go to
        whoever made a room of its name once it ended."""
        return msg_id > room.first_id

    # --- Joining and leaving ------------------------------------------------------------

    def join(self, person: Person, name: str, now: float, create: bool = False,
             invite_only: bool = False, last_id: int = 0) -> Decision:
        """``person`` joins room ``name``, creating it if it does not exist (then they own
        it, and ``invite_only`` applies; ``last_id``: the highest message id given out,
        see :meth:`holds`). With ``create``, only creates: ``room_exists`` if it exists."""
        shown = check_room_name(name)
        if isinstance(shown, Refused):
            return [shown]
        key, me = room_key(shown), canonical(person.name)
        room = self._rooms.get(key)
        if room is None:
            return self._create(person, shown, now, invite_only, last_id)
        if create:
            return [Refused(ErrorCode.ROOM_EXISTS, f"{room.name} exists already: join it")]
        if room is self.default:
            return [self._entered(room)]
        if me in room.members:
            return [self._entered(room)]
        role = self.role(room, person)
        if role is not Role.ADMIN:
            refusal = self._banned(room, person)
            if refusal is not None:
                return [refusal]
            if room.invite_only and me not in room.invited:
                return [Refused(ErrorCode.INVITE_ONLY, f"{room.name} is invite-only: ask its moderators to invite you")]
        if len(self._joined.get(me, ())) >= const.MAX_ROOMS_PER_USER:
            return [Refused(ErrorCode.TOO_MANY_ROOMS, f"you are in {const.MAX_ROOMS_PER_USER} rooms: leave one first")]
        room.invited.pop(me, None)
        self._enrol(room, me, display_form(person.name))
        return [self._entered(room), Notice(room.name, "joined", display_form(person.name), now)]

    def _create(self, person: Person, shown: str, now: float, invite_only: bool, last_id: int) -> Decision:
        me = canonical(person.name)
        rivals = self._lookalikes.rivals(shown[len(PREFIX):])
        if rivals:
            like = f"{PREFIX}{rivals[0]}"  # the room's name, so that a client can say it in its user's words
            return [Refused(ErrorCode.CONFUSABLE_NAME, f"{shown} looks like {like}: join that one or pick another name",
                            like=like)]
        source = None if self._admin(person, me) else person.address or me
        refusal = None if source is None else self._creation_refused(source, room_key(shown), now)
        if refusal is not None:
            return [refusal]
        if len(self._rooms) >= const.MAX_ROOMS:
            return [Refused(ErrorCode.TOO_MANY_ROOMS, f"the server has {const.MAX_ROOMS} rooms: no more can be made")]
        if len(self._joined.get(me, ())) >= const.MAX_ROOMS_PER_USER:
            return [Refused(ErrorCode.TOO_MANY_ROOMS, f"you are in {const.MAX_ROOMS_PER_USER} rooms: leave one first")]
        if source is not None:
            self._created.setdefault(source, {})[room_key(shown)] = now
        room = self._add(Room(shown, owner=me, invite_only=invite_only, created_at=now, first_id=last_id))
        self._enrol(room, me, display_form(person.name))
        kind = "invite-only " if invite_only else ""
        return [Entered(room.name, display_form(person.name), "", invite_only, 1, created=True),
                LogLine(f"{display_form(person.name)} created the {kind}room {room.name}", "room{s} created",
                        room.name)]

    def _creation_refused(self, source: str, key: str, now: float) -> Refused | None:
        """Why ``source`` (an address) may not create room ``key`` now (rule 9), or None.
        Forgets the creations that left the window as it reads them."""
        created = self._created.get(source)
        if not created:
            return None
        since = now - const.ROOM_CREATION_WINDOW
        for old in [k for k, at in created.items() if at <= since]:
            del created[old]
        if not created:
            del self._created[source]
            return None
        if len(created) < const.ROOMS_CREATED_PER_ADDRESS or key in created:
            return None
        wait = min(created.values()) - since
        # With retry_after: the one cause of too_many_rooms that a wait ends, and so the one
        # a client tells apart, in its user's words (client/display.py, TIMED_TEXTS).
        return Refused(ErrorCode.TOO_MANY_ROOMS,
                       f"{len(created)} rooms were created from your address in the last "
                       f"{const.ROOM_CREATION_WINDOW / 60:.0f} min: the next one can be made in "
                       f"{max(1, math.ceil(wait / 60))} min; join an existing room meanwhile",
                       retry_after=retry_seconds(wait))

    def leave(self, person: Person, name: str, now: float) -> Decision:
        """``person`` leaves room ``name``; see rule 7 for the owner and the last one."""
        room, refusal = self._find(person, name, "leave")
        if refusal is not None:
            return [refusal]
        me = canonical(person.name)
        out: Decision = [Notice(room.name, "left", room.members[me], now)]
        out += self._remove(room, me, now)
        return out

    def held_by(self, name: str) -> set[str]:
        """The keys of the rooms ``name`` is a member of, invited to or muted in: what
        :meth:`forget` would change."""
        me = canonical(name)
        return set(self._joined.get(me, ())) | {key for key, room in self._rooms.items()
                                                 if me in room.invited or me in room.muted}

    def forget(self, name: str, now: float, only: set[str] | None = None) -> Decision:
        """The guest name ``name`` changed hands (a hello took it after its hold: guests.py):
        nothing of its earlier holder passes on to the new one. They leave every room they
        were in, each announced as a ``left`` (an owner's room is handed on, a room left
        with nobody ends: rule 7), and their invitations and mutes go with them: the
        newcomer inherits no membership, ownership or invitation of an invite-only room.
        Bans by name stay: they protect the room, not the person. ``only``: in these rooms
        (keys) alone, those :meth:`held_by` gave when the name changed hands; not the rooms
        the newcomer joined since."""
        me = canonical(name)
        out: Decision = []
        for key in sorted(self._joined.get(me, ())):
            if only is not None and key not in only:
                continue
            room = self._rooms[key]
            # To the members only: the sessions of the name it names are the newcomer's,
            # who must not learn the earlier holder's rooms (an invite-only one's name).
            out.append(Notice(room.name, "left", room.members[me], now, tell_named=False))
            out += self._remove(room, me, now)
        for key, room in self._rooms.items():
            if (me in room.invited or me in room.muted) and (only is None or key in only):
                room.invited.pop(me, None)
                room.muted.pop(me, None)
                room.muted_names.pop(me, None)
                room.mute_lengths.pop(me, None)
                self._dirty.add(key)
        return out

    # --- Staff acts ---------------------------------------------------------------------

    def set_topic(self, person: Person, name: str, topic: str, now: float) -> Decision:
        room, refusal = self._find(person, name, "topic")
        if refusal is not None:
            return [refusal]
        room.topic = topic
        self._dirty.add(room_key(room.name))
        by = display_form(person.name)
        return [Notice(room.name, "topic", by, now, by=by, topic=topic),
                LogLine(f"{by} set the topic of {room.name} to {topic!r}", room=room.name)]

    def invite(self, person: Person, name: str, target: Person, now: float) -> Decision:
        room, refusal = self._find(person, name, "invite", target)
        if refusal is not None:
            return [refusal]
        if self._accounts_only and not target.account:
            return [Refused(ErrorCode.UNKNOWN_RECIPIENT, f"{display_form(target.name)} has no account here, and only "
                            "accounts log in on this server: check the name, or invite them once they have registered")]
        them = canonical(target.name)
        if them in room.members or them in room.invited:
            return []  # nothing changes: nobody is told again (see Notice.tell_named)
        refusal = self._banned(room, target)
        if refusal is not None:
            # About someone else: no ``room``, so no client words it as "you are banned".
            return [Refused(ErrorCode.BANNED, f"{display_form(target.name)} is banned from {room.name}: unban first")]
        self._dirty.add(room_key(room.name))
        room.invited.pop(them, None)
        room.invited[them] = None
        while len(room.invited) > const.MAX_ROOM_INVITES:
            del room.invited[next(iter(room.invited))]
        by = display_form(person.name)
        return [Notice(room.name, "invite", display_form(target.name), now, by=by),
                LogLine(f"{by} invited {display_form(target.name)} to {room.name}", room=room.name)]

    def kick(self, person: Person, name: str, target: Person, now: float, reason: str | None = None) -> Decision:
        room, refusal = self._find(person, name, "kick", target)
        if refusal is not None:
            return [refusal]
        them = canonical(target.name)
        if them not in room.members:
            return [self.not_in(room, target)]
        return self._moderated(room, "kick", person, target, now, reason) + self._remove(room, them, now)

    def ban(self, person: Person, name: str, target: Person, now: float, reason: str | None = None) -> Decision:
        room, refusal = self._find(person, name, "ban", target)
        if refusal is not None:
            return [refusal]
        them = canonical(target.name)
        address = None if target.account else target.address
        old = room.banned.get(them)
        if old is not None and old.address:
            room.banned_addresses.pop(old.address, None)
        self._dirty.add(room_key(room.name))
        room.banned[them] = _Ban(display_form(target.name), display_form(person.name), now, reason, address)
        if address:
            room.banned_addresses[address] = them
        room.invited.pop(them, None)
        out = self._moderated(room, "ban", person, target, now, reason)
        if old is not None:  # banned already: told then, they do not hear it again (tell_named)
            out[0] = replace(out[0], tell_named=False)
        if address:  # the moderator is told (their client words it), and the log says which
            out[0] = replace(out[0], address_banned=True)
            out.append(LogLine(f"{display_form(target.name)} is a guest: {room.name} bans the address {address} too",
                               room=room.name))
        if them in room.members:
            out += self._remove(room, them, now)
        return out

    def unban(self, person: Person, name: str, target: Person, now: float) -> Decision:
        room, refusal = self._find(person, name, "unban", target)
        if refusal is not None:
            return [refusal]
        ban = room.banned.pop(canonical(target.name), None)
        if ban is None:
            return []
        self._dirty.add(room_key(room.name))
        if ban.address:
            room.banned_addresses.pop(ban.address, None)
        return self._moderated(room, "unban", person, target, now, None)

    def mute(self, person: Person, name: str, target: Person, now: float, reason: str | None = None,
             seconds: float | None = None) -> Decision:
        """Mute ``target`` in room ``name``, for ``seconds`` (None: until unmuted)."""
        room, refusal = self._find(person, name, "mute", target)
        if refusal is not None:
            return [refusal]
        them = canonical(target.name)
        muted_before = them in room.muted
        until = None if seconds is None else now + seconds
        room.muted[them] = until
        room.muted_names[them] = display_form(target.name)
        if seconds is None:
            room.mute_lengths.pop(them, None)
        else:
            room.mute_lengths[them] = seconds
        self._dirty.add(room_key(room.name))
        if until is not None:
            heapq.heappush(self._mute_ends, (until, room_key(room.name), them))
        out = self._moderated(room, "mute", person, target, now, reason, until=until)
        if muted_before:  # (a member hears it as every member does; one outside, once)
            out[0] = replace(out[0], tell_named=False)
        return out

    def unmute(self, person: Person, name: str, target: Person, now: float) -> Decision:
        room, refusal = self._find(person, name, "unmute", target)
        if refusal is not None:
            return [refusal]
        if room.muted.pop(canonical(target.name), 0.0) == 0.0:
            return []
        room.muted_names.pop(canonical(target.name), None)
        room.mute_lengths.pop(canonical(target.name), None)
        self._dirty.add(room_key(room.name))
        return self._moderated(room, "unmute", person, target, now, None)

    def appoint(self, person: Person, name: str, target: Person, role: Role, now: float) -> Decision:
        """Make member ``target`` a moderator of room ``name``, or a member again; or its
        owner (the owner hands the room on, or an administrator does): the owner before
        becomes a moderator."""
        if role not in (Role.MODERATOR, Role.MEMBER, Role.OWNER):
            return [Refused(ErrorCode.BAD_FIELD, "a member can be appointed owner, moderator or member")]
        room, refusal = self._find(person, name, "appoint", target)
        if refusal is not None:
            return [refusal]
        them = canonical(target.name)
        if them not in room.members and room is not self.default:
            return [self.not_in(room, target)]
        if them == room.owner:
            return [Refused(ErrorCode.FORBIDDEN, f"{display_form(target.name)} owns {room.name}")]
        if role is Role.OWNER:
            if room is self.default:
                return [Refused(ErrorCode.FORBIDDEN, f"{room.name} has no owner")]
            self._dirty.add(room_key(room.name))
            if room.owner is not None:
                room.moderators.add(room.owner)
            room.owner = them
            room.moderators.discard(them)
            by, shown = display_form(person.name), room.members[them]
            return [Notice(room.name, "owner", shown, now, by=by),
                    LogLine(f"{by} made {shown} the owner of {room.name}", room=room.name)]
        if (them in room.moderators) == (role is Role.MODERATOR):
            return []
        self._dirty.add(room_key(room.name))
        if role is Role.MODERATOR:
            room.moderators.add(them)
        else:
            room.moderators.discard(them)
        return self._moderated(room, "appoint", person, target, now, None, role=str(role))

    def set_invite_only(self, person: Person, name: str, invite_only: bool, now: float) -> Decision:
        """Make room ``name`` invite-only, or public again (its owner, or an administrator).
        Who is in stays in; invitations already given stay valid."""
        room = self._rooms.get(room_key(name))
        if room is self.default:
            return [Refused(ErrorCode.FORBIDDEN, f"everyone is in {room.name}: it cannot be made invite-only")]
        room, refusal = self._find(person, name, "mode")
        if refusal is not None:
            return [refusal]
        if room.invite_only == invite_only:
            return []
        room.invite_only = invite_only
        self._dirty.add(room_key(room.name))
        by, act = display_form(person.name), "invite_only" if invite_only else "public"
        return [Notice(room.name, act, by, now, by=by),
                LogLine(f"{by} made {room.name} {'invite-only' if invite_only else 'public'}", room=room.name)]

    def delete_post(self, person: Person, name: str, sender: str, msg_id: int, now: float) -> Decision:
        """``person`` deletes post ``msg_id`` that ``sender`` (display form) wrote in room
        ``name`` (someone else's: a sender deletes their own by the rule of edits). Allowed
        by RIGHTS["delete"]. Announced as a Notice ``delete`` naming the sender, and logged. The shell deletes
        the post once this allows it."""
        room, refusal = self._find(person, name, "delete")
        if refusal is not None:
            return [refusal]
        if not self.holds(room, msg_id):
            return [Refused(ErrorCode.FORBIDDEN, f"message {msg_id} is not a post of this {room.name}: "
                            "of an earlier room of its name")]
        by = display_form(person.name)
        return [Notice(room.name, "delete", sender, now, by=by),
                LogLine(f"{by} deleted message {msg_id} of {sender} in {room.name}", room=room.name)]

    # --- Time ---------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`expire` has something to do next (the end of a mute), or None."""
        return self._mute_ends[0][0] if self._mute_ends else None

    def clock_stepped(self, by: float) -> None:
        """The wall clock stepped ``by`` seconds (server/clocksteps.py): every timed mute's
        end moves as much, so that it lasts its length (a step back of an hour would have
        made a ten minutes' mute last seventy, a step forward ended it at once), and so do
        the times of the rooms each address created (rule 9's window: a step back of a day
        refused an address's rooms for a day). The rooms with a mute are changed
        (:meth:`changes`: their ends are stored anew)."""
        for created in self._created.values():
            for key in created:
                created[key] += by
        if not self._mute_ends:
            return
        ends = []
        for until, key, them in self._mute_ends:
            room = self._rooms.get(key)
            if room is None or room.muted.get(them, 0.0) != until:
                continue  # unmuted, muted again for another time, or the room ended
            room.muted[them] = until + by
            ends.append((until + by, key, them))
            self._dirty.add(key)
        heapq.heapify(ends)
        self._mute_ends = ends

    def clamp_mutes(self, now: float) -> None:
        """Put the end of each timed mute that is further from ``now`` than its length at
        its length from now: its end is stored as a wall time, and a clock set back while
        the server was stopped (a VM restored from a snapshot) would make it last that much
        longer. At a start; a step while running is :meth:`clock_stepped`'s. The rooms so
        changed are :meth:`changes`' (stored anew)."""
        for key, room in self._rooms.items():
            for them, length in room.mute_lengths.items():
                until = room.muted.get(them)
                if until is not None and until - now > length:
                    room.muted[them] = now + length
                    heapq.heappush(self._mute_ends, (now + length, key, them))
                    self._dirty.add(key)

    def expire(self, now: float) -> Decision:
        """End the mutes whose time has come: an ``unmute`` Notice (``by`` None) for each,
        except of a person banned from the room meanwhile (only the log says it). Also forgets
        the room creations older than the creation window (rule 9)."""
        since = now - const.ROOM_CREATION_WINDOW
        for source in [s for s, created in self._created.items() if max(created.values()) <= since]:
            del self._created[source]
        out: Decision = []
        while self._mute_ends and self._mute_ends[0][0] <= now:
            until, key, them = heapq.heappop(self._mute_ends)
            room = self._rooms.get(key)
            if room is None or room.muted.get(them, 0.0) != until:
                continue  # unmuted, muted again for another time, or the room ended
            del room.muted[them]
            room.mute_lengths.pop(them, None)
            self._dirty.add(key)
            shown = room.muted_names.pop(them, None) or room.members.get(them, them)
            if them in room.banned:  # "may write again" would be untrue while the ban stands
                out.append(LogLine(f"the mute of {shown} in {room.name} ended ({shown} is banned from it)",
                                   room=room.name))
                continue
            out += [Notice(room.name, "unmute", shown, now, reason="the mute ended"),
                    LogLine(f"the mute of {shown} in {room.name} ended", room=room.name)]
        return out

    # --- Persistence ----------------------------------------------------------------------

    def changes(self) -> list[tuple[str, str | None]]:
        """The rooms changed since the last call, as (room key, record): the JSON text to
        store, or None for a room that ended. Call after each decision that changed
        something, and store them before answering (an ``ok`` is a promise)."""
        out = []
        for key in sorted(self._dirty):
            room = self._rooms.get(key)
            out.append((key, None if room is None else _record(room)))
        self._dirty.clear()
        return out

    def reset(self, key: str, record: str | None) -> None:
        """Put room ``key`` back as ``record`` says (None: no such room): what the shell
        does when storing a change failed, so that nothing of it happened."""
        old = self._rooms.pop(key, None)
        if old is not None:
            self._lookalikes.discard(old.name[len(PREFIX):])
            for member in old.members:
                rooms = self._joined.get(member)
                if rooms is not None:
                    rooms.discard(key)
                    if not rooms:
                        del self._joined[member]
        if record is not None:
            self.restore([record])
        elif old is self.default:
            self.default = self._add(Room(old.name, owner=None))
        self._dirty.discard(key)

    def restore(self, records: Iterable[str]) -> Decision:
        """Build the rooms again from stored records (what :meth:`changes` gave), at start;
        a record that cannot be read is skipped, with a LogLine saying so."""
        out: Decision = []
        for text in records:
            try:
                room = _from_record(text)
            except (ValueError, TypeError, KeyError) as exc:
                out.append(LogLine(f"a stored room could not be read and is left out: {exc}"))
                continue
            key = room_key(room.name)
            if key == room_key(self.default.name):
                room.members.clear()  # everyone online is in it; nobody is stored
                room.owner = None
                self.default = room
            self._rooms[key] = room
            self._lookalikes.add(room.name[len(PREFIX):])
            for member in room.members:
                self._joined.setdefault(member, set()).add(key)
            for them, until in room.muted.items():
                if until is not None:
                    heapq.heappush(self._mute_ends, (until, key, them))
        self._dirty.clear()
        return out

    # --- Inside -------------------------------------------------------------------------

    def _add(self, room: Room) -> Room:
        self._rooms[room_key(room.name)] = room
        self._dirty.add(room_key(room.name))
        self._lookalikes.add(room.name[len(PREFIX):])
        return room

    def _enrol(self, room: Room, me: str, shown: str) -> None:
        self._dirty.add(room_key(room.name))
        room.members[me] = shown
        self._joined.setdefault(me, set()).add(room_key(room.name))

    def _remove(self, room: Room, me: str, now: float) -> Decision:
        """Take ``me`` out of ``room``; hand ownership on or end the room (rule 7)."""
        self._dirty.add(room_key(room.name))
        del room.members[me]
        room.moderators.discard(me)
        rooms = self._joined[me]
        rooms.discard(room_key(room.name))
        if not rooms:
            del self._joined[me]
        if not room.members:
            del self._rooms[room_key(room.name)]
            self._lookalikes.discard(room.name[len(PREFIX):])
            return [LogLine(f"the room {room.name} ended: its last member left", room=room.name)]
        if room.owner != me:
            return []
        heir = next((key for key in room.members if key in room.moderators), next(iter(room.members)))
        room.owner = heir
        room.moderators.discard(heir)
        return [Notice(room.name, "owner", room.members[heir], now),
                LogLine(f"{room.members[heir]} owns {room.name} now", room=room.name)]

    def _role_of_key(self, room: Room, key: str) -> str:
        # For lists: the account flag is not known here, so administrators show their role
        # in the room itself.
        if room.owner == key:
            return Role.OWNER
        return Role.MODERATOR if key in room.moderators else Role.MEMBER

    def _banned(self, room: Room, person: Person) -> Refused | None:
        me = canonical(person.name)
        ban = room.banned.get(me)
        if ban is None and not person.account and person.address is not None:
            key = room.banned_addresses.get(person.address)
            ban = room.banned.get(key) if key is not None else None
            if ban is not None and me == canonical(ban.by):
                # One address can be many people (a school's NAT, one machine): an address
                # ban never keeps out the one who made it (an owner leaving and coming back).
                ban = None
        if ban is None:
            return None
        why = f": {ban.reason}" if ban.reason else ""
        return Refused(ErrorCode.BANNED, f"you are banned from {room.name}{why}", room=room.name,
                       reason=ban.reason or None)

    def _find(self, person: Person, name: str, act: str, target: Person | None = None) -> tuple[Room, Refused | None]:
        """The room and None if ``person`` may do ``act`` (to ``target``) there, else why
        not: the one place where RIGHTS, the ranks and rule 2 are applied."""
        room = self._rooms.get(room_key(name))
        if room is None:
            return None, self.missing(name)  # type: ignore[return-value]
        if room is self.default and act in NOT_IN_DEFAULT:
            return room, Refused(ErrorCode.FORBIDDEN, f"everyone is in {room.name}: it cannot be left, "
                                 "nor anyone kicked, banned or invited (mute instead)")
        role = self.role(room, person)
        member = room is self.default or canonical(person.name) in room.members
        if role is Role.OUTSIDER or act in MEMBERS_ONLY and not member:
            return room, Refused(ErrorCode.NOT_MEMBER, f"you are not in {room.name}: join it first", room=room.name)
        if role not in RIGHTS[act]:
            return room, Refused(ErrorCode.FORBIDDEN, f"{a_role(role)} of {room.name} cannot {act}")
        if target is not None and act in TARGETED:
            if canonical(target.name) == canonical(person.name):
                return room, Refused(ErrorCode.FORBIDDEN, f"you cannot {act} yourself")
            theirs = self.role(room, target)
            if RANK[theirs] >= RANK[role]:
                return room, Refused(ErrorCode.FORBIDDEN,
                                     f"{a_role(role)} cannot {act} {a_role(theirs)} of {room.name}")
        return room, None

    def _moderated(self, room: Room, act: str, person: Person, target: Person, now: float,
                   reason: str | None, until: float | None = None, role: str | None = None) -> Decision:
        by, them = display_form(person.name), display_form(target.name)
        why = f" ({reason})" if reason else ""
        # A mute's length, not its end: the log's reader has the line's own time beside it,
        # and a Unix time there means nothing to a teacher.
        extra = (f" for {until - now:.0f} s" if until is not None else " until unmuted") if act == "mute" \
            else f" as {role}" if role else ""
        return [Notice(room.name, act, them, now, by=by, reason=reason, until=until, role=role),
                LogLine(f"{by} {_PAST[act]} {them} in {room.name}{extra}{why}", room=room.name)]

    def _entered(self, room: Room) -> Entered:
        owner = room.members.get(room.owner) if room.owner else None
        return Entered(room.name, owner, room.topic, room.invite_only, self.count(room))


# How the log says each moderation act.
_PAST = {"kick": "kicked", "ban": "banned", "unban": "unbanned", "mute": "muted", "unmute": "unmuted",
         "appoint": "appointed"}
# The version of the record format, stored in each record, for later changes to it.
_RECORD_VERSION = 1


def _record(room: Room) -> str:
    """``room`` as JSON text (see :meth:`Rooms.changes`)."""
    return json.dumps({
        "v": _RECORD_VERSION, "name": room.name, "owner": room.owner, "invite_only": room.invite_only,
        "topic": room.topic, "created_at": room.created_at, "members": list(room.members.items()),
        "moderators": sorted(room.moderators), "invited": list(room.invited),
        "banned": [[key, ban.name, ban.by, ban.at, ban.reason, ban.address] for key, ban in room.banned.items()],
        # [key, until, name], and the length of a timed mute (a node of the version before
        # reads the first three).
        "muted": [[key, until, room.muted_names.get(key, key), *([room.mute_lengths[key]] if key in room.mute_lengths
                                                                else [])] for key, until in room.muted.items()],
        # Read as 0 from a record written before it was kept (a node of the version before
        # ignores it).
        "first_id": room.first_id,
    }, ensure_ascii=False, separators=(",", ":"))


def _from_record(text: str) -> Room:
    data = json.loads(text)
    if data.get("v") != _RECORD_VERSION:
        raise ValueError(f"record version {data.get('v')!r} is not {_RECORD_VERSION}")
    banned = {key: _Ban(name, by, at, reason, address) for key, name, by, at, reason, address in data["banned"]}
    return Room(str(data["name"]), data["owner"], bool(data["invite_only"]), str(data["topic"]),
                float(data["created_at"]), {str(key): str(shown) for key, shown in data["members"]},
                set(data["moderators"]), dict.fromkeys(data["invited"]), banned,
                {ban.address: key for key, ban in banned.items() if ban.address},
                {str(entry[0]): entry[1] for entry in data["muted"]},
                # [key, until, name, length]; a record written before the names were kept:
                # [key, until]; before the lengths were, [key, until, name]
                {str(entry[0]): str(entry[2]) for entry in data["muted"] if len(entry) > 2},
                {str(entry[0]): float(entry[3]) for entry in data["muted"] if len(entry) > 3},
                int(data.get("first_id", 0)))


def record_members(text: str) -> tuple[str, list[str]]:
    """The display name of the room in a stored record (what :meth:`Rooms.changes` gives)
    and its members' keys in join order; raises ValueError, TypeError or KeyError if the
    record cannot be read."""
    room = _from_record(text)
    return room.name, list(room.members)


"""The room core (server/rooms.py): every rule, driven with people and a fake clock, no I/O."""

from __future__ import annotations

import pytest

import const
from protocol import ErrorReply
from protocol.errors import ErrorCode
from server.rooms import (
    Entered, LogLine, Member, Notice, Person, Refused, Role, RoomSummary, Rooms, check_room_name,
)

T0 = 1_700_000_000.0
ADMIN = Person("Teacher", account=True, address="10.0.0.1")
OWNER = Person("Olga", account=True, address="10.0.0.2")
MOD = Person("Moe", account=True, address="10.0.0.3")
MEMBER = Person("Mia", account=True, address="10.0.0.4")
OUTSIDER = Person("Otto", account=True, address="10.0.0.5")
VICTIM = Person("Vic", account=True, address="10.0.0.6")
GUEST = Person("troll", account=False, address="192.0.2.66")


def codes(decision):
    return [event.code for event in decision if type(event) is Refused]


def notices(decision):
    return [event for event in decision if type(event) is Notice]


def logs(decision):
    return [event.text for event in decision if type(event) is LogLine]


@pytest.fixture
def rooms() -> Rooms:
    """#redes owned by Olga, with Moe (moderator), Mia and Vic (members)."""
    rooms = Rooms(admins=["teacher"], online_count=lambda: 42)
    assert codes(rooms.join(OWNER, "#redes", T0)) == []
    for person in (MOD, MEMBER, VICTIM):
        assert codes(rooms.join(person, "#redes", T0)) == []
    assert codes(rooms.appoint(OWNER, "#redes", MOD, Role.MODERATOR, T0)) == []
    return rooms


# --- Names --------------------------------------------------------------------------------


def test_room_names_follow_the_user_name_rules():
    assert check_room_name("#redes") == "#redes"
    assert check_room_name("#Ｒedes") == "#Redes"  # fullwidth mapped, as for user names
    assert check_room_name("#Conceição") == "#Conceição"
    for bad in ("redes", "#", "#a b", "#🌍", "#r\u0435des", "#admin", "#" + "x" * 33):
        refusal = check_room_name(bad)
        assert type(refusal) is Refused and refusal.code == ErrorCode.INVALID_NAME, bad


def test_one_room_in_any_case_and_a_cyrillic_lookalike_is_refused(rooms):
    entered = rooms.join(OUTSIDER, "#REDES", T0)
    assert type(entered[0]) is Entered and entered[0].room == "#redes" and not entered[0].created
    # Mixed scripts: Latin with a Cyrillic е.
    assert codes(rooms.join(OUTSIDER, "#r\u0435des", T0)) == [ErrorCode.INVALID_NAME]
    # All Latin but confusable with an existing room (rn looks like m).
    assert codes(rooms.join(OUTSIDER, "#arn", T0)) == []
    assert codes(rooms.join(OUTSIDER, "#am", T0)) == [ErrorCode.CONFUSABLE_NAME]
    assert rooms.get("#am") is None


def test_a_room_name_that_looks_like_an_existing_one_is_refused_naming_it(rooms):
    """Rita typed #fisica while #física existed: every client showed the server's English
    ("#fisica looks like #física: join that one or pick another name"), also in pt_BR,
    for the refusal said not which room it looks like: ``like`` does (PROTOCOL.md, "error")."""
    assert codes(rooms.join(OWNER, "#Física", T0, create=True)) == []
    refused = rooms.join(OUTSIDER, "#fisica", T0 + 1)
    assert refused == [Refused(ErrorCode.CONFUSABLE_NAME, "#fisica looks like #Física: join that one or pick "
                                                          "another name", like="#Física")]


# --- Lifecycle ----------------------------------------------------------------------------


def test_the_creator_owns_the_room_and_joins_are_announced():
    rooms = Rooms(admins=[])
    created = rooms.join(OWNER, "#redes", T0, create=True)
    assert created[0] == Entered("#redes", "Olga", "", False, 1, created=True)
    assert logs(created) == ["Olga created the room #redes"]
    assert rooms.role(rooms.get("#redes"), OWNER) is Role.OWNER
    joined = rooms.join(MEMBER, "#redes", T0 + 1)
    assert joined == [Entered("#redes", "Olga", "", False, 2), Notice("#redes", "joined", "Mia", T0 + 1)]
    assert rooms.join(MEMBER, "#redes", T0 + 2) == [Entered("#redes", "Olga", "", False, 2)]  # no second notice
    assert codes(rooms.join(OUTSIDER, "#redes", T0, create=True)) == [ErrorCode.ROOM_EXISTS]


def test_leave_hands_ownership_on_and_the_last_one_ends_the_room(rooms):
    out = rooms.leave(OWNER, "#redes", T0 + 5)
    assert notices(out) == [Notice("#redes", "left", "Olga", T0 + 5), Notice("#redes", "owner", "Moe", T0 + 5)]
    room = rooms.get("#redes")
    assert room.owner == "moe" and rooms.role(room, MOD) is Role.OWNER
    for person in (MOD, MEMBER):
        rooms.leave(person, "#redes", T0 + 6)
    assert logs(rooms.leave(VICTIM, "#redes", T0 + 7)) == ["the room #redes ended: its last member left"]
    assert rooms.get("#redes") is None
    assert codes(rooms.leave(VICTIM, "#redes", T0 + 8)) == [ErrorCode.NO_SUCH_ROOM]
    assert rooms.rooms_of("Vic") == []


def test_leave_needs_membership(rooms):
    assert codes(rooms.leave(OUTSIDER, "#redes", T0)) == [ErrorCode.NOT_MEMBER]


def test_list_public_rooms_with_counts_and_topics(rooms):
    rooms.set_topic(OWNER, "#redes", "Redes de computadores", T0)
    rooms.join(OUTSIDER, "#secret", T0, invite_only=True)
    rooms.join(OUTSIDER, "#algebra", T0)
    assert rooms.list_rooms(MEMBER) == [RoomSummary("#algebra", 1, ""), RoomSummary("#lobby", 42, ""),
                                        RoomSummary("#redes", 4, "Redes de computadores")]
    assert RoomSummary("#secret", 1, "", True) in rooms.list_rooms(OUTSIDER)  # a member sees it, and its mode
    assert RoomSummary("#secret", 1, "", True) in rooms.list_rooms(ADMIN)
    assert rooms.list_rooms(MEMBER, after="#lobby") == [RoomSummary("#redes", 4, "Redes de computadores")]


def test_list_only_ones_own_rooms_invite_only_ones_too_but_not_the_default_room(rooms):
    """``rooms`` with ``mine``: exactly the named rooms one is a member of, sorted and
    paged like the plain list; an outsider's list is empty, an administrator's too (being
    able to see every room is not being in it)."""
    rooms.set_topic(OWNER, "#redes", "Redes de computadores", T0)
    rooms.join(OUTSIDER, "#secret", T0, invite_only=True)
    rooms.invite(OUTSIDER, "#secret", MEMBER, T0)
    rooms.join(MEMBER, "#Secret", T0)
    rooms.join(OUTSIDER, "#algebra", T0)
    rooms.join(MEMBER, "#Zeta", T0)
    assert rooms.list_rooms(MEMBER, mine=True) == [
        RoomSummary("#redes", 4, "Redes de computadores"), RoomSummary("#secret", 2, "", True),
        RoomSummary("#Zeta", 1, "")]
    assert rooms.list_rooms(MEMBER, after="#REDES", mine=True) == [RoomSummary("#secret", 2, "", True),
                                                                   RoomSummary("#Zeta", 1, "")]
    assert rooms.list_rooms(OUTSIDER, mine=True) == [RoomSummary("#algebra", 1, ""),
                                                     RoomSummary("#secret", 2, "", True)]
    assert rooms.list_rooms(ADMIN, mine=True) == []
    assert rooms.list_rooms(Person("nobody"), mine=True) == []
    # Leaving, being put out, and the room ending take it off the list.
    rooms.leave(MEMBER, "#Zeta", T0)
    rooms.kick(OUTSIDER, "#secret", MEMBER, T0)
    assert rooms.list_rooms(MEMBER, mine=True) == [RoomSummary("#redes", 4, "Redes de computadores")]
    # After a restart of the server (the rooms restored from their records), the same.
    again, _stored = _reload(rooms)
    assert again.list_rooms(MEMBER, mine=True) == [RoomSummary("#redes", 4, "Redes de computadores")]
    assert again.list_rooms(OUTSIDER, mine=True) == rooms.list_rooms(OUTSIDER, mine=True)


def test_members_with_roles(rooms):
    assert rooms.members(OUTSIDER, "#redes") == [
        Member("Mia", "member"), Member("Moe", "moderator"), Member("Olga", "owner"), Member("Vic", "member")]
    assert rooms.members(OUTSIDER, "#redes", after="MOE") == [Member("Olga", "owner"), Member("Vic", "member")]
    rooms.join(OWNER, "#secret", T0, invite_only=True)
    assert codes(rooms.members(OUTSIDER, "#secret")) == [ErrorCode.NOT_MEMBER]
    assert rooms.members(ADMIN, "#secret") == [Member("Olga", "owner")]
    assert codes(rooms.members(MEMBER, "#nowhere")) == [ErrorCode.NO_SUCH_ROOM]


def test_invite_only_admits_the_invited_once(rooms):
    rooms.join(OWNER, "#secret", T0, invite_only=True)
    assert codes(rooms.join(MEMBER, "#secret", T0)) == [ErrorCode.INVITE_ONLY]
    out = rooms.invite(OWNER, "#secret", MEMBER, T0 + 1)
    assert notices(out) == [Notice("#secret", "invite", "Mia", T0 + 1, by="Olga")]
    assert logs(out) == ["Olga invited Mia to #secret"]
    assert codes(rooms.join(MEMBER, "#secret", T0 + 2)) == []
    rooms.leave(MEMBER, "#secret", T0 + 3)
    assert codes(rooms.join(MEMBER, "#secret", T0 + 4)) == [ErrorCode.INVITE_ONLY]  # used up
    assert codes(rooms.join(ADMIN, "#secret", T0 + 4)) == []  # administrators need none


def test_on_a_server_of_accounts_only_an_invitation_is_for_an_account():
    """Inviting a name that has never logged in was accepted everywhere: on a server that
    admits only accounts, a mistyped name's invitation waited for whoever registered it
    first. There it is refused, saying why; where guests log in, a guest may come later."""
    stranger = Person("Mla", account=False, address=None)  # never logged in: no account, no address
    accounts = Rooms(admins=(), accounts_only=True)
    accounts.join(OWNER, "#secret", T0, invite_only=True)
    out = accounts.invite(OWNER, "#secret", stranger, T0)
    assert codes(out) == [ErrorCode.UNKNOWN_RECIPIENT]
    assert out[0].message == ("Mla has no account here, and only accounts log in on this server: check the name, "
                              "or invite them once they have registered")
    assert codes(accounts.join(Person("Mla", account=True, address="10.0.0.9"), "#secret", T0)) == \
        [ErrorCode.INVITE_ONLY]  # nothing was kept for the name
    assert notices(accounts.invite(OWNER, "#secret", MEMBER, T0)) == [Notice("#secret", "invite", "Mia", T0, by="Olga")]
    # An outsider is told what it may not do first, not whether the name has an account.
    assert codes(accounts.invite(OUTSIDER, "#secret", stranger, T0)) == [ErrorCode.NOT_MEMBER]
    guests = Rooms(admins=())
    guests.join(OWNER, "#secret", T0, invite_only=True)
    assert notices(guests.invite(OWNER, "#secret", stranger, T0)) == [Notice("#secret", "invite", "Mla", T0, by="Olga")]


def test_invitations_per_room_are_bounded(monkeypatch, rooms):
    monkeypatch.setattr(const, "MAX_ROOM_INVITES", 2)
    rooms.join(OWNER, "#secret", T0, invite_only=True)
    for person in (MEMBER, VICTIM, OUTSIDER):
        rooms.invite(OWNER, "#secret", person, T0)
    assert codes(rooms.join(MEMBER, "#secret", T0)) == [ErrorCode.INVITE_ONLY]  # the oldest went
    assert codes(rooms.join(OUTSIDER, "#secret", T0)) == []


def test_rooms_per_user_and_per_server_are_bounded(monkeypatch):
    monkeypatch.setattr(const, "MAX_ROOMS_PER_USER", 2)
    monkeypatch.setattr(const, "MAX_ROOMS", 4)  # the default room counts
    rooms = Rooms(admins=[])
    rooms.join(MEMBER, "#a1", T0)
    rooms.join(MEMBER, "#a2", T0)
    assert codes(rooms.join(MEMBER, "#a3", T0)) == [ErrorCode.TOO_MANY_ROOMS]
    assert codes(rooms.join(OWNER, "#a3", T0)) == []
    assert codes(rooms.join(OWNER, "#a4", T0)) == [ErrorCode.TOO_MANY_ROOMS]
    rooms.leave(MEMBER, "#a1", T0)
    assert codes(rooms.join(MEMBER, "#a3", T0)) == []


def test_rooms_created_from_one_address_are_bounded_per_window_whatever_names_it_uses(monkeypatch):
    """Rule 9: one connection cycling guest names cannot use up MAX_ROOMS for everyone; the
    refusal says when the next may be made; the window slides; others are not affected."""
    monkeypatch.setattr(const, "ROOMS_CREATED_PER_ADDRESS", 3)
    monkeypatch.setattr(const, "ROOM_CREATION_WINDOW", 3600.0)
    rooms = Rooms(admins=["teacher"])
    guests = [Person(f"g{n}", False, "192.0.2.7") for n in range(5)]
    for n in range(3):
        assert codes(rooms.join(guests[n], f"#spam{n}", T0 + n * 60)) == []
        rooms.leave(guests[n], f"#spam{n}", T0 + n * 60)  # a room that ended still counts
    [refusal] = rooms.join(guests[3], "#spam3", T0 + 600)
    assert refusal.code == ErrorCode.TOO_MANY_ROOMS
    assert "3 rooms were created from your address in the last 60 min" in refusal.message
    assert "the next one can be made in 50 min" in refusal.message, refusal.message
    # The wait as a field too, for the clients' own words (the first room leaves the window then).
    assert refusal.retry_after == 3000.0 and refusal.reply("j").retry_after == 3000.0
    assert rooms.get("#spam3") is None
    # Joining an existing room is not creating one; another address, an administrator: not bounded.
    assert codes(rooms.join(OWNER, "#aberta", T0 + 600)) == []
    assert codes(rooms.join(guests[4], "#aberta", T0 + 600)) == []
    assert codes(rooms.join(Person("other", False, "192.0.2.8"), "#mine", T0 + 600)) == []
    assert codes(rooms.join(ADMIN, "#admin1", T0 + 600)) == []
    # The window slides: an hour after the first, one more may be made.
    assert codes(rooms.join(guests[3], "#spam3", T0 + 3600)) == []
    assert codes(rooms.join(guests[4], "#spam4", T0 + 3601)) == [ErrorCode.TOO_MANY_ROOMS]
    # Forgotten once the window passed (expire sweeps them): nothing kept per address.
    rooms.expire(T0 + 3 * 3600)
    assert rooms._created == {}
    assert codes(rooms.join(guests[4], "#spam4", T0 + 3 * 3600)) == []


def test_a_creation_decided_again_counts_once(monkeypatch):
    """In a cluster a join is decided again when another node changed the room first (the
    desk resets the room): the same room's creation is one creation."""
    monkeypatch.setattr(const, "ROOMS_CREATED_PER_ADDRESS", 1)
    rooms = Rooms(admins=[])
    assert codes(rooms.join(GUEST, "#once", T0)) == []
    rooms.reset("#once", None)  # the store said no: as if never made
    assert codes(rooms.join(GUEST, "#once", T0 + 1)) == []
    assert codes(rooms.join(GUEST, "#twice", T0 + 2)) == [ErrorCode.TOO_MANY_ROOMS]


def test_an_address_ban_never_keeps_out_who_made_it():
    """A guest owner (or moderator) who bans a guest at their own address (one NAT, one
    machine) is not banned out of their own room by it; others at that address are."""
    rooms = Rooms(admins=[])
    owner, mod = Person("gbO", False, "127.0.0.1"), Person("gbZ", False, "127.0.0.1")
    bad, other = Person("gbM", False, "127.0.0.1"), Person("zed", False, "127.0.0.1")
    rooms.join(owner, "#gb", T0)
    rooms.join(mod, "#gb", T0)
    rooms.join(bad, "#gb", T0)
    rooms.appoint(owner, "#gb", mod, Role.MODERATOR, T0)
    assert codes(rooms.ban(owner, "#gb", bad, T0, "spam")) == []
    assert codes(rooms.join(other, "#gb", T0)) == [ErrorCode.BANNED]  # the address ban holds for others
    rooms.leave(owner, "#gb", T0 + 1)  # gbZ owns it now
    assert codes(rooms.join(owner, "#gb", T0 + 2)) == []  # the ban's author comes back
    assert codes(rooms.join(bad, "#gb", T0 + 2)) == [ErrorCode.BANNED]  # the banned name stays out
    assert codes(rooms.join(other, "#gb", T0 + 2)) == [ErrorCode.BANNED]


def test_a_guest_name_that_changed_hands_leaves_every_room_and_its_invitations_and_mutes_go(rooms):
    """Rule 7: nothing of a guest name's earlier holder passes on to whoever takes it."""
    gone = Person("gone", False, "192.0.2.9")
    rooms.join(gone, "#solo", T0, invite_only=True)  # theirs alone: it ends
    rooms.join(gone, "#theirs", T0)
    rooms.join(MEMBER, "#theirs", T0)  # handed on to Mia
    rooms.join(gone, "#redes", T0)
    rooms.mute(OWNER, "#redes", gone, T0, seconds=None)
    rooms.join(OWNER, "#club", T0, invite_only=True)
    rooms.invite(OWNER, "#club", gone, T0)
    rooms.changes()
    out = rooms.forget("GONE", T0 + 5)
    assert [(n.room, n.act, n.name) for n in notices(out)] == [
        ("#redes", "left", "gone"), ("#solo", "left", "gone"), ("#theirs", "left", "gone"),
        ("#theirs", "owner", "Mia")]  # as by their own leave (the one of #solo goes to nobody)
    # Told to the members only: the sessions of the name are the newcomer's.
    assert [n.tell_named for n in notices(out) if n.act == "left"] == [False, False, False]
    assert "the room #solo ended: its last member left" in logs(out)
    assert rooms.get("#solo") is None and rooms.rooms_of("gone") == []
    assert rooms.get("#redes").muted.get("gone", 0.0) == 0.0
    newcomer = Person("gone", False, "198.51.100.1")
    assert codes(rooms.join(newcomer, "#club", T0 + 6)) == [ErrorCode.INVITE_ONLY]
    assert {key for key, _record in rooms.changes()} == {"#solo", "#theirs", "#redes", "#club"}
    assert rooms.forget("nobody", T0) == [] and rooms.changes() == []


def test_topic_is_announced(rooms):
    out = rooms.set_topic(MOD, "#redes", "prova na sexta", T0 + 3)
    assert notices(out) == [Notice("#redes", "topic", "Moe", T0 + 3, by="Moe", topic="prova na sexta")]
    assert rooms.join(MEMBER, "#redes", T0)[0].topic == "prova na sexta"


# --- Who may do what: roles x acts ------------------------------------------------------------

ACTORS = {Role.ADMIN: ADMIN, Role.OWNER: OWNER, Role.MODERATOR: MOD, Role.MEMBER: MEMBER,
          Role.OUTSIDER: OUTSIDER}


def _do(rooms, act, actor):
    """Do ``act`` as ``actor`` in #redes, to Vic (a plain member) where it has a target."""
    if act == "post":
        refusal = rooms.may_post(actor, "#redes", T0)
        return [refusal] if refusal else []
    if act == "leave":
        return rooms.leave(actor, "#redes", T0)
    if act == "topic":
        return rooms.set_topic(actor, "#redes", "new", T0)
    if act == "invite":
        return rooms.invite(actor, "#redes", Person("Newcomer", True), T0)
    if act == "appoint":
        return rooms.appoint(actor, "#redes", VICTIM, Role.MODERATOR, T0)
    if act == "make owner":
        return rooms.appoint(actor, "#redes", VICTIM, Role.OWNER, T0)
    if act == "mode":
        return rooms.set_invite_only(actor, "#redes", True, T0)
    if act == "history":
        refusal = rooms.may_read_history(actor, "#redes")
        return [refusal] if refusal else []
    if act == "delete":  # Vic's post (issue 13): a sender deletes their own by the rule of edits
        return rooms.delete_post(actor, "#redes", "Vic", 90, T0)
    if act == "unban":
        rooms.ban(OWNER, "#redes", VICTIM, T0)
    if act == "unmute":
        rooms.mute(OWNER, "#redes", VICTIM, T0)
    return getattr(rooms, act)(actor, "#redes", VICTIM, T0)


# The expectation, written out: True where the role may do the act (to a plain member).
ALLOWED = {
    #           admin  owner  moderator member outsider
    "post":    (False, True,  True,     True,  False),  # the administrator has not joined
    "leave":   (False, True,  True,     True,  False),
    "topic":   (True,  True,  True,     False, False),
    "invite":  (True,  True,  True,     False, False),
    "kick":    (True,  True,  True,     False, False),
    "ban":     (True,  True,  True,     False, False),
    "unban":   (True,  True,  True,     False, False),
    "mute":    (True,  True,  True,     False, False),
    "unmute":  (True,  True,  True,     False, False),
    "appoint": (True,  True,  False,    False, False),
    "make owner": (True, True, False,   False, False),
    "mode":    (True,  True,  False,    False, False),
    "history": (False, True,  True,     True,  False),  # the administrator has not joined
    "delete":  (True,  True,  True,     False, False),  # another's post (issue 13)
}
CASES = [(act, role, allowed) for act, row in ALLOWED.items() for role, allowed in zip(ACTORS, row)]


@pytest.mark.parametrize("act,role,allowed", CASES, ids=[f"{r}-{a}" for a, r, _ in CASES])
def test_who_may_do_what(rooms, act, role, allowed):
    out = _do(rooms, act, ACTORS[role])
    if allowed:
        assert codes(out) == []
        if act not in ("post", "leave", "history"):  # every staff act is announced and logged
            assert len(notices(out)) >= 1 and logs(out)
    else:
        members_only = ("post", "leave", "history")
        expected = ErrorCode.NOT_MEMBER if role is Role.OUTSIDER or act in members_only else ErrorCode.FORBIDDEN
        assert codes(out) == [expected]


@pytest.mark.parametrize("actor,target", [(MOD, OWNER), (MOD, Person("Max", True)), (OWNER, ADMIN),
                                          (ADMIN, Person("Teacher", True)), (OWNER, OWNER)])
@pytest.mark.parametrize("act", ["kick", "ban", "mute"])
def test_nobody_acts_on_an_equal_a_higher_rank_or_themselves(rooms, actor, target, act):
    rooms.join(Person("Max", True), "#redes", T0)
    rooms.appoint(OWNER, "#redes", Person("Max", True), Role.MODERATOR, T0)
    rooms.join(ADMIN, "#redes", T0)
    assert codes(getattr(rooms, act)(actor, "#redes", target, T0)) == [ErrorCode.FORBIDDEN]


def test_an_administrator_who_joined_posts_and_leaves_like_a_member(rooms):
    assert codes(rooms.join(ADMIN, "#redes", T0)) == []
    assert rooms.role(rooms.get("#redes"), ADMIN) is Role.ADMIN
    assert rooms.may_post(ADMIN, "#redes", T0) is None
    assert codes(rooms.leave(ADMIN, "#redes", T0)) == []


def test_an_admin_is_an_admin_only_when_logged_in_to_the_account(rooms):
    impostor = Person("teacher", account=False, address="192.0.2.9")
    assert rooms.role(rooms.get("#redes"), impostor) is Role.OUTSIDER
    assert codes(rooms.kick(impostor, "#redes", VICTIM, T0)) == [ErrorCode.NOT_MEMBER]
    assert codes(rooms.kick(ADMIN, "#redes", VICTIM, T0)) == []


def test_acts_in_a_room_that_does_not_exist(rooms):
    for out in (rooms.kick(OWNER, "#nowhere", VICTIM, T0), rooms.set_topic(OWNER, "#nowhere", "x", T0),
                [rooms.may_post(OWNER, "#nowhere", T0)]):
        assert codes(out) == [ErrorCode.NO_SUCH_ROOM]


# --- Kick, ban, mute ----------------------------------------------------------------------


def test_kick_removes_and_is_announced_and_logged(rooms):
    out = rooms.kick(MOD, "#redes", VICTIM, T0 + 9, reason="spam")
    assert notices(out) == [Notice("#redes", "kick", "Vic", T0 + 9, by="Moe", reason="spam")]
    assert logs(out) == ["Moe kicked Vic in #redes (spam)"]
    assert codes([rooms.may_post(VICTIM, "#redes", T0)]) == [ErrorCode.NOT_MEMBER]
    assert codes(rooms.join(VICTIM, "#redes", T0 + 10)) == []  # a kick is not a ban
    assert codes(rooms.kick(MOD, "#redes", OUTSIDER, T0)) == [ErrorCode.NOT_MEMBER]


def test_a_not_member_about_the_person_acted_on_names_them_and_ones_own_names_nobody(rooms):
    """``not_member`` is said of the asker ("you are not in #redes") and of the person a kick
    or appoint named ("Otto is not in #redes"): the error did not say which, so no client
    could word it. The one about someone else names them in ``name`` (on the wire too)."""
    for out in (rooms.kick(MOD, "#redes", OUTSIDER, T0), rooms.appoint(OWNER, "#redes", OUTSIDER, Role.MODERATOR, T0)):
        assert out == [Refused(ErrorCode.NOT_MEMBER, "Otto is not in #redes", name="Otto")]
        assert out[0].reply("r1") == ErrorReply(ErrorCode.NOT_MEMBER, "Otto is not in #redes", "r1", name="Otto")
    own = rooms.kick(OUTSIDER, "#redes", VICTIM, T0)
    assert own == [Refused(ErrorCode.NOT_MEMBER, "you are not in #redes: join it first", room="#redes")]
    assert own[0].name is None
    # And the one about the asker says so: ``room``, the room they are not in (as one's own
    # muted or banned does): without it, a client could not tell it from an older server's
    # not_member about the person acted on, and showed the server's English.
    assert own[0].reply("r2") == ErrorReply(ErrorCode.NOT_MEMBER, "you are not in #redes: join it first", "r2",
                                            room_name="#redes")


def test_a_banned_account_cannot_rejoin_until_unbanned(rooms):
    out = rooms.ban(OWNER, "#redes", VICTIM, T0, reason="insults")
    assert notices(out) == [Notice("#redes", "ban", "Vic", T0, by="Olga", reason="insults")]
    assert logs(out) == ["Olga banned Vic in #redes (insults)"]
    assert "vic" not in rooms.get("#redes").members
    refused = rooms.join(Person("VIC", True, "10.9.9.9"), "#redes", T0 + 1)  # any spelling, any address
    assert refused == [Refused(ErrorCode.BANNED, "you are banned from #redes: insults", room="#redes",
                               reason="insults")]
    # An account is banned by account: others at the same address are not.
    assert codes(rooms.join(Person("Ana", False, VICTIM.address), "#redes", T0)) == []
    assert codes(rooms.invite(OWNER, "#redes", VICTIM, T0)) == [ErrorCode.BANNED]
    assert notices(rooms.unban(MOD, "#redes", VICTIM, T0 + 2)) == [
        Notice("#redes", "unban", "Vic", T0 + 2, by="Moe")]
    assert codes(rooms.join(VICTIM, "#redes", T0 + 3)) == []
    assert rooms.unban(MOD, "#redes", VICTIM, T0 + 4) == []  # nothing to undo: nothing announced


def test_a_banned_guest_is_kept_out_by_name_and_by_address(rooms):
    rooms.join(GUEST, "#redes", T0)
    out = rooms.ban(MOD, "#redes", GUEST, T0)
    assert "troll is a guest: #redes bans the address 192.0.2.66 too" in logs(out)
    # The notice says so (the moderator's client tells them), without the address; an
    # account's ban does not (above).
    assert notices(out) == [Notice("#redes", "ban", "troll", T0, by="Moe", address_banned=True)]
    assert codes(rooms.join(Person("troll", False, "198.51.100.1"), "#redes", T0)) == [ErrorCode.BANNED]
    assert codes(rooms.join(Person("troll2", False, GUEST.address), "#redes", T0)) == [ErrorCode.BANNED]
    # An account from that address is judged by its account.
    assert codes(rooms.join(Person("Ana", True, GUEST.address), "#redes", T0)) == []
    rooms.unban(OWNER, "#redes", GUEST, T0)
    assert codes(rooms.join(Person("troll2", False, GUEST.address), "#redes", T0)) == []


def test_a_muted_member_is_told_why_until_the_mute_ends(rooms):
    out = rooms.mute(MOD, "#redes", VICTIM, T0, reason="flood", seconds=60)
    assert notices(out) == [Notice("#redes", "mute", "Vic", T0, by="Moe", reason="flood", until=T0 + 60)]
    assert rooms.may_post(VICTIM, "#redes", T0 + 30) == Refused(
        ErrorCode.MUTED, "you are muted in #redes for 30 s more", room="#redes", retry_after=30)
    assert rooms.next_deadline() == T0 + 60
    assert rooms.expire(T0 + 59) == []
    ended = rooms.expire(T0 + 60)
    assert notices(ended) == [Notice("#redes", "unmute", "Vic", T0 + 60, reason="the mute ended")]
    assert rooms.may_post(VICTIM, "#redes", T0 + 60) is None
    assert rooms.next_deadline() is None


def test_the_log_says_how_long_a_mute_lasts_in_words(rooms):
    """The teacher reads the log during class: a mute's end there is a duration, not a
    raw Unix time ("muted Vic in #redes until 1796170836")."""
    timed = rooms.mute(MOD, "#redes", VICTIM, T0, reason="flood", seconds=600)
    assert logs(timed) == ["Moe muted Vic in #redes for 600 s (flood)"]
    rooms.unmute(MOD, "#redes", VICTIM, T0 + 1)
    endless = rooms.mute(MOD, "#redes", VICTIM, T0 + 2)
    assert logs(endless) == ["Moe muted Vic in #redes until unmuted"]


def test_a_mute_s_end_names_the_person_as_they_write_their_name_even_after_a_ban_between(rooms):
    """A ban removes the member (their display name with them) and an unban does not bring
    it back: the end of a mute said "the mute of otávio ended", lowercase. The mute keeps
    the name as written, after a restart too."""
    student = Person("Otávio", account=True, address="10.0.0.9")
    rooms.join(student, "#redes", T0)
    rooms.mute(MOD, "#redes", student, T0, seconds=60)
    rooms.ban(MOD, "#redes", student, T0 + 1)
    rooms.unban(MOD, "#redes", student, T0 + 2)
    for survivor in (rooms, _reload(rooms)[0]):
        ended = survivor.expire(T0 + 60)
        assert notices(ended) == [Notice("#redes", "unmute", "Otávio", T0 + 60, reason="the mute ended")]
        assert logs(ended) == ["the mute of Otávio in #redes ended"]


def test_a_mute_that_ends_while_its_member_is_banned_tells_nobody_they_may_write_again(rooms):
    """Conceição, muted for 5 minutes in #redes and then banned from it, read "* você pode
    escrever em #redes de novo (o tempo de silêncio acabou)" when the 5 minutes were up, and
    João, who banned her, "* Conceição pode escrever em #redes de novo": untrue while the ban
    stands. The mute still ends (an unban later finds none), said only in the log."""
    rooms.mute(MOD, "#redes", VICTIM, T0, seconds=60)
    rooms.ban(MOD, "#redes", VICTIM, T0 + 1, reason="spam")
    ended = rooms.expire(T0 + 60)
    assert notices(ended) == []
    assert logs(ended) == ["the mute of Vic in #redes ended (Vic is banned from it)"]
    rooms.unban(MOD, "#redes", VICTIM, T0 + 61)
    assert codes(rooms.join(VICTIM, "#redes", T0 + 62)) == []
    assert rooms.may_post(VICTIM, "#redes", T0 + 62) is None


def test_a_mute_without_end_lasts_until_unmute(rooms):
    rooms.mute(OWNER, "#redes", VICTIM, T0)
    assert rooms.may_post(VICTIM, "#redes", T0 + 10 ** 6).code == ErrorCode.MUTED
    assert "until a moderator unmutes you" in rooms.may_post(VICTIM, "#redes", T0).message
    assert notices(rooms.unmute(OWNER, "#redes", VICTIM, T0 + 1)) == [
        Notice("#redes", "unmute", "Vic", T0 + 1, by="Olga")]
    assert rooms.may_post(VICTIM, "#redes", T0 + 1) is None
    assert rooms.unmute(OWNER, "#redes", VICTIM, T0 + 2) == []


def test_an_unmute_before_the_end_leaves_no_stale_deadline_behind(rooms):
    rooms.mute(OWNER, "#redes", VICTIM, T0, seconds=60)
    rooms.unmute(OWNER, "#redes", VICTIM, T0 + 1)
    rooms.mute(OWNER, "#redes", VICTIM, T0 + 2)  # now until unmuted
    assert rooms.expire(T0 + 61) == []
    assert rooms.may_post(VICTIM, "#redes", T0 + 61).code == ErrorCode.MUTED


def test_the_member_list_says_who_is_muted_until_the_mute_ends(rooms):
    """A moderator's client offers Unmute for a muted member and Mute for the others: the
    list says which (a member muted until unmuted, or until a timed mute's end, even before
    expire() has run), and nothing of an outsider's mute or of one that was lifted."""
    rooms.mute(MOD, "#redes", VICTIM, T0, seconds=60)
    rooms.mute(OWNER, "#redes", MEMBER, T0)
    rooms.mute(OWNER, "#redes", OUTSIDER, T0)  # not a member: not listed
    assert rooms.members(OUTSIDER, "#redes", now=T0 + 59) == [
        Member("Mia", "member", muted=True), Member("Moe", "moderator"), Member("Olga", "owner"),
        Member("Vic", "member", muted=True)]
    assert rooms.members(OUTSIDER, "#redes", after="Olga", now=T0 + 60) == [Member("Vic", "member")]
    rooms.unmute(OWNER, "#redes", MEMBER, T0 + 1)
    assert rooms.members(OUTSIDER, "#redes", now=T0 + 1)[0] == Member("Mia", "member")
    assert [m.muted for m in _reload(rooms)[0].members(OUTSIDER, "#redes", now=T0 + 2)] == [False, False, False, True]


def test_appoint_and_dismiss_a_moderator(rooms):
    out = rooms.appoint(OWNER, "#redes", MEMBER, Role.MODERATOR, T0)
    assert notices(out) == [Notice("#redes", "appoint", "Mia", T0, by="Olga", role="moderator")]
    assert codes(rooms.kick(MEMBER, "#redes", VICTIM, T0)) == []
    assert codes(rooms.appoint(OWNER, "#redes", MEMBER, Role.MEMBER, T0)) == []
    assert rooms.role(rooms.get("#redes"), MEMBER) is Role.MEMBER
    assert codes(rooms.appoint(OWNER, "#redes", OUTSIDER, Role.MODERATOR, T0)) == [ErrorCode.NOT_MEMBER]
    assert codes(rooms.appoint(ADMIN, "#redes", OWNER, Role.MODERATOR, T0)) == [ErrorCode.FORBIDDEN]


def test_a_refusal_of_ones_own_standing_in_a_room_gives_the_facts_to_word_it(rooms):
    """A muted or banned student read the server's English ("you are muted in #redes for
    290 s more"): the refusal carries the room, the time left and the ban's reason, so
    that clients say it in their own words (PROTOCOL.md, "error")."""
    rooms.mute(MOD, "#redes", VICTIM, T0, seconds=300)
    timed = rooms.may_post(VICTIM, "#REDES", T0 + 10)
    assert (timed.code, timed.room, timed.retry_after, timed.reason) == (ErrorCode.MUTED, "#redes", 290, None)
    assert timed.reply("7") == ErrorReply(ErrorCode.MUTED, "you are muted in #redes for 290 s more", "7", 290,
                                          room_name="#redes")
    rooms.mute(MOD, "#redes", VICTIM, T0 + 20)  # now until unmuted: no time left to give
    endless = rooms.may_post(VICTIM, "#redes", T0 + 30)
    assert (endless.code, endless.room, endless.retry_after) == (ErrorCode.MUTED, "#redes", None)
    assert endless.reply("8").retry_after is None

    rooms.ban(OWNER, "#redes", MEMBER, T0, reason="spam")
    [banned] = rooms.join(MEMBER, "#redes", T0 + 1)
    assert banned.reply("9") == ErrorReply(ErrorCode.BANNED, "you are banned from #redes: spam", "9",
                                           room_name="#redes", reason="spam")
    rooms.ban(OWNER, "#redes", OUTSIDER, T0)  # no reason given
    [plain] = rooms.join(OUTSIDER, "#redes", T0 + 1)
    assert (plain.code, plain.room, plain.reason) == (ErrorCode.BANNED, "#redes", None)
    # The invite of a banned person is about someone else: no room, so no client says
    # "you are banned" to the moderator who asked.
    [invite] = rooms.invite(OWNER, "#redes", MEMBER, T0 + 2)
    assert (invite.code, invite.room, invite.reason) == (ErrorCode.BANNED, None, None)
    assert invite.reply("10") == ErrorReply(ErrorCode.BANNED, "Mia is banned from #redes: unban first", "10")

    lobby = rooms.default.name  # a say while muted there: the refusal names it
    rooms.mute(ADMIN, lobby, GUEST, T0, seconds=60)
    assert (rooms.may_post(GUEST, lobby, T0 + 15).room, rooms.may_post(GUEST, lobby, T0 + 15).retry_after) == \
        (const.DEFAULT_ROOM, 45)


# --- The default room -----------------------------------------------------------------------


def test_the_default_room_holds_everyone_and_can_only_be_muted_in():
    rooms = Rooms(admins=["teacher"], online_count=lambda: 7)
    lobby = const.DEFAULT_ROOM
    assert rooms.join(MEMBER, lobby, T0) == [Entered(lobby, None, "", False, 7)]
    assert rooms.may_post(OUTSIDER, lobby, T0) is None  # everyone logged in is in it
    for out in (rooms.leave(MEMBER, lobby, T0), rooms.kick(ADMIN, lobby, GUEST, T0),
                rooms.ban(ADMIN, lobby, GUEST, T0), rooms.invite(ADMIN, lobby, GUEST, T0)):
        assert codes(out) == [ErrorCode.FORBIDDEN]
    assert codes(rooms.mute(MEMBER, lobby, GUEST, T0)) == [ErrorCode.FORBIDDEN]
    assert codes(rooms.mute(ADMIN, lobby, GUEST, T0, reason="spam")) == []
    assert rooms.may_post(GUEST, lobby, T0).code == ErrorCode.MUTED
    # Administrators appoint its moderators.
    assert codes(rooms.appoint(ADMIN, lobby, MOD, Role.MODERATOR, T0)) == []
    assert codes(rooms.unmute(MOD, lobby, GUEST, T0)) == []
    assert codes(rooms.join(OWNER, lobby.upper(), T0, create=True)) == [ErrorCode.ROOM_EXISTS]


# --- Persistence: records out, the same rooms back ------------------------------------------


def _reload(rooms: Rooms, stored: dict[str, str] | None = None) -> tuple[Rooms, dict[str, str]]:
    """Apply rooms.changes() to ``stored`` (key -> record), as a store would, and build a
    new Rooms from what is stored: a restart."""
    stored = {} if stored is None else stored
    for key, record in rooms.changes():
        if record is None:
            stored.pop(key, None)
        else:
            stored[key] = record
    again = Rooms(admins=["teacher"], online_count=lambda: 42)
    assert again.restore(stored.values()) == []
    return again, stored


def test_every_rule_holds_after_a_restart(rooms):
    rooms.set_topic(OWNER, "#redes", "prova na sexta", T0)
    rooms.join(GUEST, "#redes", T0)
    rooms.ban(OWNER, "#redes", GUEST, T0, reason="spam")
    rooms.mute(MOD, "#redes", VICTIM, T0, seconds=60)
    rooms.join(OWNER, "#secret", T0, invite_only=True)
    rooms.invite(OWNER, "#secret", MEMBER, T0)
    rooms.mute(ADMIN, const.DEFAULT_ROOM, OUTSIDER, T0)
    again, stored = _reload(rooms)
    assert set(stored) == {"#redes", "#secret", const.DEFAULT_ROOM}
    assert again.members(OUTSIDER, "#redes") == rooms.members(OUTSIDER, "#redes")
    assert again.list_rooms(ADMIN) == rooms.list_rooms(ADMIN)
    assert codes(again.join(Person("troll9", False, GUEST.address), "#redes", T0)) == [ErrorCode.BANNED]
    assert again.may_post(VICTIM, "#redes", T0 + 1).code == ErrorCode.MUTED
    assert again.next_deadline() == T0 + 60
    assert notices(again.expire(T0 + 60))[0].act == "unmute"
    assert again.may_post(OUTSIDER, const.DEFAULT_ROOM, T0).code == ErrorCode.MUTED
    assert codes(again.join(MEMBER, "#secret", T0)) == []  # the invitation was kept
    assert again.join(OUTSIDER, "#REDES", T0)[0].room == "#redes"  # one room, in any case
    assert codes(again.join(OUTSIDER, "#am", T0)) == []
    assert codes(again.join(OUTSIDER, "#arn", T0)) == [ErrorCode.CONFUSABLE_NAME]  # look-alikes known again
    assert again.rooms_of("Mia") == ["#redes", "#secret"]


def test_changes_list_each_changed_room_once_and_an_ended_room_as_none(rooms):
    rooms.changes()
    assert rooms.changes() == []
    rooms.kick(OWNER, "#redes", VICTIM, T0)
    rooms.set_topic(OWNER, "#redes", "x", T0)
    assert [key for key, _ in rooms.changes()] == ["#redes"]
    rooms.join(MEMBER, "#solo", T0)
    rooms.leave(MEMBER, "#solo", T0)
    assert rooms.changes() == [("#solo", None)]
    assert rooms.unban(OWNER, "#redes", VICTIM, T0) == [] and rooms.changes() == []  # nothing changed


def test_a_room_made_again_under_an_ended_rooms_name_holds_none_of_its_posts():
    """A room ends when its last member leaves (rule 7); its posts stay stored under its
    name. One made again under that name is a new room: it holds only the posts after the
    last id given out when it was made, also after a restart, and its staff cannot delete
    the posts of the one before (the s65 audit: its creator read an invite-only room's
    history). A record from before the rule holds every post."""
    rooms = Rooms(admins=["teacher"])
    rooms.join(OWNER, "#segredo", T0, invite_only=True, last_id=10)
    first = rooms.get("#segredo")
    assert rooms.holds(first, 11) and not rooms.holds(first, 10)
    rooms.leave(OWNER, "#segredo", T0)
    rooms.join(OUTSIDER, "#segredo", T0, create=True, last_id=57)
    again, _ = _reload(rooms)
    for each in (rooms, again):
        room = each.get("#segredo")
        assert [each.holds(room, msg_id) for msg_id in (11, 57, 58)] == [False, False, True]
        assert codes(each.delete_post(OUTSIDER, "#segredo", "Olga", 12, T0)) == [ErrorCode.FORBIDDEN]
        assert codes(each.delete_post(OUTSIDER, "#segredo", "Olga", 58, T0)) == []
    record = '{"v":1,"name":"#velha","owner":"olga","invite_only":false,"topic":"","created_at":0.0,' \
             '"members":[["olga","Olga"]],"moderators":[],"invited":[],"banned":[],"muted":[]}'
    older = Rooms(admins=[])
    assert older.restore([record]) == [] and older.holds(older.get("#velha"), 1)


def test_an_unreadable_record_is_left_out_and_said():
    rooms = Rooms(admins=[])
    out = rooms.restore(['{"v": 99}', "not json"])
    assert len(logs(out)) == 2 and all("left out" in line for line in logs(out))
    assert [summary.room for summary in rooms.list_rooms(MEMBER)] == [const.DEFAULT_ROOM]


def test_the_owner_hands_the_room_on_and_becomes_a_moderator(rooms):
    """Issue 13: ownership transfer is ``appoint`` with role owner."""
    out = rooms.appoint(OWNER, "#redes", MEMBER, Role.OWNER, T0)
    assert notices(out) == [Notice("#redes", "owner", "Mia", T0, by="Olga")]
    assert logs(out) == ["Olga made Mia the owner of #redes"]
    room = rooms.get("#redes")
    assert rooms.role(room, MEMBER) is Role.OWNER and rooms.role(room, OWNER) is Role.MODERATOR
    # The old owner is a moderator now: below the new owner, who may act on them.
    assert codes(rooms.kick(OWNER, "#redes", MEMBER, T0)) == [ErrorCode.FORBIDDEN]
    assert codes(rooms.kick(MEMBER, "#redes", OWNER, T0)) == []
    # Kept across a restart.
    again = Rooms(admins=["teacher"])
    again.restore(record for _key, record in rooms.changes() if record)
    assert again.role(again.get("#redes"), MEMBER) is Role.OWNER


def test_an_administrator_gives_a_room_an_owner_and_the_default_room_has_none(rooms):
    assert notices(rooms.appoint(ADMIN, "#redes", VICTIM, Role.OWNER, T0))[0].by == "Teacher"
    assert rooms.role(rooms.get("#redes"), VICTIM) is Role.OWNER
    assert codes(rooms.appoint(ADMIN, const.DEFAULT_ROOM, MEMBER, Role.OWNER, T0)) == [ErrorCode.FORBIDDEN]
    assert codes(rooms.appoint(VICTIM, "#redes", OUTSIDER, Role.OWNER, T0)) == [ErrorCode.NOT_MEMBER]
    # Olga, the owner before, is a moderator now: she cannot appoint.
    assert codes(rooms.appoint(OWNER, "#redes", MEMBER, Role.OWNER, T0)) == [ErrorCode.FORBIDDEN]


def test_a_room_is_made_invite_only_after_creation_and_public_again(rooms):
    out = rooms.set_invite_only(OWNER, "#redes", True, T0)
    assert notices(out) == [Notice("#redes", "invite_only", "Olga", T0, by="Olga")]
    assert logs(out) == ["Olga made #redes invite-only"]
    assert codes(rooms.join(OUTSIDER, "#redes", T0)) == [ErrorCode.INVITE_ONLY]
    assert rooms.set_invite_only(OWNER, "#redes", True, T0) == []  # already so: nothing announced
    assert notices(rooms.set_invite_only(ADMIN, "#redes", False, T0))[0].act == "public"
    assert codes(rooms.join(OUTSIDER, "#redes", T0)) == []
    assert codes(rooms.set_invite_only(ADMIN, const.DEFAULT_ROOM, True, T0)) == [ErrorCode.FORBIDDEN]


def test_only_members_read_a_rooms_history_and_the_default_room_keeps_none(rooms):
    assert rooms.may_read_history(MEMBER, "#REDES") is None
    assert rooms.may_read_history(OUTSIDER, "#redes").code == ErrorCode.NOT_MEMBER
    assert rooms.may_read_history(MEMBER, "#nowhere").code == ErrorCode.NO_SUCH_ROOM
    assert rooms.may_read_history(MEMBER, const.DEFAULT_ROOM).code == ErrorCode.FORBIDDEN


def test_an_administrator_is_an_account_named_in_admins_or_added_at_the_console():
    rooms = Rooms(admins=["teacher"])
    assert rooms.is_admin(ADMIN) and not rooms.is_admin(Person("teacher", account=False, address="192.0.2.9"))
    assert not rooms.is_admin(OWNER)
    rooms.add_admin("OLGA")
    assert rooms.is_admin(OWNER) and rooms.admins() == ["olga", "teacher"]
    assert rooms.role(rooms.default, OWNER) is Role.ADMIN


def test_a_moderators_delete_of_a_post_is_announced_naming_its_sender_and_logged(rooms):
    out = rooms.delete_post(MOD, "#REDES", "Vic", 90, T0)
    assert notices(out) == [Notice("#redes", "delete", "Vic", T0, by="Moe")]
    assert logs(out) == ["Moe deleted message 90 of Vic in #redes"]
    # Nothing of the room changes: nothing to store.
    rooms.changes()
    rooms.delete_post(OWNER, "#redes", "Moe", 91, T0)
    assert rooms.changes() == []
    # A moderator of another room is an outsider here.
    rooms.join(OUTSIDER, "#outra", T0)
    assert codes(rooms.delete_post(OUTSIDER, "#redes", "Vic", 90, T0)) == [ErrorCode.NOT_MEMBER]
    assert codes(rooms.delete_post(MOD, "#nada", "Vic", 90, T0)) == [ErrorCode.NO_SUCH_ROOM]


def test_a_refusal_by_rank_says_its_roles_with_their_articles(rooms):
    """ "a owner cannot ban a admin" was no English."""
    def messages(decision):
        return [event.message for event in decision if type(event) is Refused]
    assert messages(rooms.ban(OWNER, "#redes", ADMIN, T0)) == ["an owner cannot ban an admin of #redes"]
    assert messages(rooms.kick(MOD, "#redes", OWNER, T0)) == ["a moderator cannot kick an owner of #redes"]
    assert messages(rooms.kick(MEMBER, "#redes", VICTIM, T0)) == ["a member of #redes cannot kick"]


def test_a_room_named_without_its_hash_is_not_found_but_named_back(rooms):
    """``room: "redes"`` is no room (the protocol's names are exact), but the refusal asks
    "did you mean #redes?", as a mistyped person's name does (``like``)."""
    for decision in (rooms.members(MEMBER, "redes"), rooms.leave(MEMBER, "Redes", T0),
                     [rooms.may_post(MEMBER, "redes", T0)]):
        [refusal] = [event for event in decision if type(event) is Refused]
        assert (refusal.code, refusal.like) == (ErrorCode.NO_SUCH_ROOM, "#redes")
        assert refusal.message.endswith("did you mean #redes?")
        assert refusal.reply("r1").like == "#redes"
    [refusal] = [event for event in rooms.members(MEMBER, "nowhere") if type(event) is Refused]
    assert (refusal.code, refusal.like) == (ErrorCode.NO_SUCH_ROOM, None)


def test_a_mute_lets_its_member_post_from_the_very_second_it_ends_even_before_the_expiry_runs(rooms):
    rooms.mute(MOD, "#redes", VICTIM, T0, seconds=60)
    assert rooms.may_post(VICTIM, "#redes", T0 + 59.9) is not None
    assert rooms.may_post(VICTIM, "#redes", T0 + 60) is None


def test_a_members_posts_are_paced_and_the_rooms_staff_post_freely(rooms):
    assert rooms.paced(MEMBER, "#redes") and rooms.paced(VICTIM, "#redes")
    assert not rooms.paced(OWNER, "#redes") and not rooms.paced(MOD, "#redes")
    assert rooms.paced(MEMBER, "#gone")  # a room that ended meanwhile: paced as any


def test_one_may_be_in_max_rooms_per_user_rooms_and_no_more():
    rooms = Rooms(admins=[], online_count=lambda: 1)
    for n in range(const.MAX_ROOMS_PER_USER + 1):  # each made by its own owner (the creation limit is per address)
        owner = Person(f"Dono{n}", account=True, address=f"10.2.{n // 200}.{n % 200}")
        assert codes(rooms.join(owner, f"#r{n}", T0, create=True)) == [], n
    for n in range(const.MAX_ROOMS_PER_USER):
        assert codes(rooms.join(MEMBER, f"#r{n}", T0)) == [], n
    assert codes(rooms.join(MEMBER, f"#r{const.MAX_ROOMS_PER_USER}", T0)) == [ErrorCode.TOO_MANY_ROOMS]


def test_a_rooms_invitations_are_bounded_the_oldest_forgotten(rooms, monkeypatch):
    monkeypatch.setattr(const, "MAX_ROOM_INVITES", 2)
    for n in range(3):
        assert codes(rooms.invite(OWNER, "#redes", Person(f"Convidado{n}", account=True, address="10.0.1.1"), T0)) == []
    assert list(rooms._rooms["#redes"].invited) == ["convidado1", "convidado2"]  # two at most: the first went


# --- Acts on someone outside the room: told once, not at a moderator's request rate ----------


def test_inviting_someone_invited_already_changes_and_announces_nothing(rooms):
    # Each invite told Otto again (and wrote a log line and the room): a moderator could
    # send him a notice per request, 30 a second, however he blocked them or left.
    first = rooms.invite(OWNER, "#redes", OUTSIDER, T0)
    assert [n.act for n in notices(first)] == ["invite"] and notices(first)[0].tell_named
    for _ in range(3):
        assert rooms.invite(MOD, "#redes", OUTSIDER, T0 + 1) == []
    assert codes(rooms.join(OUTSIDER, "#redes", T0 + 2)) == []  # the one invitation still holds


def test_a_ban_or_mute_again_of_someone_outside_tells_the_members_not_them(rooms):
    first = rooms.ban(OWNER, "#redes", OUTSIDER, T0, reason="spam")
    assert [(n.act, n.tell_named) for n in notices(first)] == [("ban", True)]
    again = rooms.ban(MOD, "#redes", OUTSIDER, T0 + 1, reason="spam, again")
    # The ban's new reason is the room's record (members, log); Otto heard of his ban.
    assert [(n.act, n.reason, n.tell_named) for n in notices(again)] == [("ban", "spam, again", False)]
    assert logs(again)
    muted = rooms.mute(OWNER, "#redes", OUTSIDER, T0, seconds=60)
    assert [(n.act, n.tell_named) for n in notices(muted)] == [("mute", True)]
    assert [(n.act, n.tell_named) for n in notices(rooms.mute(MOD, "#redes", OUTSIDER, T0 + 1, seconds=60))] == \
        [("mute", False)]
    # A member muted again is in the room, so told as every member is.
    rooms.mute(OWNER, "#redes", MEMBER, T0, seconds=60)
    assert [n.act for n in notices(rooms.mute(OWNER, "#redes", MEMBER, T0 + 1, seconds=120))] == ["mute"]

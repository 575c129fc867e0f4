"""The window's model applies what a change answered late did (client.events.AnsweredLate),
where it keeps state, as the answer in time would have: a room joined or left, a member
list, a block, an edit or a delete shown on its message (client/gui/model.py, _late_done);
and what "Lift a ban…" offers (ChatModel.banned_in, ban_lifted)."""

from __future__ import annotations

from client.events import AnsweredLate
from client.gui.changes import ContactsChanged, MembersWanted, RoomInfoWanted
from client.gui.model import ROOM, ChatModel, room_key
from client.outgoing import OutgoingMessage
from protocol import (
    Ban, Block, Delete, Edit, JoinRoom, Kick, LeaveRoom, MemberEntry, RoomInfo, RoomPost, Unban, Unblock,
)


def in_room(model: ChatModel, room: str = "#redes", owner: str = "Bob") -> str:
    key = model.room_joined(RoomInfo("j", room, 2, False, "prova", owner))
    model.open(key)
    model.take_changes()
    return key


def test_a_join_answered_late_lists_the_room_and_asks_what_it_is_like_as_a_join_does() -> None:
    """The window said the join was not confirmed; the server made it: the room is listed,
    its info asked (RoomInfoWanted: the window's fetch, whose answer goes to room_joined,
    as a join's answer does), and a line says so. Before, nothing was listed."""
    model = ChatModel("João")
    model.apply(AnsweredLate("join", True, asked=JoinRoom("r1", "#redes-ção")))
    key = room_key("#redes-ção")
    assert key in model.rooms and model.contact_order() == [ROOM, key]
    changes = model.take_changes()
    assert RoomInfoWanted(key, "#redes-ção") in changes and ContactsChanged() in changes
    assert model.conversations[ROOM].lines[-1].text.startswith("The server's answer came late: you are in #redes-ção")
    model.room_joined(RoomInfo("j", "#redes-ção", 3, False, "prova", "Ana"))
    assert (model.rooms[key].topic, model.rooms[key].count) == ("prova", 3)


def test_a_join_answered_late_after_a_leave_of_that_room_lists_it_again_and_one_refused_does_not() -> None:
    model = ChatModel("João")
    key = in_room(model)
    model.room_left("#redes")
    assert key not in model.rooms
    model.apply(AnsweredLate("join", False, "banned", "banned", asked=JoinRoom("r1", "#lab")))
    assert room_key("#lab") not in model.rooms
    model.apply(AnsweredLate("join", True, asked=JoinRoom("r2", "#redes")))
    assert key in model.rooms


def test_a_leave_answered_late_takes_the_room_off_and_the_line_is_where_the_user_is_then() -> None:
    model = ChatModel("João")
    key = in_room(model)
    model.apply(AnsweredLate("leave", True, asked=LeaveRoom("r1", "#redes")))
    assert key not in model.rooms and model.active == ROOM
    assert model.conversations[ROOM].lines[-1].text == "The server's answer came late: you left #redes"
    other = in_room(model, "#lab")
    model.apply(AnsweredLate("leave", False, "not_member", "not in it", asked=LeaveRoom("r2", "#lab")))
    assert other in model.rooms


def test_a_leave_answered_late_as_unconfirmed_keeps_the_room_ours_and_says_it_could_not_be_confirmed() -> None:
    """The server's late answer cannot tell whether the leave was done (``unavailable`` with
    ``uncertain``): the room is ours as before (read marks and typing notices go for it
    again), and the line says the leave was not confirmed, not that it was refused."""
    model = ChatModel("João")
    key = in_room(model)
    model.leave_asked("#redes")
    assert not model.may_tell_room(key)
    model.apply(AnsweredLate("leave", False, "unavailable", "redis", asked=LeaveRoom("r1", "#redes"), uncertain=True))
    assert key in model.rooms and model.may_tell_room(key)
    assert model.conversations[key].lines[-1].text == (
        "The server's answer came late but could not confirm that you left #redes: it stays among your rooms "
        "unless a notice says you left; you may leave it again")


def test_an_act_answered_late_asks_the_member_list_again_and_a_ban_is_offered_to_lift() -> None:
    model = ChatModel("Bob")
    key = in_room(model)
    model.apply(AnsweredLate("kick", True, asked=Kick("r1", "#redes", "Mia")))
    assert MembersWanted(key, "#redes") in model.take_changes()
    assert model.banned_in(key) == ""
    model.apply(AnsweredLate("ban", True, asked=Ban("r2", "#redes", "Mia")))
    assert MembersWanted(key, "#redes") in model.take_changes()
    assert model.banned_in(key) == "Mia"
    model.apply(AnsweredLate("unban", True, asked=Unban("r3", "#redes", "mia")))
    assert model.banned_in(key) == ""


def test_a_block_and_an_unblock_answered_late_mark_the_list() -> None:
    model = ChatModel("Bob")
    model.blocks_listed([])
    model.apply(AnsweredLate("block", True, asked=Block("r1", "Mia")))
    assert model.is_blocked("mia")
    model.apply(AnsweredLate("unblock", False, "unknown_user", "no", asked=Unblock("r2", "Mia")))
    assert model.is_blocked("mia")
    model.apply(AnsweredLate("unblock", True, asked=Unblock("r3", "Mia")))
    assert not model.is_blocked("mia")


def test_our_edit_and_delete_answered_late_show_on_the_message() -> None:
    """Before, the line kept its old text: only the late answer's line said it changed."""
    model = ChatModel("Bob")
    model.open("alice")
    line = model.sent(OutgoingMessage("r1", "Alice", "teh text"))
    model.update("r1", "sent", None, 11)
    model.apply(AnsweredLate("edit", True, asked=Edit("e1", 11, "the text"), at=50.0))
    assert (line.text, line.edited, line.changed_at) == ("the text", True, 50.0)
    model.apply(AnsweredLate("delete", False, "edit_window", "too late", asked=Delete("d1", 11)))
    assert not line.deleted
    model.apply(AnsweredLate("delete", True, asked=Delete("d2", 11), at=60.0))
    assert (line.text, line.deleted) == ("", True)


def test_a_moderators_delete_of_someone_elses_post_answered_late_marks_it_deleted() -> None:
    model = ChatModel("Bob")
    key = in_room(model)
    model.apply(RoomPost(21, "Mia", "#redes", "spam", 1.0))
    model.apply(AnsweredLate("delete", True, asked=Delete("d1", 21), at=5.0))
    line = model.conversations[key].lines[-2]
    assert (line.msg_id, line.deleted, line.deleted_by) == (21, True, "Bob")


def test_lift_a_ban_is_for_who_may_moderate_and_offers_the_name_banned_in_this_session() -> None:
    model = ChatModel("Bob")
    key = in_room(model, owner="Olga")
    model.set_members("#redes", [MemberEntry("Bob", "member", True), MemberEntry("Olga", "owner", True)])
    assert not model.may_moderate(key)
    model.set_members("#redes", [MemberEntry("Bob", "moderator", True), MemberEntry("Olga", "owner", True)])
    assert model.may_moderate(key) and model.banned_in(key) == ""
    model.act_done("#redes", "ban", "Conceição")
    assert model.banned_in(key) == "Conceição" and model.banned_in(room_key("#lab")) == ""
    model.take_changes()
    model.ban_lifted(key, "Ana")  # someone else: the name stays offered
    assert model.banned_in(key) == "Conceição"
    assert model.conversations[key].lines[-1].text == "Ana is not banned from #redes now"
    assert MembersWanted(key, "#redes") in model.take_changes()
    model.ban_lifted(key, "conceição")
    assert model.banned_in(key) == ""


def test_an_unban_announced_is_said_once_and_a_ban_by_us_elsewhere_is_offered_to_lift() -> None:
    """The server announces a ban lifted (before its ok, on one connection): the ok adds
    nothing then. An unban of someone not banned is answered ok and announced to nobody:
    the window's line says it."""
    from protocol import RoomNotice

    model = ChatModel("Bob")
    key = in_room(model)
    model.apply(RoomNotice("#redes", "ban", "Mia", 1.0, by="Bob"))  # on Bob's phone, say
    assert model.banned_in(key) == "Mia"
    model.apply(RoomNotice("#redes", "unban", "Mia", 2.0, by="Bob"))
    assert model.banned_in(key) == ""
    lines = len(model.conversations[key].lines)
    model.ban_lifted(key, "Mia")
    assert len(model.conversations[key].lines) == lines
    model.ban_lifted(key, "Mia")  # again: nobody announced it this time
    assert model.conversations[key].lines[-1].text == "Mia is not banned from #redes now"

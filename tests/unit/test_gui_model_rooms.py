"""The window's model of rooms, without tkinter (client/gui/model.py)."""

from __future__ import annotations

from client.gui.model import (
    ROOM, ChatModel, ContactsChanged, MembersChanged, MembersWanted, room_key,
)
from client.outgoing import OutgoingMessage
from protocol import MemberEntry, RoomInfo, RoomNotice, RoomPost


def joined(model: ChatModel, room: str = "#redes", owner: str = "Olga") -> str:
    key = model.room_joined(RoomInfo("j", room, 2, False, "prova", owner))
    model.open(key)
    return key


def test_a_joined_room_is_listed_opened_and_asks_for_its_members() -> None:
    model = ChatModel("Bob")
    key = joined(model)
    assert key == room_key("#REDES") == "##redes" and key != ROOM
    assert model.contact_order()[:2] == [ROOM, key]
    assert (model.title(key), model.recipient(key)) == ("#redes", "To everyone in #redes")
    assert MembersWanted(key, "#redes") in model.take_changes()
    model.set_members("#redes", [MemberEntry("Bob", "member", True), MemberEntry("Olga", "owner", True)])
    assert not model.may_moderate(key)
    model.apply(RoomNotice("#redes", "appoint", "Bob", 1.0, by="Olga", role="moderator"))
    assert model.may_moderate(key) and model.my_role(key) == "moderator"
    assert model.conversations[key].lines[-1].text == "Olga made you moderator of #redes"


def test_posts_count_as_unread_elsewhere_and_our_echo_is_shown_once() -> None:
    model = ChatModel("Bob")
    key = joined(model)
    model.open(ROOM)
    model.apply(RoomPost(7, "Olga", "#redes", "olá", 1.0))
    assert model.unread(key) == 1 and model.total_unread == 1
    message = OutgoingMessage("r1", None, "oi", room="#redes")
    model.open(key)
    model.sent(message)
    model.update("r1", "sent", None, 8)
    model.apply(RoomPost(8, "Bob", "#redes", "oi", 2.0))
    assert [(line.sender, line.text) for line in model.conversations[key].lines] == [("Olga", "olá"), ("Bob", "oi")]
    assert model.unread(key) == 0


def test_members_follow_the_notices_and_a_ban_of_ourselves_takes_the_room_off_the_list() -> None:
    model = ChatModel("Bob")
    key = joined(model)
    model.set_members("#redes", [MemberEntry("Bob", "member", True), MemberEntry("Olga", "owner", True)])
    model.apply(RoomNotice("#redes", "joined", "Vic", 1.0))
    assert [m.name for m in model.rooms[key].members] == ["Bob", "Olga", "Vic"]
    model.apply(RoomNotice("#redes", "kick", "Vic", 2.0, by="Olga"))
    assert [m.name for m in model.rooms[key].members] == ["Bob", "Olga"] and model.rooms[key].count == 2
    model.apply(RoomNotice("#redes", "topic", "Olga", 3.0, by="Olga", topic="nova"))
    assert model.rooms[key].topic == "nova"
    model.take_changes()
    model.apply(RoomNotice("#redes", "ban", "Bob", 4.0, by="Olga", reason="spam"))
    assert key not in model.rooms and model.active == ROOM
    assert "Olga banned you from #redes (spam)" in model.conversations[key].lines[-1].text
    assert ContactsChanged() in model.take_changes()

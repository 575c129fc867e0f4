"""The window's model of rooms, without tkinter (client/gui/model.py)."""

from __future__ import annotations

from client.gui.model import ROOM, ChatModel, room_key
from client.gui.changes import ContactsChanged, HistoryWanted, LinesPrepended, MembersChanged, MembersWanted
import i18n
from client.outgoing import Failure, MessageUpdate, OutgoingMessage
from protocol import DirectMessage, HistoryEntry, MemberEntry, RoomInfo, RoomMessage, RoomNotice, RoomPost


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


def test_the_members_pane_is_in_class_list_order_as_the_server_gave_it_or_not() -> None:
    """The server pages members in code-point order: the pane showed Ângela, Çécília and
    Érica after Vitória, while the contact list beside it had them in their places."""
    model = ChatModel("Bob")
    key = joined(model)
    model.set_members("#redes", [MemberEntry(name, "member", True)
                                 for name in ("Ana", "Bob", "Olga", "Vitória", "Ângela", "Çécília", "Érica")])
    assert [m.name for m in model.rooms[key].members] == ["Ana", "Ângela", "Bob", "Çécília", "Érica", "Olga", "Vitória"]


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
    assert key not in model.rooms and model.active == key  # on screen still, refusing lines (below)
    assert "Olga banned you from #redes (spam)" in model.conversations[key].lines[-2].text
    assert ContactsChanged() in model.take_changes()


def test_two_members_typing_are_said_in_the_plural_in_portuguese() -> None:
    """Two members typing in a room read "Olga, Vic está digitando…" in the Portuguese
    window (and "Olga, Vic is typing…" in English): one verb for one person."""
    from protocol import RoomTyping

    i18n.use("pt_BR")
    try:
        model = ChatModel("Bob", clock=_Clock())
        model.set_state("connected")
        key = joined(model)
        model.apply(RoomTyping("#redes", "Olga"))
        assert model.typing_text(key) == "Olga está digitando…"
        model.apply(RoomTyping("#redes", "Vic"))
        assert model.typing_text(key) == "Olga, Vic estão digitando…"
    finally:
        i18n.use("en")


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_typing_edits_and_deletes_in_a_room() -> None:
    """Issue 13 in rooms: who types shows under the room until it expires or they post;
    an edit and a delete change the post's line (a moderator's delete says by whom), also
    when the change comes before the post; no read is said for a room; a moderator's
    "Delete their last post" finds the member's newest post shown."""
    import const
    from client.gui.changes import LineChanged, TypingChanged
    from protocol import RoomDeleted, RoomEdited, RoomTyping

    clock = _Clock()
    model = ChatModel("Bob", clock=clock)
    model.set_state("connected")
    key = joined(model)
    model.take_changes()
    model.apply(RoomTyping("#redes", "Olga"))
    model.apply(RoomTyping("#redes", "Vic"))
    model.apply(RoomTyping("#redes", "Bob"))  # ours, from another session: not shown
    assert TypingChanged() in model.take_changes()
    assert model.typing_text(key) == "Olga, Vic are typing…"
    assert model.typing_text(ROOM) == ""
    model.apply(RoomPost(7, "Olga", "#redes", "a prova é na quinta", 1.0))
    assert model.typing_text(key) == "Vic is typing…"  # her post ended hers
    clock.now += const.TYPING_EXPIRES + 0.1
    assert model.typing_text(key) == ""

    model.take_changes()
    model.apply(RoomEdited(7, "Olga", "#redes", "a prova é na sexta", 2.0))
    [change] = model.take_changes()
    assert isinstance(change, LineChanged) and change.line.shown_text == "a prova é na sexta  (edited)"
    model.apply(RoomPost(8, "Vic", "#redes", "spam", 3.0))
    model.apply(RoomPost(9, "Vic", "#redes", "more spam", 3.5))
    assert model.last_post_of(key, "VIC") == 9
    model.apply(RoomDeleted(9, "Vic", "#redes", 4.0, "Olga"))
    assert model.conversations[key].lines[-1].shown_text == "(this message was deleted by Olga)"
    assert model.last_post_of(key, "Vic") == 8 and model.last_post_of(key, "Zoe") is None
    model.apply(RoomDeleted(8, "Vic", "#redes", 4.5))
    assert model.conversations[key].lines[-2].shown_text == "(this message was deleted)"
    # Before its post: applied when it comes.
    model.apply(RoomEdited(11, "Olga", "#redes", "later, fixed", 5.0))
    model.apply(RoomPost(11, "Olga", "#redes", "later", 4.9))
    assert model.conversations[key].lines[-1].shown_text == "later, fixed  (edited)"
    assert model.read_due(True) is None  # read marks are for direct messages
def entry(msg_id: int, sender: str = "Olga", text: str | None = None, **marks: bool) -> HistoryEntry:
    return HistoryEntry(msg_id, sender, "#redes", f"#{msg_id}" if text is None else text, float(msg_id),
                        "accepted", **marks)


def test_opening_a_room_asks_its_newest_page_and_older_pages_go_above_without_duplicates() -> None:
    model = ChatModel("Bob")
    key = joined(model)
    assert HistoryWanted(key, "#redes") in model.take_changes()  # the newest page, once
    model.open(ROOM)
    model.open(key)
    assert not [c for c in model.take_changes() if isinstance(c, HistoryWanted)]
    # Posts came live (or as missed posts) before the page: they are not shown twice.
    model.apply(RoomPost(40, "Olga", "#redes", "#40", 40.0))
    model.apply(RoomPost(41, "Olga", "#redes", "#41", 41.0))
    assert not model.has_older(key) and not model.load_older(key)  # no page yet
    model.add_history("#redes", [entry(38), entry(39, "Bob"), entry(40, edited=True)], before=38)
    lines = model.conversations[key].lines
    assert [(line.msg_id, line.kind, line.old) for line in lines] == [
        (38, "in", True), (39, "out", True), (40, "in", False), (41, "in", False)]
    assert lines[1].label == "✓ sent"
    model.take_changes()
    # "Older messages": the page before the cursor, above everything, then no more.
    assert model.has_older(key) and model.load_older(key)
    assert model.take_changes() == [HistoryWanted(key, "#redes", 38)]
    assert not model.load_older(key)  # on its way: not asked twice
    model.add_history("#redes", [entry(36, deleted=True, text=""), entry(37)], before=None, paged=True)
    prepended = [c for c in model.take_changes() if isinstance(c, LinesPrepended)]
    assert [line.msg_id for line in prepended[0].lines] == [36, 37] and prepended[0].paged
    assert [line.msg_id for line in lines] == [36, 37, 38, 39, 40, 41]
    assert lines[0].shown_text == "(this message was deleted)"
    assert not model.has_older(key)


def test_the_mode_follows_the_notices_and_only_the_owner_gets_the_switch() -> None:
    model = ChatModel("Bob")
    key = joined(model)
    model.set_members("#redes", [MemberEntry("Bob", "moderator", True), MemberEntry("Olga", "owner", True)])
    assert model.may_moderate(key) and not model.may_set_mode(key)
    model.apply(RoomNotice("#redes", "invite_only", "Olga", 1.0, by="Olga"))
    assert model.rooms[key].invite_only
    model.apply(RoomNotice("#redes", "owner", "Bob", 2.0, by="Olga"))
    assert model.may_set_mode(key)
    # The owner before is a moderator now.
    assert [(m.name, m.role) for m in model.rooms[key].members] == [("Bob", "owner"), ("Olga", "moderator")]
    model.apply(RoomNotice("#redes", "public", "Bob", 3.0, by="Bob"))
    assert not model.rooms[key].invite_only


def test_no_read_is_due_for_a_room() -> None:
    # "read" is for direct messages: the server refuses one about a room (unknown_message).
    from client.gui.model import CONNECTED
    model = ChatModel("Bob")
    model.set_state(CONNECTED)
    key = joined(model)
    model.apply(RoomPost(7, "Olga", "#redes", "olá", 1.0))
    assert model.read_due(focused=True) is None
    model.apply(direct_message := DirectMessage(8, "Olga", "Bob", "oi", 2.0))
    model.open(model.contact_order()[-1])
    assert model.read_due(focused=True) == ("Olga", direct_message.msg_id)


def test_read_marks_in_a_room_say_read_by_n_under_our_posts_and_the_room_is_marked_read() -> None:
    """Issue 13, read marks in rooms: the open room, focused, is said read up to its newest
    post (ours included) once; the anonymous marks the server sends count under our posts."""
    from client.gui.changes import StateChanged
    from protocol import RoomRead

    model = ChatModel("Bob")
    model.set_state("connected")
    key = joined(model)
    model.apply(RoomPost(7, "Olga", "#redes", "quem vem?", 1.0))
    assert model.room_read_due(False) is None  # not focused
    assert model.room_read_due(True) == ("#redes", 7)
    assert model.room_read_due(True) is None  # said once
    model.sent(OutgoingMessage("r1", None, "eu", room="#redes"))
    model.update("r1", "sent", None, 8)
    assert model.room_read_due(True) == ("#redes", 8)
    line = model.conversations[key].lines[-1]
    base = line.label
    model.take_changes()
    model.apply(RoomRead("#redes", marks=(8, 7)))
    assert line.read_by == 1 and line.label == base + " · read by 1"
    assert [c for c in model.take_changes() if isinstance(c, StateChanged)] == [StateChanged(key, line, base)]
    model.apply(RoomRead("#redes", marks=(9, 8, 7)))
    assert line.label == base + " · read by 2"
    model.apply(RoomRead("#redes", marks=(9, 8, 7)))  # the same count: nothing to redraw
    assert not [c for c in model.take_changes() if isinstance(c, StateChanged) and c.line is line and
                c.old_label == base + " · read by 2"]
    model.read_receipts = False
    model.apply(RoomPost(10, "Olga", "#redes", "ok", 2.0))
    assert model.room_read_due(True) is None  # receipts off: no marks sent


def test_edits_and_deletes_of_default_room_messages_change_lines_of_everyone() -> None:
    """``edited``/``deleted`` with the default room's name (any case) change the lines of
    the default room's conversation ("Everyone"), not a named room's."""
    import const
    from client.gui.changes import LineChanged
    from protocol import RoomDeleted, RoomEdited, RoomMessage

    model = ChatModel("Bob")
    model.apply(RoomMessage(5, "Ana", "the tset", 1.0))
    model.apply(RoomMessage(6, "Vic", "something rude", 1.5))
    model.take_changes()
    model.apply(RoomEdited(5, "Ana", const.DEFAULT_ROOM, "the test", 2.0))
    [change] = model.take_changes()
    assert isinstance(change, LineChanged) and change.key == ROOM
    assert model.conversations[ROOM].lines[-2].shown_text == "the test  (edited)"
    model.apply(RoomDeleted(6, "Vic", const.DEFAULT_ROOM.upper(), 3.0, "Teacher"))
    assert model.conversations[ROOM].lines[-1].shown_text == "(this message was deleted by Teacher)"
    assert room_key(const.DEFAULT_ROOM) not in model.conversations
    # Before its message (it can, in a cluster): applied when it comes.
    model.apply(RoomEdited(12, "Ana", const.DEFAULT_ROOM, "later, fixed", 5.0))
    model.apply(RoomMessage(12, "Ana", "later", 4.9))
    assert model.conversations[ROOM].lines[-1].shown_text == "later, fixed  (edited)"


def test_our_last_message_to_everyone_may_be_edited_or_deleted_within_the_window() -> None:
    """Ctrl+E and Ctrl+Delete in "Everyone": our newest message there, once the server gave
    it an id, while EDIT_WINDOW lasts (they were for direct messages and named rooms only)."""
    import const

    model = ChatModel("Bob")
    model.set_state("connected")
    model.open(ROOM)
    model.apply(RoomMessage(4, "Ana", "bom dia", 1.0))
    assert model.editable(ROOM) is None  # nothing of ours yet
    model.sent(OutgoingMessage("r1", None, "a aula é às 10h"))
    assert model.editable(ROOM) is None  # no id from the server yet
    model.update("r1", "sent", None, 5)
    line = model.editable(ROOM)
    assert line is not None and (line.msg_id, line.text) == (5, "a aula é às 10h")
    assert model.editable(ROOM, now=line.at + const.EDIT_WINDOW + 1) is None


def test_a_room_we_are_in_from_before_is_listed_by_what_the_server_sends_its_members() -> None:
    """After a restart (or a login in the form) the window has joined nothing, but the
    server keeps our rooms and sends their posts, missed ones first: a post lists its room,
    with its unread count, and asks what the room is like; the answer fills it in. Read
    marks and notices about others say the same; an invitation does not (it comes to
    outsiders), and what was on its way from a room we left does not list it again."""
    from client.gui.changes import RoomInfoWanted
    from protocol import RoomRead

    model = ChatModel("João")
    model.apply(RoomPost(7, "Conceição", "#redes-ção", "olá", 1.0))
    key = room_key("#redes-ção")
    assert model.contact_order() == [ROOM, key]
    assert model.unread(key) == 1 and model.title(key) == "#redes-ção"
    assert [line.text for line in model.conversations[key].lines] == ["olá"]
    changes = model.take_changes()
    assert RoomInfoWanted(key, "#redes-ção") in changes and ContactsChanged() in changes
    model.room_joined(RoomInfo("j", "#redes-ção", 2, False, "prova na sexta", "Conceição"))
    assert (model.rooms[key].topic, model.rooms[key].count, model.unread(key)) == ("prova na sexta", 2, 1)
    model.apply(RoomPost(8, "Conceição", "#redes-ção", "e aí?", 2.0))
    assert model.unread(key) == 2 and not any(isinstance(c, RoomInfoWanted) for c in model.take_changes())

    model.apply(RoomRead("#lab", marks=(5,)))
    model.apply(RoomNotice("#infra", "online", "Ana", 3.0))
    model.apply(RoomNotice("#outra", "invite", "João", 3.0, by="Ana"))
    assert model.contact_order() == [ROOM, room_key("#infra"), room_key("#lab"), key]
    assert [c for c in model.take_changes() if isinstance(c, RoomInfoWanted)] == [
        RoomInfoWanted(room_key("#lab"), "#lab"), RoomInfoWanted(room_key("#infra"), "#infra")]

    model.apply(RoomNotice("#redes-ção", "kick", "João", 4.0, by="Conceição"))
    model.apply(RoomNotice("#lab", "left", "João", 4.0))  # we left on another device
    model.apply(RoomPost(9, "Conceição", "#redes-ção", "tchau", 5.0))  # on its way before the kick
    assert model.contact_order() == [ROOM, room_key("#infra")]
    model.room_joined(RoomInfo("j2", "#redes-ção", 2, False, "", "Conceição"))
    assert key in model.contact_order()


def test_members_who_come_back_with_the_server_are_not_announced_in_rooms() -> None:
    """README: after a server restart "people who come back with the server are not
    announced as joining again". As in Everyone, their "is online in #room" within the
    rejoin grace is a return (the member list says it); someone who was not online
    before, or comes online long after, is news."""
    from client.events import Reconnected, Reconnecting
    from client.gui.model import CONNECTED, REJOIN_GRACE
    from protocol import Goodbye, Presence, UserLeft, Welcome

    clock = _Clock()
    model = ChatModel("João", "127.0.0.1:5000", clock=clock)
    model.set_online([Presence("Conceição", 1.0), Presence("Ana", 1.0)])
    model.set_state(CONNECTED)
    key = joined(model, "#redes-ção", "Conceição")
    model.room_joined(RoomInfo("j", "#lab", 3, False, "", "Ana"))  # its members never asked
    model.set_members("#redes-ção", [MemberEntry("Ana", "member", False), MemberEntry("Conceição", "owner", True),
                                     MemberEntry("João", "member", True)])
    model.apply(UserLeft("Ana", "server shutting down", 2.0))
    model.apply(Goodbye("server shutting down"))
    model.apply(Reconnecting(1, 0.5, "the server said goodbye"))
    model.apply(Reconnected(Welcome("h", "João", 2, "chat", 15.0), 0))
    lines = {k: len(c.lines) for k, c in model.conversations.items()}
    clock.now += 5
    for room in ("#redes-ção", "#lab"):
        model.apply(RoomNotice(room, "online", "Conceição", 10.0))
        model.apply(RoomNotice(room, "online", "Ana", 11.0))
    assert {k: len(c.lines) - lines[k] for k, c in model.conversations.items()} == {
        ROOM: 0, key: 0, room_key("#lab"): 0}
    model.apply(RoomNotice("#redes-ção", "online", "Vic", 12.0))  # not online before: news
    assert model.conversations[key].lines[-1].text == "Vic is online in #redes-ção"
    clock.now += REJOIN_GRACE
    model.apply(RoomNotice("#redes-ção", "offline", "Conceição", 20.0))
    model.apply(RoomNotice("#redes-ção", "online", "Conceição", 21.0))  # later: news again
    assert [line.text for line in model.conversations[key].lines[-2:]] == [
        "Conceição went offline in #redes-ção", "Conceição is online in #redes-ção"]


def test_read_by_n_is_lower_case_after_the_state_in_both_languages() -> None:
    """The count follows the state in one line ("✓ sent · read by 2"), written as the
    window's other labels are ("✓✓ read"): no capital in mid-line, in pt_BR either."""
    import i18n
    from protocol import RoomRead

    model = ChatModel("Bob")
    key = joined(model)
    model.sent(OutgoingMessage("r1", None, "eu", room="#redes"))
    model.update("r1", "sent", None, 8)
    model.apply(RoomRead("#redes", marks=(9, 8)))
    line = model.conversations[key].lines[-1]
    assert line.label == "✓ sent · read by 2"
    i18n.use("pt_BR")
    try:
        assert line.label == "✓ enviada · lida por 2"
    finally:
        i18n.use("en")


def test_a_long_topic_is_cut_so_that_the_member_count_stays_whole() -> None:
    """The header shows "topic · 3 members": a topic too long for the width is cut with
    "…", never the count ("3 memb" was shown); nothing fits but the count: the count."""
    from client.gui.model import fit_topic

    topic = "prova na sexta: capítulos 3 a 7, " * 8
    assert fit_topic("prova", "3 members", 100, len) == "prova · 3 members"
    shown = fit_topic(topic, "3 members", 40, len)
    assert len(shown) <= 40 and shown.endswith("… · 3 members") and topic.startswith(shown[:-len("… · 3 members")])
    assert len(shown) >= 39  # as much of the topic as fits
    assert fit_topic(topic, "3 members", 12, len) == "3 members"


def test_a_topic_is_never_cut_inside_an_emoji_or_a_letter_and_its_accent() -> None:
    """The cut fell after so many code points: a family lost members ("👨 ZWJ"), a flag
    became one regional indicator."""
    from client.gui.model import fit_topic

    assert fit_topic("aula 👨\u200d👩\u200d👧 hoje", "3 members", 20, len) == "aula… · 3 members"
    assert fit_topic("aula 🇧🇷🇵🇹 hoje", "3 members", 20, len) == "aula 🇧🇷… · 3 members"


def test_room_presence_keeps_the_member_list_current_and_a_return_quiet() -> None:
    """A member listed offline comes online (told: news, and their entry says online); the
    server restarts: their return is quiet, though they were never a contact (a large
    server tells no presence in Everyone)."""
    from client.events import Reconnected, Reconnecting
    from client.gui.model import CONNECTED
    from protocol import Goodbye, Welcome

    clock = _Clock()
    model = ChatModel("João", "127.0.0.1:5000", clock=clock)
    model.set_state(CONNECTED)
    key = joined(model, "#redes", "Olga")
    model.set_members("#redes", [MemberEntry("João", "member", True), MemberEntry("Vic", "member", False)])
    model.apply(RoomNotice("#redes", "online", "Vic", 1.0))
    assert model.conversations[key].lines[-1].text == "Vic is online in #redes"
    assert [(m.name, m.online) for m in model.rooms[key].members] == [("João", True), ("Vic", True)]
    model.apply(Goodbye("server shutting down"))
    model.apply(Reconnecting(1, 0.5, "the server said goodbye"))
    model.apply(Reconnected(Welcome("h", "João", 2, "chat", 15.0), 0))
    shown = len(model.conversations[key].lines)
    clock.now += 3
    model.apply(RoomNotice("#redes", "online", "Vic", 5.0))
    assert len(model.conversations[key].lines) == shown
    model.apply(RoomNotice("#redes", "offline", "Vic", 6.0))
    assert not model.rooms[key].members[1].online


def test_the_servers_list_of_our_rooms_lists_quiet_ones_without_a_join() -> None:
    """After the welcome the window asks for our rooms (``rooms`` with ``mine``): each is
    listed after Everyone with its topic and count, nothing unread and no info asked (no
    join); a room we left in this window since is not listed again, nor the default
    room; a second list (a reconnection) updates what is listed."""
    from client.gui.changes import RoomInfoWanted
    from protocol import RoomEntry

    model = ChatModel("Bob")
    left = joined(model, "#velha")
    model.room_left("#velha")
    model.take_changes()
    model.rooms_listed([RoomEntry("#lab3", 3, ""), RoomEntry("#lobby", 9, ""), RoomEntry("#redes", 2, "prova"),
                        RoomEntry("#velha", 1, "")])
    changes = model.take_changes()
    assert ContactsChanged() in changes and not any(isinstance(c, RoomInfoWanted) for c in changes)
    assert model.contact_order()[:3] == [ROOM, room_key("#lab3"), room_key("#redes")]
    assert left not in model.rooms and room_key("#lobby") not in model.rooms
    redes = model.rooms[room_key("#redes")]
    assert (redes.name, redes.topic, redes.count, model.unread(room_key("#redes"))) == ("#redes", "prova", 2, 0)
    assert model.conversations[room_key("#redes")].lines == []
    # A reconnection's list: #lab3 is no longer ours (put out while away: it goes), and
    # #nova, joined while the list was on its way, stays.
    model.rooms_asked()
    joined(model, "#nova")
    model.rooms_listed([RoomEntry("#redes", 4, "nova")])
    assert (redes.topic, redes.count) == ("nova", 4)
    assert room_key("#lab3") not in model.rooms and room_key("#nova") in model.rooms


def test_a_room_left_here_and_joined_again_on_another_device_while_away_is_listed_again() -> None:
    """Bob left #lab3 in this window, and was put out of #redes (on screen) by a leave on
    his phone; disconnected, he joined both again on the phone. The reconnection's list
    of our rooms has them, and the window left them unlisted (and #redes refusing lines)
    until a join notice of theirs came. A list asked after the leave is the server's
    word; one asked before it may predate it, and the room left since stays out."""
    from protocol import RoomEntry

    model = ChatModel("Bob")
    lab3 = joined(model, "#lab3")
    model.room_left("#lab3")
    redes = joined(model)
    model.apply(RoomNotice("#redes", "left", "Bob", 2.0))
    assert model.send_refused(redes)
    model.rooms_asked()  # back after a lost connection
    model.rooms_listed([RoomEntry("#lab3", 3, "prova"), RoomEntry("#redes", 2, "")])
    assert model.contact_order()[:3] == [ROOM, lab3, redes]
    assert model.may_tell_room(lab3) and model.may_tell_room(redes)
    assert not model.send_refused(redes) and model.recipient(redes) == "To everyone in #redes"
    # Left here after the list was asked: its answer may have been made before the leave.
    model.rooms_asked()
    model.room_left("#lab3")
    model.rooms_listed([RoomEntry("#lab3", 3, "prova"), RoomEntry("#redes", 2, "")])
    assert lab3 not in model.rooms and redes in model.rooms


def test_the_servers_list_of_our_rooms_brings_their_mode_as_it_is_now() -> None:
    """A room listed from ``rooms`` with ``mine`` (the window started again, or back after
    a reconnection) is invite-only if the list says so, and public again if it no longer
    does: the header and the owner's switch read the mode from the model."""
    from protocol import RoomEntry

    model = ChatModel("Bob")
    model.rooms_listed([RoomEntry("#lab3", 3, "", True), RoomEntry("#redes", 2, "")])
    assert (model.rooms[room_key("#lab3")].invite_only, model.rooms[room_key("#redes")].invite_only) == (True, False)
    model.rooms_asked()
    model.rooms_listed([RoomEntry("#lab3", 3, ""), RoomEntry("#redes", 2, "", True)])
    assert (model.rooms[room_key("#lab3")].invite_only, model.rooms[room_key("#redes")].invite_only) == (False, True)


def test_our_post_refused_while_muted_says_the_room_and_the_time_left_in_portuguese() -> None:
    """The window's label after a refused post was the server's English."""
    model = ChatModel("Bob")
    key = joined(model)
    message = OutgoingMessage("r1", None, "oi", room="#redes")
    model.sent(message)
    i18n.use("pt_BR")
    try:
        model.apply(MessageUpdate(message, "failed", Failure("muted", "you are muted in #redes for 90 s more", 90.0,
                                                              "#redes")))
        label = model.conversations[key].lines[-1].label
        assert label.endswith(": você está sem voz em #redes: tente de novo em 90 s"), label
    finally:
        i18n.use("en")


def test_put_out_of_the_open_room_the_room_for_everyone_says_why() -> None:
    """Put out of (or banned from) the room on screen, the room leaves the list: "Olga put
    you out of #redes" was said only in the room's own conversation, which can no longer
    be opened once another is. It is said in the room for everyone too."""
    for act, said in (("kick", "Olga put you out of #redes"), ("ban", "Olga banned you from #redes")):
        model = ChatModel("Bob")
        key = joined(model)
        model.apply(RoomNotice("#redes", act, "Bob", 2.0, by="Olga"))
        assert key not in model.contact_order()
        [line] = [line for line in model.conversations[ROOM].lines if line.kind == "notice"]
        assert line.text.startswith(said), line.text


def test_put_out_of_the_open_room_it_stays_and_a_line_typed_there_is_refused() -> None:
    """Kicked from #redes while on it, the window went to the room for everyone with the
    input box as it was: Enter a moment later (an angry reply meant for #redes) sent it to
    everyone on the server. The room stays on screen with its messages, says once what to
    do, and a line typed there is refused here (nothing sent), saying why again; a ban
    offers no join. Joining again makes it a normal room."""
    for act, offer in (("kick", "join it again (Join room)"), ("ban", "open Everyone to write to everyone")):
        model = ChatModel("Bob")
        key = joined(model)
        model.apply(RoomPost(1, "Olga", "#redes", "chega", 1.0))
        model.apply(RoomNotice("#redes", act, "Bob", 2.0, by="Olga"))
        assert model.active == key and key not in model.contact_order()
        texts = [line.text for line in model.conversations[key].lines]
        assert "chega" in texts and sum(1 for t in texts if t.startswith("you are no longer in #redes")) == 1, texts
        assert offer in texts[-1] and (act == "kick") == ("Join room" in texts[-1]), texts[-1]
        assert model.recipient(key) == "Nowhere: you are no longer in #redes"
        assert model.send_refused(key)
        assert model.conversations[key].lines[-1].text.startswith(
            "not sent, the text stays in the box: you are no longer in #redes"), model.conversations[key].lines[-1]
        assert not model.send_refused(ROOM) and model.recipient(ROOM) == "To everyone in the room"
        model.room_joined(RoomInfo("j2", "#redes", 2, False, "prova", "Olga"))
        assert not model.send_refused(key) and model.recipient(key) == "To everyone in #redes"
        assert key in model.contact_order()


def test_a_join_of_ours_from_another_device_ends_the_refusal() -> None:
    """Put out of #redes on screen, then joined it again on another device (our own joined
    notice): lines typed in it go to it again."""
    model = ChatModel("Bob")
    key = joined(model)
    model.apply(RoomNotice("#redes", "kick", "Bob", 2.0, by="Olga"))
    assert model.send_refused(key)
    model.apply(RoomNotice("#redes", "joined", "Bob", 3.0))
    assert not model.send_refused(key) and model.recipient(key) == "To everyone in #redes"


def test_leaving_the_open_room_shows_the_room_for_everyone() -> None:
    """Our own leave (the user chose it) shows the room for everyone, where lines go."""
    model = ChatModel("Bob")
    key = joined(model)
    model.room_left("#redes")
    assert model.active == ROOM and not model.send_refused(key)


def test_the_model_knows_who_is_muted_from_the_list_and_the_notices() -> None:
    """The member menu offers Unmute for a muted member and Mute for the others: the model
    takes who is muted from the member list (``muted``) and follows the mute and unmute
    notices (a timed mute's end is an unmute), keeping it through presence and roles."""
    model = ChatModel("Olga")
    key = joined(model)
    model.set_members("#redes", [MemberEntry("Olga", "owner", True), MemberEntry("Vic", "member", True, True),
                                 MemberEntry("Zoe", "member", True)])
    assert [model.is_muted(key, name) for name in ("Olga", "VIC", "Zoe", "nobody")] == [False, True, False, False]
    model.apply(RoomNotice("#redes", "mute", "Zoe", 1.0, by="Olga", until=61.0))
    model.apply(RoomNotice("#redes", "offline", "Zoe", 2.0))
    model.apply(RoomNotice("#redes", "appoint", "Zoe", 3.0, by="Olga", role="moderator"))
    assert model.is_muted(key, "Zoe") and model.rooms[key].members[2] == MemberEntry("Zoe", "moderator", False, True)
    model.apply(RoomNotice("#redes", "unmute", "Vic", 4.0, by="Olga"))
    model.apply(RoomNotice("#redes", "unmute", "Zoe", 61.0, reason="the mute ended"))
    assert not model.is_muted(key, "Vic") and not model.is_muted(key, "Zoe")


def test_a_name_nobody_has_is_offered_the_one_the_window_knows_that_looks_like_it() -> None:
    """"New chat" with "joao" when nobody has that name (a whois answers only "unknown"):
    the window knows João (online, in its list) and Conceição (a member of a room, not in
    the list), and offers each for its look-alike typed without accents or in another
    case; never ourselves, and nobody when two known names look alike."""
    model = ChatModel("Bob")
    model.set_online(["João", "Bob", "Ana"])
    joined(model)
    model.set_members("#redes", [MemberEntry("Bob", "member", True), MemberEntry("Conceição", "owner", False)])
    assert model.like("joao") == "João" and model.like("JOAO") == "João"
    assert model.like("conceicao") == "Conceição"
    assert model.like("B0b") is None  # ourselves: not offered
    assert model.like("Zed") is None
    model.set_online(["João", "Joáo", "Ana"])  # two look-alikes known (from before the rule): which is not ours
    assert model.like("joao") is None


def test_our_own_name_typed_without_its_accents_is_said_as_ours_as_the_terminal_says_it() -> None:
    """Conceição's "New chat" with "conceicao" (nobody has it: the server lets nobody take
    a name like hers): "did you mean Conceição (you)?", the terminal's words, for the
    sentence only (the box is offered no name of ours); someone else's look-alike still
    comes first, and a name of nobody's nothing."""
    model = ChatModel("Conceição")
    model.set_online(["Conceição", "Ana", "João"])
    assert model.like("conceicao", yourself=True) == "Conceição (you)"
    assert model.like("Conceicao", yourself=True) == "Conceição (you)"
    assert model.like("conceicao") is None  # not for the box
    assert model.like("joao", yourself=True) == "João"
    assert model.like("Zed", yourself=True) is None
    assert model.like("Conceição", yourself=True) is None  # her very name: no question


def test_the_servers_look_alike_comes_before_the_windows_own_guess() -> None:
    """A whois answered "unknown" with ``like`` (PROTOCOL.md, "user": the look-alike online
    on any node of a cluster, which the window's list may not hold yet): that is the name
    offered; the window's own guess only without it (an older server; ourselves)."""
    model = ChatModel("Conceição")
    model.set_online(["Conceição", "Ana"])
    assert model.like("joao", told="João") == "João"  # João logged in on another node: not in the list yet
    assert model.like("joao", yourself=True, told="João") == "João"
    assert model.like("conceicao", yourself=True, told=None) == "Conceição (you)"
    assert model.like("joao", told=None) is None


def test_an_invitation_to_a_room_we_are_not_in_is_said_where_it_is_seen() -> None:
    """Olga invites Bob to #turma (invite-only), which Bob is not in: the notice went only
    to #turma's conversation, which is not in the list (Bob is no member), so Bob never saw
    it. It is said in the room for everyone too, as a kick or ban of ours is; and kept in
    #turma's conversation, shown once Bob joins."""
    model = ChatModel("Bob")
    model.set_online(["Olga"])
    model.apply(RoomNotice("#turma", "invite", "Bob", 1.0, by="Olga"))
    assert "##turma" not in model.contact_order()
    assert model.conversations[ROOM].lines[-1].text == "Olga invited you to #turma"
    assert model.conversations["##turma"].lines[-1].text == "Olga invited you to #turma"
    # Someone else's invitation, of a room we are in: said in that room only.
    key = joined(model, "#redes")
    before = len(model.conversations[ROOM].lines)
    model.apply(RoomNotice("#redes", "invite", "Vic", 2.0, by="Olga"))
    assert model.conversations[key].lines[-1].text == "Olga invited Vic to #redes"
    assert len(model.conversations[ROOM].lines) == before


def test_the_open_room_gone_from_the_list_after_a_reconnection_stays_and_refuses_lines() -> None:
    """#redes on screen, the connection lost, Bob kicked (or gone from it on another device)
    meanwhile: the reconnection's list of our rooms lacks it, and the window opened the room
    for everyone with the input box as it was, so Enter sent the line meant for #redes to
    everybody. As after a kick seen live: it stays on screen, says once what to do, and a
    line typed there is refused (nothing sent); a join makes it a normal room again."""
    from protocol import RoomEntry

    model = ChatModel("Bob")
    key = joined(model)
    model.apply(RoomPost(1, "Olga", "#redes", "chega", 1.0))
    model.rooms_asked()
    model.rooms_listed([RoomEntry("#lab3", 3, "")])
    assert model.active == key and key not in model.contact_order()
    texts = [line.text for line in model.conversations[key].lines]
    assert "chega" in texts and sum(1 for t in texts if t.startswith("you are no longer in #redes")) == 1, texts
    assert "join it again (Join room)" in texts[-1], texts[-1]
    assert model.recipient(key) == "Nowhere: you are no longer in #redes"
    assert model.send_refused(key)
    model.room_joined(RoomInfo("j2", "#redes", 2, False, "prova", "Olga"))
    assert not model.send_refused(key) and model.recipient(key) == "To everyone in #redes"


def test_put_out_of_the_open_room_our_post_there_may_not_be_edited_but_may_be_deleted() -> None:
    """The server refuses an edit of our post in a room we were put out of, as it would a
    post (PROTOCOL.md, "In rooms"): the window refuses it first, saying why; a delete of it
    stays allowed (still offered by editable); in a room we are in, nothing is refused."""
    model = ChatModel("Bob")
    key = joined(model)
    model.apply(RoomPost(7, "Bob", "#redes", "first try", 1.0))
    assert not model.edit_refused(key, saving=True)
    model.apply(RoomNotice("#redes", "kick", "Bob", 2.0, by="Olga"))
    assert model.edit_refused(key, saving=False)
    assert model.conversations[key].lines[-1].text.startswith("you are no longer in #redes: join it again")
    assert model.edit_refused(key, saving=True)
    assert model.conversations[key].lines[-1].text.startswith("not sent, the text stays in the box: you are no")
    assert model.editable(key, now=3.0) is not None  # what a delete acts on


def test_no_read_mark_goes_for_a_room_whose_leave_was_asked_or_that_we_are_out_of() -> None:
    """Leave clicked, its answer not yet come: a read mark for the room went after the
    leave, the server refused it (not_member, no id) and the window said "The server
    reported an error: you are not in #redes". None goes until the leave is refused (then
    the room is ours as before), nor once we are out of it."""
    model = ChatModel("Bob")
    model.set_state("connected")
    key = joined(model)
    model.apply(RoomPost(7, "Olga", "#redes", "quem vem?", 1.0))
    model.leave_asked("#redes")
    assert model.room_read_due(True) is None and not model.may_tell_room(key)
    model.leave_not_done("#redes")
    assert model.may_tell_room(key) and model.room_read_due(True) == ("#redes", 7)
    model.apply(RoomPost(8, "Olga", "#redes", "eu", 2.0))
    model.apply(RoomNotice("#redes", "kick", "Bob", 3.0, by="Olga"))
    assert model.room_read_due(True) is None and not model.may_tell_room(key)


def test_a_room_gone_from_the_list_after_a_reconnection_is_said_in_everyone() -> None:
    """#lab3 in the list, not on screen; back after a lost connection, the server's list of
    our rooms lacks it (put out, or left on another device, meanwhile): it vanished from the
    list without a word. Everyone says it once; a room still listed is not said."""
    from protocol import RoomEntry

    model = ChatModel("Bob")
    joined(model, "#lab3")
    joined(model, "#redes")
    model.open(ROOM)
    model.rooms_asked()
    model.rooms_listed([RoomEntry("#redes", 2, "")])
    texts = [line.text for line in model.conversations[ROOM].lines]
    assert [t for t in texts if "no longer in" in t] == [
        "you are no longer in #lab3: it left your rooms while you were disconnected (put out of it, or left on "
        "another device); join it again (Join room) to go back"], texts
    assert model.active == ROOM and room_key("#lab3") not in model.rooms


def test_the_open_room_left_on_another_device_stays_and_refuses_lines() -> None:
    """Bob had #redes on screen, a reply in the box, and left the room on his phone: the
    window opened Everyone with the box as it was, and Enter sent the reply to everybody.
    As after a kick: the room stays on screen and refuses lines. His own leave from this
    window (asked here) still shows Everyone."""
    model = ChatModel("Bob")
    key = joined(model)
    model.apply(RoomNotice("#redes", "left", "Bob", 2.0))
    assert model.active == key and key not in model.contact_order()
    assert model.recipient(key) == "Nowhere: you are no longer in #redes" and model.send_refused(key)
    model = ChatModel("Bob")
    key = joined(model)
    model.leave_asked("#redes")
    model.apply(RoomNotice("#redes", "left", "Bob", 2.0))
    assert model.active == ROOM and not model.send_refused(key)


def test_a_ban_of_ours_lifted_while_the_room_is_on_screen_offers_the_join_again() -> None:
    """Banned from #redes on screen, the room says "open Everyone" (no join: the ban keeps
    us out). Olga lifts the ban: the room went on saying so, and its refusals too, though a
    join would now do. It says what to do now, and its refusals offer the join."""
    model = ChatModel("Bob")
    key = joined(model)
    model.apply(RoomNotice("#redes", "ban", "Bob", 2.0, by="Olga"))
    assert "Join room" not in model.conversations[key].lines[-1].text
    model.apply(RoomNotice("#redes", "unban", "Bob", 3.0, by="Olga"))
    assert model.active == key
    assert model.conversations[key].lines[-1].text.startswith(
        "you are no longer in #redes: join it again (Join room)"), model.conversations[key].lines[-1]
    assert model.send_refused(key) and "join it again (Join room)" in model.conversations[key].lines[-1].text


def test_a_leave_timed_out_and_done_late_moves_the_window_and_one_refused_late_keeps_the_room() -> None:
    """Leave clicked, no answer in time (the window keeps it asked: maybe done). Done late:
    the window goes to Everyone and our own "left" that follows refuses nothing. Refused
    late: the room is ours as before, and a leave made later on another device is said and
    refuses lines, as one is without a timed-out leave before it."""
    from client.events import AnsweredLate
    from protocol import LeaveRoom

    model = ChatModel("Bob")
    key = joined(model)
    model.leave_asked("#redes")  # (its answer timed out: maybe_done, so no leave_not_done)
    model.apply(AnsweredLate("leave", True, asked=LeaveRoom("r1", "#redes")))
    model.apply(RoomNotice("#redes", "left", "Bob", 2.0))
    assert model.active == ROOM and key not in model.contact_order()
    assert not model.send_refused(ROOM) and not model.send_refused(key)
    model = ChatModel("Bob")
    key = joined(model)
    model.leave_asked("#redes")
    model.apply(AnsweredLate("leave", False, "unavailable", "busy", asked=LeaveRoom("r1", "#redes")))
    assert model.active == key and key in model.contact_order() and model.may_tell_room(key)
    assert not model.send_refused(key)
    model.apply(RoomNotice("#redes", "left", "Bob", 3.0))
    assert model.active == key and model.send_refused(key), model.conversations[key].lines[-1]


def test_a_leave_whose_answer_a_reconnection_lost_does_not_outlive_it() -> None:
    """Leave clicked, then the connection lost before its answer (or none in time, and
    then the reconnection: a late answer never comes on another connection). The server's
    list after the welcome still has #redes: it stayed "being left" for good, so no read
    mark went for it, and a leave made later on another device was taken for this one:
    the window went to Everyone without a word. The terminal forgets such leaves at the
    reconnection; the window too."""
    from client.events import Reconnected
    from protocol import RoomEntry, Welcome

    model = ChatModel("Bob")
    model.set_state("connected")
    key = joined(model)
    model.leave_asked("#redes")
    model.apply(Reconnected(Welcome("h", "Bob", 1, "chat", 15.0), 0))
    model.rooms_asked()
    model.rooms_listed([RoomEntry("#redes", 2, "")])
    assert model.may_tell_room(key)
    model.apply(RoomNotice("#redes", "left", "Bob", 3.0))
    assert model.active == key and model.send_refused(key), model.conversations[key].lines[-1]


def test_every_room_gone_from_the_list_after_a_reconnection_is_out_as_on_the_page() -> None:
    """#lab3 listed, #redes on screen; back after a lost connection, #lab3 is not on the
    server's list of our rooms. The page marks every such room out (webclient/rooms.js
    dropUnlisted) and says so in its conversation; the window did only for the one on
    screen: #lab3's conversation, met again when it is joined again, went on from before
    as if nothing had happened meanwhile, and a line for it was not refused. Now as on the
    page: its conversation says it, a line for it is refused until it is joined again."""
    from protocol import RoomEntry

    model = ChatModel("Bob")
    lab = joined(model, "#lab3")
    model.apply(RoomPost(1, "Olga", "#lab3", "até amanhã", 1.0))
    key = joined(model, "#redes")
    model.rooms_asked()
    model.rooms_listed([RoomEntry("#redes", 2, "")])
    assert model.active == key and lab not in model.contact_order()
    assert model.is_out_of(lab) and model.send_refused(lab)
    model.room_joined(RoomInfo("j2", "#lab3", 2, False, "", "Olga"))
    model.open(lab)
    texts = [line.text for line in model.conversations[lab].lines]
    assert texts[texts.index("até amanhã") + 1].startswith("you are no longer in #lab3: join it again"), texts
    assert not model.is_out_of(lab) and not model.send_refused(lab)


def test_the_notice_of_our_own_leave_after_its_answer_is_not_another_devices() -> None:
    """Leave clicked here, its answer taken before its "left" notice (the answer's callback
    runs first): the notice is this leave's, and marks nothing out, on screen or off."""
    for on_screen in (True, False):
        model = ChatModel("Bob")
        key = joined(model)
        if not on_screen:
            model.open(ROOM)
        model.leave_asked("#redes")
        model.room_left("#redes")  # (its answer: client/gui/rooms.py _left)
        said = len(model.conversations[key].lines)
        model.apply(RoomNotice("#redes", "left", "Bob", 2.0))
        assert model.active == ROOM and not model.is_out_of(key), on_screen
        assert len(model.conversations[key].lines) == said, model.conversations[key].lines[said:]

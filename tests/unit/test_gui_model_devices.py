"""The window's model when the same user is also on other devices (the terminal, the page,
``--send``): what those sessions send and read shows here as it does there
(client/gui/model.py; PROTOCOL.md, "`sent`", "read", "In rooms"). No tkinter."""

from __future__ import annotations

from client.events import Reconnected, Reconnecting
from client.gui.model import CATCH_UP_CONVERSATIONS, CONNECTED, ROOM, ChatModel
from client.gui.changes import (
    CatchUpWanted,
    ContactsChanged,
    LineAdded,
    LinesInserted,
    LinesPrepended,
    SinceWanted,
    StateChanged,
)
from protocol import CatchUp, Carbon, Delivered, DirectMessage, Edited, ErrorReply, HistoryEntry, Presence, Queued, Read
from protocol import RoomInfo, RoomMessage, RoomPost, RoomRead, Welcome

T = 1_700_000_000.0


def model_of(me: str = "João") -> ChatModel:
    model = ChatModel(me, "127.0.0.1:5000")
    model.set_online([Presence("Ana", T)])
    model.take_changes()
    return model


def labels(model: ChatModel, key: str) -> list[tuple[str, str]]:
    return [(line.text, line.label) for line in model.conversations[key].lines if line.kind == "out"]


# --- Carbons: our direct messages sent from another device ---------------------------------


def test_a_carbon_follows_its_outcome_queued_delivered_and_read_as_the_sender_s_session() -> None:
    """The terminal sends two messages to Ana while she is offline (``sent`` with state
    ``queued``); she logs in and reads them: ``delivered`` then ``read`` with the same
    msg_ids (under the terminal's request id) move the window's copies, each a StateChanged
    the pane redraws."""
    model = model_of()
    model.open("ana")
    model.apply(Carbon(11, "Ana", "a prova mudou", T, "queued"))
    model.apply(Carbon(12, "Ana", "e é na sala 204", T + 1, "queued"))
    assert labels(model, "ana") == [("a prova mudou", "◷ queued"), ("e é na sala 204", "◷ queued")]
    model.take_changes()
    model.apply(Delivered("terminal-7", 11))
    model.apply(Delivered("terminal-8", 12))
    changes = model.take_changes()
    assert [c.line.msg_id for c in changes if isinstance(c, StateChanged)] == [11, 12]
    model.apply(Read("João", 12, "Ana"))
    assert labels(model, "ana") == [("a prova mudou", "✓✓ read"), ("e é na sala 204", "✓✓ read")]
    assert [c.line.label for c in model.take_changes() if isinstance(c, StateChanged)] == ["✓✓ read", "✓✓ read"]


def test_a_carbon_sent_with_send_goes_from_sent_to_delivered_and_one_that_expired_fails() -> None:
    model = model_of()
    model.apply(Carbon(21, "Ana", "teste do JOÃO maiúsculo", T, "sent"))
    model.apply(Carbon(22, "Ana", "esquecida", T, "queued"))
    model.apply(Queued("other", 21))  # Ana left before confirming: queued, then delivered
    model.apply(Delivered("other", 21))
    model.apply(ErrorReply("expired", "your message 22 to Ana expired before it was delivered", "other", msg_id=22))
    assert [line.state for line in model.conversations["ana"].lines] == ["delivered", "failed"]
    # Sent, then expired: not delivered, how long it waited (at most its lifetime), and to Ana.
    assert model.conversations["ana"].lines[1].label.startswith("✗ not delivered: it waited 7 days for Ana and "
                                                                "expired: "), model.conversations["ana"].lines[1].label


# --- Reads on another device clear the unread count -----------------------------------------


def test_a_read_on_another_device_clears_the_unread_count_up_to_its_message() -> None:
    """Ana sends three messages; João reads the first two on the terminal (the server
    forwards his ``read`` to his other sessions): one is left unread here, then none."""
    model = model_of()
    for msg_id, text in ((31, "um"), (32, "dois"), (33, "três")):
        model.apply(DirectMessage(msg_id, "Ana", "João", text, T))
    assert model.unread("ana") == 3 and model.total_unread == 3
    model.take_changes()
    model.apply(Read("Ana", 32, "João"))
    assert model.unread("ana") == 1 and model.total_unread == 1
    assert ContactsChanged() in model.take_changes()
    model.apply(Read("Ana", 33, "João"))
    assert model.unread("ana") == 0
    # A read below what is unread (an older mark, told again) changes nothing.
    model.apply(DirectMessage(34, "Ana", "João", "quatro", T))
    model.apply(Read("Ana", 33, "João"))
    assert model.unread("ana") == 1


def test_a_room_read_on_another_device_clears_the_rooms_unread_count_up_to_its_post() -> None:
    """Ana posts three times in #calculo; João reads the room on the terminal up to the
    second (the server forwards his own mark: a ``read`` with ``room`` and ``msg_id``, no
    ``marks``): one post is left unread here (it was "#calculo 3"), then none; the others'
    list (``marks``) and an older mark told again change nothing; the window does not say
    again what the terminal said."""
    model = model_of()
    model.set_state(CONNECTED)
    key = model.room_joined(RoomInfo("j", "#calculo", 2, False, "", "Ana"))
    model.open("ana")
    for msg_id, text in ((61, "lista 3"), (62, "lista 4"), (63, "lista 5")):
        model.apply(RoomPost(msg_id, "Ana", "#calculo", text, T))
    assert model.unread(key) == 3 and model.total_unread == 3
    model.take_changes()
    model.apply(RoomRead("#calculo", 62, sender="João"))
    assert model.unread(key) == 1 and model.total_unread == 1
    assert ContactsChanged() in model.take_changes()
    model.apply(RoomRead("#calculo", marks=(63,)))  # Ana's own mark, in the others' list: not ours
    assert model.unread(key) == 1
    model.apply(RoomRead("#calculo", 63, sender="João"))
    assert model.unread(key) == 0
    model.apply(RoomPost(64, "Ana", "#calculo", "lista 6", T))
    model.apply(RoomRead("#calculo", 63, sender="João"))  # older than what is unread
    assert model.unread(key) == 1
    model.open(key)  # shown and focused here: the newest post is news to say, the older not
    assert model.room_read_due(True) == ("#calculo", 64)


def test_a_read_by_the_peer_is_not_ours_and_leaves_the_unread_count() -> None:
    model = model_of()
    model.apply(DirectMessage(41, "Ana", "João", "oi", T))
    model.apply(Read("João", 41, "Ana"))  # Ana read João's messages: nothing of ours
    assert model.unread("ana") == 1


# --- Our room posts sent from another device -------------------------------------------------


def test_our_post_from_another_device_is_ours_in_the_default_room_and_in_a_named_room() -> None:
    """The page posts in Everyone and in #calculo: the window shows them as ours ("You",
    editable, ✓ sent: rooms have no receipts), not as someone else's; they count as no
    unread; in a small room they show "read by N" as ours sent here do."""
    model = model_of()
    key = model.room_joined(RoomInfo("j", "#calculo", 2, False, "", "Ana"))
    model.open("ana")
    model.apply(RoomMessage(51, "João", "bom dia a todos!!", T))
    model.apply(RoomPost(52, "João", "#calculo", "cheguei", T))
    model.apply(RoomMessage(53, "Ana", "bom dia", T))
    everyone = model.conversations[ROOM].lines
    assert [(line.kind, line.label) for line in everyone] == [("out", "✓ sent"), ("in", "")]
    [post] = model.conversations[key].lines
    assert (post.kind, post.label) == ("out", "✓ sent")
    assert model.unread(ROOM) == 1 and model.unread(key) == 0
    assert model.editable(ROOM, now=T + 1) is everyone[0]
    assert model.editable(key, now=T + 1) is post
    model.apply(RoomRead("#calculo", marks=(52,)))
    assert post.label == "✓ sent · read by 1"


# --- After a reconnection: what our other sessions got and sent meanwhile ----------------------


def reconnect(model: ChatModel) -> list[object]:
    """The connection goes and comes back; returns the changes of the return."""
    model.apply(Reconnecting(1, 0.5, "reset"))
    model.take_changes()
    model.apply(Reconnected(Welcome("h", "João", 2, "chat", 15.0)))
    return model.take_changes()


def entry(msg_id: int, sender: str, text: str, state: str = "delivered", **more: object) -> HistoryEntry:
    to = "Ana" if sender == "João" else "João"
    return HistoryEntry(msg_id, sender, to, text, T + msg_id, state, **more)


def shown(model: ChatModel, key: str) -> list[tuple[int | None, str, str, str]]:
    return [(line.msg_id, line.kind, line.shown_text, line.label) for line in model.conversations[key].lines
            if line.kind != "notice"]


def test_a_reconnection_asks_for_the_newest_page_of_each_conversation_the_most_recent_first() -> None:
    """Rooms are not asked (the server sends their missed posts), nor a contact never
    talked with; a conversation opened (its history asked) is, with no message shown."""
    model = model_of()
    model.room_joined(RoomInfo("j", "#calculo", 2, False, "", "Ana"))
    model.set_online([Presence("Ana", T), Presence("Bia", T), Presence("Caio", T), Presence("Duda", T)])
    model.apply(DirectMessage(5, "Bia", "João", "oi", T))
    model.apply(DirectMessage(9, "Ana", "João", "olá", T))
    model.open("duda")  # its history asked for, nothing in it
    assert [c for c in reconnect(model) if isinstance(c, CatchUpWanted)] == [
        CatchUpWanted("ana", "Ana"), CatchUpWanted("bia", "Bia"), CatchUpWanted("duda", "Duda")]
    # Bounded: the most recent ones only.
    for n in range(CATCH_UP_CONVERSATIONS + 5):
        model.apply(DirectMessage(100 + n, f"P{n}", "João", "oi", T))
    wanted = [c for c in reconnect(model) if isinstance(c, CatchUpWanted)]
    assert len(wanted) == CATCH_UP_CONVERSATIONS and wanted[0] == CatchUpWanted("p24", "P24")
    # The first login is no reconnection: nothing is asked then.
    fresh = model_of()
    fresh.apply(DirectMessage(5, "Bia", "João", "oi", T))
    fresh.take_changes()
    fresh.set_state("connected")
    assert not [c for c in fresh.take_changes() if isinstance(c, CatchUpWanted)]


def test_with_since_a_reconnection_finds_a_person_never_talked_with_and_shows_each_message_once() -> None:
    """Feature since: the window asks every conversation's messages after the newest it
    showed (Bia's 9); the answer holds Bia's 9 again, Caio's 12 and 14 (someone this
    window never talked with, who wrote to another device meanwhile) and ours to Caio
    (13, sent from the page): Caio's conversation appears with the three, in order, once."""
    model = model_of()
    model.apply(DirectMessage(5, "Ana", "João", "oi", T))
    model.apply(DirectMessage(9, "Bia", "João", "olá", T))
    assert [c for c in reconnect(model) if isinstance(c, SinceWanted)] == [SinceWanted(9)]
    model.catch_up_since([HistoryEntry(9, "Bia", "João", "olá", T + 9, "delivered"),
                          HistoryEntry(12, "Caio", "João", "oi, sou o Caio", T + 12, "delivered"),
                          HistoryEntry(13, "João", "Caio", "oi, Caio", T + 13, "delivered"),
                          HistoryEntry(14, "Caio", "João", "tudo bem?", T + 14, "delivered")])
    assert [(msg_id, kind, text) for msg_id, kind, text, _label in shown(model, "caio")] == [
        (12, "in", "oi, sou o Caio"), (13, "out", "oi, Caio"), (14, "in", "tudo bem?")]
    assert [msg_id for msg_id, *_ in shown(model, "bia")] == [9]
    assert model.unread("caio") == 2
    # Nothing shown yet: nothing to go on from, no SinceWanted (every message ever is not news).
    assert not [c for c in reconnect(model_of()) if isinstance(c, SinceWanted)]


def test_a_cluster_node_back_from_a_break_makes_the_window_catch_up_as_after_a_reconnection() -> None:
    """Feature catch_up: the node this window is on was cut off from the cluster, and
    Ana's message 12 went to the page meanwhile. The catch_up asks what a reconnection
    asks (every conversation after the newest message shown; without since, Ana's and Bia's
    newest pages), says nothing, and what comes back shows once."""
    model = model_of()
    model.apply(DirectMessage(5, "Bia", "João", "oi", T))
    model.apply(DirectMessage(9, "Ana", "João", "olá", T))
    model.take_changes()
    model.apply(CatchUp())
    changes = model.take_changes()
    assert [c for c in changes if isinstance(c, (SinceWanted, CatchUpWanted))] == [
        SinceWanted(9), CatchUpWanted("ana", "Ana"), CatchUpWanted("bia", "Bia")]
    assert not [line for line in model.conversations["ana"].lines if line.kind == "notice"]
    model.catch_up_since([HistoryEntry(12, "Ana", "João", "a prova mudou", T + 12, "delivered")])
    assert [msg_id for msg_id, *_ in shown(model, "ana")] == [9, 12]


def test_the_page_merges_in_order_once_counting_unread_and_ours_with_their_state() -> None:
    """Ana's conversation shows 10 and 11; while the window reconnected the page got 12 to
    16 from Ana (delivered by its receipt; 14 edited, 15 deleted) and sent 17 (read by Ana)
    and 18 (queued: she left); 11 is in the page again. Each goes in once, in order: Ana's counted
    unread (the conversation is not open), ours with their states, whose outcome moves on."""
    model = model_of()
    model.apply(DirectMessage(10, "Ana", "João", "dez", T))
    model.apply(Carbon(11, "Ana", "onze", T, "sent"))
    model.open("ana")
    model.add_history("Ana", [entry(10, "Ana", "dez"), entry(11, "João", "onze")])
    model.open(ROOM)
    assert model.unread("ana") == 0
    changes = reconnect(model)
    assert CatchUpWanted("ana", "Ana") in changes
    model.apply(Read("João", 17, "Ana"))  # Ana read ours: the read that follows the page came first
    page = [entry(11, "João", "onze"), *(entry(n, "Ana", f"m{n}") for n in (12, 13)),
            entry(14, "Ana", "m14 corrigida", edited=True), entry(15, "Ana", "", deleted=True),
            entry(16, "Ana", "m16"), entry(17, "João", "dezessete"), entry(18, "João", "dezoito", "queued")]
    model.catch_up("Ana", page)
    assert shown(model, "ana") == [
        (10, "in", "dez", ""), (11, "out", "onze", "✓ sent"),
        (12, "in", "m12", ""), (13, "in", "m13", ""), (14, "in", "m14 corrigida  (edited)", ""),
        (15, "in", "(this message was deleted)", ""), (16, "in", "m16", ""),
        (17, "out", "dezessete", "✓✓ read"), (18, "out", "dezoito", "◷ queued")]
    # 12, 13, 14 and 16: the deleted 15 has nothing to read, as when such a message comes live
    assert model.unread("ana") == 4 and model.total_unread == 4
    changes = model.take_changes()
    assert [c.line.msg_id for c in changes if isinstance(c, LineAdded)] == [12, 13, 14, 15, 16, 17, 18]
    assert ContactsChanged() in changes and not [c for c in changes if isinstance(c, LinesPrepended)]
    assert model.reply_to == "ana"
    # Asked again (another reconnection): nothing twice.
    model.catch_up("Ana", page)
    assert len(shown(model, "ana")) == 9 and model.unread("ana") == 4
    # Ours move on as a carbon's would: Ana logs in and gets 18.
    model.apply(Delivered("page-3", 18))
    assert shown(model, "ana")[8][3] == "✓✓ delivered"


def test_in_the_open_conversation_merged_messages_are_read_not_unread() -> None:
    """The open conversation counts nothing: the window says it read them, as for live ones."""
    model = model_of()
    model.open("ana")
    model.add_history("Ana", [entry(10, "Ana", "dez")])
    reconnect(model)
    model.catch_up("Ana", [entry(10, "Ana", "dez"), entry(12, "Ana", "doze"), entry(13, "Ana", "treze")])
    assert model.unread("ana") == 0
    assert model.read_due(focused=True) == ("Ana", 13)


def test_a_message_that_came_live_first_stays_after_those_of_the_gap() -> None:
    """Ana writes 20 right after the reconnection, before the page comes: 12 and 13 of the
    gap go before it (the pane drawn again), not after; an edit told before its message
    came is kept; older entries than what is shown are the history's, left out."""
    model = model_of()
    model.apply(DirectMessage(10, "Ana", "João", "dez", T))
    reconnect(model)
    model.apply(DirectMessage(20, "Ana", "João", "vinte", T))
    model.apply(Edited(13, "Ana", "João", "treze, corrigida", T))
    model.take_changes()
    model.catch_up("Ana", [entry(8, "Ana", "oito"), entry(10, "Ana", "dez"), entry(12, "Ana", "doze"),
                           entry(13, "Ana", "treze"), entry(20, "Ana", "vinte")])
    assert [(n, text) for n, _kind, text, _label in shown(model, "ana")] == [
        (10, "dez"), (12, "doze"), (13, "treze, corrigida  (edited)"), (20, "vinte")]
    assert LinesInserted("ana") in model.take_changes()
    assert model.unread("ana") == 4
    # The history, loaded when the conversation opens, puts the older one on top.
    model.open("ana")
    model.add_history("Ana", [entry(8, "Ana", "oito"), entry(10, "Ana", "dez"), entry(12, "Ana", "doze")])
    assert [n for n, *_rest in shown(model, "ana")] == [8, 10, 12, 13, 20]


def test_the_history_of_a_conversation_with_live_lines_puts_only_older_ones_on_top() -> None:
    """A conversation never opened showed 10 and 20 live; its history (when opened) has 15,
    which our other session got while this one reconnected: it goes between them, not above
    10 (add_history puts older pages first, never newer entries)."""
    model = model_of()
    model.apply(DirectMessage(10, "Ana", "João", "dez", T))
    model.apply(DirectMessage(20, "Ana", "João", "vinte", T))
    model.open("ana")
    model.take_changes()
    model.add_history("Ana", [entry(5, "Ana", "cinco"), entry(10, "Ana", "dez"), entry(15, "João", "quinze"),
                              entry(20, "Ana", "vinte")])
    assert [(n, kind) for n, kind, *_rest in shown(model, "ana")] == [(5, "in"), (10, "in"), (15, "out"), (20, "in")]
    changes = model.take_changes()
    assert [[line.msg_id for line in c.lines] for c in changes if isinstance(c, LinesPrepended)] == [[5]]
    assert LinesInserted("ana") in changes
    assert model.unread("ana") == 0


def test_our_message_sent_here_during_the_gap_is_not_shown_twice() -> None:
    """Typed while reconnecting, sent again at the reconnection: its msg_id may reach the
    window after the page that has it; the page's entry is that line (by its text)."""
    model = model_of()
    model.apply(DirectMessage(10, "Ana", "João", "dez", T))

    class Message:
        request_id, to, text, state, created, msg_id = "r1", "Ana", "voltei", "sending", T, None
    model.sent(Message())
    reconnect(model)
    model.catch_up("Ana", [entry(10, "Ana", "dez"), entry(11, "João", "voltei", "sent")])
    assert [(n, text) for n, _kind, text, _label in shown(model, "ana")] == [(10, "dez"), (None, "voltei")]


# --- The read receipts switch, changed on another device --------------------------------------


def test_receipts_turned_off_on_another_device_turn_off_here_and_no_read_is_due() -> None:
    """The switch follows what the server tells (a Settings the library hands on); a
    line says so in the window's words, and the read of the open conversation is not due."""
    from client.gui.changes import ReceiptsChanged
    from i18n import use
    from protocol import Settings
    model = model_of()
    model.set_state(CONNECTED)
    model.open("ana")
    model.apply(DirectMessage(21, "Ana", "João", "leu?", T))
    model.take_changes()
    try:
        use("pt_BR")
        model.apply(Settings(None, False))
    finally:
        use("en")
    assert model.read_receipts is False
    assert any(isinstance(c, ReceiptsChanged) for c in model.take_changes())
    assert model.conversations["ana"].lines[-1].text.startswith(
        "As confirmações de leitura foram desligadas em outro dispositivo seu")
    assert model.read_due(True) is None
    model.apply(Settings(None, False))  # nothing new: nothing said
    assert model.take_changes() == []
    model.apply(Settings(None, True))
    assert model.read_receipts is True and model.read_due(True) is not None


def test_a_change_answered_after_the_window_said_it_may_or_may_not_have_been_made_is_said() -> None:
    """A password change (or read receipts switch) whose answer came after the window said
    it may or may not have been made (AnsweredLate): a line says what it did, in the
    window's words; the switch follows what the library holds (receipts_settled)."""
    from client.events import AnsweredLate
    from client.gui.changes import ReceiptsChanged
    from i18n import use
    model = model_of()
    model.set_state(CONNECTED)
    model.open("ana")
    model.take_changes()
    try:
        use("pt_BR")
        model.apply(AnsweredLate("password", True))
        model.apply(AnsweredLate("password", False, "bad_password", "wrong password"))
    finally:
        use("en")
    assert [line.text for line in model.conversations["ana"].lines[-2:]] == [
        "A resposta do servidor chegou atrasada: sua senha foi trocada: de agora em diante entre com a nova",
        "A resposta do servidor chegou atrasada: sua senha não foi trocada: senha errada"]
    model.take_changes()
    model.receipts_settled(False)
    assert model.read_receipts is False and ReceiptsChanged() in model.take_changes()
    model.receipts_settled(False)  # nothing new
    assert model.take_changes() == []


def test_a_switch_changed_while_the_window_was_away_follows_the_new_sessions_welcome() -> None:
    from client.gui.changes import ReceiptsChanged
    model = model_of()
    model.set_state(CONNECTED)
    model.apply(Reconnecting(1, 0.5))
    model.apply(Reconnected(Welcome("h", "João", 1, "test", 10.0, read_receipts=False)))
    assert model.read_receipts is False
    assert any(isinstance(c, ReceiptsChanged) for c in model.take_changes())
    model.apply(Reconnecting(1, 0.5))
    model.apply(Reconnected(Welcome("h", "João", 1, "test", 10.0, read_receipts=False)))
    assert not any(isinstance(c, ReceiptsChanged) for c in model.take_changes())  # unchanged: not said


def test_a_carbon_that_expired_says_the_wait_the_server_says() -> None:
    """A server whose messages wait a day (its operator's QUEUE_TTL): its ``expired`` says
    so (``waited``), and the window says that, not its own seven days."""
    model = model_of()
    model.apply(Carbon(22, "Ana", "esquecida", T, "queued"))
    model.apply(ErrorReply("expired", "your message 22 to Ana expired before it was delivered", "other", msg_id=22,
                           waited=86400.0))
    label = model.conversations["ana"].lines[0].label
    assert label.startswith("✗ not delivered: it waited 1 day for Ana and expired: "), label


def test_a_window_that_shows_nothing_yet_catches_up_from_where_the_server_first_welcomed_it() -> None:
    """The window opened, showed no direct message, and lost its connection; meanwhile Ana
    wrote to João's phone (message 41). The first welcome said the server's last id was 40:
    the reconnection asks every conversation after it, and Ana's message shows. Before, a
    window that showed nothing asked nothing and never showed it."""
    model = model_of()
    model.began_after = 40
    assert [c for c in reconnect(model) if isinstance(c, SinceWanted)] == [SinceWanted(40)]
    model.catch_up_since([HistoryEntry(41, "Ana", "João", "chegou o livro", T + 41, "delivered")])
    assert [(msg_id, kind) for msg_id, kind, *_ in shown(model, "ana")] == [(41, "in")]
    # An empty server is a place to begin too; what the window shows moves it on.
    empty = model_of()
    empty.began_after = 0
    assert [c for c in reconnect(empty) if isinstance(c, SinceWanted)] == [SinceWanted(0)]
    empty.apply(DirectMessage(7, "Bia", "João", "oi", T))
    assert [c for c in reconnect(empty) if isinstance(c, SinceWanted)] == [SinceWanted(7)]

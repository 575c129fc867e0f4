"""The window's model when the same user is also on other devices (the terminal, the page,
``--send``): what those sessions send and read shows here as it does there
(client/gui/model.py; PROTOCOL.md, "`sent`", "read", "In rooms"). No tkinter."""

from __future__ import annotations

from client.gui.model import ROOM, ChatModel, ContactsChanged, StateChanged
from protocol import Carbon, Delivered, DirectMessage, ErrorReply, Presence, Queued, Read, RoomInfo, RoomMessage, RoomPost
from protocol import RoomRead

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

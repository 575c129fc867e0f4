"""Blocking in the window's model: the server's list marks people, the mark follows only
an ``ok``, and every outcome is said in the conversation, truthfully."""

from __future__ import annotations

from client.errors import AnswerLost, NotConnected, RequestFailed, RequestTimeout
from client.gui.model import CONNECTED, ROOM, ChatModel, room_key
from i18n import use
from protocol import Presence, UserLeft

T = 1_700_000_000.0


def connected(me: str = "Bob") -> ChatModel:
    model = ChatModel(me)
    model.set_state(CONNECTED)
    model.take_changes()
    return model


def notices(model: ChatModel, key: str) -> list[str]:
    return [line.text for line in model.conversations[key].lines if line.kind == "notice"]


def test_nobody_is_marked_and_no_button_is_offered_until_the_server_listed_whom_we_block():
    model = connected()
    model.set_online([Presence("Mallory", T)])
    assert not model.is_blocked("mallory") and not model.may_block("mallory")  # an older server never lists
    model.blocks_listed([])
    assert model.may_block("mallory") and not model.may_block(ROOM) and not model.may_block(room_key("#redes"))
    assert not model.may_block("bob")  # ourselves


def test_the_listed_people_are_marked_and_stay_in_the_list_while_offline():
    model = connected()
    model.blocks_listed(["Mallory", "BOB"])  # ourselves: never, whatever a list says
    assert model.is_blocked("mallory") and not model.is_blocked("bob")
    assert "mallory" in model.contact_order()  # where one sees it, and unblocks
    model.set_online([])  # nobody online: still listed
    model.apply(UserLeft("Mallory", "quit", T))
    assert "mallory" in model.contact_order()
    model.blocks_listed([])  # unblocked on another device: the next list says so
    assert not model.is_blocked("mallory")


def test_the_mark_follows_an_ok_and_the_conversation_says_it():
    model = connected()
    model.blocks_listed([])
    model.block_asked("mallory")
    assert not model.may_block("mallory")  # one request at a time
    assert model.block_answered("Mallory", True, None) is False
    assert model.is_blocked("mallory") and model.may_block("mallory")
    assert notices(model, "mallory") == [
        "You blocked Mallory: their messages no longer reach you (yours still reach them)"]
    model.block_answered("Mallory", False, None)
    assert not model.is_blocked("mallory")
    assert notices(model, "mallory")[-1] == "You unblocked Mallory: their new messages reach you again"


def test_a_refusal_changes_nothing_and_says_why():
    model = connected()
    model.blocks_listed([])
    model.block_asked("mallory")
    refused = RequestFailed("unavailable", "the server cannot save anything right now", 2.0)
    assert model.block_answered("Mallory", True, refused) is False
    assert not model.is_blocked("mallory")
    [said] = notices(model, "mallory")
    assert said.startswith("Mallory was not blocked: ") and "cannot use its storage right now" in said
    model.block_answered("Mallory", False, RequestFailed("rate_limited", "too many requests", 0.5))
    assert notices(model, "mallory")[-1].startswith("Mallory was not unblocked: ")


def test_an_outcome_nobody_knows_is_never_said_as_done_or_not_done_and_asks_for_the_list_again():
    model = connected()
    model.blocks_listed(["Mallory"])
    for error in (RequestTimeout("no answer within 10 s"), AnswerLost("the connection was lost before the answer came"),
                  RequestFailed("unavailable", "it may have been done", 2.0, uncertain=True)):
        assert model.block_answered("Mallory", False, error) is True  # the window asks for the list
        assert model.is_blocked("mallory")  # as the server last said, until its list says otherwise
        assert notices(model, "mallory")[-1].startswith("Unblocking Mallory is not confirmed: ")


def test_a_block_for_want_of_a_connection_is_said_in_the_windows_words():
    """The library says why in its own terms: "not connected to the server (reconnecting:
    ...)" in English, "the connection was lost before the answer came (connection error:
    ...)" with its technical reason. The Portuguese window said them so. A request not
    sent (NotConnected) changed nothing, for sure; one sent whose answer was lost
    (AnswerLost) may have."""
    use("pt_BR")
    try:
        model = connected()
        model.blocks_listed([])
        model.block_asked("mallory")
        not_sent = NotConnected("not connected to the server (reconnecting: connection error: Connection reset)")
        assert model.block_answered("Mallory", True, not_sent) is False
        assert not model.is_blocked("mallory")
        assert notices(model, "mallory")[-1] == "Mallory não foi bloqueado: sem conexão"
        model.block_asked("mallory")
        lost = AnswerLost("a conexão caiu antes de a resposta chegar (erro de conexão: Connection reset by peer)")
        assert model.block_answered("Mallory", True, lost) is True  # the list, once back, says which
        assert notices(model, "mallory")[-1] == \
            "O bloqueio de Mallory não foi confirmado: a conexão caiu antes de o servidor responder"
    finally:
        use("en")


def test_a_block_or_unblock_made_on_another_device_marks_and_lists_at_once():
    """Feature blocks: the server tells the window of a change made elsewhere (Blocked,
    Unblocked); the mark and the contact list follow without asking again."""
    from protocol import Blocked, Unblocked
    from client.gui.changes import ContactsChanged

    model = connected()
    model.apply(Blocked("Mallory"))  # before the list: the list will say
    assert model.blocked is None
    model.blocks_listed([])
    model.take_changes()
    model.apply(Blocked("Mallory"))
    assert model.is_blocked("mallory") and "mallory" in model.contact_order()
    assert any(isinstance(change, ContactsChanged) for change in model.take_changes())
    assert model.may_block("mallory")  # offered, as Unblock
    model.apply(Unblocked("mallory"))
    assert not model.is_blocked("mallory")
    model.apply(Blocked("bob"))  # ourselves: never
    assert not model.is_blocked("bob")

"""Writing to someone by name in the real window (Xvfb): the box under the list of
conversations (Ctrl+N), as the web page's "Write to someone by name". An offline person
with no conversation is not in the list, so there was no way to write to them.

Driven as tests/integration/test_gui.py drives the window (its fixtures, its test hook).
"""

from __future__ import annotations

import pytest

from protocol import Accepted, Delivered, DirectMessage, Hello, Receipt, RoomMessage, UserJoined, UserLeft, Welcome
from server import ServerConfig, ServerThread
from test_gui import Gui, contact, display, open_gui, server  # noqa: F401  (fixtures)
from wire import WireClient

PASSWORD = "correct horse"
NOTICES = (UserJoined, UserLeft, RoomMessage)
pytestmark = pytest.mark.timeout_seconds(120)


def _register(server, name: str) -> None:
    """``name`` gets an account, then goes offline."""
    with WireClient(server.host, server.port) as client:
        client.send(Hello("h", name, 1, password=PASSWORD, register=True))
        client.expect(Welcome)


def test_a_conversation_opens_by_name_with_someone_offline_and_the_message_waits_for_them(
        open_gui, server) -> None:  # noqa: F811
    """Carol has an account and is offline: not in Bob's list. Ctrl+N, "carol", Enter: her
    conversation opens under the name as the server spells it, she is listed as offline,
    the keys are back in the input box; the message is queued, then delivered once she
    logs in."""
    _register(server, "Carol")
    bob = open_gui("Bob")
    state = bob.wait(lambda s: s["view"] == "chat" and s["state"] == "connected" and s["focus"] == "input",
                     "the chat view, the focus in the input box")
    assert contact(state, "carol") is None
    assert "Ctrl+N" in state["hint"]
    assert bob.cmd("key", sequence="<Control-n>")["focus"] == "new-chat"
    bob.cmd("new_chat", name="carol")
    state = bob.wait(lambda s: s["active"] == "carol" and contact(s, "carol") and s["focus"] == "input",
                     "Carol's conversation open, the keys in the input box")
    assert state["header"][0] == "Carol" and state["recipient"] == "To Carol"
    assert contact(state, "carol")["dot"] == "offline", contact(state, "carol")
    assert state["new_chat"] == ""  # the box is emptied for the next one
    bob.cmd("type", text="oi Carol, a prova é amanhã")
    state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["queued"], "the message queued",
                     panes=["carol"])
    assert "oi Carol, a prova é amanhã   ◷ queued" in state["panes"]["carol"], state["panes"]["carol"]
    # Another conversation, and back: Carol, offline, stays in the list.
    bob.cmd("key", sequence="<Control-Key-1>")
    state = bob.wait(lambda s: s["active"] == "#room", "the room")
    assert contact(state, "carol") is not None

    with WireClient.login(server.host, server.port, "Carol", PASSWORD) as carol:
        dm = carol.expect(DirectMessage, skip=NOTICES)
        assert (dm.sender, dm.to, dm.text) == ("Bob", "Carol", "oi Carol, a prova é amanhã")
        carol.send(Receipt(dm.msg_id))
        state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["delivered"]
                         and contact(s, "carol")["dot"] == "online", "the message delivered, Carol online")


def test_a_name_nobody_has_or_no_name_at_all_opens_nothing_and_says_why_in_portuguese(
        open_gui, server, monkeypatch) -> None:  # noqa: F811
    """A name nobody has logged in with: the window says so in the user's language (as the
    terminal's /to does) and opens nothing; a name that cannot be one is said before
    asking the server."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    with WireClient.login(server.host, server.port, "Alice") as alice:
        bob = open_gui("Bob")
        state = bob.logged_in()
        assert "Nova conversa" in [text for text in state["sidebar_texts"]], state["sidebar_texts"]
        bob.cmd("new_chat", name="Zed")
        state = bob.wait(lambda s: s["alerts"], "the refusal said")
        assert state["alerts"][-1][1] == "Ninguém chamado Zed jamais entrou aqui: confira o nome.", state["alerts"]
        assert state["active"] == "#room" and contact(state, "zed") is None
        assert state["new_chat"] == "Zed"  # left to be corrected
        bob.cmd("dismiss")
        bob.cmd("new_chat", name="Ana Maria")
        state = bob.wait(lambda s: len(s["alerts"]) == 2, "the name refused")
        assert "Ana_Maria" in state["alerts"][-1][1] and "nome" in state["alerts"][-1][1], state["alerts"]
        bob.cmd("dismiss")
        # Someone online and listed already: their conversation, as a click would open it.
        bob.cmd("new_chat", name="ALICE")
        state = bob.wait(lambda s: s["active"] == "alice", "Alice's conversation")
        assert state["header"][0] == "Alice" and [row["key"] for row in state["contacts"]].count("alice") == 1
        bob.cmd("type", text="oi")
        dm = alice.expect(DirectMessage, skip=(Accepted, Delivered, *NOTICES))
        assert (dm.to, dm.text) == ("Alice", "oi")


def test_with_the_server_away_the_conversation_opens_and_says_the_name_was_not_checked(
        display, tmp_path, monkeypatch) -> None:  # noqa: F811
    """The server stopped (the window reconnecting): the name cannot be looked up. The
    conversation opens as typed, as the terminal's /to does, and says in the window's
    language that the name was not checked and why, not the library's English."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    first = ServerThread(ServerConfig(host="127.0.0.1", port=0, login_failure_delay=0.05)).__enter__()
    bob = None
    try:
        bob = Gui(display, first.port, "Bob", tmp_path)
        bob.logged_in()
        first.stop()
        bob.wait(lambda s: s["state"] == "reconnecting", "the window reconnecting")
        bob.cmd("new_chat", name="Conceição")
        state = bob.wait(lambda s: s["active"] == "conceição" and "Conceição" in s["panes"].get("conceição", ""),
                         "Conceição's conversation", panes=["conceição"])
        pane = state["panes"]["conceição"]
        assert "Não foi possível conferir o nome Conceição: sem conexão" in pane, pane
        assert "not connected" not in pane and state["header"][0] == "Conceição", (pane, state["header"])
    finally:
        if bob is not None:
            bob.close()
        first.stop()


def test_the_boxes_keys_at_the_login_form_after_a_sign_out_do_nothing(
        open_gui, server, monkeypatch) -> None:  # noqa: F811
    """Ctrl+N and Ctrl+J are the whole window's keys, bound with its chat view: back at the
    login form (the account deleted here), the boxes they go to are gone with the view, and
    each press printed a traceback (TclError: bad window path name). They do nothing there."""
    _register(server, "Dora")
    monkeypatch.setenv("CHAT_PASSWORD", PASSWORD)
    gui = open_gui("Dora")
    gui.logged_in()
    gui.cmd("unregister", password=PASSWORD)
    gui.wait(lambda s: s["view"] == "login" and not s["login_busy"], "the login form again")
    for sequence in ("<Control-n>", "<Control-j>"):
        assert gui.cmd("key", sequence=sequence)["ok"]
    state = gui.cmd("dump")
    assert state["view"] == "login" and "Traceback" not in gui.output(), gui.output()


def test_a_name_typed_without_its_accents_is_offered_the_one_online_that_looks_like_it(
        open_gui, server, monkeypatch) -> None:  # noqa: F811
    """João is online; Bob types "joao", which nobody has (the registry keeps look-alikes
    apart, and a whois answers only "unknown"). The window said only "check the name": it
    asks "did you mean João?" (the window's list, registry.names.lookalike_among) and puts
    João in the box, where Enter opens his conversation."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    with WireClient.login(server.host, server.port, "João") as joao:
        bob = open_gui("Bob")
        bob.wait(lambda s: s["view"] == "chat" and s["state"] == "connected" and contact(s, "joão"),
                 "João in Bob's list")
        bob.cmd("new_chat", name="joao")
        state = bob.wait(lambda s: s["alerts"], "the refusal said")
        assert state["alerts"][-1][1] == "Ninguém chamado joao jamais entrou aqui; você quis dizer João?", \
            state["alerts"]
        assert state["new_chat"] == "João" and state["active"] == "#room", state
        bob.cmd("dismiss")
        bob.cmd("new_chat", name=state["new_chat"])  # Enter in the box as it was left
        state = bob.wait(lambda s: s["active"] == "joão", "João's conversation")
        assert state["header"][0] == "João" and len(state["alerts"]) == 1
        bob.cmd("type", text="oi João")
        dm = joao.expect(DirectMessage, skip=(Accepted, Delivered, *NOTICES))
        assert (dm.to, dm.text) == ("João", "oi João")


def test_new_chat_or_join_room_with_its_box_empty_says_what_to_type_there(open_gui, server, monkeypatch) -> None:
    """A newcomer presses New chat before typing a name: nothing happened at all; Join room
    with its box empty said only "Uso: #SALA.". Each says, in the user's language, what to
    type in its box, and puts the cursor there."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("new_chat", name="")
    state = bob.wait(lambda s: s["alerts"], "the empty box said")
    assert state["alerts"][-1] == ["Nova conversa", "Digite na caixa ao lado de Nova conversa o nome da pessoa a "
                                   "quem você quer escrever e pressione Enter."], state["alerts"]
    bob.cmd("dismiss")
    bob.wait(lambda s: not s["alert_open"] and s["focus"] == "new-chat", "the cursor in the box")
    bob.cmd("join", room="", click=True)
    state = bob.wait(lambda s: len(s["alerts"]) == 2, "the empty join box said")
    assert state["alerts"][-1] == ["Entrar na sala", "Digite na caixa ao lado de Entrar na sala o nome da sala "
                                   "(#redes, por exemplo) e pressione Enter."], state["alerts"]
    bob.cmd("dismiss")
    bob.wait(lambda s: not s["alert_open"] and s["focus"] == "join", "the cursor in the join box")
    assert state["active"] == "#room"


def test_our_own_name_typed_without_its_accents_is_said_as_ours(open_gui, server, monkeypatch) -> None:  # noqa: F811
    """Conceição types "conceicao" (nobody may have it: it looks like hers). The window said
    only "nobody called conceicao", where the terminal asks "did you mean Conceição (you)?";
    it says the same, and offers no name in the box (a chat with herself is not it)."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    window = open_gui("Conceição")
    window.wait(lambda s: s["view"] == "chat" and s["state"] == "connected", "the chat view")
    window.cmd("new_chat", name="conceicao")
    state = window.wait(lambda s: s["alerts"], "the refusal said")
    said = state["alerts"][-1][1]
    assert said == "Ninguém chamado conceicao jamais entrou aqui; você quis dizer Conceição (você)?", state["alerts"]
    assert state["new_chat"] == "conceicao" and state["active"] == "#room", state

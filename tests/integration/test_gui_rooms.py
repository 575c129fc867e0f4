"""Rooms in the real window under Xvfb (see test_gui.py for the harness): the join box, the
room in the contact list, its conversation with posts and notices, the topic in the
header, the member list, and the moderation menu only for those who may."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from clientkit import WAIT, posted, start
from faultproxy import FaultProxy
from protocol import RoomMessage, RoomPost
from test_gui import contact, display, open_gui, server  # noqa: F401  (fixtures)
from tools import require_tool


@pytest.mark.timeout_seconds(120)
def test_a_room_in_the_window(open_gui, server, clients, tmp_path: Path) -> None:
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    olga.set_topic("#redes", "prova na sexta")
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#redes")
    state = bob.wait(lambda s: s["active"] == "##redes" and s["members"], "the room open with its members")
    # Ready to write in, as the web page's room is: the first line typed goes to the room.
    bob.wait(lambda s: s["focus"] == "input", "the input box focused")
    assert contact(state, "##redes")["text"].strip() == "#redes"
    assert state["header"] == ["#redes", "prova na sexta · 2 members"]
    assert state["recipient"] == "To everyone in #redes"
    assert state["members"] == ["Bob", "Olga (owner)"]
    assert state["room_menu"] == []  # a plain member is offered no moderation

    bob.cmd("type", text="olá, turma")
    state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["sent"], "the room message as sent")
    while not isinstance(event := olga.events.get(timeout=WAIT), RoomPost) or event.sender != "Bob":
        pass
    assert event.text == "olá, turma"
    olga.send_to_room("#redes", "bem-vindo, Bob")
    olga.appoint("#redes", "Bob", "moderator")
    state = bob.wait(lambda s: "Olga made you moderator of #redes" in s["panes"].get("##redes", ""),
                     "the appointment notice")
    assert "Olga: bem-vindo, Bob" in state["panes"]["##redes"]
    state = bob.wait(lambda s: s["room_menu"], "the moderation menu, now that Bob may moderate")
    assert state["members"] == ["Bob (moderator)", "Olga (owner)"]
    assert "kick" in state["room_menu"] and "ban" in state["room_menu"]

    bob.cmd("room_act", act="invite", name="Zoe")
    bob.wait(lambda s: "you invited Zoe to #redes" in s["panes"]["##redes"], "the invitation notice")
    with start(clients, server.port, "Vic") as vic:
        vic.join("#redes")
        bob.wait(lambda s: "Vic joined #redes" in s["panes"]["##redes"], "Vic's join notice")
        # The member menu offers Mute or Unmute, as fits (the menu had both for everyone),
        # and never "Lift the ban": a member is not banned (a ban puts one out and keeps one out).
        state = bob.wait(lambda s: "Vic" in s["member_menus"], "Vic in the member list")
        assert "mute" in state["member_menus"]["Vic"] and "unmute" not in state["member_menus"]["Vic"]
        assert "unban" not in state["member_menus"]["Vic"] and "ban" in state["member_menus"]["Vic"]
        bob.cmd("room_act", act="mute", name="Vic")
        state = bob.wait(lambda s: "you muted Vic in #redes" in s["panes"]["##redes"], "the mute notice")
        state = bob.wait(lambda s: "unmute" in s["member_menus"]["Vic"], "Unmute offered for Vic")
        assert "mute" not in state["member_menus"]["Vic"] and "unban" not in state["member_menus"]["Vic"]
        muted = vic.send_to_room("#redes", "hello?")
        assert muted.wait_done(WAIT) and muted.error[0] == "muted"
        bob.cmd("room_act", act="kick", name="Vic")
        state = bob.wait(lambda s: "you put Vic out of #redes" in s["panes"]["##redes"]
                         and s["members"] == ["Bob (moderator)", "Olga (owner)"], "Vic put out")
    require_tool("xwd", "x11-apps", why="to take the window's screenshot")
    shot = tmp_path / "gui-rooms.png"
    bob.cmd("screenshot", path=str(shot))
    print(f"\nscreenshot: {shot}")
    if os.environ.get("SAVE_SCREENSHOTS") == "1":  # README's picture of a room
        shutil.copyfile(shot, Path(__file__).resolve().parents[2] / "docs" / "gui-rooms.png")


def test_a_room_name_that_cannot_be_joined_is_said_in_a_sentence(open_gui, server) -> None:
    """The "Join room" dialog's message began in lower case ("usage: #ROOM"). (A "#" alone:
    the box empty says what to type there, test_gui_new_chat.py.)"""
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#", click=True)
    state = bob.wait(lambda s: s["alerts"], "the dialog")
    assert state["alerts"] == [["Join room", "Usage: #ROOM."]], state["alerts"]


def test_the_join_dialogs_usage_names_a_room_in_portuguese(open_gui, server, monkeypatch) -> None:
    """In the Portuguese window a "#" alone in the join box said "Uso: #ROOM.": the
    placeholder stayed English (the terminal's usage lines say "#SALA")."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#", click=True)
    state = bob.wait(lambda s: s["alerts"], "the dialog")
    assert state["alerts"] == [["Entrar na sala", "Uso: #SALA."]], state["alerts"]


@pytest.mark.timeout_seconds(120)
def test_typing_edits_and_deletes_in_a_room_in_the_window(open_gui, server, clients, tmp_path: Path) -> None:
    """Issue 13 in rooms: "Olga is typing…" under the room, an edited post and deleted ones
    (by their sender, by a moderator: "deleted by"), Ctrl+E and Ctrl+Delete on our own
    post, and a moderator's "Delete their last post" in the member menu."""
    from protocol import RoomDeleted, RoomEdited, RoomTyping

    def next_of(client, kind):
        while not isinstance(event := client.events.get(timeout=WAIT), kind):
            pass
        return event

    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    vic = start(clients, server.port, "Vic")
    vic.join("#redes")
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#redes", click=True)  # Enter in the box is test 1's (a key needs the X focus)
    bob.wait(lambda s: s["active"] == "##redes" and s["members"], "the room open with its members")

    post = posted(olga, "#redes", "a prova é na quinta")
    bob.wait(lambda s: "Olga: a prova é na quinta" in s["panes"]["##redes"], "Olga's post")
    olga.edit(post.msg_id, "a prova é na sexta")
    bob.wait(lambda s: "a prova é na sexta  (edited)" in s["panes"]["##redes"], "the edited mark")
    oops = posted(vic, "#redes", "ops, sala errada")
    bob.wait(lambda s: "ops, sala errada" in s["panes"]["##redes"], "Vic's post")
    vic.delete(oops.msg_id)
    bob.wait(lambda s: "ops, sala errada" not in s["panes"]["##redes"]
             and "(this message was deleted)" in s["panes"]["##redes"], "Vic's post deleted")

    # Our own post: typed (Olga hears we type), then Ctrl+E to correct it, Ctrl+Delete later.
    bob.cmd("type", text="", clear=True, enter=False)  # the input box has the focus
    bob.cmd("key", sequence="<KeyPress-v>")
    typing = next_of(olga, RoomTyping)
    assert (typing.room_name, typing.sender) == ("#redes", "Bob")
    bob.cmd("type", text="vou levar o livor", clear=True)
    bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["sent"], "our post as sent")
    bob.cmd("key", sequence="<Control-e>")
    bob.wait(lambda s: s["input"] == "vou levar o livor", "our post in the input box")
    bob.cmd("type", text="vou levar o livro", clear=True)
    assert next_of(olga, RoomEdited).text == "vou levar o livro"
    bob.wait(lambda s: "vou levar o livro  (edited)" in s["panes"]["##redes"], "our edit")

    # Made a moderator, Bob deletes Vic's last post from the member menu; Olga deletes another.
    spam = posted(vic, "#redes", "compre já!!!")
    bob.wait(lambda s: "compre já!!!" in s["panes"]["##redes"], "Vic's spam")
    olga.appoint("#redes", "Bob", "moderator")
    state = bob.wait(lambda s: "delete_post" in s["room_menu"], "the moderation menu")
    bob.cmd("room_act", act="delete_post", name="Vic")
    deleted = next_of(vic, RoomDeleted)
    assert (deleted.msg_id, deleted.by) == (spam.msg_id, "Bob")
    again = posted(vic, "#redes", "compre já, de novo")
    bob.wait(lambda s: "compre já, de novo" in s["panes"]["##redes"], "Vic's spam again")
    olga.delete(again.msg_id)
    state = bob.wait(lambda s: "(this message was deleted by Olga)" in s["panes"]["##redes"], "deleted by Olga")
    assert "compre já" not in state["panes"]["##redes"]
    assert "you deleted a message of Vic in #redes" in state["panes"]["##redes"]

    olga.typing_in_room("#redes")
    bob.wait(lambda s: s["typing"] == "Olga is typing…", "the typing line")
    require_tool("xwd", "x11-apps", why="to take the window's screenshot")
    shot = tmp_path / "gui-room-edits.png"
    bob.cmd("screenshot", path=str(shot))
    print(f"\nscreenshot: {shot}")
    bob.cmd("key", sequence="<Control-Delete>")
    while (event := next_of(olga, RoomDeleted)).sender != "Bob":  # Vic's, told before
        pass
    assert event.by is None
    bob.wait(lambda s: "vou levar o livro" not in s["panes"]["##redes"], "our post deleted")


@pytest.mark.timeout_seconds(120)
def test_a_room_joined_before_the_window_started_is_listed_with_its_posts(open_gui, server, clients) -> None:
    """João joins #redes-ção in the window and closes it; Conceição posts while he is away.
    The window started again joined nothing, but the server kept him in the room: its
    posts (the missed one at login, then live ones) list it, with the unread count and
    then its topic and count in the header; no Ctrl+J needed."""
    from protocol import RoomNotice

    conceicao = start(clients, server.port, "Conceição")
    conceicao.join("#redes-ção")
    conceicao.set_topic("#redes-ção", "prova na sexta")
    joao = open_gui("João")
    joao.logged_in()
    joao.cmd("join", room="#redes-ção")
    joao.wait(lambda s: s["active"] == "##redes-ção", "the room open")
    joao.close()
    # The server has seen him go (room presence), so the next post is one he missed.
    while not (isinstance(event := conceicao.events.get(timeout=WAIT), RoomNotice)
               and (event.act, event.name) == ("offline", "João")):
        pass
    posted(conceicao, "#redes-ção", "alguém aí?")

    joao = open_gui("João")
    state = joao.wait(lambda s: s["view"] == "chat" and (contact(s, "##redes-ção") or {}).get("unread") == "1",
                      "the room listed with its missed post unread")
    assert [row["key"] for row in state["contacts"]][:2] == ["#room", "##redes-ção"]
    posted(conceicao, "#redes-ção", "olá, João")
    joao.wait(lambda s: contact(s, "##redes-ção")["unread"] == "2", "a live post counted")
    joao.cmd("key", sequence="<Control-Key-2>")
    state = joao.wait(lambda s: s["active"] == "##redes-ção" and s["header"][1] == "prova na sexta · 2 members",
                      "the room open, its topic and count in the header")
    assert "Conceição: alguém aí?" in state["panes"]["##redes-ção"]
    assert "Conceição: olá, João" in state["panes"]["##redes-ção"]


def test_a_quiet_room_joined_before_the_window_started_is_listed(open_gui, server, clients) -> None:
    """João joins #redes-ção and the invite-only #lab3 in the window and closes it; nobody
    posts. The window started again lists both after Everyone (the server told it which
    rooms it is in), with nothing unread; #redes-ção opens with its topic and count and
    no post. No Ctrl+J needed, and no join: nobody is told João joined."""
    from protocol import RoomNotice

    conceicao = start(clients, server.port, "Conceição")
    conceicao.join("#redes-ção")
    conceicao.set_topic("#redes-ção", "prova na sexta")
    conceicao.join("#lab3", invite_only=True)
    conceicao.invite("#lab3", "João")
    joao = open_gui("João")
    joao.logged_in()
    for room in ("#redes-ção", "#lab3"):
        joao.cmd("join", room=room)
        joao.wait(lambda s, room=room: s["active"] == "#" + room, f"{room} open")
    joao.close()
    offline = set()
    while len(offline) < 2:  # the server has seen him go, from both rooms
        event = conceicao.events.get(timeout=WAIT)
        if isinstance(event, RoomNotice) and (event.act, event.name) == ("offline", "João"):
            offline.add(event.room_name)

    joao = open_gui("João")
    state = joao.wait(lambda s: s["view"] == "chat" and [row["key"] for row in s["contacts"]][:3]
                      == ["#room", "##lab3", "##redes-ção"], "both rooms listed after Everyone")
    assert not contact(state, "##lab3")["unread"] and not contact(state, "##redes-ção")["unread"]
    joao.cmd("key", sequence="<Control-Key-3>")
    state = joao.wait(lambda s: s["active"] == "##redes-ção" and s["header"][1] == "prova na sexta · 2 members",
                      "the room open, its topic and count in the header")
    assert "Conceição:" not in state["panes"]["##redes-ção"]
    # Listed, not joined: Conceição hears him come online in the rooms, not join them.
    while not (isinstance(event := conceicao.events.get(timeout=WAIT), RoomNotice) and event.act == "online"):
        assert not (isinstance(event, RoomNotice) and event.act == "joined"), event


def test_an_invite_only_room_listed_when_the_window_starts_says_so(open_gui, server, clients) -> None:
    """João makes his room #lab3 invite-only with its switch, lets Conceição in, and closes
    the window. Started again, the window lists its rooms from ``rooms`` with ``mine``,
    whose entries carried no mode: the header said "2 members" and the switch was off,
    though the room still kept outsiders out. Now the header says "invite only" and the
    switch is on."""
    from protocol import RoomNotice

    joao = open_gui("João")
    joao.logged_in()
    joao.cmd("join", room="#lab3")
    joao.wait(lambda s: s["active"] == "##lab3" and s["room_controls"]["mode"], "#lab3 open, its switch shown")
    assert joao.cmd("room_mode")["on"] is True
    joao.wait(lambda s: s["header"] == ["#lab3", "invite only · 1 member"], "the header saying invite only")
    joao.cmd("room_act", act="invite", name="Conceição")
    joao.wait(lambda s: "you invited Conceição to #lab3" in s["panes"]["##lab3"], "the invitation notice")
    conceicao = start(clients, server.port, "Conceição")
    conceicao.join("#lab3")
    joao.wait(lambda s: s["header"] == ["#lab3", "invite only · 2 members"], "Conceição in")
    joao.close()
    while not (isinstance(event := conceicao.events.get(timeout=WAIT), RoomNotice)
               and (event.act, event.name) == ("offline", "João")):
        pass  # the server has seen him go

    joao = open_gui("João")
    joao.wait(lambda s: s["view"] == "chat" and [row["key"] for row in s["contacts"]][:2] == ["#room", "##lab3"],
              "#lab3 listed after Everyone")
    joao.cmd("key", sequence="<Control-Key-2>")
    state = joao.wait(lambda s: s["active"] == "##lab3" and s["room_controls"]["mode"], "#lab3 open, its switch shown")
    assert state["header"] == ["#lab3", "invite only · 2 members"]
    assert state["room_controls"]["invite_only"] is True


@pytest.mark.timeout_seconds(180)
def test_members_back_with_the_server_are_not_announced_in_the_room(display, clients, tmp_path: Path) -> None:  # noqa: F811
    """The server stops (bye) and starts again: Conceição, in #redes-ção with João, comes
    back with it; João's window says "reconnected" once and not "Conceição is online in
    #redes-ção" (README: people who come back with the server are not announced)."""
    from server import ServerConfig, ServerThread
    from test_gui import Gui

    data = tmp_path / "data"
    config = ServerConfig(host="127.0.0.1", port=0, login_failure_delay=0.05, data_dir=data, guest_hold=0.0)
    first = ServerThread(config).__enter__()
    port = first.port
    joao = None
    try:
        start(clients, port, "Conceição").join("#redes-ção")
        joao = Gui(display, port, "João", tmp_path)
        joao.logged_in()
        joao.cmd("join", room="#redes-ção")
        joao.wait(lambda s: s["active"] == "##redes-ção" and s["members"], "the room open with its members")
        first.stop()  # a planned stop: the server says bye to everyone
        joao.wait(lambda s: s["state"] == "reconnecting", "the window reconnecting")
        config = ServerConfig(host="127.0.0.1", port=port, login_failure_delay=0.05, data_dir=data, guest_hold=0.0)
        with ServerThread(config):
            joao.wait(lambda s: s["state"] == "connected", "the window back", timeout=40)
            conceicao = start(clients, port, "Conceição")  # back with the server
            posted(conceicao, "#redes-ção", "voltei")  # told after her "online", so it came first
            state = joao.wait(lambda s: "Conceição: voltei" in s["panes"]["##redes-ção"], "her post")
            pane = state["panes"]["##redes-ção"]
            assert pane.count("reconnected") == 1 and "is online" not in pane, pane
    finally:
        if joao is not None:
            joao.close()
        first.stop()


@pytest.mark.timeout_seconds(120)
def test_a_long_topic_leaves_the_member_count_whole_in_the_header(open_gui, server, clients) -> None:
    """A topic of 256 characters is cut with "…" to the header's width; "· 2 members"
    stays whole (it was cut to "2 memb")."""
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    topic = ("prova na sexta: capítulos 3 a 7 do Kurose, " * 7)[:256]
    olga.set_topic("#redes", topic)
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#redes")
    state = bob.wait(lambda s: s["active"] == "##redes" and s["header"][1].endswith("· 2 members"),
                     "the room open, its count in the header")
    assert state["header_fits"], state["header"]
    assert "…" in state["header"][1] and topic.startswith(state["header"][1].split("…")[0])
    # Back to the room from Everyone, as the key's render left it (a header laid out again
    # later could hide a first cut made without the Members button the room brings back).
    bob.cmd("key", sequence="<Control-Key-1>")
    bob.wait(lambda s: s["active"] == "#room", "Everyone open")
    state = bob.cmd("key", sequence="<Alt-Down>", dump=True)["state"]
    assert state["active"] == "##redes" and state["header"][1].endswith("· 2 members"), state["header"]
    assert state["header_fits"], state["header"]


@pytest.mark.timeout_seconds(120)
def test_ctrl_e_and_ctrl_delete_on_our_message_to_everyone(open_gui, server, clients) -> None:
    """Our message to Everyone (the default room) edited with Ctrl+E and deleted with
    Ctrl+Delete, as a direct message or a room post; the others are told."""
    from protocol import RoomDeleted, RoomEdited

    def next_of(client, kind):
        while not isinstance(event := client.events.get(timeout=WAIT), kind):
            pass
        return event

    ana = start(clients, server.port, "Ana")
    bob = open_gui("Bob")
    bob.logged_in()
    bob.wait(lambda s: s["active"] == "#room", "Everyone open")
    bob.cmd("type", text="a aula é às 10h")
    bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["sent"], "our message as sent")
    bob.cmd("key", sequence="<Control-e>")
    bob.wait(lambda s: s["input"] == "a aula é às 10h", "our message in the input box")
    bob.cmd("type", text="a aula é às 11h", clear=True)
    edited = next_of(ana, RoomEdited)
    assert (edited.sender, edited.text) == ("Bob", "a aula é às 11h")
    bob.wait(lambda s: "a aula é às 11h  (edited)" in s["panes"]["#room"], "our edit")
    bob.cmd("key", sequence="<Control-Delete>")
    assert next_of(ana, RoomDeleted).msg_id == edited.msg_id
    bob.wait(lambda s: "a aula é às 11h" not in s["panes"]["#room"]
             and "(this message was deleted)" in s["panes"]["#room"], "our message deleted")


def test_a_room_left_shows_the_room_for_everyone_it_names(open_gui, server, clients) -> None:
    """Bob left #turma with its Leave button: the header and the line above the input box
    said "Everyone", but the messages shown were still #turma's (its pane stayed on top),
    under them. The room for everyone's are shown. (Put out of it, it stays on screen:
    test_kicked_from_the_room_on_screen_a_line_typed_there_goes_nowhere.)"""
    how = "leave"
    olga = start(clients, server.port, "Olga")
    olga.join("#turma")
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#turma")
    bob.wait(lambda s: s["active"] == "##turma" and len(s["members"]) == 2, "the room open")
    posted(olga, "#turma", "cheguei")
    bob.wait(lambda s: "cheguei" in s["panes"].get("##turma", "") and s["pane_shown"] == "##turma", "Olga's post")
    if how == "leave":
        bob.cmd("room_leave")
    else:
        olga.kick("#turma", "Bob")
    state = bob.wait(lambda s: s["active"] == "#room" and not contact(s, "##turma"), "the room left", panes=False)
    assert state["header"][0] == "Everyone" and state["recipient"] == "To everyone in the room", state["header"]
    assert state["pane_shown"] == "#room", state["pane_shown"]
    if how == "kick":  # and why, there
        bob.wait(lambda s: "Olga put you out of #turma" in s["panes"]["#room"], "the kick said where Bob is")


def bob_reading_redes(open_gui, **options):
    """Bob's window (``options`` as open_gui takes them), logged in, with #redes open and its
    two members listed (Bob and whoever made it)."""
    bob = open_gui("Bob", **options)
    bob.logged_in()
    bob.cmd("join", room="#redes")
    bob.wait(lambda s: s["active"] == "##redes" and len(s["members"]) == 2, "#redes open")
    return bob


def first_in_everyone(bob, text: str, clients) -> None:
    """Bob opens Everyone (Ctrl+1) and sends ``text`` there: each of ``clients`` gets it as
    the first thing Bob says in Everyone, and no room post from Bob before it."""
    bob.cmd("key", sequence="<Control-Key-1>")
    bob.wait(lambda s: s["active"] == "#room", "Everyone open")
    bob.cmd("type", text=text, clear=True)
    for client in clients:
        while not isinstance(event := client.events.get(timeout=WAIT), RoomMessage) or event.sender != "Bob":
            assert not (isinstance(event, RoomPost) and event.sender == "Bob"), event
        assert event.text == text, event


@pytest.mark.timeout_seconds(120)
def test_kicked_from_the_room_on_screen_a_line_typed_there_goes_nowhere(open_gui, server, clients, monkeypatch,
                                                                          tmp_path: Path) -> None:
    """Bob was typing a reply in #redes when Olga put him out: the window went to the room
    for everyone with the box as it was, and his Enter a moment later sent the reply to
    everyone on the server. #redes stays on screen with its messages, saying what to do
    (in Portuguese here); Enter sends nothing and keeps the text; Vic, only in the room for
    everyone, and Olga get nothing until Bob opens Everyone and writes there himself."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    olga = start(clients, server.port, "Olga")
    vic = start(clients, server.port, "Vic")
    olga.join("#redes")
    bob = bob_reading_redes(open_gui)
    posted(olga, "#redes", "sem palavrões aqui")
    bob.wait(lambda s: "sem palavrões aqui" in s["panes"].get("##redes", ""), "Olga's post")
    bob.cmd("type", text="isso é injusto", enter=False)
    olga.kick("#redes", "Bob")
    state = bob.wait(lambda s: "Olga pôs você para fora de #redes" in s["panes"].get("##redes", "")
                     and not contact(s, "##redes"), "the kick said where Bob is")
    pane = state["panes"]["##redes"]
    assert state["active"] == "##redes" and state["pane_shown"] == "##redes", (state["active"], state["pane_shown"])
    assert "sem palavrões aqui" in pane and pane.count("você não está mais em #redes") == 1, pane
    assert "entre de novo (Entrar na sala) para escrever aqui, ou abra Todos" in pane, pane
    assert state["recipient"] == "Para ninguém: você não está mais em #redes", state["recipient"]
    assert state["input"] == "isso é injusto", state["input"]
    found = bob.cmd("type", text="")  # Enter, with the reply still in the box
    assert found["input"] == "isso é injusto", found
    state = bob.wait(lambda s: "não enviado, o texto fica na caixa: você não está mais em #redes"
                     in s["panes"]["##redes"], "the line refused here")
    assert state["outgoing"] == [] and state["input"] == "isso é injusto", (state["outgoing"], state["input"])
    require_tool("xwd", "x11-apps", why="to take the window's screenshot")
    bob.cmd("screenshot", path=str(tmp_path / "gui-kicked-pt.png"))
    print(f"\nscreenshot: {tmp_path / 'gui-kicked-pt.png'}")
    # What Bob writes in Everyone himself comes after anything the Enter sent: nothing did.
    first_in_everyone(bob, "depois", (olga, vic))


@pytest.mark.timeout_seconds(120)
def test_put_out_of_the_room_on_screen_while_away_a_line_typed_there_goes_nowhere(open_gui, server, clients) -> None:
    """Bob had #redes on screen when his connection went quiet; Olga put him out of it then
    (the notice never reached him) and the connection broke. Back, the server's list of his
    rooms lacks #redes, and the window opened Everyone with the box as it was: his Enter sent
    the reply meant for #redes to everybody. #redes stays on screen saying what to do, and
    Enter sends nothing and keeps the text, as after a kick seen live."""
    olga = start(clients, server.port, "Olga")
    vic = start(clients, server.port, "Vic")
    olga.join("#redes")
    with FaultProxy(server.host, server.port) as proxy:
        bob = bob_reading_redes(open_gui, port=proxy.port)
        posted(olga, "#redes", "no swearing here")
        bob.wait(lambda s: "no swearing here" in s["panes"].get("##redes", ""), "Olga's post")
        bob.cmd("type", text="that is unfair", enter=False)
        assert proxy.freeze("Bob") == 1  # what the server sends him from now on is lost
        olga.kick("#redes", "Bob")
        assert proxy.cut("Bob") == 1
        state = bob.wait(lambda s: s["state"] == "connected" and "reconnected" in "".join(s["panes"].values())
                         and not contact(s, "##redes"), "back, #redes off the list")
        pane = state["panes"]["##redes"]
        assert state["active"] == "##redes" and state["pane_shown"] == "##redes", (state["active"], state["pane_shown"])
        assert "no swearing here" in pane and pane.count("you are no longer in #redes") == 1, pane
        assert state["recipient"] == "Nowhere: you are no longer in #redes", state["recipient"]
        assert state["input"] == "that is unfair", state["input"]
        bob.cmd("type", text="")  # Enter, with the reply still in the box
        state = bob.wait(lambda s: "not sent, the text stays in the box: you are no longer in #redes"
                         in s["panes"]["##redes"], "the line refused here")
        assert state["outgoing"] == [] and state["input"] == "that is unfair", (state["outgoing"], state["input"])
        # What Bob writes in Everyone himself comes after anything the Enter sent: nothing did.
        first_in_everyone(bob, "later", (olga, vic))


@pytest.mark.timeout_seconds(120)
def test_put_out_of_the_room_on_screen_our_post_there_may_be_deleted_not_edited(open_gui, server, clients) -> None:
    """Bob was editing his post in #redes when Olga put him out. The room stays on screen;
    Enter sent the edit to the server, which refuses it (PROTOCOL.md, "In rooms": a sender
    who may not post there cannot edit), and the window said "Not changed: you are not in
    #redes: join it first" with the edit gone from the box. It is refused here as a line
    typed there is, the edit kept in the box; Ctrl+E there says why instead of starting an
    edit that cannot be saved. A delete of one's own post stays allowed, and is done."""
    from protocol import RoomDeleted, RoomEdited

    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    bob = bob_reading_redes(open_gui)
    bob.cmd("type", text="first try")
    bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["sent"], "our post as sent")
    bob.cmd("key", sequence="<Control-e>")
    bob.wait(lambda s: s["input"] == "first try", "our post in the input box")
    bob.cmd("type", text="second try", clear=True, enter=False)
    olga.kick("#redes", "Bob")
    bob.wait(lambda s: "you are no longer in #redes" in s["panes"].get("##redes", ""), "the kick said")
    bob.cmd("type", text="")  # Enter saves the edit
    state = bob.wait(lambda s: "not sent, the text stays in the box: you are no longer in #redes"
                     in s["panes"]["##redes"], "the edit refused here")
    assert state["input"] == "second try", state["input"]
    assert state["recipient"] == "Editing your message: Enter saves, Esc cancels", state["recipient"]
    assert "Not changed" not in state["panes"]["##redes"], state["panes"]["##redes"]
    bob.cmd("key", sequence="<Escape>")
    bob.wait(lambda s: s["input"] == "" and s["recipient"] == "Nowhere: you are no longer in #redes", "edit ended")
    bob.cmd("key", sequence="<Control-e>")
    state = bob.wait(lambda s: s["panes"]["##redes"].count("you are no longer in #redes") == 3, "Ctrl+E refused")
    assert state["input"] == "" and state["recipient"] == "Nowhere: you are no longer in #redes", state
    bob.cmd("key", sequence="<Control-Delete>")
    bob.wait(lambda s: "(this message was deleted)" in s["panes"]["##redes"], "our post deleted")
    while not isinstance(event := olga.events.get(timeout=WAIT), RoomDeleted):
        assert not isinstance(event, RoomEdited), event


def test_put_out_of_the_room_on_screen_join_room_with_the_box_empty_joins_it_again(open_gui, server, clients) -> None:
    """Kicked from #redes on screen, the window says "join it again (Join room) to write
    here". A newcomer clicks Join room, its box empty: the window answered with a dialog
    "usage: #ROOM". With the box empty, Join room joins the room on screen again; the
    line kept in the input box then goes to it."""
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    bob = bob_reading_redes(open_gui)
    bob.cmd("type", text="sorry", enter=False)
    olga.kick("#redes", "Bob")
    bob.wait(lambda s: "join it again (Join room)" in s["panes"].get("##redes", ""), "the kick said")
    bob.cmd("join", room="", click=True)
    state = bob.wait(lambda s: s["alerts"] or (contact(s, "##redes") and s["recipient"] == "To everyone in #redes"),
                     "#redes joined again")
    assert state["alerts"] == [] and state["active"] == "##redes", (state["alerts"], state["active"])
    assert state["input"] == "sorry", state["input"]
    bob.cmd("type", text="")
    while not isinstance(event := olga.events.get(timeout=WAIT), RoomPost) or event.sender != "Bob":
        pass
    assert (event.room_name, event.text) == ("#redes", "sorry"), event


def test_a_room_request_refused_is_said_in_the_windows_words(open_gui, server, clients, monkeypatch) -> None:
    """In the Portuguese window, joining an invite-only room said "Entrar em #fechada
    falhou: #fechada is invite-only: ask its moderators to invite you" (the server's
    English: the sentence that names the room was not given the room), and a moderation
    act that failed said "/kick falhou: ...", a terminal command the window's user never
    typed. The room's refusal is said in Portuguese, an act by its menu entry's name."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    olga = start(clients, server.port, "Olga")
    olga.join("#fechada", create=True, invite_only=True)
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#turma")
    bob.wait(lambda s: s["active"] == "##turma" and s["members"], "#turma open, Bob its owner")
    bob.cmd("room_act", act="kick", name="Olga")  # she is not in it
    state = bob.wait(lambda s: "falhou" in s["panes"]["##turma"], "the act's refusal said")
    assert "Pôr para fora da sala falhou: " in state["panes"]["##turma"], state["panes"]["##turma"]
    # Whom it is about, as the error names her, in Portuguese ("Olga is not in #turma" before).
    assert "Pôr para fora da sala falhou: Olga não está em #turma" in state["panes"]["##turma"], \
        state["panes"]["##turma"]
    assert "/kick" not in state["panes"]["##turma"], state["panes"]["##turma"]
    bob.cmd("join", room="#fechada")
    state = bob.wait(lambda s: "#fechada falhou" in s["panes"]["##turma"], "the join's refusal said")
    assert "Entrar em #fechada falhou: #fechada é só para convidados: peça um convite a quem modera a sala" \
        in state["panes"]["##turma"], state["panes"]["##turma"]


def _topic_dialog(gui, **args) -> dict:
    """The topic dialog once it is open (``text``: typed in it, then Enter): its prompt and text."""
    deadline = time.monotonic() + WAIT
    while True:
        found = gui.cmd("topic_dialog", **args)
        if found["open"]:
            return found
        assert time.monotonic() < deadline, "the topic dialog did not open"
        time.sleep(0.05)


def test_a_topic_too_long_is_said_in_the_dialog_and_kept_there_to_shorten(open_gui, server, monkeypatch) -> None:
    """A topic over the limit (const.MAX_TOPIC_CHARS) went to the server, and the Portuguese
    window said its English: "Tema falhou: 'topic' is 300 characters long; the limit is 256
    (bad_field)", the text typed gone with the dialog. It is checked before sending: the
    dialog asks again, the text in it, saying the limit and the length in the window's words;
    shortened, it is set."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#turma")
    bob.wait(lambda s: s["active"] == "##turma" and s["members"], "#turma open, Bob its owner")
    topic = ("prova na sexta: capítulos 3 a 7 do Kurose; " * 8)[:300]
    bob.cmd("topic")
    first = _topic_dialog(bob, text=topic)
    assert first["prompt"] == "O tema de #turma:", first
    again = _topic_dialog(bob)
    assert again["text"] == topic, again
    assert "256" in again["prompt"] and "300" in again["prompt"] and "characters" not in again["prompt"], again
    state = bob.cmd("dump", panes=["##turma"])
    assert "falhou" not in state["panes"]["##turma"] and state["rooms"]["##turma"]["topic"] == "", state
    _topic_dialog(bob, text=topic[:256])
    state = bob.wait(lambda s: s["rooms"]["##turma"]["topic"] == topic[:256], "the shortened topic set")
    assert "falhou" not in state["panes"]["##turma"], state["panes"]["##turma"]

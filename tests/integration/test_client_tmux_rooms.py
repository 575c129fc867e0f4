"""Rooms in the interactive terminal client, in a real terminal (tmux) against a real
server on 127.0.0.1 (port 0): /join, the prompt, plain lines and @#room to the room, a
post from another member, notices, /members, /rooms, moderation and its refusal, /leave,
and the Portuguese command names. Bounded waits only (see test_client_tmux.py)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from clientkit import WAIT, posted, start
from client.errors import RequestFailed
from client.library import ChatClient
from protocol import RoomMessage, RoomNotice, RoomPost
from server import ServerThread
from test_client_tmux import Tmux, input_rows, terminal  # noqa: F401  (the fixture)

PASSWORD = "correct horse battery"


def next_of(client: ChatClient, kind: type, where=lambda e: True):
    while True:
        event = client.events.get(timeout=WAIT)
        if isinstance(event, kind) and where(event):
            return event


@pytest.mark.timeout_seconds(90)
def test_rooms_in_the_terminal(server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    screen = terminal("Alice", columns=100)
    screen.type("/join #redes")
    screen.press("Enter")
    screen.wait_text("* you are in #redes (2 members; owner Olga)")
    screen.wait(lambda rows: input_rows(rows).startswith("[#redes]> "), "the prompt naming the room")
    assert next_of(olga, RoomNotice).name == "Alice"

    screen.type("olá, turma")  # a plain line goes to the room now
    screen.press("Enter")
    assert next_of(olga, RoomPost, lambda p: p.sender == "Alice").text == "olá, turma"
    screen.wait_text("(#redes) you: olá, turma ✓")
    olga.send_to_room("#redes", "bem-vinda")
    screen.wait_text("(#redes) Olga: bem-vinda")
    screen.type("/to Olga")
    screen.press("Enter")
    screen.type("@#redes by its name")
    screen.press("Enter")
    assert next_of(olga, RoomPost, lambda p: p.sender == "Alice").text == "by its name"

    screen.type("/members #redes")
    screen.press("Enter")
    screen.wait_text("* in #redes (2): Alice, Olga (owner)")
    screen.type("/rooms")
    screen.press("Enter")
    screen.wait_text("  #redes (2 members)")
    # Alice may not moderate; the owner may, and Alice is told.
    screen.type("/kick #redes Olga")
    screen.press("Enter")
    screen.wait_text("! /kick failed:")
    olga.set_topic("#redes", "prova na sexta")
    screen.wait_text("* Olga set the topic of #redes: prova na sexta")
    olga.mute("#redes", "Alice", reason="flood")
    screen.wait_text("* Olga muted you in #redes (until unmuted; flood)")
    screen.type("@#redes am I muted?")
    screen.press("Enter")
    screen.wait_text("✗")
    olga.unmute("#redes", "Alice")
    screen.wait_text("* you may write in #redes again")
    # Portuguese names work whatever the language: /deixar leaves the room the prompt names.
    screen.type("/join #redes")
    screen.press("Enter")
    screen.wait(lambda rows: input_rows(rows).startswith("[#redes]> "), "the prompt naming the room again")
    screen.type("/deixar")
    screen.press("Enter")
    screen.wait_text("* you left #redes; plain lines go to the room")
    screen.wait(lambda rows: input_rows(rows).startswith("[room]> "), "the prompt back at the room")
    assert [m.name for m in olga.members("#redes")] == ["Olga"]


def test_a_rooms_refusals_are_said_in_portuguese(server: ServerThread, terminal: Callable[..., Tmux],
                                                  clients: list[ChatClient]) -> None:
    """They were the server's English words: "! /membros falhou: there is no room #nada"."""
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    screen = terminal("Conceição", columns=110, ready="[sala]> ", LANGUAGE="pt_BR")
    screen.type("/membros #nada")
    screen.press("Enter")
    screen.wait_text("! /membros falhou: não existe a sala #nada")
    # With the prompt at the default room: it said plain lines went to no room, just after
    # /todos had said they go to the room; then that the default room "has no such thing",
    # though /salas counts its members. They are who is online.
    screen.type("/membros")
    screen.press("Enter")
    screen.wait_text("* em #lobby (2): Conceição, Olga")
    screen.type("@#redes posso?")
    screen.press("Enter")
    screen.wait_text("você não está em #redes: entre nela primeiro")


@pytest.mark.timeout_seconds(90)
def test_a_muted_and_then_banned_student_is_told_in_portuguese(server: ServerThread, terminal: Callable[..., Tmux],
                                                               clients: list[ChatClient]) -> None:
    """They were the server's English: "✗ you are muted in #redes for 290 s more (muted)",
    "! /entrar falhou: you are banned from #redes: spam (banned)"."""
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    screen = terminal("Conceição", columns=160, ready="[sala]> ", LANGUAGE="pt_BR")
    screen.type("/entrar #redes")
    screen.press("Enter")
    screen.wait(lambda rows: input_rows(rows).startswith("[#redes]> "), "the prompt naming the room")
    olga.mute("#redes", "Conceição", 300, "flood")
    screen.wait_text("Olga silenciou você em #redes")
    screen.type("posso falar?")
    screen.press("Enter")
    rows = screen.wait_text("✗ não enviada: você está sem voz em #redes: tente de novo em")
    shown = "\n".join(rows)
    # The time left of the 300 s (said "5 min" while less than half a second went by).
    assert re.search(r"✗ não enviada: você está sem voz em #redes: tente de novo em (5 min|4 min [1-5]?\d s)",
                     shown), shown
    assert "you are muted" not in shown

    olga.unmute("#redes", "Conceição")
    olga.mute("#redes", "Conceição")  # now until unmuted
    # Its notice on screen first: coming between the line typed and its answer, it made the
    # answer a line of its own ("✗ não enviada para #redes: e agora? — ..."), not this one's mark.
    screen.wait_text("Olga silenciou você em #redes (por tempo indeterminado)")
    screen.type("e agora?")
    screen.press("Enter")
    screen.wait_text("✗ não enviada: você está sem voz em #redes: espere alguém da moderação devolver sua voz")

    olga.ban("#redes", "Conceição", "spam")
    screen.wait_text("Olga baniu você de #redes")
    screen.type("/entrar #redes")
    screen.press("Enter")
    screen.wait_text("! /entrar falhou: há um banimento contra você em #redes: spam")
    assert "you are banned" not in "\n".join(screen.screen(False))


@pytest.mark.timeout_seconds(90)
def test_a_teacher_who_bans_a_guest_is_told_once_that_its_address_is_kept_out_too(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    """Conceição saw only "* você baniu Troll de #redes (spam)", then "* feito: /banir Troll
    em #redes"; Pedro, an innocent guest of the same address, could not join."""
    screen = terminal("Conceição", columns=200, ready="[sala]> ", LANGUAGE="pt_BR")
    screen.type("/entrar #redes")
    screen.press("Enter")
    screen.wait(lambda rows: input_rows(rows).startswith("[#redes]> "), "the prompt naming the room")
    troll = start(clients, server.port, "Troll")
    troll.join("#redes")
    screen.wait_text("* Troll entrou em #redes")
    screen.type("/banir Troll spam")
    screen.press("Enter")
    screen.wait_text("* você baniu Troll de #redes (spam); como Troll entrou sem conta, quem entrar sem conta pelo "
                     "mesmo endereço também fica de fora até o banimento ser retirado")
    screen.type("/tema prova na sexta")
    screen.press("Enter")
    screen.wait_text("* você definiu o tema de #redes: prova na sexta")
    # An act that changes nothing is announced to nobody: a line says it was done.
    screen.type("/desbanir Pedro")
    screen.press("Enter")
    shown = "\n".join(screen.wait_text("* feito: /desbanir Pedro em #redes"))
    assert shown.count("* feito:") == 1, shown  # none for /banir and /tema: their notices said it
    assert shown.count("você baniu Troll") == 1 and shown.count("você definiu o tema") == 1, shown
    pedro = start(clients, server.port, "Pedro")
    with pytest.raises(RequestFailed) as refused:
        pedro.join("#redes")
    assert refused.value.code == "banned"


@pytest.mark.timeout_seconds(90)
def test_edit_delete_and_typing_in_a_room_in_the_terminal(server: ServerThread, terminal: Callable[..., Tmux],
                                                           clients: list[ChatClient]) -> None:
    """Issue 13 in rooms: the terminal prints a member typing, an edit and a delete (by
    the sender, and by a moderator), and edits and deletes with /edit and /delete."""
    from protocol import RoomDeleted, RoomEdited

    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    screen = terminal("Alice", columns=110)
    screen.type("/join #redes")
    screen.press("Enter")
    screen.wait_text("* you are in #redes (2 members; owner Olga)")
    assert next_of(olga, RoomNotice).name == "Alice"

    olga.typing_in_room("#redes")
    screen.wait_text("… Olga is typing in #redes")
    post = posted(olga, "#redes", "a prova é na quinta")
    screen.wait_text("(#redes) Olga: a prova é na quinta")
    olga.edit(post.msg_id, "a prova é na sexta")
    screen.wait_text("✎ Olga edited “a prova é na quinta” in #redes: a prova é na sexta")
    olga.delete(post.msg_id)
    screen.wait_text("✗ Olga deleted “a prova é na sexta” in #redes")

    # Alice corrects and then deletes her own post: Olga is told each.
    screen.type("a tset")
    screen.press("Enter")
    mine = next_of(olga, RoomPost, lambda p: p.sender == "Alice")
    screen.type("/edit a test")
    screen.press("Enter")
    screen.wait_text("* “a tset” edited")
    assert next_of(olga, RoomEdited).text == "a test"
    screen.type("/delete")
    screen.press("Enter")
    screen.wait_text("* “a test” deleted")
    assert next_of(olga, RoomDeleted).msg_id == mine.msg_id

    # A plain member may not delete Olga's post; once a moderator, Alice may, and it says so.
    other = posted(olga, "#redes", "spam")
    screen.wait_text("(#redes) Olga: spam")
    screen.type("/delete Olga")
    screen.press("Enter")
    screen.wait_text("! /delete failed:")
    olga.appoint("#redes", "Alice", "moderator")
    screen.wait_text("* Olga made you moderator of #redes")
    olga2 = start(clients, server.port, "Otto")  # a member whose post a moderator deletes
    olga2.join("#redes")
    spam = posted(olga2, "#redes", "more spam")
    screen.wait_text("(#redes) Otto: more spam")
    screen.type("/apagar Otto")
    screen.press("Enter")
    screen.wait_text("* “more spam” deleted")
    told = next_of(olga2, RoomDeleted)
    assert (told.msg_id, told.sender, told.by) == (spam.msg_id, "Otto", "Alice")
    # Another moderator's delete is printed with who did it.
    olga.delete(other.msg_id)
    screen.wait_text("✗ Olga deleted “spam” in #redes")
    spam2 = posted(olga2, "#redes", "spam again")
    screen.wait_text("(#redes) Otto: spam again")
    olga.delete(spam2.msg_id)
    screen.wait_text("✗ Olga deleted “spam again” of Otto in #redes")


@pytest.mark.timeout_seconds(90)
def test_someone_who_quits_is_one_line_naming_the_rooms_shared(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    """When Olga quit, Tiago read "* Olga ficou offline em #redes" (one per room they share),
    then "* Olga saiu (se despediu)". One line says it now, in the order the server tells it."""
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    olga.join("#bd")
    tiago = terminal("Tiago", columns=100, ready="[sala]> ", LANGUAGE="pt_BR")
    for room in ("#redes", "#bd"):
        tiago.type(f"/entrar {room}")
        tiago.press("Enter")
        tiago.wait_text(f"* você está em {room}")
    olga.close("quit")
    rows = tiago.wait_text("* Olga saiu (se despediu; estava em ")
    shown = "\n".join(rows)
    assert re.search(r"\] \* Olga saiu \(se despediu; estava em (#redes, #bd|#bd, #redes)\)\n", shown), shown
    assert "ficou offline" not in shown, shown


@pytest.mark.timeout_seconds(90)
def test_a_student_put_out_of_the_room_they_write_to_is_told_what_to_do_and_nothing_goes_elsewhere(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    """Kicked from #redes, Bob's plain lines went to the default room by themselves: the
    line he was typing as the kick came, an answer meant for #redes, went to everyone. As
    in IRC clients they stay where they went; the kick's line says what to do, the prompt
    (redrawn under the line he is typing) says he is out, a line typed then is refused
    with the same words and nothing sent, and /leave of the room (which the server would
    refuse: he is no member) only sends plain lines to the room. (Before, every line was
    refused by the server, "you are not in #redes: join it first", and /leave too.)"""
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    screen = terminal("Bob", columns=140)  # (the lines unwrapped)
    screen.type("/join #redes")
    screen.press("Enter")
    screen.wait(lambda rows: input_rows(rows).startswith("[#redes]> "), "the prompt naming the room")
    screen.type("isso foi injusto")
    olga.kick("#redes", "Bob", "chato")
    screen.wait_text("* Olga put you out of #redes (chato)")
    words = "you are no longer in #redes: /all sends plain lines to everyone, /join #redes takes you back"
    screen.wait_text(f"* {words}")
    screen.wait(lambda rows: input_rows(rows) == "[out of #redes]> isso foi injusto", "the prompt saying so")
    screen.press("Enter")
    screen.wait_text(f"✗ not sent: {words}")
    screen.type("/leave")
    screen.press("Enter")
    screen.wait_text("* you are no longer in #redes; plain lines now go to the room")
    screen.wait(lambda rows: input_rows(rows).startswith("[room]> "), "the prompt back at the room")
    screen.type("still here")
    screen.press("Enter")
    # The first line of Bob's to reach anyone is the one typed after /leave.
    assert next_of(olga, RoomMessage, lambda m: m.sender == "Bob").text == "still here"
    assert "/leave failed" not in "\n".join(screen.screen(False))


@pytest.mark.timeout_seconds(90)
def test_a_room_left_on_another_device_is_marked_out_in_the_terminal(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    """Bob, logged in on his laptop (this terminal) and his phone, leaves #redes on the
    phone: the terminal kept [#redes]> and sent his next line there, refused by the server.
    Now it says so, the prompt says he is out, and the line is refused here, nothing sent."""
    start(clients, server.port, "Bob", password=PASSWORD, register=True).close()
    olga = start(clients, server.port, "Olga")
    olga.join("#redes")
    screen = terminal("Bob", columns=140, ready="password for Bob: ")
    screen.type(PASSWORD)
    screen.press("Enter")
    screen.wait(lambda rows: input_rows(rows).startswith("[room]> "), "logged in")
    screen.type("/join #redes")
    screen.press("Enter")
    screen.wait(lambda rows: input_rows(rows).startswith("[#redes]> "), "the prompt naming the room")
    phone = start(clients, server.port, "Bob", password=PASSWORD)
    phone.leave("#redes", WAIT)
    words = "you left #redes on another device: /all sends plain lines to everyone, /join #redes takes you back"
    screen.wait_text(f"* {words}")
    screen.wait(lambda rows: input_rows(rows) == "[out of #redes]> ", "the prompt saying so")
    screen.type("ainda aqui?")
    screen.press("Enter")
    screen.wait_text(f"✗ not sent: {words}")
    screen.type("/all")
    screen.press("Enter")
    screen.type("to everyone")
    screen.press("Enter")
    # The first line of Bob's to reach anyone is the one typed after /all.
    assert next_of(olga, RoomMessage, lambda m: m.sender == "Bob").text == "to everyone"

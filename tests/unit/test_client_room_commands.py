"""The terminal's room commands and lines, as pure functions: what a typed line means
(client/commands.py) and what the screen says about rooms (client/terminal_lines.py)."""

from __future__ import annotations

import pytest

import i18n
from client.commands import (
    Mistake, RoomAct, RoomJoin, RoomLeave, SendText, SetTarget, ShowHistory, ShowMembers, ShowRooms, parse_command,
)
from client.outgoing import FAILED, SENT, Failure, OutgoingMessage
from client.display import describe_room_notice
from client.terminal_lines import (
    describe_event, describe_status, format_history, format_members, format_room_info, format_rooms, format_users,
    format_users_in_columns, prompt_for,
)
from protocol import HistoryEntry, MemberEntry, Presence, RoomEntry, RoomInfo, RoomNotice, RoomPost


@pytest.mark.parametrize("line, target, command", [
    ("/join #redes", None, RoomJoin("#redes")),
    ("/join redes", None, RoomJoin("#redes")),
    ("/entrar #redes", None, RoomJoin("#redes")),
    ("@#redes olá, turma", "Bob", SendText("#redes", "olá, turma")),
    ("@#redes: olá", None, SendText("#redes", "olá")),
    ("plain line", "#redes", SendText("#redes", "plain line")),
    ("/to #redes", None, SetTarget("#redes")),
    ("/leave", "#redes", RoomLeave(None)),
    ("/part #lab", None, RoomLeave("#lab")),
    ("/deixar", None, RoomLeave(None)),
    ("/rooms", None, ShowRooms()),
    ("/salas", None, ShowRooms()),
    ("/members", None, ShowMembers(None)),
    ("/membros #redes", None, ShowMembers("#redes")),
    ("/invite Mia", None, RoomAct("invite", None, "Mia")),
    ("/convidar Mia", None, RoomAct("invite", None, "Mia")),
    ("/topic prova na sexta", None, RoomAct("topic", None, "prova na sexta")),
    ("/tema #redes prova", None, RoomAct("topic", "#redes", "prova")),
    ("/kick Vic", None, RoomAct("kick", None, "Vic")),
    ("/expulsar Vic fora do tema", None, RoomAct("kick", None, "Vic", None, "fora do tema")),
    ("/ban #redes troll spam", None, RoomAct("ban", "#redes", "troll", None, "spam")),
    ("/banir troll", None, RoomAct("ban", None, "troll")),
    ("/unban troll", None, RoomAct("unban", None, "troll")),
    ("/desbanir troll", None, RoomAct("unban", None, "troll")),
    ("/mute Vic 600 flood", None, RoomAct("mute", None, "Vic", 600.0, "flood")),
    ("/mute Vic 31536000", None, RoomAct("mute", None, "Vic", 31536000.0)),
    ("/mute Vic", None, RoomAct("mute", None, "Vic")),
    ("/silenciar Vic spam", None, RoomAct("mute", None, "Vic", None, "spam")),
    ("/silenciar Vic 3 avisos já", None, RoomAct("mute", None, "Vic", 3.0, "avisos já")),
    ("/mute Vic x10 spam", None, RoomAct("mute", None, "Vic", None, "x10 spam")),
    ("/unmute Vic", None, RoomAct("unmute", None, "Vic")),
    ("/dessilenciar Vic", None, RoomAct("unmute", None, "Vic")),
    ("/history #redes 5", None, ShowHistory("#redes", 5)),
    ("/historico redes", None, ShowHistory("redes", 20)),   # without "#": a person's
])
def test_room_lines_mean_room_commands(line: str, target: str | None, command: object) -> None:
    assert parse_command(line, target) == command


@pytest.mark.parametrize("line, hint", [
    ("/join", "usage: /join #ROOM"),
    ("/join #a #b", "usage: /join #ROOM"),
    ("@#redes", "nothing to send to #redes"),
    ("@#rеdes hi", "is not a valid room name"),   # a Cyrillic е: mixed scripts
    ("/join #", "usage: /join #ROOM"),
    ("/topic", "usage: /topic TEXT"),
    ("/kick", "usage: /kick NAME [REASON]"),
    ("/unban troll now", "usage: /unban NAME"),
    ("/mute Vic 0", "usage: /mute NAME [SECONDS] [REASON]"),
    # "10min" or "-5" was taken for the reason, and the mute had no end: "(until unmuted; 10min)".
    ("/mute Vic 10min talking", "usage: /mute NAME [SECONDS] [REASON]; SECONDS is a whole number of seconds "
                                "(600 for 10 minutes)"),
    ("/mute Vic -5", "SECONDS is a whole number of seconds"),
    ("/mute Vic 1.5", "SECONDS is a whole number of seconds"),
    ("/mute Vic +30", "SECONDS is a whole number of seconds"),
    # Sent, it muted Vic "until 14/10/3170900"; the server now refuses it (const.MAX_MUTE_SECONDS).
    ("/mute Vic 99999999999999", "usage: /mute NAME [SECONDS] [REASON]; SECONDS is at most 31536000 (a year)"),
    ("/mute Vic 31536001 spam", "SECONDS is at most 31536000 (a year)"),
    ("/mute Vic " + "9" * 400, "SECONDS is at most 31536000 (a year)"),
    ("/rooms all", "it takes no arguments"),
    ("/members Mia", "usage: /members [#ROOM]"),
])
def test_room_mistakes_say_what_to_type(line: str, hint: str) -> None:
    command = parse_command(line)
    assert isinstance(command, Mistake) and hint in command.message, command


def test_the_prompt_names_the_room_plain_lines_go_to() -> None:
    assert (prompt_for("#redes"), prompt_for("Bob"), prompt_for(None)) == ("[#redes]> ", "[@Bob]> ", "[room]> ")


def test_room_posts_notices_and_answers_in_words() -> None:
    assert describe_event(RoomPost(9, "Ana", "#redes", "olá", 0.0), "Alice").endswith("(#redes) Ana: olá")
    assert describe_event(RoomPost(9, "Alice", "#redes", "olá", 0.0), "Alice") is None  # our own: shown as sent
    assert describe_event(RoomNotice("#redes", "joined", "Alice", 0.0), "alice") is None
    notice = RoomNotice("#redes", "ban", "troll", 0.0, by="Olga", reason="spam")
    assert describe_room_notice(notice, "Alice") == "* Olga banned troll from #redes (spam)"
    muted = RoomNotice("#redes", "mute", "Alice", 0.0, by="Moe")
    assert describe_room_notice(muted, "Alice") == "* Moe muted you in #redes (until unmuted)"
    ended = RoomNotice("#redes", "unmute", "Vic", 0.0, reason="the mute ended")
    assert describe_room_notice(ended, "Alice") == "* Vic may write in #redes again (the mute ended)"
    assert describe_room_notice(RoomNotice("#redes", "appoint", "Moe", 0.0, by="Olga", role="moderator"),
                                "Alice") == "* Olga made Moe moderator of #redes"
    assert describe_room_notice(RoomNotice("#x", "newfangled", "Z", 0.0), "A") == "* #x: newfangled Z"
    # A member's presence in a room they share (PROTOCOL.md, "Presence in rooms"), in words.
    assert describe_room_notice(RoomNotice("#redes", "online", "Vic", 0.0), "Alice") == "* Vic is online in #redes"
    assert describe_room_notice(RoomNotice("#redes", "offline", "Vic", 0.0), "Alice") == "* Vic went offline in #redes"
    assert format_room_info(RoomInfo("j", "#redes", 3, False, "prova", "Olga", False)) == \
        "* you are in #redes (3 members; owner Olga; topic: prova)"
    assert format_room_info(RoomInfo("j", "#lab", 1, True, "", "Alice", True)) == \
        "* you created #lab (1 member; owner Alice; invite only)"
    rooms = [RoomEntry("#lab3", 1, "", True), RoomEntry("#lobby", 4, ""), RoomEntry("#redes", 2, "prova")]
    assert format_rooms(rooms) == \
        ["* 3 rooms:", "  #lab3 (1 member; invite only)", "  #lobby (4 members; the default room)",
         "  #redes (2 members) — prova"]
    assert format_members("#redes", [MemberEntry("Mia", "member", False), MemberEntry("Olga", "owner", True)]) == \
        "* in #redes (2): Mia (offline), Olga (owner)"
    message = OutgoingMessage("r1", None, "olá", room="#redes")
    assert describe_status(message, SENT, None) == "✓ sent to #redes: olá"
    assert describe_status(message, FAILED, ("muted", "you are muted")) == \
        "✗ not sent to #redes: olá — you are muted"


def test_who_and_members_list_names_in_class_list_order() -> None:
    """The server pages them in code-point order, which put Ângela, Çécília and Érica
    after Vitória in a class's /who and /members: a teacher checking who came looked for
    them at the wrong end. The terminal orders them as the window and the page do."""
    names = ["Ana_Luíza", "Vitória", "Érica", "Ângela", "José", "João", "Çécília", "Carlos"]
    expected = "Ana_Luíza, Ângela, Carlos, Çécília, Érica, João, José, Vitória"
    members = [MemberEntry(name, "member", True) for name in names]
    assert format_members("#redes", members) == f"* in #redes (8): {expected}"
    users = format_users([Presence(name, None) for name in names])
    assert users == "* online (8): " + ", ".join(f"{name} (since an unknown time)" for name in expected.split(", "))


def test_who_in_columns_lines_up_names_in_every_script() -> None:
    """/who's columns start at the same column on every row, whatever the names' widths:
    Hindi's vowel signs take none (a "ऋषिकेश" pushed its neighbour one column right per
    sign), Japanese two each."""
    names = ["Ana", "ऋषिकेश", "佐藤花子", "山田"]
    since = " (since an unknown time)"
    # ऋषिकेश takes 5 columns (its vowel sign े none), 佐藤花子 8: the widest entry is 32
    # columns, and the second column starts at 34 on both rows.
    assert format_users_in_columns([Presence(name, None) for name in names], 80)[1:] == [
        "Ana" + since + " " * 7 + "佐藤花子" + since,
        "ऋषिकेश" + since + " " * 5 + "山田" + since,
    ]


def test_a_mute_that_ran_out_is_said_in_portuguese_and_a_moderators_reason_as_typed() -> None:
    """A class in Portuguese read "* Otávio pode escrever em #redes de novo (the mute
    ended)": the server's own reason, which the clients know, in its English."""
    i18n.use("pt_BR")
    try:
        ended = RoomNotice("#redes", "unmute", "Otávio", 0.0, reason="the mute ended")
        assert describe_room_notice(ended, "João") == "* Otávio pode escrever em #redes de novo (o tempo de silêncio acabou)"
        typed = RoomNotice("#redes", "ban", "Otávio", 0.0, by="Professora", reason="the mute ended")
        assert describe_room_notice(typed, "João").endswith("(the mute ended)")  # a person's words stay theirs
    finally:
        i18n.use("en")


def test_a_rooms_history_is_the_rooms_not_a_conversation_with_it() -> None:
    """The teacher's /historico #redes after class read "* histórico com #redes (10
    mensagens):" ("history with #redes"), as if the room were a person."""
    entries = [HistoryEntry(9, "Ana", "#redes", "socket = IP + porta", 0.0, "accepted")]
    assert format_history("#redes", entries, "Olga")[0] == "* history of #redes (1 message):"
    assert format_history("#vazia", [], "Olga") == ["* no messages in #vazia"]
    i18n.use("pt_BR")
    try:
        assert format_history("#redes", entries, "Olga")[0] == "* histórico de #redes (1 mensagem):"
        assert format_history("#vazia", [], "Olga") == ["* nenhuma mensagem em #vazia"]
        assert format_history("Ana", [], "Olga") == ["* nenhuma mensagem com Ana"]  # a person's: as before
    finally:
        i18n.use("en")


def test_a_muted_post_or_say_is_said_in_portuguese_with_the_room_and_the_time_left() -> None:
    """"✗ you are muted in #redes for 290 s more (muted)" was the server's English."""
    post = OutgoingMessage("r1", None, "olá", room="#redes")
    say = OutgoingMessage("r2", None, "oi")
    i18n.use("pt_BR")
    try:
        timed = Failure("muted", "you are muted in #redes for 290 s more", 290.0, "#redes")
        assert describe_status(post, FAILED, timed) in (
            f"✗ não enviada para #redes: olá — você está sem voz em #redes: tente de novo em {left}"
            for left in ("4 min 50 s", "4 min 49 s"))
        # A say to the default room: the error names it.
        endless = Failure("muted", "you are muted in #lobby until a moderator unmutes you", None, "#lobby")
        assert describe_status(say, FAILED, endless).endswith(
            "você está sem voz em #lobby: espere alguém da moderação devolver sua voz")
    finally:
        i18n.use("en")


def test_room_lines_in_portuguese() -> None:
    i18n.use("pt_BR")
    try:
        notice = RoomNotice("#redes", "kick", "Vic", 0.0, by="Olga", reason="fora do tema")
        assert describe_room_notice(notice, "Alice") == "* Olga pôs Vic para fora de #redes (fora do tema)"
        assert format_rooms([RoomEntry("#redes", 1, "")]) == ["* 1 sala:", "  #redes (1 membro)"]
        # A new user's /salas listed "#lobby (3 membros)": a room nobody had named, in which they were already.
        assert format_rooms([RoomEntry("#lobby", 3, "")]) == ["* 1 sala:", "  #lobby (3 membros; a sala geral)"]
        assert format_rooms([RoomEntry("#lab3", 2, "prova", True)]) == \
            ["* 1 sala:", "  #lab3 (2 membros; só para convidados) — prova"]
        assert describe_room_notice(RoomNotice("#redes", "offline", "Conceição", 0.0), "João") == \
            "* Conceição ficou offline em #redes"
        assert parse_command("/entrar") == Mistake("uso: /entrar #SALA")
    finally:
        i18n.use("en")


def test_edit_and_delete_of_ones_last_message_or_a_members_last_post():
    """/edit TEXT and /delete [NAME] (issue 13), in both languages; a bad name or a
    missing text is a Mistake before anything is sent."""
    from client.commands import DeleteLast, EditLast
    assert parse_command("/edit  the test is on friday ", "#redes") == EditLast("the test is on friday")
    assert parse_command("/editar oi", None) == EditLast("oi")
    assert parse_command("/delete", "#redes") == DeleteLast()
    assert parse_command("/apagar @Vic", "#redes") == DeleteLast("Vic")
    for bad in ("/edit", "/edit   ", "/delete Vic Moe", "/delete a b c", "/delete #x"):
        assert isinstance(parse_command(bad, "#redes"), Mistake), bad


def test_a_change_of_a_default_room_message_is_a_room_line() -> None:
    """The default room's edits and deletes read as its messages do: ``(room)``."""
    import const
    from protocol import RoomDeleted, RoomEdited

    assert describe_event(RoomEdited(5, "Ana", const.DEFAULT_ROOM, "fixed", 0.0), "Bob") == (
        "(room) ✎ Ana edited message 5: fixed")
    assert describe_event(RoomDeleted(5, "Ana", const.DEFAULT_ROOM, 0.0), "Bob") == "(room) ✗ Ana deleted message 5"
    assert describe_event(RoomDeleted(6, "Vic", const.DEFAULT_ROOM, 0.0, "Teacher"), "Bob") == (
        "(room) ✗ Teacher deleted message 6 of Vic")
    assert describe_event(RoomDeleted(7, "Vic", "#redes", 0.0), "Bob") == "✗ Vic deleted message 7 in #redes"


def test_the_switch_changed_on_another_device_is_one_line_in_the_users_words() -> None:
    from protocol import Settings
    assert describe_event(Settings(None, False), "Ana").startswith(
        "* read receipts were turned off on another of your devices")
    assert describe_event(Settings(None, True), "Ana") == \
        "* read receipts were turned on on another of your devices (/receipts off turns them off)"
    i18n.use("pt_BR")
    try:
        assert describe_event(Settings(None, False), "Ana").startswith(
            "* as confirmações de leitura foram desligadas em outro dispositivo seu")
    finally:
        i18n.use("en")


def test_a_mute_for_a_length_not_in_seconds_is_a_mistake_in_portuguese_too() -> None:
    """/silenciar Rita -5, typed by a pt_BR teacher, muted Rita until unmuted with the
    reason "-5"."""
    from i18n import use
    try:
        use("pt_BR")
        command = parse_command("/silenciar Rita 10min conversa")
    finally:
        use("en")
    assert isinstance(command, Mistake) and command.message == (
        "uso: /silenciar NOME [SEGUNDOS] [MOTIVO]; SEGUNDOS é um número inteiro de segundos (600 para 10 minutos)"), \
        command


def test_a_mute_longer_than_a_year_is_a_mistake_in_portuguese_too() -> None:
    """/silenciar Rita 99999999999999 silenciou Rita "até 14/10/3170900"."""
    from i18n import use
    try:
        use("pt_BR")
        command = parse_command("/silenciar Rita 99999999999999")
    finally:
        use("en")
    assert isinstance(command, Mistake) and command.message == (
        "uso: /silenciar NOME [SEGUNDOS] [MOTIVO]; SEGUNDOS é no máximo 31536000 (um ano)"), command

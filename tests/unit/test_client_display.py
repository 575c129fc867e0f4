"""Making text from the network safe for a terminal (client.display)."""

from __future__ import annotations

import contextlib
import re
import time
import unicodedata

import pytest

from client.display import explain_error, explain_refusal, format_clock, format_delay, format_when, preview, sanitize
from i18n import use


@contextlib.contextmanager
def in_portuguese():
    """The Portuguese catalogue in use for the block; English again after it, also when a
    check in it fails (the next test reads English)."""
    use("pt_BR")
    try:
        yield
    finally:
        use("en")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        # Escape sequences: clear screen, colour, window title (OSC ... BEL), cursor moves.
        ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),
        ("red \x1b[31mtext\x1b[0m", "red \\x1b[31mtext\\x1b[0m"),
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
        # One message stays on one line.
        ("line1\nline2", "line1\\nline2"),
        ("fake\r[12:00] admin: hi", "fake\\r[12:00] admin: hi"),
        ("a\tb", "a\\tb"),
        ("nul\x00bell\x07bs\x08", "nul\\x00bell\\x07bs\\x08"),
        ("del\x7f", "del\\x7f"),
        # C1 controls: U+009B is a one-character CSI on some terminals.
        ("\x9b2J", "\\x9b2J"),
        ("\x85next line", "\\x85next line"),
        # Bidi controls and other format characters.
        ("abc\u202edcba", "abc\\u202edcba"),
        ("\u2066isolate\u2069", "\\u2066isolate\\u2069"),
        ("\u200fmark", "\\u200fmark"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("\ufeffbom", "\\ufeffbom"),
        ("tag\U000e0041", "tag\\U000e0041"),
        # Line and paragraph separators; a lone surrogate.
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),
        ("\ud800", "\\ud800"),
    ],
)
def test_unsafe_characters_are_shown_escaped(raw: str, shown: str) -> None:
    assert sanitize(raw) == shown


@pytest.mark.parametrize(
    "text",
    [
        "hello",
        "Olá, mundo! ação, 世界, Привет, مرحبا",
        "emoji 🙂 and a family 👨\u200d👩\u200d👧",  # ZWJ joins emoji: kept
        "\u0646\u0645\u200c\u0646\u0645",             # ZWNJ in Persian: kept
        "back\\slash and \\x1b typed literally",
        "non\u00a0breaking space",
        "",
    ],
)
def test_ordinary_text_passes_unchanged(text: str) -> None:
    assert sanitize(text) == text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        # A soft hyphen pasted from Word marks where a word may break: invisible otherwise,
        # and a terminal never breaks there, so it shows nothing ("anti\\xadconstitucional").
        ("anti\u00adconstitucional", "anticonstitucional"),
        # A subdivision's flag (England): the black flag and tag characters to U+E007F, which
        # a terminal cannot draw; shown as the black flag (UTS #51's fallback), not escapes.
        ("🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f go", "🏴 go"),
        # Tag characters that are not such a flag stay escaped.
        ("🏴\U000e0067 x", "🏴\\U000e0067 x"),
        ("\U000e0067\U000e007f", "\\U000e0067\\U000e007f"),
    ],
)
def test_harmless_format_characters_show_as_they_would_look(raw: str, shown: str) -> None:
    assert sanitize(raw) == shown


def test_no_code_point_survives_raw_if_it_could_drive_the_terminal() -> None:
    everything = "".join(map(chr, range(0x110000)))
    shown = sanitize(everything)
    unsafe = [c for c in shown if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")
              or (unicodedata.category(c) == "Cf" and c not in "\u200c\u200d")]
    assert unsafe == []
    assert "\n" not in shown and "\x1b" not in shown


def test_anything_that_is_not_a_string_is_shown_too() -> None:
    assert sanitize(None) == ""
    assert sanitize(17) == "17"
    assert sanitize(b"\x1b") == "b'\\x1b'"


def test_preview_cuts_before_escaping() -> None:
    assert preview("a" * 100, 10) == "a" * 9 + "…"
    assert preview("short", 10) == "short"
    cut = preview("\x1b" * 100, 5)
    assert cut == "\\x1b" * 4 + "…"  # whole escapes only
    assert re.fullmatch(r"(\\x1b)+…", cut)


@pytest.mark.parametrize(("text", "shown"), [
    ("ab🇧🇷🇵🇹x", "ab🇧🇷…"),                                  # a flag is two regional indicators
    ("abcd🇧🇷x", "abcd…"),
    ("a👨\u200d👩\u200d👧 x", "a…"),                          # a family: people joined by ZWJ
    ("abcd👍🏽 x", "abcd…"),                                    # a skin tone
    ("abcd\u2764\ufe0f x", "abcd…"),                         # ❤️: the heart and its selector
    ("Conc\u0327a\u0303o", "Conc\u0327…"),                   # NFD: an accent stays on its letter
    ("Conce\u0327a\u0303o", "Conc…"),
    ("नमस्ते दुनिया", "नम…"),                                   # Hindi: स्ते is one (a virama joins)
])
def test_preview_never_cuts_a_character_as_a_reader_sees_it(text: str, shown: str) -> None:
    """A status line's preview cut a text after so many code points: a flag became one
    regional indicator (🇧, shown as a letter), a family lost members, an accent its letter."""
    assert preview(text, 6) == shown


def test_clock_is_local_hours_and_minutes() -> None:
    stamp = 1_700_000_000.0
    assert format_clock(stamp) == time.strftime("%H:%M", time.localtime(stamp))
    assert re.fullmatch(r"\d\d:\d\d", format_clock(time.time()))


@pytest.mark.parametrize("bad", [None, float("nan"), 1e20, -1e20])
def test_clock_never_crashes_on_absurd_times(bad: float | None) -> None:
    assert format_clock(bad) == "--:--"


def test_when_shows_the_date_only_for_other_days() -> None:
    now = time.time()
    assert format_when(now, now) == time.strftime("%H:%M", time.localtime(now))
    long_ago = now - 40 * 86400
    assert format_when(long_ago, now) == time.strftime("%Y-%m-%d %H:%M", time.localtime(long_ago))
    assert format_when(None) == "an unknown time"
    assert format_when(float("nan")) == "an unknown time"


def test_errors_are_sentences_and_only_an_unknown_code_is_shown() -> None:
    """Users read "wrong password", not "wrong password (bad_password)": the code is shown
    only where no sentence explains it, as the one clue to go on."""
    assert explain_error("unknown_recipient", "whatever", "Bob") == \
        "nobody called Bob has ever logged in here: check the name"
    assert explain_error("unknown_recipient", "no such user") == "no such user"
    # With "like": the one user online whose name looks like the one typed.
    assert explain_error("unknown_recipient", "x", "Joao", like="João") == \
        "nobody called Joao has ever logged in here; did you mean João?"
    assert explain_error("expired", "x", "Bob") == \
        "it waited for Bob until it expired: their client never took it; tell them some other way, or send it " \
        "again when they are online"
    assert explain_error("bad_password", "wrong password for 'Al'") == "wrong password"
    # A code the client gives by itself comes with its own words: no code after them.
    assert explain_error("connection_lost", "the connection ended before the answer came (closed by this client)") \
        == "the connection ended before the answer came (closed by this client)"
    assert explain_error("not_connected", "not connected") == "not connected"
    assert explain_error("rate_limited", "slow down", retry_after=2.5) == \
        "too many attempts; try again in 2.5 s"
    assert explain_error("rate_limited", "slow down") == "too many attempts; try again later"
    assert explain_error("weak_password", "a password needs at least 8 characters") == \
        "a password needs at least 8 characters"
    assert "--register" in explain_error("accounts_required", "x")
    assert explain_error("recipient_disconnected", "", "Bob") == "Bob disconnected before receiving it"
    assert explain_error("message_too_large", "'text' is 4399 characters long; the limit is 4000") == \
        "the text is longer than 4000 characters: shorten it, or send it in parts"
    assert explain_error("odd\x1b", "evil\x1b[2J") == "evil\\x1b[2J (odd\\x1b)"
    assert explain_error("x", "") == "no explanation given (x)"


def test_the_reasons_a_server_closes_a_connection_are_said_in_the_users_words() -> None:
    # The server's own messages are English, and name its settings: a sentence per code.
    assert explain_error("login_timeout", "no login within 10 s; closing the connection") == \
        "the server closed the connection: the login did not finish in time"
    assert explain_error("heartbeat_timeout", "nothing received for 46 s") == \
        "the server closed the connection: it heard nothing from this client for too long"
    assert explain_error("slow_consumer", "more than 1048576 bytes") == \
        "the server closed the connection: this client did not read what it was sent fast enough"


def test_every_login_refusal_has_the_clients_words_in_portuguese() -> None:
    """A pt_BR teacher read "at most 0 connections per address". A
    bad name is checked, in the user's language, before a client sends it; one the server
    refuses all the same has the clients' words too."""
    from client.core import LOGIN_OUTCOMES
    from client.display import ERROR_TEXTS
    assert set(LOGIN_OUTCOMES) - set(ERROR_TEXTS) == set()
    with in_portuguese():
        assert explain_error("too_many_connections", "at most 0 connections per address") == \
            "há conexões demais vindas do seu endereço (este computador, ou a sua rede); feche algumas, ou tente " \
            "de novo mais tarde"
        assert explain_error("weak_password", "a password needs at least 8 characters") == \
            "a senha precisa ter pelo menos 8 caracteres"


def test_unavailable_says_nothing_was_done_and_when_to_try_again():
    assert explain_error("unavailable", "server text", retry_after=5.0) == (
        "the server cannot use its storage right now (its disk is full or failing, or it cannot reach its Redis), "
        "so nothing was done; try again in 5.0 s")
    assert explain_error("unavailable", "server text", "Bob").endswith("; try again later")


def test_the_room_notices_of_a_mode_and_of_our_ownership_read_as_english() -> None:
    from client.display import describe_room_notice
    from protocol import RoomNotice
    assert describe_room_notice(RoomNotice("#redes", "invite_only", "Olga", 1.0, by="Olga"), "Bob") == \
        "* Olga made #redes invite-only"
    assert describe_room_notice(RoomNotice("#redes", "public", "Bob", 1.0, by="Bob"), "Bob") == \
        "* you made #redes public"
    assert describe_room_notice(RoomNotice("#redes", "owner", "Bob", 1.0, by="Olga"), "Bob") == "* you own #redes now"
    assert describe_room_notice(RoomNotice("#redes", "owner", "Olga", 1.0), "Bob") == "* Olga owns #redes now"
    # A moderator's delete of our post: it said "a message of you".
    assert describe_room_notice(RoomNotice("#redes", "delete", "Bob", 1.0, by="Olga"), "Bob") == \
        "* Olga deleted a message of yours in #redes"
    assert describe_room_notice(RoomNotice("#redes", "delete", "Vic", 1.0, by="Olga"), "Bob") == \
        "* Olga deleted a message of Vic in #redes"


def test_a_rooms_refusals_are_sentences_of_the_clients_about_the_room_named() -> None:
    """They were the server's English words in every language; without the room they
    still are (the client has nothing to name)."""
    assert explain_error("not_member", "you are not in #redes: join it first", "#redes") == \
        "you are not in #redes: join it first"
    assert explain_error("not_member", "Vic is not in #redes") == "Vic is not in #redes"
    assert explain_error("no_such_room", "there is no room #x", "#x") == "there is no room #x"
    assert explain_error("too_late", "message 7 is older than 15 minutes") == \
        "a message can be edited or deleted only within 15 min of sending it"
    with in_portuguese():
        assert explain_error("not_member", "you are not in #redes: join it first", "#redes") == \
            "você não está em #redes: entre nela primeiro"
        assert explain_error("message_too_large", "x") == "o texto tem mais de 4000 caracteres: encurte-o, ou envie-o em partes"



def test_a_weak_password_is_said_in_the_clients_words() -> None:
    """"a password needs at least 8 characters" was the server's English in a Portuguese
    session (`CHAT_PASSWORD=curta chatclient.py Maria --register`, and the page)."""
    assert explain_error("weak_password", "server words") == "a password needs at least 8 characters"
    with in_portuguese():
        assert explain_error("weak_password", "server words") == \
            "a senha precisa ter pelo menos 8 caracteres"


def test_a_look_alike_is_said_with_the_name_it_looks_like_else_in_the_servers_words() -> None:
    assert explain_error("confusable_name", "server words", "Joao", like="João") == \
        "the name Joao looks too much like João, a name already in use here: if João is yours, type it exactly " \
        "so; otherwise choose another name"
    assert explain_error("confusable_name", "server words", "Joao") == "server words"


def test_a_look_alike_of_a_reserved_word_is_said_to_be_reserved_not_someones() -> None:
    """"'ALI' looks too much like 'all', a name already in use here: if 'all' is yours, type
    it exactly so" was false: nobody holds a reserved word, and "all" typed exactly is
    refused too. With the error's ``reserved`` the sentence says it is reserved; without
    it (an older server) ``like`` is someone's name, as before."""
    from i18n import use
    assert explain_error("confusable_name", "x", "ALI", like="all", reserved=True) == \
        "the name ALI looks too much like all, a word reserved for the server: choose another name"
    assert "is yours" in explain_error("confusable_name", "x", "ALI", like="all")
    assert explain_error("confusable_name", "server words", "ALI", reserved=True) == "server words"  # no like
    try:
        use("pt_BR")
        assert explain_error("confusable_name", "x", "ALI", like="all", reserved=True) == \
            "o nome ALI se parece demais com all, uma palavra reservada ao servidor: escolha outro nome"
    finally:
        use("en")


def test_a_look_alike_refusal_is_true_also_to_the_one_whose_name_it_is() -> None:
    """João, logging in as "Joao" (no accent), read that João was "the name of someone else
    here": false to him. The sentence says what to do in either case, in every language,
    and so do the server's own words (for a client without the sentence)."""
    from registry.names import MESSAGES
    for words in (explain_error("confusable_name", "x", "Joao", like="João"),
                  MESSAGES["lookalike"].format(name="Joao", rival="João")):
        assert "someone else" not in words and "João" in words.partition(" is yours")[0].rpartition("if ")[2]
    with in_portuguese():
        assert explain_error("confusable_name", "x", "Joao", like="João") == \
            "o nome Joao se parece demais com João, um nome já em uso aqui: se João é seu, digite-o exatamente " \
            "assim; se não, escolha outro nome"


def test_a_mute_is_said_with_the_time_left_or_until_a_moderator_unmutes() -> None:
    """A muted student read the server's English ("you are muted in #redes for 290 s
    more"): the error's room and time left (PROTOCOL.md, "error") make it the client's."""
    server = "you are muted in #redes for 290 s more"
    assert explain_error("muted", server, retry_after=290.0, room="#redes") == \
        "you are muted in #redes: try again in 4 min 50 s"
    # A mute without an end: no "try again later", which would not be true.
    assert explain_error("muted", "you are muted in #lobby until a moderator unmutes you", room="#lobby") == \
        "you are muted in #lobby: until a moderator unmutes you"
    # Without the room (an older server, whose timed mute has no retry_after either): its words.
    assert explain_error("muted", server, "#redes") == f"{server}"
    with in_portuguese():
        assert explain_error("muted", server, retry_after=290.0, room="#redes") == \
            "você está sem voz em #redes: tente de novo em 4 min 50 s"
        assert explain_error("muted", "x", room="#redes") == \
            "você está sem voz em #redes: espere alguém da moderação devolver sua voz"


def test_a_ban_is_said_with_its_reason_and_an_invites_refusal_in_the_servers_words() -> None:
    assert explain_error("banned", "you are banned from #redes: spam", "#redes", room="#redes", reason="spam") == \
        "you are banned from #redes: spam"
    assert explain_error("banned", "you are banned from #redes", room="#redes") == \
        "you are banned from #redes"
    assert explain_error("banned", "x", room="#redes", reason="\x1b[2Jspam") == \
        "you are banned from #redes: \\x1b[2Jspam"
    # The invite of a banned person has no room: not "you are banned", whatever the client
    # knows of the request.
    assert explain_error("banned", "Mia is banned from #redes: unban first", "#redes") == \
        "Mia is banned from #redes: unban first"
    with in_portuguese():
        assert explain_error("banned", "x", room="#redes", reason="spam") == \
            "há um banimento contra você em #redes: spam"
        assert explain_error("banned", "x", room="#redes") == "há um banimento contra você em #redes"


def test_a_refusal_is_explained_with_the_facts_it_carries() -> None:
    """explain_refusal takes them from an ErrorReply, a RequestFailed, a failed message's
    Failure, or a plain (code, message) pair."""
    from client.errors import RequestFailed
    from client.outgoing import Failure
    from protocol import ErrorReply

    reply = ErrorReply("banned", "you are banned from #redes: spam", "j", room_name="#redes", reason="spam")
    assert explain_refusal(reply) == "you are banned from #redes: spam"
    assert explain_refusal(RequestFailed.of(reply), "#redes") == "you are banned from #redes: spam"
    muted = Failure.of(ErrorReply("muted", "you are muted in #lobby for 30 s more", "s", 30.0, room_name="#lobby"))
    assert muted == ("muted", "you are muted in #lobby for 30 s more")  # the pair it always was
    assert re.fullmatch(r"you are muted in #lobby: try again in (29|30) s", explain_refusal(muted))
    assert explain_refusal(("unknown_recipient", "x"), "Bob") == \
        "nobody called Bob has ever logged in here: check the name"


@pytest.mark.parametrize(("seconds", "said"), [
    (0.0, "0.1 s"), (0.04, "0.1 s"), (0.3, "0.3 s"), (0.31, "0.4 s"), (2.5, "2.5 s"), (9.99, "10.0 s"), (12.4, "12 s"),
])
def test_a_short_wait_is_said_in_tenths_rounded_up_never_zero(seconds: float, said: str) -> None:
    """"try again in 0.0 s" read as "now", and was not."""
    assert format_delay(seconds) == said


@pytest.mark.parametrize(("seconds", "said"), [
    (0.0004, "0.1 s"), (0.3, "0.3 s"), (0.30000000000000004, "0.3 s"), (1.21, "1.3 s"), (60.0, "60.0 s"),
])
def test_the_servers_waits_are_tenths_rounded_up_never_zero(seconds: float, said: str) -> None:
    from server.limits import wait_words
    assert wait_words(seconds) == said



def test_the_moderator_who_bans_a_guest_is_told_that_its_address_is_banned_too() -> None:
    from client.display import describe_room_notice
    from protocol import RoomNotice
    ban = RoomNotice("#redes", "ban", "Troll", 1.0, by="Conceição", reason="spam", address_banned=True)
    assert describe_room_notice(ban, "conceição") == (
        "* you banned Troll from #redes (spam); as Troll is a guest, other guests from the same address are kept "
        "out too until the ban is lifted")
    # The others in the room (Troll included) see the ban as before; an account's ban says nothing more.
    assert describe_room_notice(ban, "Pedro") == "* Conceição banned Troll from #redes (spam)"
    account = RoomNotice("#redes", "ban", "Vic", 1.0, by="Conceição")
    assert describe_room_notice(account, "Conceição") == "* you banned Vic from #redes"
    with in_portuguese():
        assert describe_room_notice(ban, "Conceição") == (
            "* você baniu Troll de #redes (spam); como Troll entrou sem conta, quem entrar sem conta pelo mesmo "
            "endereço também fica de fora até o banimento ser retirado")


def test_a_message_that_may_have_been_stored_is_never_said_to_be_not_done() -> None:
    """unavailable with uncertain (the server's storage took it and did not answer), and
    the library's unconfirmed (it gave up resending after such answers): every client
    says "may or may not", never "nothing was done" nor "✗ not delivered"."""
    from client.errors import LocalError
    from client.gui.model import state_label
    from client.outgoing import FAILED, OutgoingMessage
    from client.screen import Style
    from client.terminal_lines import describe_follow_up, describe_mark, describe_status

    sure = explain_error("unavailable", "nothing was done", retry_after=5.0)
    assert "nothing was done" in sure and sure.endswith("try again in 5.0 s")
    unsure = explain_error("unavailable", "it may have been", retry_after=5.0, uncertain=True)
    assert "nothing was done" not in unsure and "may or may not" in unsure and unsure.endswith("it may or may not have been")
    error = (LocalError.UNCONFIRMED, "no answer (after 6 attempts; it may or may not have been stored)")
    for to, room in (("Bob", None), (None, None), (None, "#redes")):
        message = OutgoingMessage("r1", to, "olá", room=room)
        message._advance(FAILED, error=error)
        for line in (describe_status(message, FAILED, error),
                     describe_mark(message, FAILED, error, Style(False)),
                     describe_follow_up(message, FAILED, error, Style(False), "12:00"),
                     state_label(FAILED, error, to)):
            assert "may or may not" in line and "nothing was done" not in line, line
            assert "✗" not in line and "not delivered" not in line and "not sent" not in line, line


def test_a_message_held_behind_a_refused_one_is_not_said_to_wait_for_the_connection() -> None:
    """With the disk full, a message typed after one the server refused (unavailable) is
    held in the client, connected: the terminal said "waiting for the connection" while
    /who answered at once."""
    from client.outgoing import SENDING, OutgoingMessage
    from client.screen import Style
    from client.terminal_lines import describe_mark

    offline = OutgoingMessage("r1", "Bia", "oi")  # typed while the connection is down
    assert describe_mark(offline, SENDING, None, Style(False)) == "… waiting for the connection"
    held = OutgoingMessage("r2", "Bia", "oi")
    held._held = True  # the core holds it behind a refused one (client/core.py, _pace)
    assert describe_mark(held, SENDING, None, Style(False)) == "… held back: the server asked to wait"
    with in_portuguese():
        assert describe_mark(held, SENDING, None, Style(False)) == "… em espera: o servidor pediu para aguardar"
    held.submitted = True
    assert describe_mark(held, SENDING, None, Style(False)) == "…"


@pytest.mark.parametrize(("code", "english", "portuguese"), [
    ("forbidden", "you cannot kick yourself", "você não pode fazer isso"),
    ("too_many_rooms", "you are in 100 rooms: leave one first", "saia de uma sala de que não precisa mais"),
    ("invalid_name", "#a b: a name cannot contain spaces", "esse nome não pode ser usado"),
])
def test_refusals_of_many_causes_are_said_in_the_clients_words_never_the_servers_english(
        code: str, english: str, portuguese: str) -> None:
    """A pt_BR user read the server's English for these three, in every client."""
    assert english not in explain_error(code, english, "#redes")
    assert english not in explain_error(code, english) and f"({code})" not in explain_error(code, english)
    with in_portuguese():
        said = explain_error(code, english, "#redes")
        assert portuguese in said and english not in said and f"({code})" not in said


def test_rooms_made_from_ones_address_say_in_how_many_minutes_the_next_may_be_made() -> None:
    """too_many_rooms with retry_after is the one cause a wait ends (server/rooms.py): said
    as that cause, with the wait; without it (the other causes, an older server's), the
    sentence that covers them all."""
    english = "30 rooms were created from your address in the last 60 min: the next one can be made in 50 min"
    timed = explain_error("too_many_rooms", english, "#redes", retry_after=3000.0)
    assert timed == ("too many rooms were made lately from your address (this computer, or your network's): "
                     "join a room that exists, or try again in 50 min")
    assert "as many rooms as one may be" in explain_error("too_many_rooms", "you are in 100 rooms: leave one first")
    with in_portuguese():
        said = explain_error("too_many_rooms", english, "#redes", retry_after=3000.0)
        assert "a partir do seu endereço" in said and "tente de novo em 50 min" in said, said
        assert "no máximo de salas" not in said and english not in said


def test_registering_a_taken_name_says_to_log_in_with_its_password_or_choose_another() -> None:
    assert explain_error("account_exists", "x") == \
        "this name is already registered: log in with its password, or choose another name"
    with in_portuguese():
        assert "escolha outro nome" in explain_error("account_exists", "x")


def test_a_password_reset_by_the_operator_is_said_in_the_users_words() -> None:
    """The bye (and the left notice) of sessions the console's /password NAME ended."""
    import const
    from client.display import reason_words
    assert reason_words(const.PASSWORD_RESET_REASON) == "password reset by the server operator"
    with in_portuguese():
        assert reason_words(const.PASSWORD_RESET_REASON) == "senha redefinida pelo operador do servidor"


@pytest.mark.parametrize("reason, english, portuguese", [
    ("connection lost (server stopped)", " (connection lost: server stopped)", " (conexão perdida: o servidor parou)"),
    # The causes the server can name (server/relay.py: the exception's class): in words,
    # with the networking term a course uses; one a Python client never heard of, as it came.
    ("connection lost (ConnectionResetError)", " (connection lost: reset by the other side)",
     " (conexão perdida: reset do outro lado)"),
    ("connection lost (BrokenPipeError)", " (connection lost: reset by the other side)",
     " (conexão perdida: reset do outro lado)"),
    ("connection lost (ConnectionAbortedError)", " (connection lost: aborted by the network)",
     " (conexão perdida: abortada pela rede)"),
    ("connection lost (OSError)", " (connection lost: network error)", " (conexão perdida: erro de rede)"),
    ("connection lost (SSLError)", " (connection lost: TLS error)", " (conexão perdida: erro de TLS)"),
    ("connection lost (SSLEOFError)", " (connection lost: TLS error)", " (conexão perdida: erro de TLS)"),
    ("connection lost (KeyError)", " (connection lost: KeyError)", " (conexão perdida: KeyError)"),
])
def test_a_lost_connection_is_said_with_one_pair_of_brackets_in_either_language(
        reason: str, english: str, portuguese: str) -> None:
    """The others read "* João left (connection lost (server stopped))": the server's
    reason, which has its cause in brackets, went into the brackets of "left (WHY)" as it
    came. It reads as the Portuguese did already: the cause after a colon."""
    from client.display import left_why
    from client.terminal_lines import describe_event
    from protocol import UserLeft
    assert left_why(reason) == english
    assert describe_event(UserLeft("João", reason, 0.0), "Ana") == "* João left" + english
    with in_portuguese():
        assert left_why(reason) == portuguese


def test_a_reconnecting_guest_whose_own_earlier_session_holds_its_name_is_not_told_to_choose_another() -> None:
    """name_taken with retry_after: the hello proved the guest's token, and its own earlier
    session (a dead cluster node's, say) still holds the name (PROTOCOL.md "Guest names:
    the resume token"). The reconnecting line says the name is theirs and held by that
    session until the server finds it ended, in every language; a name_taken without
    retry_after still asks for another name."""
    from client.display import login_refused_words
    from client.errors import LoginRefused
    from client.events import Reconnecting
    from client.terminal_lines import describe_reconnecting

    mine = LoginRefused("name_taken", "your earlier session still holds the name 'Alice'", 0.2)
    line = describe_reconnecting(Reconnecting(3, 0.8, login_refused_words(mine, "Alice", retrying=True)))
    assert "choose another name" not in line, line
    assert "reconnecting in 0.8 s" in line and "a session of yours still holds it" in line, line
    # The same name typed in a second terminal of the same computer (its token shared) got
    # the same answer while the first terminal was open: "until the server finds that session
    # ended; try again in 1.0 s", again and again. The server's words name that case too.
    assert "or another client of yours still open (on this computer, logged in as Alice)" in line, line
    assert "the name Alice is yours" in line and "try again in" not in line, line  # one wait: the line's
    assert "(name_taken)" not in line, line  # the sentence says it all
    someone_elses = login_refused_words(LoginRefused("name_taken", "the name 'Alice' is in use"), "Alice")
    assert "choose another name" in someone_elses, someone_elses
    with in_portuguese():
        line = describe_reconnecting(Reconnecting(3, 0.8, login_refused_words(mine, "Alice", retrying=True)))
        assert "uma sessão sua ainda o ocupa" in line and "escolha outro nome" not in line, line
        assert "outro cliente seu ainda aberto (neste computador, conectado como Alice)" in line, line


def test_a_refused_reconnection_line_says_one_wait_the_clients_own() -> None:
    """A reconnection refused "for now" (rate_limited with retry_after 1.0): the client waits
    max(retry_after, its backoff) by itself, and its line says that one wait. It read
    "reconnecting in 1.2 s (attempt 2): login refused: too many attempts; try again in
    1.0 s": two delays, and an order to the user to do what the client does. Nor "try
    again later" for a refusal without retry_after (server_full): the client does not stop."""
    from client.display import login_refused_words
    from client.errors import LoginRefused
    from client.events import Reconnecting
    from client.terminal_lines import describe_reconnecting

    throttled = LoginRefused("rate_limited", "too many logins", 1.0)
    full = LoginRefused("server_full", "the server is full")
    for refusal in (throttled, full):
        line = describe_reconnecting(Reconnecting(2, 1.2, login_refused_words(refusal, "Alice", retrying=True)))
        assert line.count(" s ") + line.count(" s:") == 1 and "reconnecting in 1.2 s" in line, line
        assert "try again" not in line and "the client tries again by itself" in line, line
    assert "try again in 1.0 s" in login_refused_words(throttled, "Alice")  # a first login: the user's wait
    with in_portuguese():
        line = describe_reconnecting(Reconnecting(2, 1.2, login_refused_words(throttled, "Alice", retrying=True)))
        assert "reconectando em 1,2 s" in line and "1,0 s" not in line, line
        assert "o cliente tenta de novo sozinho" in line, line


def test_a_move_to_the_next_server_at_once_says_now_not_a_wait() -> None:
    """A server that says goodbye with others in the list (a cluster node restarted in
    turn): the client logs in on the next one without a wait (client/core.py, failover),
    and the line says so rather than "in 0.1 s"."""
    from client.events import Reconnecting
    from client.terminal_lines import describe_reconnecting

    line = describe_reconnecting(Reconnecting(1, 0.0, "server shutting down"))
    assert line.startswith("! connection lost; reconnecting now (attempt 1): "), line
    with in_portuguese():
        line = describe_reconnecting(Reconnecting(1, 0.0, "server shutting down"))
        assert line.startswith("! conexão perdida; reconectando agora (tentativa 1): "), line


@pytest.mark.parametrize("now_at", ["12:00", "23:55"])  # the hold ends today; after midnight
def test_a_name_kept_for_its_last_guest_is_refused_saying_until_when_and_for_how_long(
        now_at: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A student who moved from the terminal to another device was refused "in use, or kept
    for a while" without knowing for how long: a name_taken with ``until`` (the end of the
    hold, PROTOCOL.md "error") says the time and the minutes left, in the terminal and the
    window, in English and Portuguese (a date in each one's order when it is not today:
    CI once ran this at 23:58); still "choose another name", since it is not theirs."""
    from client.display import login_refused_words
    from client.errors import LoginRefused
    from client.gui.session import login_error_text
    from client.serverclock import SERVER_CLOCK

    hour, minute = map(int, now_at.split(":"))
    now = time.mktime(time.localtime()[:3] + (hour, minute, 0, 0, 0, -1))
    monkeypatch.setattr(time, "time", lambda: now)
    monkeypatch.setattr(SERVER_CLOCK, "_heard", None)  # the server's clock is this one's
    until = now + 9 * 60 + 30
    held = LoginRefused("name_taken", "the name 'Otávio' is kept for the guest who used it until 01:40:00 UTC",
                        until=until)
    line = login_refused_words(held, "Otávio")
    clock = time.strftime("%H:%M" if now_at == "12:00" else "%Y-%m-%d %H:%M", time.localtime(until))
    assert f"until {clock} " in line and "9 min" in line and "choose another name" in line, line
    assert f"until {clock} " in login_error_text(held, "Otávio", "server")[1]
    with in_portuguese():
        line = login_refused_words(held, "Otávio")
        clock = time.strftime("%H:%M" if now_at == "12:00" else "%d/%m/%Y %H:%M", time.localtime(until))
        assert f"até {clock} " in line and "9 min" in line and "escolha outro nome" in line, line


def test_a_room_named_without_its_hash_is_asked_about_in_the_users_language() -> None:
    """``room: "redes"`` names no room; the server's ``like`` names ``#redes``, and every
    client (terminal, window; the page through i18n's "liked") asks "did you mean #redes?"."""
    assert explain_error("no_such_room", "server words", "redes", like="#redes") == \
        "there is no room redes; did you mean #redes?"
    with in_portuguese():
        assert explain_error("no_such_room", "server words", "redes", like="#redes") == \
            "não existe a sala redes; você quis dizer #redes?"


def test_a_failed_room_request_keeps_the_room_it_meant() -> None:
    """The terminal and the window say a failed request through RequestFailed: its ``like``
    is the error's, so "did you mean #redes?" survives the library."""
    from client.errors import RequestFailed
    from protocol import ErrorReply
    failed = RequestFailed.of(ErrorReply("no_such_room", "there is no room redes; did you mean #redes?", "r1",
                                         like="#redes"))
    assert explain_refusal(failed, "redes") == "there is no room redes; did you mean #redes?"
    assert explain_refusal(RequestFailed.of(ErrorReply("no_such_room", "there is no room x", "r2")), "x") == \
        "there is no room x"


def test_a_protocol_breach_is_said_in_the_users_words() -> None:
    """The left reasons of a client that broke the protocol, as the others are: in the
    user's language (the page takes the same words from the catalogue)."""
    import const
    from client.display import left_why
    assert left_why(const.TOO_MANY_ERRORS_REASON) == " (too many errors)"
    assert left_why(const.PROTOCOL_ERROR_REASON) == " (protocol error)"
    with in_portuguese():
        assert left_why(const.TOO_MANY_ERRORS_REASON) == " (enviou erros demais)"
        assert left_why(const.PROTOCOL_ERROR_REASON) == " (quebrou as regras do protocolo)"


def test_a_name_kept_for_its_last_guest_says_no_wait_this_clock_cannot_know(monkeypatch) -> None:
    """``until`` is on the server's clock; the wait is it less this clock's now. A client
    whose clock is 2 h behind said "(2 h 9 min from now)", one 2 h ahead "(a moment from
    now)" (the wait clamped at 0): a wait no hold can be (past, or longer than
    const.GUEST_HOLD) is not said, only until when, in local time. The clock is stopped at
    noon: read as it ran, the words' time and this test's could be a minute (or a day) apart."""
    from client.display import login_refused_words
    from client.errors import LoginRefused

    from noonzone import stop_clock_at_noon
    noon = stop_clock_at_noon(monkeypatch)
    for off in (-2 * 3600.0, 2 * 3600.0):
        until = noon + off + 9 * 60  # the server's clock is ``off`` from this one
        held = LoginRefused("name_taken", "the name 'Otávio' is kept", until=until)
        line = login_refused_words(held, "Otávio")
        assert f"until {format_when(until)}" in line and "from now" not in line and "choose another name" in line, line
        with in_portuguese():
            line = login_refused_words(held, "Otávio")
            assert f"até {format_when(until)}" in line and "daqui a" not in line, line


def test_a_time_not_today_is_told_with_its_date_in_the_readers_order_and_time_zone(monkeypatch) -> None:
    """format_when: the viewer's local time (TZ), across daylight saving; a day other than
    today with its date, day first in Portuguese (25/12/2026), year first in English."""

    christmas = 1798187100.0  # 2026-12-25 08:25 UTC
    july = 1782907200.0  # 2026-07-01 12:00 UTC: summer time in Lisbon
    for tz, at, now, english, portuguese in (
            ("America/Sao_Paulo", christmas, christmas + 2 * 86400, "2026-12-25 05:25", "25/12/2026 05:25"),
            ("Asia/Tokyo", christmas, christmas + 2 * 86400, "2026-12-25 17:25", "25/12/2026 17:25"),
            ("Europe/Lisbon", july, july + 86400, "2026-07-01 13:00", "01/07/2026 13:00"),
            ("Europe/Lisbon", july, july + 60, "13:00", "13:00")):
        monkeypatch.setenv("TZ", tz)
        time.tzset()
        assert format_when(at, now) == english, tz
        with in_portuguese():
            assert format_when(at, now) == portuguese, tz
    monkeypatch.undo()
    time.tzset()


def test_a_day_is_named_today_yesterday_or_by_its_weekday_and_date_in_the_viewers_zone(monkeypatch) -> None:
    """day_label: the viewer's local day (TZ) across daylight saving and at midnight;
    Today, Yesterday, else weekday and date (with the year when it is not this one), in
    Portuguese too."""
    from client.display import day_label

    friday = 1795823400.0  # 2026-11-27 23:50 UTC: Friday 20:50 in São Paulo, Saturday 08:50 in Tokyo
    for tz, at, now, english, portuguese in (
            ("America/Sao_Paulo", friday, friday + 3 * 3600, "Today", "Hoje"),  # 23:50 there: still Friday
            ("America/Sao_Paulo", friday, friday + 4 * 3600, "Yesterday", "Ontem"),  # 00:50 Saturday there
            ("America/Sao_Paulo", friday, friday + 5 * 86400, "Friday, 27 November", "sexta-feira, 27 de novembro"),
            ("Asia/Tokyo", friday, friday + 5 * 86400, "Saturday, 28 November", "sábado, 28 de novembro"),
            ("America/Sao_Paulo", friday, friday + 400 * 86400, "Friday, 27 November 2026",
             "sexta-feira, 27 de novembro de 2026"),
            # Lisbon's summer time ends on 2026-10-25, a day of 25 hours: 23:30 on the 24th
            # (22:30 UTC) is two days before 00:00 on the 26th though only 25.5 h went by.
            ("Europe/Lisbon", 1792881000.0, 1792881000.0 + 25.5 * 3600, "Saturday, 24 October",
             "sábado, 24 de outubro"),
            ("Europe/Lisbon", 1792881000.0, 1792881000.0 + 25 * 3600, "Yesterday", "Ontem")):
        monkeypatch.setenv("TZ", tz)
        time.tzset()
        assert day_label(at, now) == english, (tz, now - at)
        with in_portuguese():
            assert day_label(at, now) == portuguese, (tz, now - at)
    monkeypatch.undo()
    time.tzset()


def test_a_day_break_comes_when_the_day_changes_and_before_a_first_line_not_of_today(monkeypatch) -> None:
    """DayBreaks: the separator before a line, when its local day is not the last line's;
    a view's first line only when it is not today (a view of today's lines has none)."""
    from client.display import DayBreaks, day_rule

    monkeypatch.setenv("TZ", "America/Sao_Paulo")
    time.tzset()
    try:
        friday = 1795823400.0  # Friday 20:50 there
        now = friday + 2 * 86400 + 3600  # Sunday 21:50
        days = DayBreaks()
        assert days.before(friday, now) == "Friday, 27 November"
        assert days.before(friday + 60, now) is None  # the same day
        assert days.before(friday + 4 * 3600, now) == "Yesterday"  # 00:50 on Saturday: after midnight
        assert days.before(now - 60, now) == "Today"
        assert days.before(now, now) is None
        assert days.before(None, now) is None and days.before(float("nan"), now) is None  # no day to tell
        today = DayBreaks()
        assert today.before(now - 60, now) is None
        assert day_rule("Ontem") == "── Ontem ──"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_invitation_refused_for_a_name_with_no_account_is_said_in_the_clients_words() -> None:
    """A pt_BR teacher on a server that admits only accounts invited Mia, who had none, and
    the terminal and the window said the server's English ("Mia has no account here...")."""
    from client.display import explain_act_refusal
    from client.errors import RequestFailed
    from protocol import ErrorReply
    refused = RequestFailed.of(ErrorReply("unknown_recipient", "Mia has no account here, and only accounts log "
                                                               "in here: invite them once they have registered", "i"))
    other = RequestFailed.of(ErrorReply("not_member", "Mia is not a member of #redes", "k"))
    with in_portuguese():
        assert explain_act_refusal(refused, "invite", "Mia") == (
            "Mia não tem conta aqui, e só contas entram neste servidor: confira o nome, ou convide a pessoa depois "
            "que ela se registrar")
        # Another act's refusal, of a code whose sentence may be about either person: as before.
        assert explain_act_refusal(other, "kick", "Mia") == explain_refusal(other)
        assert explain_act_refusal(refused, "kick", "Mia") == explain_refusal(refused)
    assert explain_act_refusal(refused, "invite", "\x1b[2JMia").startswith("\\x1b[2JMia has no account here, ")


def test_an_acts_not_member_that_names_the_person_is_said_in_the_clients_words() -> None:
    """A kick of Olga, who had left #turma, was said in the server's English in every client
    ("Olga is not in #turma"): its not_member could be about the asker or about Olga. The
    error says whom now (its "name"); without it (an older server) the server's words."""
    from client.display import explain_act_refusal
    from client.errors import RequestFailed
    from client.gui.session import act_failure_words
    from protocol import ErrorReply
    theirs = RequestFailed.of(ErrorReply("not_member", "Olga is not in #turma", "k", name="Olga"))
    older = RequestFailed.of(ErrorReply("not_member", "Olga is not in #turma", "k"))
    mine = RequestFailed.of(ErrorReply("not_member", "you are not in #turma: join it first", "k"))
    with in_portuguese():
        assert explain_act_refusal(theirs, "kick", "olga", "#turma") == "Olga não está em #turma"
        assert act_failure_words(theirs, "appoint", "olga", "#turma") == "Olga não está em #turma"
        assert explain_act_refusal(older, "kick", "olga", "#turma") == "Olga is not in #turma"
        assert explain_act_refusal(mine, "kick", "olga", "#turma") == "you are not in #turma: join it first"
        assert explain_act_refusal(theirs, "kick", "olga") == "Olga is not in #turma"  # no room to say
    assert explain_act_refusal(theirs, "kick", "olga", "#turma") == "Olga is not in #turma"
    shady = RequestFailed.of(ErrorReply("not_member", "x", "k", name="\x1b[2JOlga"))
    assert explain_act_refusal(shady, "kick", "Olga", "#turma") == "\\x1b[2JOlga is not in #turma"


def test_an_acts_not_member_about_the_asker_and_an_invite_of_someone_banned_are_said_in_the_clients_words() -> None:
    """A kick by someone not in #turma, and an invitation of Vic, banned there, were said in
    the server's English in every client. The first names the room now (its "room", and no
    "name": about the asker); the second is an invitation's own sentence (ACT_TEXTS)."""
    from client.display import explain_act_refusal
    from client.errors import RequestFailed
    from client.gui.session import act_failure_words
    from protocol import ErrorReply
    mine = RequestFailed.of(ErrorReply("not_member", "you are not in #turma: join it first", "k", room_name="#turma"))
    banned = RequestFailed.of(ErrorReply("banned", "Vic is banned from #turma: unban first", "i"))
    with in_portuguese():
        for words in (explain_act_refusal, act_failure_words):
            assert words(mine, "kick", "olga", "#turma") == "você não está em #turma: entre nela primeiro"
            assert words(mine, "kick", "olga") == "você não está em #turma: entre nela primeiro"
            assert words(banned, "invite", "vic", "#turma") == (
                "há um banimento contra vic nesta sala: retire o banimento primeiro, depois convide")
        # A request that is no act says it as before (the room it named), and one's own join
        # while banned stays one's own standing.
        assert explain_refusal(mine, "#turma") == "você não está em #turma: entre nela primeiro"
        own = RequestFailed.of(ErrorReply("banned", "you are banned from #turma", "j", room_name="#turma"))
        assert explain_refusal(own) == "há um banimento contra você em #turma"
    assert explain_act_refusal(banned, "invite", "Vic") == (
        "Vic is banned from this room: unban them first, then invite them")


def test_a_field_too_long_is_said_in_the_clients_words_with_the_servers_limit() -> None:
    """A topic over its limit was said in the server's English ("'topic' is 300 characters
    long; the limit is 256 (bad_field)"): the error names its field and limit now. A field
    without a sentence of its own, or an older server's error, keeps the server's words; a
    message too long says the server's limit, not this client's idea of it."""
    from client.errors import RequestFailed
    from protocol import ErrorReply
    topic = RequestFailed.of(ErrorReply("bad_field", "'topic' is 300 characters long; the limit is 256", "t",
                                        field="topic", max_chars=256))
    reason = ErrorReply("bad_field", "'reason' is 300 characters long; the limit is 256", "k", field="reason",
                        max_chars=256)
    older = RequestFailed.of(ErrorReply("bad_field", "'topic' is 300 characters long; the limit is 256", "t"))
    other = ErrorReply("bad_field", "'id' is 65 characters long; the limit is 64", "x", field="id", max_chars=64)
    text = ErrorReply("message_too_large", "'text' is 2001 characters long; the limit is 2000", "m", field="text",
                      max_chars=2000)
    with in_portuguese():
        assert explain_refusal(topic, "#turma") == "o tema é longo demais: no máximo 256 caracteres; encurte-o"
        assert explain_refusal(reason) == "o motivo é longo demais: no máximo 256 caracteres; encurte-o"
        assert explain_refusal(text, "Ana") == "o texto tem mais de 2000 caracteres: encurte-o, ou envie-o em partes"
        assert explain_refusal(older) == "'topic' is 300 characters long; the limit is 256 (bad_field)"
        assert explain_refusal(other) == "'id' is 65 characters long; the limit is 64 (bad_field)"
    assert explain_refusal(topic) == "the topic is too long: at most 256 characters; shorten it"


def test_a_name_too_long_is_said_in_the_clients_words_with_the_servers_limit() -> None:
    """A login name of 40 characters was refused invalid_name, and a client said its
    sentence about letters, digits and symbols, none of which was wrong with it. The error
    names its field and the limit (32) now: the client says the name is too long, in the
    user's language, whichever field held it."""
    from protocol import ErrorReply
    login = ErrorReply("invalid_name", "the name is longer than 32 characters", "h", field="name", max_chars=32)
    room = ErrorReply("invalid_name", "#bbbbb: the name is longer than 32 characters", "j", field="room", max_chars=32)
    said = "the name is too long: at most 32 characters; choose a shorter one"
    assert explain_refusal(login) == said and explain_refusal(room) == said
    with in_portuguese():
        assert explain_refusal(login) == "o nome é longo demais: no máximo 32 caracteres; escolha um mais curto"


def test_a_name_of_too_many_bytes_is_said_so_not_as_a_letters_and_symbols_problem() -> None:
    """A name of at most 32 characters but over 256 bytes of UTF-8 (decomposed Hangul) is
    refused with "max_bytes": the clients dropped it and said the sentence about letters,
    digits and symbols. A request's refusal (RequestFailed) says the bytes too."""
    from client.errors import RequestFailed
    from protocol import ErrorReply
    join = RequestFailed.of(ErrorReply("invalid_name", "the name is longer than 256 bytes", "j", field="room",
                                       max_bytes=256))
    said = ("the name is too long: at most 256 bytes of UTF-8 (a letter takes 1 to 4, one made of several parts "
            "more); choose a shorter one")
    assert explain_refusal(join) == said
    with in_portuguese():
        assert explain_refusal(join) == ("o nome é longo demais: no máximo 256 bytes em UTF-8 (uma letra ocupa de 1 "
                                         "a 4, e uma feita de várias partes, mais); escolha um mais curto")


def test_a_password_too_long_is_said_in_the_clients_words_with_the_servers_limit() -> None:
    """A password over 1024 characters in a hello, a register or a password change was
    said in the server's English in every language ("'password' is 2000 characters long;
    the limit is 1024 (bad_field)"). Its field has a sentence of its own now."""
    from protocol import ErrorReply
    hello = ErrorReply("bad_field", "'password' is 2000 characters long; the limit is 1024", "h", field="password",
                       max_chars=1024)
    change = ErrorReply("bad_field", "'new' is 2000 characters long; the limit is 1024", "p", field="new",
                        max_chars=1024)
    said = "the password is too long: at most 1024 characters"
    assert explain_refusal(hello) == said and explain_refusal(change) == said
    with in_portuguese():
        assert explain_refusal(hello) == "a senha é longa demais: no máximo 1024 caracteres"


def test_a_block_or_unblock_of_ones_own_name_is_said_as_what_was_asked() -> None:
    """Their bad_field is of one's own name (PROTOCOL.md, "block"): an unblock said "you
    cannot block yourself (bad_field)", the server's words for the other request."""
    from client.display import explain_act_refusal
    from client.errors import RequestFailed
    from protocol import ErrorReply
    refused = RequestFailed.of(ErrorReply("bad_field", "you cannot block yourself", "u"))
    assert explain_act_refusal(refused, "unblock", "Olga") == "you cannot unblock yourself: nobody can block themselves"
    assert explain_act_refusal(refused, "block", "Olga") == "you cannot block yourself"


def test_the_windows_refused_invitation_of_a_name_with_no_account_is_in_its_words() -> None:
    """The window said the server's English for it too ("Convidar falhou: Mla has no account
    here, ..."); a failure that is not a refusal keeps the window's words for it."""
    from client.errors import NotConnected, RequestFailed
    from client.gui.session import act_failure_words, failure_words
    from protocol import ErrorReply
    refused = RequestFailed.of(ErrorReply("unknown_recipient", "Mla has no account here", "i"))
    with in_portuguese():
        assert act_failure_words(refused, "invite", "Mla").startswith("Mla não tem conta aqui, e só contas entram")
        down = NotConnected("not connected to the server")
        assert act_failure_words(down, "invite", "Mla") == failure_words(down) == "sem conexão"


def test_a_change_answered_late_is_said_with_whom_and_where_it_named() -> None:
    """The library's AnsweredLate for a block or a room act carries the request: the words
    name its person and room (sanitised), a refusal says why, a mode says what it made."""
    from client.display import late_answer_words
    from client.events import AnsweredLate
    from protocol import Block, Delete, Kick, SetRoomMode, Unblock

    said = late_answer_words(AnsweredLate("block", True, asked=Block("r1", "Jo\x1b[2Jão")), "Ana")
    assert said == "the server's answer came late: you blocked Jo\\x1b[2Jão: their messages no longer reach you"
    said = late_answer_words(AnsweredLate("unblock", False, "rate_limited", "slow down", Unblock("r2", "Bruno")), "Ana")
    assert said.startswith("the server's answer came late: Bruno was not unblocked: too many")
    said = late_answer_words(AnsweredLate("kick", True, asked=Kick("r3", "#redes", "Bruno")), "Ana")
    assert said == "the server's answer came late: Bruno was put out of #redes"
    said = late_answer_words(AnsweredLate("kick", False, "forbidden", "no", Kick("r3", "#redes", "Bruno")), "Ana")
    assert said.startswith("the server's answer came late: that was not done in #redes: you may not do that")
    said = late_answer_words(AnsweredLate("mode", True, asked=SetRoomMode("r4", "#redes", False)), "Ana")
    assert said == "the server's answer came late: #redes was made public"
    said = late_answer_words(AnsweredLate("delete", True, asked=Delete("r5", 7), at=1.0), "Ana")
    assert said == "the server's answer came late: the message was deleted"
    assert late_answer_words(AnsweredLate("unregister", True), "Ana") == \
        "the server's answer came late: your account was deleted"
    # A request the table does not know, or a block told without its request: in general terms.
    assert late_answer_words(AnsweredLate("block", True), "Ana") == "the server's answer came late: it was done"


def test_a_recipient_name_refused_as_invalid_says_the_names_own_problem() -> None:
    """`chatclient.py Ana --send todos "aula cancelada"` (a student meaning everyone) said
    "that name cannot be used: a name has letters and digits of one script, with '_', '-'
    or '.' but no spaces or symbols": all true of "todos", which is reserved. The client
    knows the rules (registry.validate_name), as its terminal's @todos line does: what is
    wrong with the name is said; a name the client finds valid (a server with other rules)
    keeps the sentence that covers them all."""
    said = explain_error("invalid_name", "invalid name 'todos'", "todos")
    assert said == "that name cannot be used: the name 'todos' is reserved; choose another", said
    assert "try '#a_b'" in explain_error("invalid_name", "#a b: no", "#a b")  # (a room's: its #)
    assert "no spaces or symbols" in explain_error("invalid_name", "no", "Ana")
    with in_portuguese():
        said = explain_error("invalid_name", "invalid name 'todos'", "todos")
        assert "o nome 'todos' é reservado" in said and "espaços" not in said, said


def test_a_moderation_act_refused_forbidden_is_said_as_about_the_person_acted_on() -> None:
    """João, owner of #redes, typed /expulsar #redes João; Mia, a moderator, /banir'd the
    owner: the server refused both forbidden ("you cannot kick yourself", "a moderator
    cannot ban an owner of #redes") and the terminal said "você não pode fazer isso: só
    quem enviou uma mensagem pode mudá-la, e só quem é responsável por uma sala ... podem
    cuidar dela" to the room's owner: about a message's sender, and as if he were not. An
    act on a person says the rule of acts on people: whoever may, only below them."""
    from client.display import ERROR_TEXTS, explain_act_refusal
    from client.errors import RequestFailed
    from client.gui.session import act_failure_words
    from i18n import _, use
    from protocol import ErrorReply
    self_kick = RequestFailed.of(ErrorReply("forbidden", "you cannot kick yourself", "k"))
    owner_ban = RequestFailed.of(ErrorReply("forbidden", "a moderator cannot ban an owner of #redes", "b"))
    topic = RequestFailed.of(ErrorReply("forbidden", "a member of #redes cannot topic", "t"))
    assert explain_act_refusal(self_kick, "kick", "João", "#redes") == (
        "you may not do that to João: only a room's owner, its moderators or an administrator may act on its "
        "members, each only on someone below them in the room, and nobody on themselves")
    try:
        use("pt_BR")
        for act, refusal in (("kick", self_kick), ("ban", owner_ban), ("mute", owner_ban),
                             ("unmute", owner_ban), ("unban", owner_ban), ("appoint", owner_ban)):
            assert explain_act_refusal(refusal, act, "João", "#redes") == (
                "você não pode fazer isso com João: só quem é responsável pela sala, quem faz a moderação dela ou "
                "quem administra o servidor age sobre os membros, cada um só sobre quem está abaixo dele na sala, "
                "e ninguém sobre si mesmo"), act
        assert act_failure_words(owner_ban, "ban", "João", "#redes").startswith("você não pode fazer isso com João:")
        # Another act (a room's mode) keeps the code's own sentence.
        assert explain_act_refusal(topic, "mode", "#redes") == explain_refusal(topic) \
            == _(ERROR_TEXTS["forbidden"])
    finally:
        use("en")
    assert explain_act_refusal(self_kick, "kick", "\x1b[2JJoão").startswith("you may not do that to \\x1b[2JJoão:")


def test_a_room_name_refused_as_like_an_existing_room_is_said_in_the_clients_words() -> None:
    """Rita, in pt_BR, typed /entrar #fisica while #física existed and read the server's
    English, "#fisica looks like #física: join that one or pick another name". With the
    error's ``like`` (a room's name), the sentence for a room: not the person's "if #física
    is yours, type it exactly so"."""
    from client.errors import RequestFailed
    from i18n import use
    from protocol import ErrorReply
    refused = RequestFailed.of(ErrorReply("confusable_name", "#fisica looks like #física: join that one or pick "
                                                             "another name", "j", like="#física"))
    person = RequestFailed.of(ErrorReply("confusable_name", "x", "h", like="João"))
    assert explain_refusal(refused, "#fisica") == (
        "#fisica looks too much like #física, a room that exists: join #física, or choose another name")
    try:
        use("pt_BR")
        assert explain_refusal(refused, "#fisica") == (
            "#fisica se parece demais com #física, uma sala que já existe: entre em #física, ou escolha outro nome")
        assert explain_refusal(person, "Joao").startswith("o nome Joao se parece demais com João, um nome já em uso")
    finally:
        use("en")
    shady = RequestFailed.of(ErrorReply("confusable_name", "x", "j", like="#f\x1b[2Jísica"))
    assert "\\x1b[2J" in explain_refusal(shady, "#fisica")


def test_a_topic_or_an_invitation_refused_forbidden_says_who_may_without_a_senders_rule() -> None:
    """Sebastião, a member of #física, typed /tema and /convidar Zé and read "você não pode
    fazer isso: só quem enviou uma mensagem pode mudá-la, e só quem ..." for both: a
    message's sender had nothing to do with it. Neither names a person the rule is about."""
    from client.display import explain_act_refusal
    from client.errors import RequestFailed
    from i18n import use
    from protocol import ErrorReply
    topic = RequestFailed.of(ErrorReply("forbidden", "a member of #física cannot topic", "t"))
    invite = RequestFailed.of(ErrorReply("forbidden", "a member of #física cannot invite", "i"))
    assert explain_act_refusal(topic, "topic", "novo tema", "#física") == (
        "only a room's owner, its moderators or an administrator may do that in the room; ask them")
    try:
        use("pt_BR")
        for refusal, act, name in ((topic, "topic", "novo tema"), (invite, "invite", "Zé")):
            assert explain_act_refusal(refusal, act, name, "#física") == (
                "só quem é responsável pela sala, quem faz a moderação dela ou quem administra o servidor pode fazer "
                "isso na sala; peça a essas pessoas"), act
    finally:
        use("en")

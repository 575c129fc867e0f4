"""The GUI's parts that need no window: the model, the library adapter, the thread-to-Tk
bridge (with a fake widget) and the screenshot encoder. No tkinter, no display."""

from __future__ import annotations

import struct
import threading
import time
import zlib

import pytest

import const
from i18n import use
from registry.collation import name_order
from client.errors import LoginRefused, ServerUnreachable
from client.gui import bridge as bridge_module
from client.gui import session
from client.gui.bridge import TkBridge, TurnTimer
from client.gui.model import (
    CONNECTED,
    DISCONNECTED,
    RECONNECTING,
    ROOM,
    ChatModel,
    clean_text,
    describe_event,
    key_of,
    state_label,
)
from client.gui.changes import ContactsChanged, HistoryWanted, LineAdded, LinesPrepended, StateChanged, StatusChanged
from client.gui.screenshot import crop, png_bytes, xwd_to_rgb
from client.outgoing import MessageUpdate, OutgoingMessage
from protocol import (
    ConnectionClosed,
    DirectMessage,
    ErrorCode,
    ErrorReply,
    Goodbye,
    HistoryEntry,
    HistoryPage,
    Presence,
    Queued,
    RoomMessage,
    UserJoined,
    UserLeft,
)

T = 1_700_000_000.0


def dm(msg_id: int, sender: str, text: str, to: str = "Bob") -> DirectMessage:
    return DirectMessage(msg_id, sender, to, text, T)


def tracker(request_id: str, to: str | None, text: str, state: str = "sending", submitted: bool = True) -> OutgoingMessage:
    message = OutgoingMessage(request_id, to, text)
    message.submitted = submitted
    if state != "sending":
        message._advance(state, msg_id=None, error=("unknown_recipient", "nope") if state == "failed" else None)
    return message


@pytest.fixture
def model() -> ChatModel:
    m = ChatModel("Bob", "127.0.0.1:5000")
    m.set_online([Presence("Alice", T), Presence("Bob", T), Presence("Carol", T)])
    m.take_changes()
    return m


# --- Contacts and presence ----------------------------------------------------------------


def test_who_fills_the_list_without_ourselves(model: ChatModel) -> None:
    assert model.contact_order() == [ROOM, "alice", "carol"]
    assert all(c.online for c in model.contacts.values())


def test_joined_and_left_update_presence_and_post_notices_in_the_room(model: ChatModel) -> None:
    model.apply(UserJoined("Dave", T))
    assert model.contacts["dave"].online
    changes = model.take_changes()
    assert any(isinstance(c, ContactsChanged) for c in changes)
    assert [c.line.text for c in changes if isinstance(c, LineAdded)] == ["Dave joined"]
    model.apply(UserLeft("Dave", "quit", T))
    assert "dave" not in model.contacts  # never talked: dropped
    assert model.conversations[ROOM].lines[-1].text == "Dave left (quit)"


def test_a_skipped_notice_is_posted_in_the_room_in_words(model: ChatModel) -> None:
    from protocol import RoomSkipped
    model.apply(RoomSkipped(3))
    assert model.conversations[ROOM].lines[-1].kind == "notice"
    assert model.conversations[ROOM].lines[-1].text == "3 room messages or updates were skipped because your connection is slow"


def test_a_contact_we_talked_with_stays_as_offline(model: ChatModel) -> None:
    model.apply(dm(1, "Alice", "hi"))
    model.apply(UserLeft("Alice", "", T))
    assert "alice" in model.contacts and not model.contacts["alice"].online
    assert model.contact_order() == [ROOM, "alice", "carol"]  # by name: her row stays where it was
    assert model.conversations["alice"].lines[-1].text == "Alice went offline"
    # A new who() answer does not drop her either.
    model.set_online([Presence("Carol", T)])
    assert "alice" in model.contacts


def test_a_conversation_started_by_name_lists_someone_offline_until_they_are_heard_of(model: ChatModel) -> None:
    """The new-chat box (client/gui/newchat.py) found Dora, offline and never talked with:
    she is listed under the server's spelling, her presence asked (a watch), her history
    asked as her conversation opens, and she stays listed when another who() leaves her out."""
    from client.gui.changes import WatchWanted
    from protocol import Watching
    key = model.start_conversation("Dora")
    assert key == "dora" and model.contact_order() == [ROOM, "alice", "carol", "dora"]
    assert not model.contacts["dora"].online and model.title("dora") == "Dora"
    changes = model.take_changes()
    assert WatchWanted("Dora") in changes and any(isinstance(c, ContactsChanged) for c in changes)
    model.open(key)
    assert [c.peer for c in model.take_changes() if isinstance(c, HistoryWanted)] == ["Dora"]
    model.set_online([Presence("Alice", T)])
    model.open(ROOM)
    assert "dora" in model.contacts and not model.contacts["dora"].online
    model.apply(Watching("w", (Presence("Dora", T),), ()))  # the watch's answer: she is online now
    assert model.contacts["dora"].online
    # A name listed already, typed in another case: one row, the server's spelling.
    assert model.start_conversation("ALICE".title()) == "alice" and model.contact_order().count("alice") == 1


def test_presence_never_moves_a_row_and_names_sort_as_a_portuguese_reader_expects() -> None:
    """The list put people online first, so a row jumped when its person (or another) came
    or went, and a click landed on the wrong conversation. By name only, accents collated
    with their letters, case aside; the dot says who is online."""
    model = ChatModel("Bob", "127.0.0.1:5000")
    names = ["Zé", "Conceição", "carlos", "Érica", "eduardo", "Álvaro", "Alice", "Fábio"]
    model.set_online([Presence(name, T) for name in names])
    for n, name in enumerate(names, 1):
        model.apply(dm(n, name, "oi"))  # talked: they stay listed when they leave
    expected = [ROOM] + [key_of(n) for n in ("Alice", "Álvaro", "carlos", "Conceição", "eduardo", "Érica", "Fábio",
                                             "Zé")]
    assert model.contact_order() == expected
    for event in (UserLeft("Érica", "quit", T), UserLeft("Alice", "quit", T), UserJoined("Érica", T),
                  UserLeft("Zé", "", T)):
        model.apply(event)
        assert model.contact_order() == expected, event
    assert [model.contacts[key].online for key in expected[1:3]] == [False, True]  # what the dot shows
    assert sorted(["Zé", "Carlos", "álvaro", "Conceição", "ana", "Érica", "Bruno"], key=name_order) == \
        ["álvaro", "ana", "Bruno", "Carlos", "Conceição", "Érica", "Zé"]


def test_a_stranger_who_writes_becomes_a_contact(model: ChatModel) -> None:
    model.apply(dm(1, "Zed", "hello"))
    assert model.contacts["zed"].talked and model.contacts["zed"].unread == 1


def test_our_own_other_session_is_not_a_contact(model: ChatModel) -> None:
    model.apply(UserJoined("bob", T))
    assert "bob" not in model.contacts


# --- Conversations and unread counts ------------------------------------------------------


def test_unread_counts_until_the_conversation_opens(model: ChatModel) -> None:
    assert model.active == ROOM  # the room is open at first
    model.open("carol")
    model.apply(dm(1, "Alice", "one"))
    model.apply(dm(2, "Alice", "two"))
    model.apply(RoomMessage(3, "Carol", "all", T))
    assert model.unread("alice") == 2 and model.unread(ROOM) == 1 and model.total_unread == 3
    model.take_changes()
    model.open("alice")
    assert model.unread("alice") == 0 and model.total_unread == 1
    changes = model.take_changes()
    assert HistoryWanted("alice", "Alice") in changes  # the first time only
    model.apply(dm(4, "Alice", "three"))  # the open conversation: read at once
    assert model.unread("alice") == 0
    model.open(ROOM)
    model.open("alice")
    assert not any(isinstance(c, HistoryWanted) for c in model.take_changes())


def test_message_text_is_sanitised_but_keeps_typed_newlines() -> None:
    assert clean_text("a\x1b[31mb\u202ec\nnext\r\nline\tx") == "a\\x1b[31mb\\u202ec\nnext\nline\\tx"
    assert clean_text(None) == ""
    m = ChatModel("Bob")
    m.apply(dm(1, "Alice", "[exec rm] $x {y}\x07"))
    assert m.conversations["alice"].lines[0].text == "[exec rm] $x {y}\\x07"


def test_a_message_of_several_lines_is_shown_on_several_lines_never_with_a_literal_backslash_n() -> None:
    """The window showed "linha A\\nlinha B": the text kept its breaks, then the "edited"
    mark's wording escaped them."""
    m = ChatModel("Bob")
    m.apply(dm(1, "Alice", "linha A\nlinha B\x07"))
    line = m.conversations["alice"].lines[0]
    assert line.shown_text == "linha A\nlinha B\\x07"
    line.edited = True
    assert line.shown_text == "linha A\nlinha B\\x07  (edited)"


def test_a_duplicate_message_is_shown_once(model: ChatModel) -> None:
    model.apply(dm(1, "Alice", "hi"))
    model.apply(dm(1, "Alice", "hi"))
    assert len(model.conversations["alice"].lines) == 1


# --- Delivery states ----------------------------------------------------------------------


def test_sent_message_follows_the_library_updates(model: ChatModel) -> None:
    model.open("alice")
    message = tracker("r1", "Alice", "hello")
    line = model.sent(message)
    assert (line.kind, line.state, line.label) == ("out", "sending", "… sending")
    changes = model.take_changes()
    assert LineAdded("alice", line) in changes
    for state in ("sent", "queued", "delivered"):
        model.apply(MessageUpdate(message, state))
        [change] = [c for c in model.take_changes() if isinstance(c, StateChanged)]
        assert change.line is line and line.state == state
    assert line.label == "✓✓ delivered"
    assert model.state_of("r1") == "delivered"


def test_any_of_our_messages_within_the_edit_window_may_be_edited_not_only_the_last(model: ChatModel) -> None:
    model.open("alice")
    older, newer = tracker("r1", "Alice", "first"), tracker("r2", "Alice", "second")
    first, second = model.sent(older), model.sent(newer)
    for message, msg_id in ((older, 11), (newer, 12)):
        message._advance("sent", msg_id=msg_id, error=None)
        model.apply(MessageUpdate(message, "sent"))
    model.apply(dm(13, "Alice", "hers"))
    now = first.at + 60
    assert model.editable("alice", now) is second  # Ctrl+E: the newest
    assert model.editable("alice", now, msg_id=11) is first  # the message menu: the one clicked
    assert model.editable("alice", now, msg_id=13) is None  # hers
    assert model.editable("alice", first.at + const.EDIT_WINDOW + 1, msg_id=11) is None  # too old
    model.changed_own("alice", first, None)
    assert model.editable("alice", now, msg_id=11) is None  # deleted already


def test_our_edit_answered_after_a_newer_one_from_another_device_leaves_the_newer(model: ChatModel) -> None:
    """Our phone's edit, newer, came before the ok of this window's edit: the ok's time is
    older, so the line keeps the phone's text. Before, the window's own text took its place."""
    from protocol import Deleted, Edited
    model.open("alice")
    message = tracker("r1", "Alice", "teh text")
    line = model.sent(message)
    message._advance("sent", msg_id=11, error=None)
    model.apply(MessageUpdate(message, "sent"))
    model.apply(Edited(11, "Bob", "Alice", "from the phone", T + 40))
    model.changed_own("alice", line, "from the window", T + 30)
    assert line.text == "from the phone"
    model.changed_own("alice", line, "from the window, later", T + 50)
    assert line.text == "from the window, later" and line.changed_at == T + 50
    model.changed_own("alice", line, "from an older server", None)  # no time: taken as it is
    assert line.text == "from an older server"
    model.apply(Deleted(11, "Bob", "Alice", T + 60))
    model.changed_own("alice", line, "after the delete", T + 70)  # (the server refuses that)
    assert (line.text, line.deleted) == ("", True)


def test_changes_of_messages_not_here_yet_are_kept_the_newest_only(model: ChatModel) -> None:
    """A login may tell a thousand edits of messages whose conversation is never opened
    (PROTOCOL.md "Changes a device missed"): kept for when the message comes, but bounded.
    Before, every one was kept for as long as the window ran."""
    from protocol import Edited
    from client.gui.model import EARLY_CHANGES_KEPT
    for msg_id in range(1, EARLY_CHANGES_KEPT + 2):
        model.apply(Edited(msg_id, "Alice", "Bob", f"#{msg_id}, fixed", T + msg_id))
    assert len(model._early_changes) == EARLY_CHANGES_KEPT
    model.apply(dm(1, "Alice", "#1"))  # the oldest kept went: shown as it came
    model.apply(dm(EARLY_CHANGES_KEPT + 1, "Alice", "last"))
    texts = {line.msg_id: line.text for line in model.conversations["alice"].lines}
    assert texts == {1: "#1", EARLY_CHANGES_KEPT + 1: f"#{EARLY_CHANGES_KEPT + 1}, fixed"}


def test_failure_says_why(model: ChatModel) -> None:
    message = tracker("r1", "Zed", "hello")
    line = model.sent(message)
    model.apply(MessageUpdate(message, "failed", ("unknown_recipient", "Zed is not online")))
    # As the terminal and the page say it: refused at once, "not sent" (the window said
    # "failed", then "not delivered", which is what an expired message is).
    assert line.label.startswith("✗ not sent: ") and line.label.endswith("nobody called Zed has ever logged in here: check the name")
    assert "Zed" in line.label  # client.display.explain_error's wording, naming the recipient


def test_a_room_message_that_failed_is_not_sent(model: ChatModel) -> None:
    """A room has no delivery: its refused message is "not sent", as the terminal and the
    page say it, in Portuguese too ("não enviada", the message's gender)."""
    message = tracker("r1", None, "olá a todos")
    line = model.sent(message)
    model.apply(MessageUpdate(message, "failed", ("message_too_large", "too long")))
    assert line.label.startswith("✗ not sent: ") and "longer than 4000 characters" in line.label
    try:
        use("pt_BR")
        assert line.label.startswith("✗ não enviada: ")
    finally:
        use("en")


def test_a_message_that_failed_inside_send_is_shown_failed(model: ChatModel) -> None:
    message = OutgoingMessage("r9", "Alice", "x" * 5000)
    message._fail("message_too_large", "too long")
    line = model.sent(message)
    assert line.state == "failed" and "longer than 4000 characters" in line.label


def test_a_raw_queued_answer_moves_only_an_unconfirmed_message(model: ChatModel) -> None:
    message = tracker("r1", "Alice", "hello")
    line = model.sent(message)
    model.apply(Queued("r1", 7))
    assert line.state == "queued" and line.msg_id == 7
    model.apply(MessageUpdate(message, "delivered"))
    model.apply(Queued("r1", 7))  # late: ignored
    assert line.state == "delivered"


def test_future_states_are_shown_by_name() -> None:
    assert state_label("resending") == "resending"
    assert state_label("queued") == "◷ queued"
    assert state_label(None) == ""


def test_our_room_message_is_not_shown_twice(model: ChatModel) -> None:
    message = tracker("r1", None, "hi all")
    model.sent(message)
    message.msg_id = 42
    model.apply(MessageUpdate(message, "sent"))
    model.apply(RoomMessage(42, "Bob", "hi all", T))
    model.apply(RoomMessage(43, "Carol", "hi Bob", T))
    assert [(l.kind, l.text) for l in model.conversations[ROOM].lines] == [("out", "hi all"), ("in", "hi Bob")]


# --- History --------------------------------------------------------------------------------


def test_history_goes_before_what_is_shown_without_duplicates(model: ChatModel) -> None:
    model.apply(dm(5, "Alice", "newest"))
    pending = tracker("r1", "Alice", "on its way")
    model.sent(pending)  # no msg_id yet
    model.take_changes()
    entries = (HistoryEntry(2, "Alice", "Bob", "old one", T - 60, "delivered"),
               HistoryEntry(3, "Bob", "Alice", "my old one", T - 50, "expired"),
               HistoryEntry(5, "Alice", "Bob", "newest", T, "delivered"),
               HistoryEntry(6, "Bob", "Alice", "on its way", T, "sent"))
    model.apply(HistoryPage("h", "Alice", entries))
    [change] = model.take_changes()
    assert isinstance(change, LinesPrepended) and [l.text for l in change.lines] == ["old one", "my old one"]
    lines = model.conversations["alice"].lines
    assert [l.text for l in lines] == ["old one", "my old one", "newest", "on its way"]
    assert lines[1].state == "failed" and "expired" in lines[1].label and lines[0].old
    assert model.conversations["alice"].history == "loaded"


def test_fetch_history_asks_the_library_for_the_newest_messages() -> None:
    asked: list[tuple[str, int]] = []

    class Library:
        def history(self, peer, limit=20, timeout=10.0):
            asked.append((peer, limit))
            return [HistoryEntry(1, peer, "Bob", "x", T, "delivered")] * 2

    entries = session.fetch_history(Library(), "Alice")  # type: ignore[arg-type]
    assert len(entries) == 2 and entries[0].sender == "Alice"
    assert asked == [("Alice", session.HISTORY_LIMIT)]


# --- Connection state -------------------------------------------------------------------------


def test_status_follows_the_connection_and_reconnect_events(model: ChatModel) -> None:
    model.set_state(CONNECTED)
    assert model.status_text() == "Connected to 127.0.0.1:5000 as Bob"

    class Reconnecting:  # any event whose class name starts with "Reconnect", generically
        def __init__(self, attempt, delay):
            self.attempt, self.delay = attempt, delay

    class Reconnected:
        pass

    model.apply(Reconnecting(2, 1.5))
    assert model.state == RECONNECTING and "Reconnecting" in model.status_text()
    model.apply(Reconnected())
    assert model.state == CONNECTED and model.reconnects == 1
    # Words, not the library's figures: no counter of reconnections in the status bar.
    assert model.status_text() == "Connected to 127.0.0.1:5000 as Bob"
    assert StatusChanged() in model.take_changes()
    model.apply(Goodbye("maintenance"))
    assert model.state == DISCONNECTED and "maintenance" in model.status_text()
    model.apply(ConnectionClosed())
    assert "maintenance" in model.status_text()  # the first reason stays


def test_after_a_failover_the_status_bar_names_the_server_the_window_is_on(model: ChatModel) -> None:
    # Seen by hand: a cluster node killed under the window, which moved to the other node
    # of its list, and the status bar still said the dead one's address.
    from client.events import Reconnected
    from protocol import Welcome
    model.set_state(CONNECTED)
    model.apply(Reconnected(Welcome("h", "Bob", 1, "chat", 15.0), 0, "127.0.0.1:5001"))
    assert model.status_text() == "Connected to 127.0.0.1:5001 as Bob"
    model.apply(Reconnected(Welcome("h", "Bob", 1, "chat", 15.0), 0))  # back on the same one
    assert model.status_text() == "Connected to 127.0.0.1:5001 as Bob"


class Clock:
    """A fake monotonic clock for the model."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def clocked_model() -> tuple[ChatModel, Clock]:
    clock = Clock()
    m = ChatModel("Bob", "127.0.0.1:5000", clock=clock)
    m.set_online([Presence("Alice", T), Presence("Carol", T)])
    m.set_state(CONNECTED)
    m.take_changes()
    return m, clock


def room_text(model: ChatModel) -> list[str]:
    return [line.text for line in model.conversations[ROOM].lines]


def test_the_status_bar_counts_down_to_the_next_attempt_in_words() -> None:
    from client.events import Reconnecting

    model, clock = clocked_model()
    model.apply(Reconnecting(1, 2.6, "connection error: Connection reset by peer"))
    assert model.status_text() == "Reconnecting in 3 s… · the connection was lost"
    clock.now += 1.0
    assert model.status_text() == "Reconnecting in 2 s… · the connection was lost"
    clock.now += 1.7
    assert model.status_text() == "Reconnecting… · the connection was lost"  # the attempt is under way
    # Neither the attempt number nor the library's English wording of the socket error.
    assert "attempt" not in model.status_text() and "peer" not in model.status_text()


def test_while_the_server_answers_unavailable_the_status_bar_and_the_terminal_say_so_and_when_it_tries() -> None:
    """A cluster with its Redis down: the window's status said "Connected" and the messages
    "sending" until the client gave up; now it says the server is unavailable and counts
    down to the next try, and is itself again once the server takes a message."""
    from client.events import ServerUnavailable
    from client.terminal_lines import describe_event as terminal_line

    model, clock = clocked_model()
    model.apply(ServerUnavailable(5.0))
    assert model.counting_down and model.status_text() == (
        "Connected to 127.0.0.1:5000 as Bob · the server is unavailable (it cannot store messages now); "
        "trying again in 5.0 s")
    clock.now += 4.0
    assert model.status_text().endswith("trying again in 1.0 s")
    clock.now += 1.5
    assert model.status_text().endswith("trying again now")
    model.apply(ServerUnavailable(None, back=True))
    assert not model.counting_down and model.status_text() == "Connected to 127.0.0.1:5000 as Bob"
    assert terminal_line(ServerUnavailable(10.0), "Bob") == \
        "! the server is unavailable (it cannot store messages now); trying again in 10 s"
    assert terminal_line(ServerUnavailable(None, back=True), "Bob") == "! the server stores messages again"
    assert terminal_line(ServerUnavailable(None), "Bob") is None  # given up: the messages' lines say it


def test_a_session_signed_out_for_its_password_is_said_for_the_login_form_in_english_and_portuguese() -> None:
    """The operator reset the password (or another device changed it): the window showed the
    server's bye and its library logged in again with the old password; now the model keeps
    the sentence the login form asks for the new password with (app.py _back_to_login)."""
    import i18n

    model, clock = clocked_model()
    model.apply(ErrorReply(ErrorCode.PASSWORD_RESET, "log in again with the new one"))
    assert model.signed_out == ("your password was reset by the server operator: log in again with the new "
                                "password the operator gives you")
    assert model.state == DISCONNECTED
    i18n.use("pt_BR")
    try:
        model, clock = clocked_model()
        model.apply(ErrorReply(ErrorCode.PASSWORD_CHANGED, "log in again with the new one"))
        assert model.signed_out.startswith("a sua senha foi trocada em outro aparelho")
    finally:
        i18n.use("en")
    model, clock = clocked_model()
    model.apply(ErrorReply(ErrorCode.HEARTBEAT_TIMEOUT, "silent"))
    assert model.signed_out is None  # another end: reconnecting, as ever


def test_why_someone_left_is_said_in_portuguese_in_the_window_and_the_terminal() -> None:
    import i18n
    from client.screen import Style
    from client.terminal_lines import describe_event, describe_on_screen

    i18n.use("pt_BR")
    try:
        model, clock = clocked_model()
        model.apply(dm(1, "Maria", "oi"))
        model.apply(UserLeft("Maria", "disconnected", T))
        # Her conversation says she went offline, not why twice over (as the web page).
        assert model.conversations["maria"].lines[-1].text == "Maria se desconectou"
        model.apply(UserLeft("Bia", "connection lost (server stopped)", T))
        model.apply(UserLeft("Caio", "connection lost (ConnectionResetError)", T))
        model.apply(UserLeft("Duda", "a reason of a newer server", T))
        assert room_text(model)[-4:] == ["Maria saiu (desconectou)", "Bia saiu (conexão perdida: o servidor parou)",
                                         "Caio saiu (conexão perdida: reset do outro lado)",
                                         "Duda saiu (a reason of a newer server)"]
        left = UserLeft("Maria", "timeout", T)
        assert describe_event(left, "Ana") == "* Maria saiu (parou de responder)"
        assert describe_on_screen(left, "Ana", Style(False), "12:35") == "[12:35] * Maria saiu (parou de responder)"
    finally:
        i18n.use("en")


def test_presence_is_said_in_portuguese_in_words_that_fit_anyone() -> None:
    """"Ana está conectado" gave every user the masculine form: presence is said with the
    loanwords the room notices use ("* Ana está online em #redes"), which have no gender.
    The same entries serve the terminal and the web page."""
    import i18n
    from i18n import _

    i18n.use("pt_BR")
    try:
        model, clock = clocked_model()
        model.apply(dm(1, "Maria", "oi"))
        model.apply(UserLeft("Maria", "quit", T))
        model.apply(UserJoined("Maria", T))
        assert [line.text for line in model.conversations["maria"].lines[-2:]] == [
            "Maria se desconectou", "Maria está online"]
        assert (_("online"), _("offline"), _("{name}  (offline)").format(name="Maria")) == (
            "online", "offline", "Maria  (offline)")
    finally:
        i18n.use("en")


def test_the_status_bar_says_why_the_connection_went_when_the_words_are_for_people() -> None:
    """It said only "the connection was lost", while the page said "No data from the
    server for 45 s": the reasons the client core words itself are said; the operating
    system's wording of a socket error (and the attempt number) still is not."""
    import i18n
    from client.core import ClientCore
    from client.events import Reconnecting

    def reason_of(lost) -> str:  # the core's own words for how the connection went
        core = ClientCore()
        lost(core)
        return core.close_reason

    def silent(core) -> None:
        from protocol import Connection, Role

        core.conn, core.heartbeat_timeout = Connection(Role.CLIENT), 45.0
        core._last_received = core._last_ping = 0.0
        core.handle_timeout(45.0)

    for language, cases in [
        ("en", [(silent, "Reconnecting in 3 s… · no data from the server for 45 s"),
                (lambda core: core.receive_data(b"", 1.0), "Reconnecting in 3 s… · the server closed the connection"),
                (lambda core: core.write_failed("Broken pipe"), "Reconnecting in 3 s… · the connection was lost")]),
        ("pt_BR", [(silent, "Reconectando em 3 s… · nenhum dado do servidor por 45 s")]),
    ]:
        i18n.use(language)
        try:
            for lost, shown in cases:
                model, clock = clocked_model()
                model.apply(Reconnecting(1, 2.6, reason_of(lost)))
                assert model.status_text() == shown
        finally:
            i18n.use("en")


def test_the_status_bar_speaks_portuguese() -> None:
    import i18n
    from client.events import Reconnected, Reconnecting
    from protocol import Welcome

    i18n.use("pt_BR")
    try:
        model, clock = clocked_model()
        model.apply(Goodbye("server shutting down"))
        model.apply(Reconnecting(1, 3.0, "the server said goodbye"))
        assert model.status_text() == "Reconectando em 3 s… · o servidor parou ou está reiniciando"
        model.apply(Reconnected(Welcome("h", "Bob", 1, "chat", 15.0), 0))
        assert model.status_text() == "Conectado a 127.0.0.1:5000 como Bob"
        assert model.conversations[ROOM].lines[-1].text == "reconectado"
    finally:
        i18n.use("en")


def test_a_planned_restart_costs_one_reconnected_line_and_grey_dots_meanwhile() -> None:
    from client.events import Reconnected, Reconnecting
    from protocol import Welcome

    model, clock = clocked_model()
    model.open("alice")
    lines_before = {key: len(c.lines) for key, c in model.conversations.items()}
    assert model.presence("alice") == "online" and model.presence("dora") == "offline"
    # The server stops: Carol's session ends first (she "left" with the server), then ours.
    model.apply(UserLeft("Carol", "server shutting down", T))
    model.apply(Goodbye("server shutting down"))
    assert model.state == DISCONNECTED
    assert model.status_text() == "Disconnected · the server stopped or is restarting"
    assert {model.presence(key) for key in ("alice", "carol", ROOM)} == {"unknown"}  # grey dots
    assert ContactsChanged() in model.take_changes()  # the list is redrawn with them
    model.apply(ConnectionClosed())
    model.apply(Reconnecting(1, 0.5, "the server said goodbye"))
    assert model.status_text() == "Reconnecting in 1 s… · the server stopped or is restarting"
    assert model.presence("alice") == "unknown"
    model.apply(Reconnected(Welcome("h", "Bob", 1, "chat", 15.0), 0))
    assert model.state == CONNECTED and model.status_text() == "Connected to 127.0.0.1:5000 as Bob"
    # Alice and Carol come back a few seconds after us: their dots turn green, no "joined".
    clock.now += 5
    model.apply(UserJoined("Alice", T + 5))
    model.apply(UserJoined("Carol", T + 6))
    assert model.presence("alice") == "online" and model.presence("carol") == "online"
    added = {key: len(c.lines) - lines_before.get(key, 0) for key, c in model.conversations.items()}
    # One line, where the user is looking; nothing in the room (no "left", no "joined").
    assert added == {ROOM: 0, "alice": 1}
    assert model.conversations["alice"].lines[-1].text == "reconnected"
    # Later joins and leaves are news again.
    model.apply(UserLeft("Carol", "quit", T + 30))
    model.apply(UserJoined("Carol", T + 40))
    assert room_text(model)[-2:] == ["Carol left (quit)", "Carol joined"]


def test_a_history_the_outage_kept_away_is_asked_for_again_once_back() -> None:
    """A conversation opened while the connection was away: its history could not be
    fetched (the client was not connected). The window said so in the library's English
    ("not connected to the server (reconnecting: ...)") and never asked again: the
    earlier messages stayed missing after the reconnection. Now the history counts as not
    asked yet: the open conversation asks once the connection is back, another when opened."""
    from client.events import Reconnected, Reconnecting
    from protocol import Welcome

    model, clock = clocked_model()
    model.apply(ConnectionClosed())
    model.apply(Reconnecting(1, 0.5, "reset"))
    for key, name in (("carol", "Carol"), ("alice", "Alice")):
        model.open(key)
        assert HistoryWanted(key, name) in model.take_changes()
        model.history_not_loaded(key)  # what the fetch met: NotConnected
    assert [line.text for line in model.conversations["alice"].lines] == []  # nothing said
    model.apply(Reconnected(Welcome("h", "Bob", 1, "chat", 15.0), 0))
    wanted = [c for c in model.take_changes() if isinstance(c, HistoryWanted)]
    assert wanted == [HistoryWanted("alice", "Alice")]  # the open one, once
    model.apply(Reconnected(Welcome("h", "Bob", 1, "chat", 15.0), 0))  # it is on its way: not twice
    assert not any(isinstance(c, HistoryWanted) for c in model.take_changes())
    model.open("carol")
    assert HistoryWanted("carol", "Carol") in model.take_changes()


def test_a_join_long_after_our_reconnection_is_news_again() -> None:
    from client.events import Reconnected, Reconnecting
    from protocol import Welcome

    model, clock = clocked_model()
    model.apply(Reconnecting(1, 0.5, "reset"))
    model.apply(Reconnected(Welcome("h", "Bob", 1, "chat", 15.0), 2))
    assert model.conversations[ROOM].lines[-1].text == "reconnected; 2 messages sent again"
    model.set_online([Presence("Carol", T)])  # who(): Alice is not back
    clock.now += 3600
    model.apply(UserJoined("Alice", T + 3600))
    assert room_text(model)[-1] == "Alice joined"


def test_a_reply_goes_to_the_conversation_on_screen_and_ctrl_r_finds_the_sender(model: ChatModel) -> None:
    assert model.recipient(ROOM) == "To everyone in the room"
    assert model.reply_to is None
    model.apply(dm(1, "Alice", "are you there?"))
    model.apply(dm(2, "Bob", "a copy of our own", to="Carol"))  # ours: not someone to reply to
    assert model.reply_to == "alice" and model.active == ROOM  # nothing moves by itself
    model.open(model.reply_to)
    assert model.recipient(model.active) == "To Alice"


def test_describe_event_names_the_fields_of_a_dataclass_event() -> None:
    from client.events import Reconnecting

    assert describe_event(Reconnecting(2, 1.5, "reset")) == "Reconnecting: attempt 2, delay 1.5, reason reset"


# --- The library adapter -------------------------------------------------------------------


def test_login_errors_are_worded_for_people() -> None:
    title, text = session.login_error_text(LoginRefused("name_taken", "taken"), "Alice", "h:1")
    assert title == "Name taken" and "Alice" in text and "(name_taken)" not in text  # the sentence only
    assert session.login_error_text(LoginRefused("bad_password", "no"), "Alice", "h:1")[0] == "Wrong password"
    assert session.login_error_text(LoginRefused("auth_required", "no"), "Alice", "h:1")[0] == "Password needed"
    title, text = session.login_error_text(ServerUnreachable("connection to h:1 refused"), "Alice", "h:1")
    assert title == "Server unreachable" and text.startswith("Cannot reach the chat server at h:1.")
    assert text.endswith("Connection to h:1 refused.")
    title, text = session.login_error_text(LoginRefused("weird_code", "\x1b[2Jboom"), "A", "h:1")
    assert title == "Login refused" and "\\x1b[2Jboom" in text
    assert text.endswith("\n\n(weird_code)")  # a code no sentence explains: shown, the one clue


def test_a_login_refused_as_a_look_alike_of_a_reserved_word_says_it_is_reserved() -> None:
    """The window said "Name too much like another ... if all is yours, type it exactly so"
    of "all", which nobody holds and which typed exactly is refused too."""
    refused = LoginRefused("confusable_name", "x", like="all", reserved=True)
    assert session.login_error_text(refused, "ALI", "h:1") == (
        "Name too much like a reserved word",
        "The name ALI looks too much like all, a word reserved for the server: choose another name.")
    title, text = session.login_error_text(LoginRefused("confusable_name", "x", like="João"), "Joao", "h:1")
    assert title == "Name too much like another" and "if João is yours" in text


def test_a_login_refused_for_a_too_long_field_says_the_limit_as_the_terminal_does() -> None:
    """The window passed explain_error only retry_after, like, uncertain, until and reserved:
    a name or password the server refused as too long was said "name too long" with the
    code, in the server's English, where the terminal (login_refused_words) says the limit
    in the user's language."""
    from client.display import login_refused_words

    for refused in (LoginRefused("bad_field", "name too long", field="name", max_chars=32),
                    LoginRefused("bad_field", "password too long", field="password", max_chars=1024),
                    LoginRefused("invalid_name", "name too long", field="name", max_bytes=64)):
        title, text = session.login_error_text(refused, "Ana", "h:1")
        limit = str(refused.max_chars or refused.max_bytes)
        assert f"at most {limit}" in text and "(" + refused.code + ")" not in text, text
        assert text.rstrip(".").lower() in login_refused_words(refused, "Ana").lower(), (text, refused)


def test_a_name_the_client_refused_itself_is_said_with_its_exact_reason() -> None:
    """The login form with "Todos" (reserved: the Portuguese name of the broadcast room) or
    "Maria Souza" said "that name cannot be used: a name has letters and digits of one
    script, ... but no spaces or symbols": untrue of "Todos", and no hint for the other. The
    library refuses such a name itself with the exact reason in the user's language
    (LoginRefused local=True), which the dialog now says."""
    from client.library import ChatClient

    for name, reason in (("Todos", "the name 'Todos' is reserved"),
                         ("Maria Souza", "a name cannot contain spaces: try 'Maria_Souza'")):
        with pytest.raises(LoginRefused) as refused:
            ChatClient(name, "127.0.0.1", 9).connect(timeout=1)  # refused before any socket
        title, text = session.login_error_text(refused.value, name, "127.0.0.1:9")
        assert title == "Invalid name" and reason in text, text


def test_log_in_gives_the_library_the_password_and_survives_planned_restarts(monkeypatch) -> None:
    made: list[dict[str, object]] = []

    class Library:
        def __init__(self, name, host, port, **options):
            made.append({"name": name, "host": host, "port": port, **options})

        def connect(self, timeout, retry_until=None, on_retry=None):  # ChatClient.connect's
            return "welcome"

    monkeypatch.setattr(session, "ChatClient", Library)
    client, welcome = session.log_in("Bob", "h", 1, print, password="secret123", options={"tls": True})
    assert welcome == "welcome"
    assert made == [{"name": "Bob", "host": "h", "port": 1, "on_event": print, "password": "secret123",
                     "register": False, "reconnect_on_goodbye": True, "tls": True}]
    session.log_in("Bob", "h", 1, print, options={"reconnect_on_goodbye": False})
    assert made[-1]["password"] is None and made[-1]["reconnect_on_goodbye"] is False


# --- The bridge (a fake widget stands in for Tk's after()) -------------------------------------


class FakeWidget:
    """Runs after() callbacks when told to, like Tk's event loop would."""

    def __init__(self) -> None:
        self.pending: list[tuple[int, object]] = []

    def after(self, ms, func):
        self.pending.append((ms, func))
        return str(len(self.pending))

    def after_cancel(self, _id):
        self.pending.clear()

    def turn(self) -> int:
        ms, func = self.pending.pop(0)
        func()
        return ms


def test_bridge_hands_events_over_in_order_with_calls() -> None:
    widget = FakeWidget()
    seen: list[object] = []
    bridge = TkBridge(widget, lambda batch: seen.append(list(batch)))
    bridge.start()
    bridge.put("a")
    bridge.put("b")
    bridge.call(seen.append, "call")
    bridge.put("c")
    assert widget.turn() == bridge_module.POLL_MS
    assert seen == [["a", "b"], "call", ["c"]]
    assert widget.pending[0][0] == bridge_module.POLL_MS  # idle: back to the slow poll


def test_bridge_bounds_each_turn_and_comes_back_soon(monkeypatch) -> None:
    # The count's bound alone: a clock that stands still (the time budget has its own test
    # below); 500 items took over 20 ms on a loaded machine, and the turn ended at 88.
    monkeypatch.setattr(bridge_module.time, "perf_counter", lambda: 0.0)
    widget = FakeWidget()
    batches: list[int] = []
    bridge = TkBridge(widget, lambda batch: batches.append(len(batch)))
    bridge.start()
    for i in range(bridge_module.MAX_BATCH * 2 + 10):
        bridge.put(i)
    widget.turn()
    assert batches == [bridge_module.MAX_BATCH] and widget.pending[0][0] == 1
    widget.turn()
    widget.turn()
    assert sum(batches) == bridge_module.MAX_BATCH * 2 + 10


def test_bridge_turn_stops_at_its_time_budget(monkeypatch) -> None:
    widget = FakeWidget()
    bridge = TkBridge(widget, lambda batch: time.sleep(0))
    slow = iter(range(10**6))
    monkeypatch.setattr(bridge_module.time, "perf_counter", lambda: next(slow) * 0.001)  # 1 ms per look
    bridge.start()
    for i in range(400):
        bridge.put(i)
    widget.turn()
    assert 0 < bridge._queue.qsize() < 400 and widget.pending[0][0] == 1


def test_a_full_bridge_holds_the_producer_until_stopped(monkeypatch) -> None:
    monkeypatch.setattr(bridge_module, "MAX_QUEUED", 2)
    monkeypatch.setattr(bridge_module, "_PUT_POLL", 0.01)
    bridge = TkBridge(FakeWidget(), lambda batch: None)
    bridge.put(1)
    bridge.put(2)
    done = threading.Event()
    producer = threading.Thread(target=lambda: (bridge.put(3), done.set()))
    producer.start()
    assert not done.wait(0.1)  # back-pressure: the receiver thread waits
    bridge.stop()  # ...until the window closes: then put() gives up
    assert done.wait(2)
    producer.join(2)


def test_turn_timer_reports_the_longest_gap() -> None:
    widget = FakeWidget()
    timer = TurnTimer(widget, 10)
    timer.start()
    time.sleep(0.03)
    widget.turn()
    assert timer.max_gap >= 0.03 and timer.ticks == 1
    timer.reset()
    assert timer.max_gap == 0.0


# --- Screenshots without ImageMagick ----------------------------------------------------------


def _xwd(width: int, height: int, pixels: list[tuple[int, int, int]]) -> bytes:
    name = b"root\x00"
    header_size = 100 + len(name)
    bytes_per_line = width * 4
    header = struct.pack(">25I", header_size, 7, 2, 24, width, height, 0, 0, 32, 0, 32, 32, bytes_per_line,
                         4, 0xFF0000, 0x00FF00, 0x0000FF, 8, 256, 0, width, height, 0, 0, 0)
    body = b"".join(bytes((b, g, r, 0)) for r, g, b in pixels)  # LSBFirst: B G R X
    return header + name + body


def test_xwd_image_becomes_a_png() -> None:
    pixels = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30)]
    width, height, rgb = xwd_to_rgb(_xwd(2, 2, pixels))
    assert (width, height) == (2, 2) and rgb == bytes(c for p in pixels for c in p)
    assert crop(width, height, rgb, 1, 0, 5, 5) == (1, 2, bytes((0, 255, 0, 10, 20, 30)))
    png = png_bytes(width, height, rgb)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    idat = png[png.index(b"IDAT") + 4: png.index(b"IEND") - 8]
    assert zlib.decompress(idat) == b"\x00" + rgb[:6] + b"\x00" + rgb[6:]
    with pytest.raises(ValueError):
        xwd_to_rgb(b"nonsense")




def test_history_shows_read_when_the_read_came_before_the_page() -> None:
    """The server follows a history page with the peer's "read" (PROTOCOL.md, "read");
    the window fetches the page on a worker thread, so the read may reach the model
    first: our messages in the page it covers show "✓✓ read", as they did live and as
    the web page shows them, not "✓✓ delivered"."""
    from protocol import Read

    model = ChatModel("Bob")
    model.apply(Read("Bob", 3, "Alice"))  # Alice has read Bob's messages up to 3
    model.add_history("Alice", [HistoryEntry(2, "Bob", "Alice", "leu?", 1.0, "delivered"),
                                HistoryEntry(3, "Bob", "Alice", "e esta?", 2.0, "delivered"),
                                HistoryEntry(4, "Alice", "Bob", "li sim", 3.0, "delivered"),
                                HistoryEntry(5, "Bob", "Alice", "ótimo", 4.0, "delivered")])
    assert [line.label for line in model.conversations["alice"].lines] == [
        "✓✓ read", "✓✓ read", "", "✓✓ delivered"]


def test_the_broadcast_rooms_subtitle_agrees_with_its_count_in_portuguese() -> None:
    # "sala geral · 1 conectados": the count was put in a plural whatever it was.
    import i18n
    from client.gui.model import broadcast_subtitle
    try:
        i18n.use("pt_BR")
        assert broadcast_subtitle(1) == "sala geral · 1 pessoa online"
        assert broadcast_subtitle(3) == "sala geral · 3 pessoas online"
        assert broadcast_subtitle(1, short=True) == "1 pessoa online"  # for a narrow header
    finally:
        i18n.use("en")
    assert broadcast_subtitle(1) == "broadcast room · 1 online"
    assert broadcast_subtitle(2, short=True) == "2 online"


def test_a_message_deleted_before_it_came_shows_as_deleted_not_as_an_empty_bubble(model: ChatModel) -> None:
    # The dm of a message its sender deleted before we got it says so (PROTOCOL.md "dm"):
    # the line showed an empty text (and counted as unread) until the "deleted" came.
    from protocol import Deleted
    model.apply(DirectMessage(7, "Alice", "Bob", "", T, True))
    line = model.conversations["alice"].lines[-1]
    assert (line.deleted, line.shown_text) == (True, "(this message was deleted)")
    assert model.contacts["alice"].unread == 0
    model.apply(Deleted(7, "Alice", "Bob", T))  # told at login after it: the same line, unchanged
    assert [each.shown_text for each in model.conversations["alice"].lines if each.msg_id == 7] == \
        ["(this message was deleted)"]


def test_a_persons_header_shows_their_registry_entry_while_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The class's assignment is the registry (address, port, online since): the terminal's
    /whois showed it, the window's header only "online". The window asks (a lookup) when a
    person's conversation opens; the entry goes when they leave, and a new one is asked."""
    from client.gui.model import ChatModel
    from protocol import LookupResult, UserJoined, UserLeft
    model = ChatModel("Professora")
    model.apply(UserJoined("João", 1.0))
    assert model.where_text("joão") == ""
    # The header says the time alone for today (a date otherwise): the clock stopped at
    # today's noon, so that no midnight falls between "today" here and the drawing.
    from noonzone import local_time, stop_clock_at_noon
    stop_clock_at_noon(monkeypatch)
    at = local_time(9, 2)
    model.set_where(LookupResult("1", "João", "online", "192.168.1.31", 50412, at))
    assert model.where_text("joão") == f"192.168.1.31:50412 · online since {time.strftime('%H:%M', time.localtime(at))}"
    model.apply(UserLeft("João", "quit", 2.0))
    assert model.where_text("joão") == ""
    model.set_where(LookupResult("2", "Ninguém", "unknown"))  # nobody to show: nothing changes
    assert model.where_text("ninguém") == ""


def test_a_persons_header_leaves_out_what_matters_least_to_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    """At the window's minimum width "192.168.1.31:50412 · online since 09:02" ran past its
    right edge. The header shows the first of the person's subtitles that fits (fit_first):
    the port left out first, then when they came, the address alone; blocked: that it is,
    then what it does; what does not fit at all is cut with "…" (a room's topic's rule)."""
    from client.gui.model import ChatModel, fit_first
    from protocol import LookupResult, UserJoined
    from noonzone import local_time, stop_clock_at_noon
    stop_clock_at_noon(monkeypatch)
    at = local_time(9, 2)
    when = time.strftime("%H:%M", time.localtime(at))
    model = ChatModel("Professora")
    model.apply(UserJoined("João", 1.0))
    model.apply(UserJoined("Ana", 1.0))
    assert model.person_subtitle("ana") == ("online",)  # nothing looked up yet
    assert model.person_subtitle("ninguém") == ("offline",)
    model.set_where(LookupResult("1", "João", "online", "192.168.1.31", 50412, at))
    forms = model.person_subtitle("joão")
    assert forms == (f"192.168.1.31:50412 · online since {when}", f"192.168.1.31 · online since {when}",
                     "192.168.1.31")
    assert forms[0] == model.where_text("joão")  # the whole, as /whois says it
    assert [fit_first(forms, width, len) for width in (100, len(forms[0]), len(forms[1]), 30, 12, 10, 1)] == [
        forms[0], forms[0], forms[1], "192.168.1.31", "192.168.1.31", "192.168.1…", ""]
    assert fit_first(forms) == forms[0]  # not laid out yet: all of it
    model.set_where(LookupResult("2", "Ana", "online", "2001:db8::1", 50413, at))
    assert model.person_subtitle("ana")[:3:2] == (f"[2001:db8::1]:50413 · online since {when}", "2001:db8::1")
    model.blocks_listed(["João"])
    assert model.person_subtitle("joão") == ("online · blocked: their messages do not reach you", "online · blocked")


def test_the_open_conversations_person_is_looked_up_again_when_they_come_back() -> None:
    """A tester had Conceição's conversation open in the window, her address under her
    name; after a server restart the header read just "Conceição  online", until another
    conversation was opened and hers again. The window looks a person up when their
    conversation opens; the model now asks it again (:class:`WhereWanted`) when that
    person comes online while it is open: a "joined" (a new connection, maybe on another
    node), or an answer of "who" or "watch" that lists them. After a reconnection of our
    own, what we knew of anyone's connection is gone and the open one is asked again."""
    from client.events import Reconnected, Reconnecting
    from client.gui.changes import WhereWanted
    from protocol import LookupResult, UserJoined, UserLeft, Watching, Welcome
    model, _clock = clocked_model()

    def wanted() -> list:
        return [change for change in model.take_changes() if isinstance(change, WhereWanted)]

    model.open("alice")
    model.set_where(LookupResult("1", "Alice", "online", "127.0.0.1", 50908, T))
    model.take_changes()
    assert model.where_text("alice").startswith("127.0.0.1:50908 · online since ")
    model.apply(UserLeft("Alice", "quit", T))
    model.apply(UserJoined("Alice", T))
    assert wanted() == [WhereWanted("alice")]
    assert model.where_text("alice") == ""  # the old connection's, until the answer
    model.set_where(LookupResult("2", "Alice", "online", "127.0.0.1", 50999, T))
    assert model.where_text("alice").startswith("127.0.0.1:50999 · online since ")
    model.apply(UserJoined("Carol", T))  # not the conversation on screen
    assert wanted() == []

    # Told by the answers to "watch" and "who" (a quiet room, a reconnection).
    model.apply(UserLeft("Alice", "quit", T))
    model.apply(Watching("w", (Presence("Alice", T),), ()))
    assert wanted() == [WhereWanted("alice")]
    model.apply(Watching("w", (Presence("Alice", T),), ()))  # online already: nothing new
    assert wanted() == []
    model.apply(UserLeft("Alice", "quit", T))
    model.set_online([Presence("Alice", T)])
    assert wanted() == [WhereWanted("alice")]

    model.set_where(LookupResult("3", "Alice", "online", "127.0.0.1", 51000, T))
    model.apply(Reconnecting(1, 1.0))
    model.apply(Reconnected(Welcome("h", "Bob", 1, "chat", 15.0), 0))
    assert wanted() == [WhereWanted("alice")]
    model.set_state(CONNECTED)
    assert model.where_text("alice") == ""  # the server restarted meanwhile, maybe
    model.open("carol")  # the window looks up whom it opens itself
    model.apply(Reconnecting(1, 1.0))
    model.apply(Reconnected(Welcome("h", "Bob", 1, "chat", 15.0), 0))
    assert wanted() == [WhereWanted("carol")]
    model.open(ROOM)
    model.apply(UserLeft("Alice", "quit", T))
    model.apply(UserJoined("Alice", T))
    model.apply(Reconnecting(1, 1.0))
    model.apply(Reconnected(Welcome("h", "Bob", 1, "chat", 15.0), 0))
    assert wanted() == []  # nobody's conversation is open


def test_our_message_stays_editable_for_its_window_though_the_wall_clock_stepped_back() -> None:
    """The window counts from when the server took our message on the model's monotonic
    clock too: the wall clock stepped an hour back (NTP, a laptop's clock set) since it was
    written kept Edit an hour past the window (the server refusing). A move forward of
    the wall clock counts (the monotonic clock stands still while the computer sleeps)."""
    from client.outgoing import OutgoingMessage

    for step in (-3600.0, 3600.0):
        model, clock = clocked_model()
        model.open("alice")
        line = model.sent(OutgoingMessage("r1", "Alice", "oi"))
        line.at -= step  # written by the wall clock before it stepped
        model.update("r1", "sent", None, 11)
        clock.now += 60.0
        if step > 0:  # slept an hour, or stepped forward: the same to a clock
            assert model.editable("alice") is None
            continue
        assert model.editable("alice") is line
        clock.now += const.EDIT_WINDOW
        assert model.editable("alice") is None


def test_typing_shown_before_the_computer_slept_is_gone_when_it_wakes(model: ChatModel,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The window's clock of waits counts a sleep (client/clock.py): the monotonic clock
    stood still while the lid was closed, so "Alice is typing…" came back with the
    window for up to TYPING_EXPIRES, twenty minutes after she stopped."""
    from client.gui.model import key_of
    from protocol import Typing

    model.apply(Typing("Bob", "Alice"))
    key = key_of("Alice")
    assert model.typing_text(key) == "Alice is typing…"
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 1200.0)  # twenty minutes asleep
    assert model.typing_text(key) == ""


def test_a_session_the_server_ended_for_silence_is_not_called_an_error_in_either_language() -> None:
    """A laptop that slept comes back to the server's word that it heard nothing for too
    long: the window said "The server reported an error: the server closed the
    connection: ...", as if something had gone wrong; the terminal says the reason alone."""
    import i18n

    for language, said in (("en", "The server closed the connection: it heard nothing from this client for too long"),
                           ("pt_BR", "O servidor fechou a conexão: não recebeu nada deste cliente por tempo demais")):
        i18n.use(language)
        try:
            model, _clock = clocked_model()
            model.apply(ErrorReply(ErrorCode.HEARTBEAT_TIMEOUT, "closing: nothing received for 46 s"))
            assert [line.text for line in model.conversations[model.active].lines] == [said]
        finally:
            i18n.use("en")


def test_a_watched_contact_nobody_has_is_said_so_until_they_come() -> None:
    """The answer to a watch says which names nobody has (``unknown``): the window's list
    and header say so of such a contact (not "offline" forever); their login undoes it."""
    from client.gui.model import NOBODY, OFFLINE, ONLINE
    from protocol import Presence, UserJoined, Watching
    model = ChatModel("Alice")
    model.set_state(CONNECTED)
    model.open("Zed")
    model.open("Bob")
    model.apply(Watching("w", (), ("Bob",), ("zed",)))
    assert (model.presence("zed"), model.presence("bob")) == (NOBODY, OFFLINE)
    assert model.person_subtitle("zed") == ("nobody by that name has logged in here",)
    assert model.person_subtitle("bob") == ("offline",)
    model.apply(UserJoined("Zed", 5.0))
    assert model.presence("zed") == ONLINE
    model.apply(Watching("w2", (Presence("Bob", 6.0),), ("Zed",), ()))  # an older server's way: offline
    assert (model.presence("zed"), model.presence("bob")) == (OFFLINE, ONLINE)

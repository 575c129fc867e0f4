"""Put out (kicked or banned) of the room plain lines go to, the terminal keeps them going
there and says what to do, as IRC clients do: a line typed as the kick comes (an angry
answer meant for #redes, a private room) must not go to everyone on the server. Until we
are seen in the room again, a plain line to it is refused here, nothing sent, with the
same words; /leave of it moves plain lines to the default room without asking the server
(which would refuse it: we are not a member). It went to the default room by itself.

Without a connection: the library's calls are stand-ins, and the server's notices are
fed to the terminal as the receiver thread feeds them. (In a real terminal:
tests/integration/test_client_tmux_rooms.py.)
"""

from __future__ import annotations

import io
import threading
import time

import pytest

import i18n
from client.exitcodes import ExitCode
from client.outgoing import SENT, MessageUpdate, OutgoingMessage
from client.terminal import TerminalUI
from client.events import Reconnected
from protocol import RoomInfo, RoomNotice, Welcome


@pytest.fixture(autouse=True)
def english_after():
    yield
    i18n.use("en")


class _Input(io.StringIO):
    """Piped input whose next line is read once the "server" has answered the message
    of the line before it (and sent what came after it), as a person types after seeing it."""

    answering: threading.Thread | None = None

    def readline(self, *args) -> str:  # type: ignore[override]
        if self.answering is not None:
            self.answering.join(5.0)
        return super().readline(*args)


def _pipe(typed: str, monkeypatch: pytest.MonkeyPatch, notices: dict[str, list]) -> tuple[TerminalUI, io.StringIO,
                                                                                         list]:
    """A pipe terminal reading ``typed``; what it asked the "server" (("join", room),
    ("leave", room), ("say", text), ("post", room, text)). The "server" takes every
    message, and after a message whose text is a key of ``notices``, the events of its
    value come, as from the receiver thread."""
    out, given = io.StringIO(), _Input(typed)
    ui = TerminalUI("Bob", "127.0.0.1", 9, timeout=5.0, stdin=given, stdout=out,
                    stderr=io.StringIO(), interactive=False)
    asked: list = []

    def answer(message: OutgoingMessage) -> None:
        with ui._event_lock:  # (once the terminal has put the message among those awaited)
            message._advance(SENT, msg_id=len(asked))
            ui._on_event(MessageUpdate(message, SENT))
            for event in notices.get(message.text, ()):
                ui._on_event(event)

    def sent(message: OutgoingMessage) -> OutgoingMessage:
        message.submitted = True
        given.answering = threading.Thread(target=answer, args=(message,), daemon=True)
        given.answering.start()
        return message

    def join(room: str, timeout: float) -> RoomInfo:
        asked.append(("join", room))
        return RoomInfo("1", room, 2, owner="Olga")

    def leave(room: str, timeout: float) -> None:
        asked.append(("leave", room))

    def send_room(text: str) -> OutgoingMessage:
        asked.append(("say", text))
        return sent(OutgoingMessage(f"r{len(asked)}", None, text))

    def send_to_room(room: str, text: str) -> OutgoingMessage:
        asked.append(("post", room, text))
        return sent(OutgoingMessage(f"r{len(asked)}", None, text, room=room))

    monkeypatch.setattr(ui.client, "join", join)
    monkeypatch.setattr(ui.client, "leave", leave)
    monkeypatch.setattr(ui.client, "send_room", send_room)
    monkeypatch.setattr(ui.client, "send_to_room", send_to_room)
    monkeypatch.setattr(ui.client, "watch_soon", lambda names: None)
    return ui, out, asked


def _notice(act: str, room: str = "#redes", name: str = "Bob", **more) -> RoomNotice:
    return RoomNotice(room, act, name, time.time(), **more)


KICK = _notice("kick", by="Olga", reason="chato")


def test_kicked_plain_lines_still_go_to_the_room_and_are_refused_there_with_what_to_do(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The line after the kick went to everyone (the default room): it is refused, nothing
    sent, and the kick's line and the refusal say what /all and /join do."""
    ui, out, asked = _pipe("/join #redes\nfirst\nangry answer\n", monkeypatch, {"first": [KICK]})
    assert ui._loop() == ExitCode.REFUSED
    assert asked == [("join", "#redes"), ("post", "#redes", "first")], asked
    assert out.getvalue().splitlines()[1:] == [
        "✓ sent to #redes: first",
        "* Olga put you out of #redes (chato)",
        "* you are no longer in #redes: /all sends plain lines to everyone, /join #redes takes you back",
        "✗ not sent to #redes: angry answer — you are no longer in #redes: /all sends plain lines to everyone, "
        "/join #redes takes you back"]


def test_leave_of_the_room_one_was_put_out_of_moves_plain_lines_without_asking_the_server(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """/leave was refused by the server (not a member); /deixar the same."""
    ui, out, asked = _pipe("/join #redes\nfirst\n/leave\nto everyone\n", monkeypatch, {"first": [KICK]})
    assert ui._loop() == ExitCode.OK
    assert asked == [("join", "#redes"), ("post", "#redes", "first"), ("say", "to everyone")], asked
    assert out.getvalue().splitlines()[4:] == ["* you are no longer in #redes; plain lines now go to the room",
                                               "✓ sent to the room: to everyone"]


def test_banned_the_words_do_not_offer_a_join_that_the_ban_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    ui, out, asked = _pipe("/join #redes\nfirst\nangry\n", monkeypatch,
                           {"first": [_notice("ban", by="Olga", reason="spam")]})
    assert ui._loop() == ExitCode.REFUSED
    assert out.getvalue().splitlines()[2:] == [
        "* Olga banned you from #redes (spam)",
        "* you are no longer in #redes: /all sends plain lines to everyone",
        "✗ not sent to #redes: angry — you are no longer in #redes: /all sends plain lines to everyone"]


def test_back_in_the_room_plain_lines_go_there_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A /join here, a join of ours seen from another device, or a reconnection (the server
    knows, then: a refusal is its) end the refusal here."""
    back = Reconnected(Welcome("h", "Bob", 2, "chat", 15.0))
    for typed, events in (("/join #redes\n", []), ("", [_notice("joined")]), ("", [back])):
        ui, out, asked = _pipe(f"/join #redes\nfirst\n{typed}again\n", monkeypatch, {"first": [KICK, *events]})
        monkeypatch.setattr(ui, "_ask_who_is_online", lambda: None)
        monkeypatch.setattr(ui._catch_up, "start", lambda: None)
        assert ui._loop() == ExitCode.OK, out.getvalue()
        assert asked[-1] == ("post", "#redes", "again"), (typed, events, asked)


def test_put_out_of_another_room_says_nothing_of_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    ui, out, asked = _pipe("/join #redes\nfirst\nsecond\n", monkeypatch, {"first": [_notice("kick", "#bd", by="Olga")]})
    assert ui._loop() == ExitCode.OK
    assert asked[-1] == ("post", "#redes", "second")
    assert "plain lines" not in out.getvalue()


def test_the_words_in_portuguese(monkeypatch: pytest.MonkeyPatch) -> None:
    i18n.use("pt_BR")
    ui, out, asked = _pipe("/entrar #redes\nfirst\nbravo\n/deixar\n", monkeypatch, {"first": [KICK]})
    ui._loop()
    assert out.getvalue().splitlines()[2:] == [
        "* Olga pôs você para fora de #redes (chato)",
        "* você não está mais em #redes: /todos manda o que você digitar para todos, /entrar #redes leva você de "
        "volta",
        "✗ não enviada para #redes: bravo — você não está mais em #redes: /todos manda o que você digitar para todos, "
        "/entrar #redes leva você de volta",
        "* você não está mais em #redes; agora o que você digitar vai para a sala"]


def test_the_prompt_says_plain_lines_go_to_a_room_one_is_out_of(monkeypatch: pytest.MonkeyPatch) -> None:
    ui, out, asked = _pipe("/join #redes\nfirst\n", monkeypatch, {"first": [KICK]})
    ui._loop()
    assert ui._screen._prompt() == "[out of #redes]> "


LEFT_ELSEWHERE = _notice("left")  # Bob's own leave, made on his phone: no /leave typed here
ELSEWHERE_WORDS = "you left #redes on another device: /all sends plain lines to everyone, /join #redes takes you back"


def test_left_on_another_device_plain_lines_stay_and_are_refused_here_as_after_a_kick(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same account on two devices: left on the phone, the terminal still sent plain
    lines to #redes, each refused by the server (not a member), nothing said before. Now it
    is treated as the kick is: the room stays where plain lines go, the prompt says out of
    it, and a line there is refused here with what to do, worded for the other device."""
    ui, out, asked = _pipe("/join #redes\nfirst\nstill here?\n", monkeypatch, {"first": [LEFT_ELSEWHERE]})
    assert ui._loop() == ExitCode.REFUSED
    assert asked == [("join", "#redes"), ("post", "#redes", "first")], asked
    assert out.getvalue().splitlines()[1:] == [
        "✓ sent to #redes: first",
        f"* {ELSEWHERE_WORDS}",
        f"✗ not sent to #redes: still here? — {ELSEWHERE_WORDS}"]
    assert ui._screen._prompt() == "[out of #redes]> "


def test_left_on_another_device_a_room_plain_lines_do_not_go_to_is_said_once(monkeypatch: pytest.MonkeyPatch) -> None:
    ui, out, asked = _pipe("/join #redes\nfirst\n@#bd hi\nsecond\n", monkeypatch, {"first": [_notice("left", "#bd")]})
    assert ui._loop() == ExitCode.REFUSED
    assert asked[-1] == ("post", "#redes", "second"), asked
    assert out.getvalue().splitlines()[2:4] == [
        "* you left #bd on another device",
        "✗ not sent to #bd: hi — you left #bd on another device: /all sends plain lines to everyone, "
        "/join #bd takes you back"]


def test_a_leave_typed_here_is_not_taken_for_another_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server answers a leave, then tells the room (and every session of ours) "left":
    that notice, however late, is this /leave's, not another device's."""
    ui, out, asked = _pipe("/join #redes\n/leave\nfirst\n", monkeypatch, {})
    leave = ui.client.leave

    def leave_then_told(room: str, timeout: float) -> None:
        leave(room, timeout)
        ui._on_event(LEFT_ELSEWHERE)  # (the receiver thread may show it before /leave's line)

    monkeypatch.setattr(ui.client, "leave", leave_then_told)
    assert ui._loop() == ExitCode.OK
    assert asked[-1] == ("say", "first"), asked
    assert "another device" not in out.getvalue(), out.getvalue()


def test_left_on_another_device_in_portuguese(monkeypatch: pytest.MonkeyPatch) -> None:
    i18n.use("pt_BR")
    ui, out, asked = _pipe("/entrar #redes\nfirst\nbravo\n", monkeypatch, {"first": [LEFT_ELSEWHERE]})
    ui._loop()
    assert out.getvalue().splitlines()[2:] == [
        "* você saiu de #redes em outro dispositivo: /todos manda o que você digitar para todos, /entrar #redes leva "
        "você de volta",
        "✗ não enviada para #redes: bravo — você saiu de #redes em outro dispositivo: /todos manda o que você digitar "
        "para todos, /entrar #redes leva você de volta"]
    assert ui._screen._prompt() == "[fora de #redes]> "


def test_leaving_a_room_plain_lines_do_not_go_to_says_nothing_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """/leave #redes with plain lines going to #bd said "plain lines go to the room", and the
    next line went to #bd all the same."""
    ui, out, asked = _pipe("/join #redes\n/join #bd\n/leave #redes\nhello bd\n/leave\n", monkeypatch, {})
    assert ui._loop() == ExitCode.OK
    assert asked[-1] == ("leave", "#bd") and ("post", "#bd", "hello bd") in asked, asked
    lines = out.getvalue().splitlines()
    assert lines[2:] == ["* you left #redes", "✓ sent to #bd: hello bd",
                         "* you left #bd; plain lines go to the room"], lines
    i18n.use("pt_BR")
    ui, out, asked = _pipe("/entrar #redes\n/entrar #bd\n/deixar #redes\n", monkeypatch, {})
    ui._loop()
    assert out.getvalue().splitlines()[-1] == "* você saiu de #redes", out.getvalue()


def test_a_leave_answered_unsure_then_told_done_is_not_taken_for_another_devices(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """/leave answered "unavailable", not sure whether it was done (a cluster node that lost
    Redis on the way), then the "left" notice: it was done after all, by this /leave. It was
    said as "you left #redes on another device", and plain lines stayed refused for it."""
    from client.errors import RequestFailed
    ui, out, asked = _pipe("/join #redes\n/leave\nfirst\n", monkeypatch, {})

    def leave_unsure_then_told(room: str, timeout: float) -> None:
        asked.append(("leave", room))
        ui._on_event(LEFT_ELSEWHERE)  # (the receiver thread may show it before /leave's line)
        raise RequestFailed("unavailable", "not sure", 1.0, uncertain=True)

    monkeypatch.setattr(ui.client, "leave", leave_unsure_then_told)
    ui._loop()
    said = out.getvalue()
    assert "another device" not in said and asked[-1] == ("say", "first"), (said, asked)


def test_a_leave_answered_unsure_and_told_done_later_says_so_and_moves_plain_lines(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from client.errors import RequestFailed
    ui, out, asked = _pipe("/join #redes\n/leave\nfirst\nsecond\n", monkeypatch, {"first": [LEFT_ELSEWHERE]})

    def leave_unsure(room: str, timeout: float) -> None:
        asked.append(("leave", room))
        raise RequestFailed("unavailable", "not sure", 1.0, uncertain=True)

    monkeypatch.setattr(ui.client, "leave", leave_unsure)
    ui._loop()
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("! /leave failed: ") and lines[2:] == [
        "✓ sent to #redes: first",  # (not known to be out yet: it went where plain lines go)
        "* you left #redes after all: the server did the /leave it could not confirm; plain lines go to the room",
        "✓ sent to the room: second"], lines
    assert asked[-1] == ("say", "second"), asked


def _leave_timed_out_then(ui: TerminalUI, out: io.StringIO, asked: list, monkeypatch: pytest.MonkeyPatch,
                          *events) -> None:
    """/leave gets no answer in time (RequestTimeout); once its line is out, ``events`` come,
    as from the receiver thread (the next line typed is read after them)."""
    from client.errors import RequestTimeout

    def feed() -> None:
        deadline = time.monotonic() + 5.0
        while "/leave failed" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)  # (waits on the condition: the /leave's line is printed)
        with ui._event_lock:
            for event in events:
                ui._on_event(event)

    def leave_timed_out(room: str, timeout: float) -> None:
        asked.append(("leave", room))
        ui._stdin.answering = threading.Thread(target=feed, daemon=True)
        ui._stdin.answering.start()
        raise RequestTimeout("no answer")

    monkeypatch.setattr(ui.client, "leave", leave_timed_out)


def test_a_leave_timed_out_and_answered_done_late_moves_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The late answer said "you left #redes", then the next plain line went to #redes all
    the same (refused by the server: not a member)."""
    from client.events import AnsweredLate
    from protocol import LeaveRoom
    ui, out, asked = _pipe("/join #redes\n/leave\nfirst\n", monkeypatch, {})
    _leave_timed_out_then(ui, out, asked, monkeypatch,
                          AnsweredLate("leave", True, asked=LeaveRoom("7", "#redes")), LEFT_ELSEWHERE)
    assert ui._loop() == ExitCode.OK, out.getvalue()
    lines = out.getvalue().splitlines()
    assert asked[-1] == ("say", "first"), (asked, lines)
    assert lines[1].startswith("! /leave failed: ") and lines[2:] == [
        "* the server's answer came late: you left #redes; plain lines go to the room",
        "✓ sent to the room: first"], lines


def test_a_leave_timed_out_and_refused_late_lets_another_devices_leave_be_said(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A timed-out /leave refused late left #redes marked as leaving here: a leave made later
    on the phone went unmentioned, and plain lines went on to #redes, refused by the server."""
    from client.events import AnsweredLate
    from protocol import LeaveRoom
    ui, out, asked = _pipe("/join #redes\n/leave\nfirst\nsecond\n", monkeypatch, {"first": [LEFT_ELSEWHERE]})
    _leave_timed_out_then(ui, out, asked, monkeypatch,
                          AnsweredLate("leave", False, "unavailable", "busy", asked=LeaveRoom("7", "#redes")))
    ui._loop()
    lines = out.getvalue().splitlines()
    assert asked[-1] == ("post", "#redes", "first"), (asked, lines)
    assert lines[3:] == [
        "✓ sent to #redes: first",
        f"* {ELSEWHERE_WORDS}",
        f"✗ not sent to #redes: second — {ELSEWHERE_WORDS}"], lines


UNCONFIRMED_LEAVE_WORDS = ("the server's answer came late but could not confirm that you left #redes: it stays "
                           "among your rooms unless a notice says you left; you may leave it again")


def test_a_leave_timed_out_and_answered_late_as_unconfirmed_keeps_the_room_and_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A timed-out /leave answered late with "unavailable, cannot tell whether it was done":
    it was said as "that was not done in #redes" (not known), or, before the library handed
    it on, not at all, the room held as being left. Now: the room stays ours (plain lines go
    on to it), the line says the leave could not be confirmed, and a leave made later on
    the phone is said as the phone's."""
    from client.events import AnsweredLate
    from protocol import LeaveRoom
    ui, out, asked = _pipe("/join #redes\n/leave\nfirst\nsecond\n", monkeypatch, {"first": [LEFT_ELSEWHERE]})
    _leave_timed_out_then(ui, out, asked, monkeypatch,
                          AnsweredLate("leave", False, "unavailable", "redis", asked=LeaveRoom("7", "#redes"),
                                       uncertain=True))
    ui._loop()
    lines = out.getvalue().splitlines()
    assert asked[-1] == ("post", "#redes", "first"), (asked, lines)
    assert lines[2:] == [
        f"! {UNCONFIRMED_LEAVE_WORDS}",
        "✓ sent to #redes: first",
        f"* {ELSEWHERE_WORDS}",
        f"✗ not sent to #redes: second — {ELSEWHERE_WORDS}"], lines

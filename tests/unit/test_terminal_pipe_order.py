"""A pipe's answers come in the order of the lines they answer (client/terminal.py): a
line that the terminal answers itself (a mistake, a refusal before sending, a command's
answer) waits until the messages of the lines before it have had their first answer from
the server (``✓ sent``, ``✓ queued``, ``✗ not sent``), for at most ``--timeout``.

Without a connection: the library's calls are stand-ins, and the server's answers are
fed to the terminal from a thread of the test's, as the receiver thread feeds them.
(With a real server: tests/integration/test_client_scripted.py.)
"""

from __future__ import annotations

import io
import threading
import time

import pytest

from client.exitcodes import ExitCode
from client.outgoing import DELIVERED, FAILED, SENT, MessageUpdate, OutgoingMessage
from client.terminal import TerminalUI

# The server's answer comes this long after the message is written: long enough for the
# terminal to read and answer the next line in the meantime, as it did.
ANSWER_DELAY = 0.3


def _pipe(typed: str, monkeypatch: pytest.MonkeyPatch, timeout: float = 5.0,
          delay: float | None = ANSWER_DELAY) -> tuple[TerminalUI, io.StringIO, list[threading.Thread]]:
    """A pipe terminal with ``typed`` as its input whose sends the "server" answers
    ``delay`` seconds later (None: never), sent and then delivered, on a thread of its own;
    and its stdout."""
    out = io.StringIO()
    ui = TerminalUI("Alice", "127.0.0.1", 9, timeout=timeout, stdin=io.StringIO(typed), stdout=out,
                    stderr=io.StringIO(), interactive=False)
    answering: list[threading.Thread] = []

    def answer(message: OutgoingMessage) -> None:
        time.sleep(delay)
        for state in (SENT, DELIVERED):
            message._advance(state, msg_id=7)
            ui._on_event(MessageUpdate(message, state))

    def send_direct(to: str, text: str) -> OutgoingMessage:
        message = OutgoingMessage(f"r{len(answering)}", to, text)
        message.submitted = True
        if delay is not None:
            answering.append(threading.Thread(target=answer, args=(message,), daemon=True))
            answering[-1].start()
        return message

    monkeypatch.setattr(ui.client, "send_direct", send_direct)
    monkeypatch.setattr(ui.client, "watch_soon", lambda names: None)
    return ui, out, answering


def test_a_mistake_is_said_after_the_answer_to_the_message_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """'@Bob hi', '/nonsense': the unknown command was said first, then '✓ sent to Bob: hi'."""
    ui, out, answering = _pipe("@Bob hi\n/nonsense\n@Bob second\n@Bob\n", monkeypatch)
    ui._loop()
    for thread in answering:
        thread.join(5)
    lines = out.getvalue().splitlines()
    first = [line for line in lines if not line.startswith("✓✓")]  # each line's first answer
    assert [line.split(":")[0] for line in first] == [
        "✓ sent to Bob", "! unknown command '/nonsense'", "✓ sent to Bob", "! nothing to send to Bob"], lines


def test_a_refusal_before_sending_waits_for_the_answer_before_it_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A message the client refuses itself (too long) is said at once on the main thread."""
    ui, out, answering = _pipe("@Bob hi\n@Bob " + "x" * 4001 + "\n", monkeypatch)
    real = ui.client.send_direct

    def refuses_long(to: str, text: str) -> OutgoingMessage:
        if len(text) <= 4000:
            return real(to, text)
        message = OutgoingMessage("long", to, text)
        message._fail("message_too_large", "too long")
        return message

    monkeypatch.setattr(ui.client, "send_direct", refuses_long)
    ui._loop()
    first = [line for line in out.getvalue().splitlines() if not line.startswith("✓✓")]
    assert first[0] == "✓ sent to Bob: hi" and first[1].startswith("✗ not sent to Bob: xxx"), first


def test_an_answer_that_does_not_come_holds_the_next_line_for_the_timeout_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Never forever: after --timeout the line is answered, and the late answer is said
    when it comes (here while the end of the input waits for the delivery)."""
    ui, out, answering = _pipe("@Bob hi\n/nonsense\n", monkeypatch, timeout=0.5, delay=0.8)
    started = time.monotonic()
    ui._loop()  # the unknown command at 0.5 s, the answer at 0.8 s, the end by 1.0 s
    answering[0].join(5)
    assert time.monotonic() - started < 3.0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("! unknown command '/nonsense'"), lines
    assert lines[1:] == ["✓ sent to Bob: hi", "✓✓ delivered to Bob: hi"], lines


def test_a_message_failed_before_a_line_is_answered_by_its_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection ended under the message: its ✗ line is its answer (no wait)."""
    ui, out, _ = _pipe("@Bob hi\n/nonsense\n", monkeypatch, timeout=30.0, delay=None)
    real = ui.client.send_direct

    def fails_soon(to: str, text: str) -> OutgoingMessage:
        message = real(to, text)

        def fail() -> None:
            time.sleep(ANSWER_DELAY)
            message._fail("connection_lost", "the connection ended before the server acknowledged the message")
            ui._on_event(MessageUpdate(message, FAILED, message.error))

        threading.Thread(target=fail, daemon=True).start()
        return message

    monkeypatch.setattr(ui.client, "send_direct", fails_soon)
    started = time.monotonic()
    ui._loop()
    assert time.monotonic() - started < 10.0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("✗ not sent to Bob: hi") and lines[1].startswith("! unknown command"), lines


def _answered_by_name(monkeypatch: pytest.MonkeyPatch, ui: TerminalUI, delays: dict[str, float | None]) -> list:
    """The "server" answers a message to a name in ``delays`` after that long: "João"
    accepted (once stored), "Pedro" refused (nobody by that name, at once); None: never."""
    threads: list[threading.Thread] = []

    def answer(message: OutgoingMessage) -> None:
        time.sleep(delays[message.to])
        if message.to == "Pedro":
            message._fail("unknown_recipient", "nobody called Pedro has ever logged in here")
            ui._on_event(MessageUpdate(message, FAILED, message.error))
            return
        for state in (SENT, DELIVERED):
            message._advance(state, msg_id=int(message.request_id[1:]))
            ui._on_event(MessageUpdate(message, state))

    def send_direct(to: str, text: str) -> OutgoingMessage:
        message = OutgoingMessage(f"r{len(threads) + 1}", to, text)
        message.submitted = True
        if delays[to] is not None:
            threads.append(threading.Thread(target=answer, args=(message,), daemon=True))
            threads[-1].start()
        return message

    monkeypatch.setattr(ui.client, "send_direct", send_direct)
    return threads


def test_the_servers_answers_to_two_messages_come_in_the_order_of_their_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server refuses a message at once and accepts one once it is stored: "✗ not sent
    to Pedro: dois" came before "✓ sent to João: um" of the line above it (seen with a real
    server in 14 runs out of 15). The refusal's line waits for the answer above it."""
    ui, out, _ = _pipe("@João um\n@Pedro dois\n@João três\n", monkeypatch)
    threads = _answered_by_name(monkeypatch, ui, {"João": ANSWER_DELAY, "Pedro": 0.0})
    assert ui._loop() == ExitCode.REFUSED
    for thread in threads:
        thread.join(5)
    first = [line for line in out.getvalue().splitlines() if not line.startswith("✓✓")]
    assert [line.split(" —")[0] for line in first] == [
        "✓ sent to João: um", "✗ not sent to Pedro: dois", "✓ sent to João: três"], out.getvalue()


def test_an_answer_that_does_not_come_holds_the_lines_after_it_for_the_timeout_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Never forever: past --timeout a later event, the next line the client answers, the
    connection going or the end of the input says them."""
    ui, out, _ = _pipe("@João um\n@Pedro dois\n", monkeypatch, timeout=0.5)
    _answered_by_name(monkeypatch, ui, {"João": None, "Pedro": 0.0})
    started = time.monotonic()
    ui._loop()
    assert time.monotonic() - started < 3.0
    assert out.getvalue().splitlines()[0].startswith("✗ not sent to Pedro: dois"), out.getvalue()

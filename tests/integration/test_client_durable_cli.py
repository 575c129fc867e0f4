"""The terminal client and ``--send`` on the durable server: queued and delivered lines,
/history, /block, reconnecting, and ``--send`` resuming after a lost connection.

Real server on 127.0.0.1, port 0; the terminal in pipe mode, in-process or as a process.
Every wait is bounded.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


from client import ChatClient, ServerUnreachable
from client.exitcodes import ExitCode
from client.oneshot import send_once
from client.terminal import TerminalUI
from client.terminal_lines import format_history
from faultproxy import DOWN, UP, Fault, FaultProxy
from protocol import DirectMessage, Event, HistoryEntry, Read
from clientkit import start
from server import ServerConfig, ServerThread

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0
FAST = {"reconnect_delay": 0.05, "reconnect_max_delay": 0.2}


def run_pipe(port: int, script: str, name: str = "Alice", **options: object) -> tuple[int, list[str]]:
    out = io.StringIO()
    ui = TerminalUI(name, "127.0.0.1", port, timeout=WAIT, stdin=io.StringIO(script), stdout=out, stderr=out,
                    interactive=False, **options)
    return ui.run(), out.getvalue().splitlines()


class Lines:
    """A growing list of output lines that a test can wait on (thread-safe)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._partial = ""
        self.changed = threading.Condition()

    def write(self, text: str) -> int:
        with self.changed:
            self._partial += text
            *done, self._partial = self._partial.split("\n")
            self.lines.extend(done)
            self.changed.notify_all()
        return len(text)

    def flush(self) -> None:
        pass

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = WAIT) -> str:
        found: list[str] = []

        def seen() -> bool:
            found[:] = [line for line in self.lines if predicate(line)][:1]
            return bool(found)

        with self.changed:
            assert self.changed.wait_for(seen, timeout), f"no such line within {timeout} s: {self.lines}"
        return found[0]


class LiveTerminal:
    """A pipe-mode TerminalUI in a thread, fed line by line by the test."""

    def __init__(self, port: int, name: str = "Alice", **options: object) -> None:
        read_end, self._write_end = os.pipe()
        self._stdin = os.fdopen(read_end, "r", encoding="utf-8")
        self.out = Lines()
        self.ui = TerminalUI(name, "127.0.0.1", port, timeout=WAIT, stdin=self._stdin, stdout=self.out,
                             stderr=self.out, interactive=False, **options)
        self.code: int | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.code = self.ui.run()

    def type(self, line: str) -> None:
        os.write(self._write_end, (line + "\n").encode())

    def end(self) -> int | None:
        os.close(self._write_end)
        self._thread.join(WAIT + 5)
        self._stdin.close()
        return self.code


# --- Queued, delivered later, and reported in the terminal --------------------------------------


def test_send_once_to_an_offline_user_is_queued_and_exits_0(server: ServerThread, clients: list[ChatClient]) -> None:
    start(clients, server.port, "Bob").close()
    out, err = io.StringIO(), io.StringIO()
    code = send_once("Carol", "Bob", "call me", host="127.0.0.1", port=server.port, timeout=WAIT, stdout=out,
                     stderr=err)
    assert (code, err.getvalue()) == (ExitCode.OK, "")
    assert re.fullmatch(r"queued for Bob \(msg \d+\): offline; the server keeps it for their next login\n",
                        out.getvalue())
    got: list[Event] = []
    start(clients, server.port, "Bob", on_event=got.append)
    deadline = time.monotonic() + WAIT
    while not any(isinstance(e, DirectMessage) for e in got):
        assert time.monotonic() < deadline
        threading.Event().wait(0.01)
    assert [e.text for e in got if isinstance(e, DirectMessage)] == ["call me"]


def test_send_once_to_nobody_known_exits_1(server: ServerThread) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = send_once("Carol", "Zed", "hello?", host="127.0.0.1", port=server.port, timeout=WAIT, stdout=out,
                     stderr=err)
    assert code == ExitCode.REFUSED
    assert err.getvalue() == "error: not sent to Zed — nobody called Zed has ever logged in here: check the name\n"


def test_the_terminal_shows_queued_then_delivered_at_the_next_login(server: ServerThread,
                                                                    clients: list[ChatClient]) -> None:
    start(clients, server.port, "Bob").close()
    code, lines = run_pipe(server.port, "@Bob are you there?\n")
    assert code == ExitCode.OK
    queued = [line for line in lines if line.startswith("✓ queued")]
    assert queued == ["✓ queued for Bob: are you there? (offline: the server keeps it for their next login)"]
    # The run ends with the message on the server, on its way: no failure is said of it.
    assert not [line for line in lines if line.startswith("✗")], lines
    assert re.fullmatch(r"… not yet delivered to Bob: are you there\? — the connection ended before delivery "
                        r"was confirmed \(the server has it as message \d+ and will still deliver it\) .*", lines[-1])
    bob = start(clients, server.port, "Bob")
    bob.who(WAIT)  # the message has come and Bob's receipt has reached the server
    code, lines = run_pipe(server.port, "/who\n")
    assert code == ExitCode.OK
    assert any(re.fullmatch(r"✓✓ delivered to Bob: message \d+", line) for line in lines), lines  # (whom: any of many)


# --- /history, /block -------------------------------------------------------------------------


def test_history_in_the_terminal(server: ServerThread, clients: list[ChatClient]) -> None:
    bob = start(clients, server.port, "Bob")
    alice = start(clients, server.port, "Alice")
    for i in range(3):
        assert alice.send_direct("Bob", f"from Alice {i}").wait("delivered", WAIT)
        assert bob.send_direct("Alice", f"from Bob {i}").wait("delivered", WAIT)
    alice.close()
    code, lines = run_pipe(server.port, "/history Bob 4\n/history bob\n/history Zed\n/history\n/history Bob 0\n")
    assert code == ExitCode.REFUSED  # the last two lines are not understood
    first = lines.index("* history with Bob (4 messages):")
    shown = lines[first + 1:first + 5]
    expected = ["you → Bob: from Alice 1 (delivered)", "Bob → you: from Bob 1 (delivered)",
                "you → Bob: from Alice 2 (delivered)", "Bob → you: from Bob 2 (delivered)"]
    assert [re.sub(r"^  \[[^]]+\] ", "", line) for line in shown] == expected, lines
    assert all(re.match(r"  \[\d\d:\d\d\] ", line) for line in shown)
    assert "* history with Bob (6 messages):" in lines
    assert "* no messages with Zed" in lines
    assert lines.count("! usage: /history NAME [N] (N from 1 to 10000, default 20)") == 2


def test_history_is_printed_above_the_read_mark_the_server_sends_after_it(server: ServerThread,
                                                                          clients: list[ChatClient]) -> None:
    # The server answers /history with the page, then a "read" frame (how far the peer has
    # read); the receiver read both at once and printed "✓✓ read by Bob" while the command
    # thread was still waking up to print the page, so the mark came above the history.
    # Then it came under the page, saying again what the page's "(read)" said (as the web
    # page shows it, on the messages): now the page says it, and no line after it.
    read = threading.Event()
    bob = start(clients, server.port, "Bob")
    alice = start(clients, server.port, "Alice", on_event=lambda event: read.set() if isinstance(event, Read) else None)
    sent = alice.send_direct("Bob", "read me")
    assert sent.wait("delivered", WAIT)
    bob.mark_read("Alice", sent.msg_id)
    assert read.wait(WAIT)  # the mark is stored: Alice heard of it
    alice.close()
    for _ in range(3):
        code, lines = run_pipe(server.port, "/history Bob\n")
        assert code == ExitCode.OK
        heading = lines.index("* history with Bob (1 message):")
        assert lines[heading + 1].endswith("] you → Bob: read me (read)"), lines
        assert not [line for line in lines if "read by" in line], lines
    # Nor a second page: the mark that follows every page is not news.
    code, lines = run_pipe(server.port, "/history Bob\n/history Bob\n")
    assert lines.count("* history with Bob (1 message):") == 2 and not [line for line in lines if "read by" in line], \
        lines


def test_history_pages_with_the_cursor(server: ServerThread, clients: list[ChatClient]) -> None:
    with FaultProxy(server.host, server.port) as proxy:
        start(clients, server.port, "Bob")
        alice = start(clients, proxy.port, "Alice")
        sent = [alice.send_direct("Bob", f"n{i}") for i in range(7)]
        for message in sent:
            assert message.wait("delivered", WAIT)
        entries = alice.history("Bob", 6, WAIT, page_size=2)
        assert [e.text for e in entries] == [f"n{i}" for i in range(1, 7)]
        assert [e.msg_id for e in entries] == [m.msg_id for m in sent[1:]]
        requests = [f for f in proxy.frames if f[1] == "up" and f[2] == "history"]
        assert len(requests) == 3  # 2 + 2 + 2
        assert [e.text for e in alice.history("Bob", 100, WAIT, page_size=3)] == [f"n{i}" for i in range(7)]


def test_history_beyond_one_page_of_500() -> None:
    # Fast enough only without the rate limits: 520 messages in one burst.
    config = ServerConfig(host="127.0.0.1", port=0, rate_per_connection=1e6, burst_per_connection=1e6,
                          rate_per_address=1e6, burst_per_address=1e6)
    with ServerThread(config) as srv:
        bob = ChatClient("Bob", srv.host, srv.port)
        alice = ChatClient("Alice", srv.host, srv.port)
        try:
            bob.connect(timeout=WAIT)
            alice.connect(timeout=WAIT)
            sent = [alice.send_direct("Bob", f"m{i}") for i in range(520)]
            for message in sent:
                assert message.wait("delivered", WAIT)
            entries = alice.history("Bob", 510, WAIT)
            assert [e.msg_id for e in entries] == [m.msg_id for m in sent[10:]]
        finally:
            alice.close()
            bob.close()


def test_block_and_unblock_in_the_terminal(server: ServerThread, clients: list[ChatClient]) -> None:
    bob = start(clients, server.port, "Bob")
    terminal = LiveTerminal(server.port)
    try:
        terminal.out.wait_for(lambda line: line.startswith("* connected"))
        terminal.type("/block Bob")
        terminal.out.wait_for(lambda line: line == "* blocked Bob: their messages will not reach you")
        hidden = bob.send_direct("Alice", "you cannot see this")
        assert hidden.wait("sent", WAIT)  # to Bob it looks sent...
        terminal.type("/unblock bob")
        terminal.out.wait_for(lambda line: line == "* unblocked bob")
        visible = bob.send_direct("Alice", "now you can")
        assert visible.wait("delivered", WAIT)
        terminal.out.wait_for(lambda line: line.endswith("Bob → you: now you can"))
        terminal.type("/block Alice")
        terminal.out.wait_for(lambda line: line.startswith("! /block failed: you cannot block yourself"))
        terminal.type("/history Bob")
        terminal.out.wait_for(lambda line: line.startswith("* history with Bob"))
    finally:
        assert terminal.end() == ExitCode.OK
    assert hidden.state == "sent"  # ...and is never delivered
    assert not any("you cannot see this" in line for line in terminal.out.lines)


def test_history_lines_are_sanitised() -> None:
    entries = [HistoryEntry(1, "Alice", "Bob", "hi\x1b[2J", time.time(), "delivered"),
               HistoryEntry(2, "Bob", "ALICE", "yo", time.time(), "expired")]
    lines = format_history("Bob", entries, "alice")
    assert lines[0] == "* history with Bob (2 messages):"
    assert lines[1].endswith("] you → Bob: hi\\x1b[2J (delivered)")
    assert lines[2].endswith("] Bob → you: yo (expired)")



def test_a_text_of_several_lines_is_escaped_in_a_pipe_and_indented_on_the_screen() -> None:
    entries = [HistoryEntry(1, "Ana", "Bob", "oi João\nsou a Conceição", time.time(), "delivered", edited=True)]
    assert format_history("Ana", entries, "bob")[1].endswith("] Ana → you: oi João\\nsou a Conceição  (edited) "
                                                              "(delivered)")
    lines = format_history("Ana", entries, "bob", continuation=" " * 12)
    assert lines[1].endswith("] Ana → you: oi João\n            sou a Conceição  (edited) (delivered)")


def test_history_lines_say_edited_and_deleted() -> None:
    """The README's promise for /history: "the history shows 'edited' or 'deleted'"; a
    deleted message was an empty "delivered" line."""
    entries = [HistoryEntry(1, "Alice", "Bob", "exam on Thursday", time.time(), "delivered", edited=True),
               HistoryEntry(2, "Alice", "Bob", "", time.time(), "delivered", deleted=True)]
    lines = format_history("Bob", entries, "alice")
    assert lines[1].endswith("] you → Bob: exam on Thursday  (edited) (delivered)")
    assert lines[2].endswith("] you → Bob: (this message was deleted) (delivered)")


def test_a_rooms_history_shows_no_state() -> None:
    """Every room post is "accepted": the terminal showed "(accepted)", in English, on each."""
    entries = [HistoryEntry(1, "Ana", "#redes", "olá, turma", time.time(), "accepted")]
    lines = format_history("#redes", entries, "bob")
    assert lines[1].endswith("] Ana → #redes: olá, turma")

# --- Reconnecting, as the user sees it --------------------------------------------------------


def test_the_terminal_reconnects_and_sends_what_was_typed_meanwhile(server: ServerThread,
                                                                    clients: list[ChatClient]) -> None:
    got: list[Event] = []
    start(clients, server.port, "Bob", on_event=got.append)
    with FaultProxy(server.host, server.port) as proxy:
        terminal = LiveTerminal(proxy.port, **FAST)
        try:
            terminal.out.wait_for(lambda line: line.startswith("* connected"))
            _cut_off(terminal, proxy, "Alice")
            terminal.type("@Bob typed while away")
            terminal.out.wait_for(lambda line: line == "… not connected: will be sent to Bob once reconnected: "
                                                       "typed while away")
            proxy.refuse_new = False
            terminal.out.wait_for(lambda line: line == "! reconnected; 1 message sent again")
            terminal.out.wait_for(lambda line: line == "✓✓ delivered to Bob: typed while away")
        finally:
            assert terminal.end() == ExitCode.OK
    lost = [line for line in terminal.out.lines if line.startswith("! connection lost")]
    assert re.fullmatch(r"! connection lost; reconnecting in \d+\.\d s \(attempt 1\): .+", lost[0])
    assert [e.text for e in got if isinstance(e, DirectMessage)] == ["typed while away"]


class ProcessLines(Lines):
    """The stdout of a process, read line by line by a thread."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        super().__init__()
        self._reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._reader.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.write(line)


def test_the_process_survives_a_planned_restart_and_sends_what_was_typed_meanwhile(
        clients: list[ChatClient]) -> None:
    first = ServerThread(ServerConfig(host="127.0.0.1", port=0)).__enter__()
    port = first.port
    proc = subprocess.Popen([sys.executable, "chatclient.py", "Alice", "--port", str(port)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, encoding="utf-8")
    try:
        out = ProcessLines(proc)
        out.wait_for(lambda line: line.startswith("* connected"))
        first.stop()  # a planned stop: the server says goodbye to every client
        out.wait_for(lambda line: line.startswith("! connection lost; reconnecting") and "server shutting down" in line)
        assert proc.poll() is None  # the session goes on
        assert proc.stdin is not None
        proc.stdin.write("@Bob typed while the server was down\n")
        proc.stdin.flush()
        out.wait_for(lambda line: "will be sent to Bob once reconnected" in line)
        got: list[Event] = []
        with ServerThread(ServerConfig(host="127.0.0.1", port=port)):  # started again on the same port
            start(clients, port, "Bob", on_event=got.append)
            out.wait_for(lambda line: line.startswith("! reconnected"), WAIT * 2)
            out.wait_for(lambda line: line == "✓✓ delivered to Bob: typed while the server was down", WAIT * 2)
            proc.stdin.close()
            assert proc.wait(WAIT) == ExitCode.OK
    finally:
        first.stop()
        proc.kill()
        proc.wait(WAIT)
        assert proc.stderr is not None
        err = proc.stderr.read()
    assert "Traceback" not in err
    assert not [line for line in out.lines if line.startswith("! Disconnected by the server")]
    assert [e.text for e in got if isinstance(e, DirectMessage)] == ["typed while the server was down"]


def test_the_process_fails_over_to_the_next_server_on_its_command_line(server: ServerThread,
                                                                       clients: list[ChatClient]) -> None:
    got: list[Event] = []
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as other:
        start(clients, other.port, "Bob", on_event=got.append)
        proc = subprocess.Popen([sys.executable, "chatclient.py", "Alice", f"127.0.0.1:{server.port}",
                                 f"127.0.0.1:{other.port}"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, encoding="utf-8")
        try:
            out = ProcessLines(proc)
            out.wait_for(lambda line: line.startswith(f"* connected to 127.0.0.1:{server.port}"))
            server.stop()  # the first server goes away for good
            out.wait_for(lambda line: line.startswith("! reconnected"), WAIT * 2)
            assert proc.stdin is not None
            proc.stdin.write("@Bob hello from the other server\n")
            proc.stdin.close()
            assert proc.wait(WAIT * 2) == ExitCode.OK
        finally:
            proc.kill()
            proc.wait(WAIT)
    assert "✓✓ delivered to Bob: hello from the other server" in out.lines
    assert [e.text for e in got if isinstance(e, DirectMessage)] == ["hello from the other server"]


def test_send_once_resumes_after_a_lost_connection(server: ServerThread, clients: list[ChatClient]) -> None:
    got: list[Event] = []
    start(clients, server.port, "Bob", on_event=got.append)
    with FaultProxy(server.host, server.port) as proxy:
        proxy.add(Fault(DOWN, "accepted", nth=1, name="Carol"))  # the answer is lost with the connection
        out, err = io.StringIO(), io.StringIO()
        code = send_once("Carol", "Bob", "exactly once", host="127.0.0.1", port=proxy.port, timeout=WAIT,
                         stdout=out, stderr=err, **FAST)
        assert proxy.cuts
    assert (code, err.getvalue()) == (ExitCode.OK, "")
    assert re.fullmatch(r"delivered to Bob \(msg \d+\)\n", out.getvalue())
    assert [e.text for e in got if isinstance(e, DirectMessage)] == ["exactly once"]


def test_send_once_gives_up_when_the_connection_does_not_come_back(server: ServerThread,
                                                                   clients: list[ChatClient]) -> None:
    start(clients, server.port, "Bob")
    with FaultProxy(server.host, server.port) as proxy:
        proxy.add(Fault(DOWN, "welcome", when="after", name="Carol"))
        proxy.refuse_after_cuts = 1  # after the cut, nothing gets through
        out, err = io.StringIO(), io.StringIO()
        started = time.monotonic()
        code = send_once("Carol", "Bob", "lost", host="127.0.0.1", port=proxy.port, timeout=0.8,
                         stdout=out, stderr=err, **FAST)
        assert time.monotonic() - started < WAIT
    assert code == ExitCode.NO_SERVER and out.getvalue() == ""
    assert err.getvalue().startswith("error: the connection to the server was lost (")
    assert err.getvalue().endswith("and not restored within 0.8 s; the message may not have been sent\n")


# --- A first login cut on the way is retried (issue 8, item 17) ---------------------------------

RETRY_LINE = r"! connection lost; reconnecting in \d+\.\d s \(attempt 1\): .+"


def test_the_terminal_retries_a_first_login_cut_on_the_way_then_delivers(server: ServerThread,
                                                                        clients: list[ChatClient]) -> None:
    got: list[Event] = []
    start(clients, server.port, "Bob", on_event=got.append)
    with FaultProxy(server.host, server.port) as proxy:
        proxy.add(Fault(UP, "hello", name="Alice"))  # the first hello is lost with its connection
        code, lines = run_pipe(proxy.port, "@Bob made it\n", **FAST)
        assert len(proxy.cuts) == 1, proxy.cuts
    assert code == ExitCode.OK, lines
    assert re.fullmatch(RETRY_LINE, lines[0]), lines
    assert lines[1].startswith("* connected to 127.0.0.1:"), lines
    assert "✓✓ delivered to Bob: made it" in lines
    assert [e.text for e in got if isinstance(e, DirectMessage)] == ["made it"]


def test_the_terminal_retries_when_the_welcome_is_lost_too(server: ServerThread, clients: list[ChatClient]) -> None:
    start(clients, server.port, "Bob")
    with FaultProxy(server.host, server.port) as proxy:
        proxy.add(Fault(DOWN, "welcome", name="Alice"))  # logged in on the server, never told
        code, lines = run_pipe(proxy.port, "@Bob hi\n", **FAST)
    assert code == ExitCode.OK, lines
    assert re.fullmatch(RETRY_LINE, lines[0]) and lines[1].startswith("* connected"), lines
    assert "✓✓ delivered to Bob: hi" in lines


def test_the_terminal_without_reconnect_does_not_retry_its_first_login(server: ServerThread) -> None:
    with FaultProxy(server.host, server.port) as proxy:
        proxy.add(Fault(UP, "hello", name="Alice"))
        code, lines = run_pipe(proxy.port, "@Bob hi\n", reconnect=False)
    assert code == ExitCode.NO_SERVER
    assert len(lines) == 1 and lines[0].startswith("error: ") and "during the login" in lines[0], lines


def test_a_login_refusal_is_final_for_the_terminal(server: ServerThread, clients: list[ChatClient]) -> None:
    start(clients, server.port, "Alice")
    started = time.monotonic()
    code, lines = run_pipe(server.port, "@Bob hi\n", **FAST)
    assert code == ExitCode.LOGIN_REFUSED and time.monotonic() - started < WAIT
    assert len(lines) == 1 and lines[0].startswith("error: login refused:") and "the name Alice is yours" in lines[0], lines


def test_send_once_retries_a_first_login_cut_on_the_way(server: ServerThread, clients: list[ChatClient]) -> None:
    got: list[Event] = []
    start(clients, server.port, "Bob", on_event=got.append)
    with FaultProxy(server.host, server.port) as proxy:
        proxy.add(Fault(UP, "hello", name="Carol"))
        out, err = io.StringIO(), io.StringIO()
        code = send_once("Carol", "Bob", "after one reset", host="127.0.0.1", port=proxy.port, timeout=WAIT,
                         stdout=out, stderr=err, **FAST)
        assert len(proxy.cuts) == 1, proxy.cuts
    assert (code, err.getvalue()) == (ExitCode.OK, "")
    assert re.fullmatch(r"delivered to Bob \(msg \d+\)\n", out.getvalue())
    assert [e.text for e in got if isinstance(e, DirectMessage)] == ["after one reset"]


def test_send_once_gives_up_on_a_login_cut_every_time_within_its_timeout(server: ServerThread) -> None:
    with FaultProxy(server.host, server.port) as proxy:
        proxy.refuse_new = True  # every connection is accepted, then reset
        out, err = io.StringIO(), io.StringIO()
        started = time.monotonic()
        code = send_once("Carol", "Bob", "never", host="127.0.0.1", port=proxy.port, timeout=1.0,
                         stdout=out, stderr=err, **FAST)
        took = time.monotonic() - started
        attempts = len(proxy.cuts)
    assert code == ExitCode.NO_SERVER and out.getvalue() == ""
    said = err.getvalue()
    assert said.startswith("error: ") and ("reset" in said or "during the login" in said), said
    assert attempts >= 3, proxy.cuts  # it tried again (backoff 0.05 s doubling up to 0.2 s)...
    assert took < 1.0 + 1.0, took     # ...for about the timeout, not more


def test_close_ends_a_first_login_that_keeps_being_cut(server: ServerThread) -> None:
    with FaultProxy(server.host, server.port) as proxy:
        proxy.refuse_new = True
        retries: list[object] = []
        client = ChatClient("Alice", "127.0.0.1", proxy.port, **FAST)
        outcome: list[BaseException] = []

        def connect() -> None:
            try:
                client.connect(WAIT, retry_until=float("inf"), on_retry=retries.append)
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                outcome.append(exc)
        thread = threading.Thread(target=connect, daemon=True)
        thread.start()
        deadline = time.monotonic() + WAIT
        while len(retries) < 3:
            assert time.monotonic() < deadline, proxy.cuts
            threading.Event().wait(0.01)
        client.close()
        thread.join(WAIT)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ServerUnreachable), outcome
    assert [r.attempt for r in retries[:3]] == [1, 2, 3]


def test_max_reconnect_attempts_bounds_the_first_login_too(server: ServerThread) -> None:
    with FaultProxy(server.host, server.port) as proxy:
        proxy.refuse_new = True
        retries: list[object] = []
        client = ChatClient("Alice", "127.0.0.1", proxy.port, max_reconnect_attempts=2, **FAST)
        try:
            client.connect(WAIT, retry_until=float("inf"), on_retry=retries.append)
        except ServerUnreachable as exc:
            assert "reset" in str(exc) or "cut" in str(exc), exc
        else:
            raise AssertionError("connected through a proxy that resets every connection")
        assert len(retries) == 2 and len(proxy.cuts) == 3  # the first try and two retries


def test_a_rooms_read_count_is_said_only_when_it_grows() -> None:
    """After a restart of a server in memory mode the marks came back empty, and the
    terminal printed "✓✓ your last post in #redes (message 10) was read by 0"."""
    from protocol import RoomRead
    out = io.StringIO()
    ui = TerminalUI("Alice", "127.0.0.1", 1, timeout=WAIT, stdin=io.StringIO(""), stdout=out, stderr=out)
    ui._last_posts[("#redes", "alice")] = 10
    for marks in [(12, 10), (10,), (), (12, 11, 10)]:
        ui._room_read(RoomRead("#redes", marks=marks))
    assert out.getvalue().splitlines() == ["✓✓ your last post in #redes (message 10) was read by 2",
                                           "✓✓ your last post in #redes (message 10) was read by 3"]
    # A new post, read by nobody yet (the others were away): nothing to say until one reads it.
    ui._last_posts[("#redes", "alice")] = 14
    for marks in [(12, 11, 10), (14, 11)]:
        ui._room_read(RoomRead("#redes", marks=marks))
    assert out.getvalue().splitlines()[2:] == ["✓✓ your last post in #redes (message 14) was read by 1"]


# --- Changes told after the messages, and what our messages read now --------------------------


def test_a_change_the_screen_shows_already_is_not_said_again_and_outcomes_name_the_text_as_it_reads_now(
        server: ServerThread, clients: list[ChatClient]) -> None:
    """Bob offline; Alice sends two, edits the first, deletes the second. At his login the
    server sends the messages with their latest text, then the changes Bob has not
    confirmed: the terminal said "✎ Alice edited message N: fixed" right under the message
    that read "fixed" already. Alice's "delivered" lines named the text first sent: the
    one she had edited, and the one she had deleted."""
    start(clients, server.port, "Bob").close()
    alice = LiveTerminal(server.port, "Alice")
    try:
        alice.type("/to Bob")
        alice.type("first try")
        alice.out.wait_for(lambda line: line.startswith("✓ queued for Bob: first try"))
        alice.type("/edit fixed")
        alice.out.wait_for(lambda line: re.fullmatch(r"\* message \d+ edited", line) is not None)
        alice.type("oops")
        alice.out.wait_for(lambda line: line.startswith("✓ queued for Bob: oops"))
        alice.type("/delete")
        alice.out.wait_for(lambda line: re.fullmatch(r"\* message \d+ deleted", line) is not None)
        bob = LiveTerminal(server.port, "Bob")
        try:
            bob.out.wait_for(lambda line: line.endswith("Alice → you: fixed"))
            bob.out.wait_for(lambda line: line.startswith("✗ Alice deleted message"))
            bob.type("/who")  # a round trip: every change the server sends came before its answer
            bob.out.wait_for(lambda line: line.startswith("* online"))
            assert not [line for line in bob.out.lines if line.startswith("✎")], bob.out.lines
        finally:
            assert bob.end() == ExitCode.OK
        alice.out.wait_for(lambda line: line == "✓✓ delivered to Bob: fixed")
        alice.out.wait_for(lambda line: line == "✓✓ delivered to Bob: (this message was deleted)")
        assert not [line for line in alice.out.lines if "delivered to Bob: first try" in line
                    or "delivered to Bob: oops" in line], alice.out.lines
    finally:
        assert alice.end() == ExitCode.OK


def test_a_room_post_of_ours_from_another_device_is_shown_as_ours(server: ServerThread,
                                                                   clients: list[ChatClient]) -> None:
    """The terminal hid every post of ours, taking it for its own echo: one sent from the
    page or the window was never shown here."""
    start(clients, server.port, "Bob").close()
    elsewhere = start(clients, server.port, "Alice", password="correct horse", register=True)
    terminal = LiveTerminal(server.port, "Alice", password="correct horse")
    try:
        terminal.out.wait_for(lambda line: line.startswith("* connected"))
        terminal.type("from the terminal")
        terminal.out.wait_for(lambda line: line == "✓ sent to the room: from the terminal")
        from_page = elsewhere.send_room("from the page")
        assert from_page.wait("sent", WAIT)
        terminal.out.wait_for(lambda line: line.endswith("(room) you (elsewhere): from the page"))
        # /edit takes our last message there, wherever it was sent ("you have sent no
        # message there in this session" before).
        terminal.type("/edit from the page, fixed")
        terminal.out.wait_for(lambda line: line == f"* message {from_page.msg_id} edited")
        assert elsewhere.send_direct("Bob", "to Bob from the page").wait("queued", WAIT)
        terminal.out.wait_for(lambda line: "you (elsewhere) → Bob: to Bob from the page" in line)
        terminal.type("/to Bob")
        terminal.type("/delete")
        terminal.out.wait_for(lambda line: re.fullmatch(r"\* message \d+ deleted", line) is not None)
        terminal.type("/who")
        terminal.out.wait_for(lambda line: line.startswith("* online"))
        assert not [line for line in terminal.out.lines if "elsewhere): from the terminal" in line]
    finally:
        assert terminal.end() == ExitCode.OK


def _away_after(terminal: LiveTerminal, proxy: FaultProxy, sender: ChatClient, me: str) -> None:
    """The terminal of ``me`` shows ``sender``'s "before" (delivered); then it is cut off
    (:func:`_cut_off`)."""
    terminal.out.wait_for(lambda line: line.startswith("* connected"))
    assert sender.send_direct(me, "before").wait("delivered", WAIT)
    terminal.out.wait_for(lambda line: line.endswith(f"{sender.name} → you: before"))
    _cut_off(terminal, proxy, me)


def _cut_off(terminal: LiveTerminal, proxy: FaultProxy, me: str) -> None:
    """The terminal of ``me`` has its connection cut and new ones refused until
    ``proxy.refuse_new`` is turned off: returns once it says it is reconnecting again."""
    proxy.refuse_new = True
    proxy.cut(me)
    terminal.out.wait_for(lambda line: line.startswith("! connection lost; reconnecting in ")
                          and "(attempt 2)" in line)


@contextmanager
def _joao_away_on_the_terminal(server: ServerThread, clients: list[ChatClient], *earlier: str
                               ) -> Iterator[tuple[LiveTerminal, FaultProxy, ChatClient, ChatClient, list]]:
    """João on two devices: device A (a library client), and the terminal through a proxy,
    cut off and reconnecting once it showed Carol's "before" (:func:`_away_after`); Ana
    online. ``earlier``: what Ana wrote João before the terminal started (device A took
    it). Yields (terminal, proxy, device A, Ana, the trackers of ``earlier``); the terminal
    must end OK."""
    carol = start(clients, server.port, "Carol")
    device_a = start(clients, server.port, "João", password="correct horse", register=True)
    ana = start(clients, server.port, "Ana")
    sent = [ana.send_direct("João", text) for text in earlier]
    assert all(message.wait("delivered", WAIT) for message in sent), sent
    with FaultProxy(server.host, server.port) as proxy:
        terminal = LiveTerminal(proxy.port, "João", password="correct horse", **FAST)
        try:
            _away_after(terminal, proxy, carol, "João")
            yield terminal, proxy, device_a, ana, sent
        finally:
            assert terminal.end() == ExitCode.OK


def _back(terminal: LiveTerminal, proxy: FaultProxy, caught_up: str) -> list[str]:
    """Let the terminal of :func:`_joao_away_on_the_terminal` reconnect; once it showed a
    line ending with ``caught_up`` (its catch-up's) and answered a ``/who`` after it, the
    lines it printed."""
    proxy.refuse_new = False
    terminal.out.wait_for(lambda line: line == "! reconnected")
    terminal.out.wait_for(lambda line: line.endswith(caught_up))
    terminal.type("/who")
    terminal.out.wait_for(lambda line: line.startswith("* online"))
    return terminal.out.lines


def test_after_a_reconnection_the_terminal_shows_what_another_session_got_and_sent_meanwhile(
        server: ServerThread, clients: list[ChatClient]) -> None:
    """João on the page and in the terminal; the terminal reconnecting while Ana wrote: the
    page got her messages (its receipt made them delivered) and the terminal never showed
    them, nor what the page sent meanwhile. It now asks its conversations' last pages."""
    bob = start(clients, server.port, "Bob")
    page = start(clients, server.port, "Alice", password="correct horse", register=True)
    with FaultProxy(server.host, server.port) as proxy:
        terminal = LiveTerminal(proxy.port, "Alice", password="correct horse", **FAST)
        try:
            _away_after(terminal, proxy, bob, "Alice")
            assert bob.send_direct("Alice", "while you were away").wait("delivered", WAIT)  # the page took it
            assert page.send_direct("Bob", "from the page").wait("delivered", WAIT)
            proxy.refuse_new = False
            terminal.out.wait_for(lambda line: line == "! reconnected")
            terminal.out.wait_for(lambda line: line.endswith("Bob → you: while you were away"))
            terminal.out.wait_for(lambda line: line.endswith("you (elsewhere) → Bob: from the page (delivered)"))
            terminal.type("/who")
            terminal.out.wait_for(lambda line: line.startswith("* online"))
            assert sum(line.endswith("Bob → you: before") for line in terminal.out.lines) == 1, terminal.out.lines
        finally:
            assert terminal.end() == ExitCode.OK


def test_after_a_reconnection_the_terminal_shows_a_new_contacts_message_that_another_device_got_once(
        server: ServerThread, clients: list[ChatClient]) -> None:
    """João on two devices; device B (the terminal) reconnecting while Ana, whom it never
    talked with, wrote to him: device A took it (delivered, so no queue keeps it), and B
    had no conversation with her to ask for. With the feature since B asks for every
    conversation after the last message it showed, and shows Ana's once, in order."""
    with _joao_away_on_the_terminal(server, clients) as (terminal, proxy, device_a, ana, _earlier):
        first = ana.send_direct("João", "oi, João, sou a Ana")
        assert first.wait("delivered", WAIT)  # device A took it
        assert ana.send_direct("João", "e mais uma").wait("delivered", WAIT)
        assert device_a.send_direct("Ana", "oi, Ana").wait("delivered", WAIT)
        lines = _back(terminal, proxy, "you (elsewhere) → Ana: oi, Ana (delivered)")
        ana_lines = [n for n, line in enumerate(lines) if "Ana → you:" in line]
        assert [lines[n].split("Ana → you: ")[1] for n in ana_lines] == ["oi, João, sou a Ana", "e mais uma"], lines
        assert sum(line.endswith("Carol → you: before") for line in lines) == 1, lines


def test_a_terminal_that_showed_nothing_yet_shows_what_another_device_got_while_it_was_away(
        server: ServerThread, clients: list[ChatClient]) -> None:
    """The terminal started and showed no direct message; then its connection dropped, and
    meanwhile Ana wrote to João, whose device A took it (delivered: no queue keeps it), and
    device A answered. Before, a screen that had shown nothing had nothing to ask from and
    never showed either. It now asks from its first welcome's last_id (PROTOCOL.md)."""
    ana = start(clients, server.port, "Ana")
    device_a = start(clients, server.port, "João", password="correct horse", register=True)
    # Before the terminal began (device A took it): not news there.
    assert ana.send_direct("João", "antes do terminal").wait("delivered", WAIT)
    with FaultProxy(server.host, server.port) as proxy:
        terminal = LiveTerminal(proxy.port, "João", password="correct horse", **FAST)
        try:
            terminal.out.wait_for(lambda line: line.startswith("* connected"))
            _cut_off(terminal, proxy, "João")
            assert ana.send_direct("João", "o livro chegou").wait("delivered", WAIT)  # device A took it
            assert device_a.send_direct("Ana", "obrigado!").wait("delivered", WAIT)
            lines = _back(terminal, proxy, "you (elsewhere) → Ana: obrigado! (delivered)")
            assert sum(line.endswith("Ana → you: o livro chegou") for line in lines) == 1, lines
            assert not [line for line in lines if "antes do terminal" in line], lines
        finally:
            assert terminal.end() == ExitCode.OK


def test_a_message_another_device_took_and_whose_edit_came_first_is_still_shown_after_a_reconnection(
        server: ServerThread, clients: list[ChatClient]) -> None:
    """Ana wrote and then edited while the terminal was away; device A took both. The
    terminal's hello says until when it heard (last_heard), so the edit comes at its login,
    before the catch-up's page lists the message: it printed "✎ Ana edited message N" and
    then took the message for one it had shown (it kept the edit's text under its id), so
    the message itself never showed. It shows now, once, with its latest text; and the
    edit, held until the catch-up showed the message, is not said about a message the
    screen had not shown yet."""
    with _joao_away_on_the_terminal(server, clients) as (terminal, proxy, device_a, ana, _earlier):
        sent = ana.send_direct("João", "a prova é na sexta")
        assert sent.wait("delivered", WAIT)  # device A took it
        ana.edit(sent.msg_id, "a prova é na quinta")
        assert device_a.send_direct("Ana", "ok").wait("delivered", WAIT)
        lines = _back(terminal, proxy, "you (elsewhere) → Ana: ok (delivered)")
        shown = [line for line in lines if "Ana → you: " in line]
        assert len(shown) == 1 and "a prova é na quinta" in shown[0], lines
        assert not [line for line in lines if line.startswith("✎ Ana edited")], lines


def test_an_edit_the_catch_up_does_not_show_the_message_of_is_said_after_it(
        server: ServerThread, clients: list[ChatClient]) -> None:
    """Ana's message reached device A before the terminal started, so the terminal never
    showed it; while the terminal was away she edited it. The edit comes at the login and
    waits for the catch-up, whose page (after the last id the terminal showed) does not
    list the message: the edit is said then, once, not swallowed."""
    with _joao_away_on_the_terminal(server, clients, "reunião às 10") as (terminal, proxy, device_a, ana, (old,)):
        ana.edit(old.msg_id, "reunião às 11")
        assert device_a.send_direct("Ana", "ok").wait("delivered", WAIT)
        _back(terminal, proxy, "you (elsewhere) → Ana: ok (delivered)")
        terminal.out.wait_for(lambda line: line == f"✎ Ana edited message {old.msg_id}: reunião às 11")
        lines = terminal.out.lines
        assert sum(line.startswith("✎ Ana edited") for line in lines) == 1, lines
        assert lines.index(f"✎ Ana edited message {old.msg_id}: reunião às 11") > \
            [n for n, line in enumerate(lines) if line.endswith("→ Ana: ok (delivered)")][0], lines


def test_a_message_that_waited_for_the_terminal_is_shown_once_though_the_catch_up_lists_it_too(
        server: ServerThread, clients: list[ChatClient]) -> None:
    """No other device took it: Ana's message waited (queued) and comes at the login as a
    dm, while the catch-up's page (since) lists it too, queued or already delivered by the
    terminal's receipt: one line either way."""
    carol = start(clients, server.port, "Carol")
    ana = start(clients, server.port, "Ana")
    with FaultProxy(server.host, server.port) as proxy:
        terminal = LiveTerminal(proxy.port, "João", password="correct horse", register=True, **FAST)
        try:
            _away_after(terminal, proxy, carol, "João")
            waiting = ana.send_direct("João", "esperou por você")
            assert waiting.wait("queued", WAIT)
            proxy.refuse_new = False
            terminal.out.wait_for(lambda line: line == "! reconnected")
            assert waiting.wait("delivered", WAIT)
            terminal.type("/who")
            terminal.out.wait_for(lambda line: line.startswith("* online"))
            assert sum(line.endswith("Ana → you: esperou por você") for line in terminal.out.lines) == 1, \
                terminal.out.lines
        finally:
            assert terminal.end() == ExitCode.OK


def test_a_mute_without_a_room_acts_on_the_default_room_where_plain_lines_go(clients: list[ChatClient]) -> None:
    """`/mute Troll 60` while plain lines went to the default room said "the default room
    has no such thing; name a room", though `/mute #lobby Troll 60` worked."""
    from logins import make_admin
    from servers import in_thread
    with in_thread() as server:
        troll = start(clients, server.port, "Troll")
        teacher = LiveTerminal(server.port, "Teacher", password="correct horse", register=True)
        try:
            teacher.out.wait_for(lambda line: line.startswith("* connected"))
            make_admin(server, "Teacher")  # the console's /admin, for a registered account
            teacher.type("/mute Troll 60 spam")
            teacher.out.wait_for(lambda line: "muted Troll" in line)
            assert not [line for line in teacher.out.lines if "no such thing" in line], teacher.out.lines
            refused = troll.send_room("still here")
            assert refused.wait_done(WAIT) and refused.state == "failed" and refused.error[0] == "muted"
        finally:
            assert teacher.end() == ExitCode.OK


def test_a_password_reset_ends_the_terminal_saying_so_without_trying_the_old_password(server: ServerThread) -> None:
    """The operator's /password NAME: the terminal (which logs in again after any other bye)
    logged in again with the old password and gave up with "wrong password"; now it says the
    password was reset and how to log in again, and ends with AUTH_FAILED, trying nothing."""
    terminal = LiveTerminal(server.port, password="the old password", register=True, **FAST)
    try:
        terminal.out.wait_for(lambda line: line.startswith("* connected"))
        server.call(lambda: server.server.relay.account_desk.reset_password("Alice", lambda password, failure: None))
        terminal.out.wait_for(lambda line: line.startswith("! your password was reset by the server operator"))
    finally:
        code = terminal.end()
    assert code == ExitCode.AUTH_FAILED
    said = "\n".join(terminal.out.lines)
    assert "to log in again, start the client again" in said
    assert "reconnecting" not in said and "wrong password" not in said and "Disconnected" not in said

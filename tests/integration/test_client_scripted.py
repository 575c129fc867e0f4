"""The terminal client run by a script, as a process against a real server: its input a
pipe, a file or nothing at all (cron, CI), its exit status what became of the messages.

Every run is bounded (``RUN`` seconds); the client's own ``--timeout`` is short.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from client import ChatClient
from client.exitcodes import ExitCode
from logins import library_login, login
from processes import stop_process
from protocol import DirectMessage, UserJoined, UserLeft

ROOT = Path(__file__).resolve().parents[2]
RUN = 30.0


def chatclient(port: int, name: str, *args: str, script: str | None = "", env: dict[str, str] | None = None,
               close: tuple[int, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``chatclient.py name 127.0.0.1:port args`` to its end with ``script`` as its
    standard input (None: no input at all); ``close``: file descriptors the process starts
    without (0: no standard input, as under some cron daemons)."""
    def close_fds() -> None:
        for fd in close:
            os.close(fd)

    return subprocess.run([sys.executable, "chatclient.py", name, f"127.0.0.1:{port}", "--timeout", "5", *args],
                          cwd=ROOT, input=script, stdin=subprocess.DEVNULL if script is None else None,
                          capture_output=True, text=True, encoding="utf-8", timeout=RUN,
                          env=env if env is not None else dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8"),
                          preexec_fn=close_fds if close else None)


def test_a_script_whose_messages_all_got_through_exits_0(server, clients: list[ChatClient]) -> None:
    library_login(clients, server.port, "Bob")
    done = chatclient(server.port, "Alice", script="@Bob olá\nhello room\n")
    assert done.returncode == ExitCode.OK, done
    assert "✓✓ delivered to Bob: olá" in done.stdout.splitlines()
    assert done.stderr == ""


def test_a_message_that_was_not_delivered_makes_the_script_fail(server) -> None:
    """It exited 0 after `✗ not sent to Nobody_here`: a cron job never heard of it."""
    done = chatclient(server.port, "Alice", script="hello room\n@Nobody_here oi\n")
    assert done.returncode == ExitCode.REFUSED, done
    assert any(line.startswith("✗ not sent to Nobody_here: oi") for line in done.stdout.splitlines())
    assert done.stderr.startswith("error: 1 line of the input did not go through") and done.stderr.count("\n") == 1, \
        done.stderr


def test_a_line_that_sends_nothing_makes_the_script_fail(server, clients: list[ChatClient]) -> None:
    """A typo in a script (an unknown command, a name that cannot be one) sent nothing and
    exited 0."""
    library_login(clients, server.port, "Bob")
    done = chatclient(server.port, "Alice", script="@Bob first\n/msgg Bob second\n@Bob third\n")
    assert done.returncode == ExitCode.REFUSED, done
    assert done.stderr.startswith("error: 1 line of the input did not go through") and done.stderr.count("\n") == 1, \
        done.stderr


def test_the_answers_come_in_the_order_of_the_lines_they_answer(server, clients: list[ChatClient]) -> None:
    """'@Bob one', '/nonsense', '@Bob two', '@Bob': the two mistakes were said first, then
    the messages' answers, as they came from the server."""
    library_login(clients, server.port, "Bob")
    done = chatclient(server.port, "Alice", script="@Bob one\n/nonsense\n@Bob two\n@Bob\n")
    assert done.returncode == ExitCode.REFUSED, done
    answers = [line.split(":")[0] for line in done.stdout.splitlines()[1:] if not line.startswith("✓✓")]
    assert answers == ["✓ sent to Bob", "! unknown command '/nonsense'", "✓ sent to Bob", "! nothing to send to Bob"], \
        done.stdout
    assert "✓✓ delivered to Bob: one" in done.stdout and "✓✓ delivered to Bob: two" in done.stdout, done.stdout


def test_the_servers_answers_to_messages_come_in_the_order_of_their_lines_too(
        server, clients: list[ChatClient]) -> None:
    """The server refuses a message to nobody at once and accepts one once it is stored:
    "✗ not sent to Pedro: dois" came before "✓ sent to João: um" (14 runs out of 15)."""
    library_login(clients, server.port, "João")
    for _run in range(3):
        done = chatclient(server.port, "Alice", script="@João um\n@Pedro dois\n@João três\n@Pedro quatro\n")
        assert done.returncode == ExitCode.REFUSED, done
        answers = [line.split(" —")[0] for line in done.stdout.splitlines()[1:] if line.startswith(("✓ ", "✗ "))]
        assert answers == ["✓ sent to João: um", "✗ not sent to Pedro: dois", "✓ sent to João: três",
                           "✗ not sent to Pedro: quatro"], done.stdout


def test_to_says_at_once_who_the_name_is_and_never_sends_to_the_room_instead(
        server, clients: list[ChatClient]) -> None:
    """/to asked nobody: a name nobody has went unsaid until the first line to it was refused.
    Now the server's whois answers it: online, offline (an account: its messages wait), or
    nobody by that name (its lines are refused, never sent to the room instead)."""
    library_login(clients, server.port, "Conceição", password="senha secreta 1", register=True).close()
    bob = library_login(clients, server.port, "Bob")
    done = chatclient(server.port, "Alice", script="/to bob\nhi\n/to conceição\noi\n/to Ninguem\nsecret\n")
    assert done.returncode == ExitCode.REFUSED, done
    lines = done.stdout.splitlines()
    assert "* plain lines now go to Bob" in lines and "✓✓ delivered to Bob: hi" in lines, lines
    assert "* plain lines now go to Conceição, who is offline: they wait for their next login" in lines, lines
    assert any(line.startswith("✓ queued for Conceição: oi") for line in lines), lines
    assert "! plain lines now go to Ninguem, but nobody called Ninguem has ever logged in here, so they are not " \
           "sent: check the name" in lines, lines
    assert any(line.startswith("✗ not sent to Ninguem: secret") for line in lines), lines
    assert done.stderr.startswith("error: 2 lines of the input did not go through"), done.stderr
    heard = []
    while not bob.events.empty():
        heard.append(bob.events.get_nowait())
    assert not any(getattr(event, "text", None) == "secret" for event in heard), heard


def test_the_default_room_s_members_are_who_is_online_and_it_is_not_left(server, clients: list[ChatClient]) -> None:
    """/rooms lists "#lobby (2 members)"; /members #lobby and /leave #lobby got the server's
    forbidden, said as "only a message's sender may change it...", and /members alone said
    the default room "has no such thing"."""
    library_login(clients, server.port, "Bob")
    done = chatclient(server.port, "Alice", script="/members\n/members #Lobby\n/leave #lobby\n")
    lines = done.stdout.splitlines()
    assert lines[1:] == ["* in #lobby (2): Alice, Bob"] * 2 + [
        "! /leave: #lobby is the default room, which everyone logged in is in; it cannot be left (/quit leaves the "
        "chat)"], done.stdout


def test_a_file_saved_by_windows_notepad_is_read_as_typed(server, clients: list[ChatClient]) -> None:
    """A file saved as "UTF-8 with BOM", with CRLF line ends: its first line, a direct
    message, went to the whole room as '\\ufeff@Bob ...'."""
    library_login(clients, server.port, "Bob")
    done = chatclient(server.port, "Alice", script="\ufeff@Bob só para você\r\n@Bob olá\r\n")
    assert done.returncode == ExitCode.OK, done
    lines = done.stdout.splitlines()
    assert "✓✓ delivered to Bob: só para você" in lines and "✓✓ delivered to Bob: olá" in lines, lines
    assert not any("room" in line for line in lines), lines


def test_no_standard_input_at_all_is_an_empty_script(server) -> None:
    """Started with file descriptor 0 closed, it died with AttributeError: 'NoneType'
    object has no attribute 'isatty'."""
    done = chatclient(server.port, "Alice", script=None, close=(0,))
    assert done.returncode == ExitCode.OK, done
    assert done.stdout.splitlines() == [f"* connected to 127.0.0.1:{server.port} as Alice"]
    assert "Traceback" not in done.stderr


def test_send_without_standard_input_or_output(server, clients: list[ChatClient]) -> None:
    library_login(clients, server.port, "Bob")
    done = chatclient(server.port, "Alice", "--send", "Bob", "from cron", script=None, close=(0, 1))
    assert done.returncode == ExitCode.OK, done
    assert done.stderr == ""
    done = chatclient(server.port, "Alice", script="@Bob olá\n", close=(1,))
    assert done.returncode == ExitCode.OK, done
    assert done.stderr == ""


def test_names_and_text_in_utf8_without_any_locale(server, clients: list[ChatClient]) -> None:
    """Under cron there is often no LANG at all: Python then reads and writes UTF-8 all the
    same (PEP 538/540), and João and Conceição work."""
    library_login(clients, server.port, "João")
    env = {key: value for key, value in os.environ.items() if key not in ("LANG", "LC_ALL", "LC_CTYPE", "LANGUAGE")}
    env.pop("PYTHONIOENCODING", None)
    env.pop("PYTHONUTF8", None)
    for locale in ({}, {"LANG": "C"}, {"LANG": "pt_BR.UTF-8"}):
        done = chatclient(server.port, "Conceição", script="@João olá, tudo bem?\n", env={**env, **locale})
        assert done.returncode == ExitCode.OK, (locale, done)
        assert done.stdout.splitlines()[-1] in ("✓✓ delivered to João: olá, tudo bem?",
                                                "✓✓ entregue a João: olá, tudo bem?"), (locale, done.stdout)


def stopped_by(server, clients: list[ChatClient], signum: int) -> tuple[int, str, UserLeft]:
    """A piped client whose input stays open, stopped by ``signum`` once logged in: its
    exit status, its stderr, and the ``left`` notice Bob gets for it."""
    bob = library_login(clients, server.port, "Bob")
    proc = subprocess.Popen([sys.executable, "chatclient.py", "Alice", f"127.0.0.1:{server.port}"], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            encoding="utf-8", env=dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8"))
    try:
        proc.stdin.write("@Bob still typing\n")
        proc.stdin.flush()
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
        while lines.get(timeout=RUN) != "✓✓ delivered to Bob: still typing\n":
            pass
        proc.send_signal(signum)
        status = proc.wait(RUN)
    finally:
        stop_process(proc)
        proc.stdin.close()
    deadline = time.monotonic() + RUN
    while True:
        event = bob.events.get(timeout=max(0.0, deadline - time.monotonic()))
        if isinstance(event, UserLeft) and event.name == "Alice":
            return status, proc.stderr.read(), event


def test_sigterm_says_goodbye_and_exits_143(server, clients: list[ChatClient]) -> None:
    """SIGTERM (timeout(1), a cancelled CI job) killed it without its goodbye: Bob saw
    Alice leave 'disconnected', and the status was the signal's, not the client's."""
    status, err, left = stopped_by(server, clients, signal.SIGTERM)
    assert (status, err, left.reason) == (ExitCode.TERMINATED, "", "quit")


def test_ctrl_c_in_a_piped_run_says_goodbye_and_exits_130(server, clients: list[ChatClient]) -> None:
    """A piped run cut short by Ctrl-C exited 0, as if its input had all gone through."""
    status, err, left = stopped_by(server, clients, signal.SIGINT)
    assert (status, err, left.reason) == (ExitCode.INTERRUPTED, "", "quit")


def test_sigterm_during_send_says_goodbye_and_exits_143(server) -> None:
    """`timeout 5 chatclient.py --send ...` while the recipient has not confirmed yet: the
    client was killed without its goodbye."""
    bob = login(server, "Bob")  # a bare protocol client: it never confirms what it gets
    try:
        proc = subprocess.Popen([sys.executable, "chatclient.py", "Alice", f"127.0.0.1:{server.port}", "--send", "Bob",
                                 "olá", "--timeout", "60"], cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
        try:
            assert bob.expect(DirectMessage, RUN, skip=(UserJoined, UserLeft)).text == "olá"
            proc.send_signal(signal.SIGTERM)
            status = proc.wait(RUN)
        finally:
            stop_process(proc)
        left = bob.expect(UserLeft, RUN, skip=(UserJoined,))
    finally:
        bob.close()
    assert (status, left.name, left.reason) == (ExitCode.TERMINATED, "Alice", "quit"), proc.stderr.read()


def test_an_invitation_of_a_name_with_no_account_is_said_in_portuguese() -> None:
    """A pt_BR teacher, on a server that admits only accounts, invited a mistyped name and read
    the server's English ("Mla has no account here, ..."): the page said it in Portuguese."""
    from server import ServerConfig, ServerThread
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, require_accounts=True)) as server:
        login(server, "Olga", password="correct horse", register=True).close()
        done = chatclient(server.port, "Olga", script="/join #turma\n/invite Mla\n",
                          env=dict(os.environ, LANG="pt_BR.UTF-8", LC_ALL="C.UTF-8", LANGUAGE="pt_BR",
                                   CHAT_PASSWORD="correct horse"))
    refusals = [line for line in done.stdout.splitlines() if line.startswith("! ")]
    assert refusals == ["! /convidar falhou: Mla não tem conta aqui, e só contas entram neste servidor: confira o "
                        "nome, ou convide a pessoa depois que ela se registrar"], done.stdout + done.stderr


def test_a_kick_of_someone_not_in_the_room_is_said_in_portuguese(server) -> None:
    """A pt_BR teacher kicked Vic, who was not in #turma: the terminal said the server's
    English ("Vic is not in #turma"), as a not_member could be about her or about Vic. The
    error names Vic now, and the line says it in Portuguese, as the server spells the name."""
    vic = login(server, "Vic")
    try:
        done = chatclient(server.port, "Olga", script="/join #turma\n/kick vic\n",
                          env=dict(os.environ, LANG="pt_BR.UTF-8", LC_ALL="C.UTF-8", LANGUAGE="pt_BR"))
    finally:
        vic.close()
    refusals = [line for line in done.stdout.splitlines() if line.startswith("! ")]
    assert refusals == ["! /expulsar falhou: Vic não está em #turma"], done.stdout + done.stderr


def test_blocking_or_unblocking_ones_own_name_is_said_as_what_was_asked_in_portuguese(server) -> None:
    """/unblock of one's own name said "you cannot block yourself (bad_field)", the server's
    English for the other request, with the code after it. Each is said as what was asked,
    in the terminal's language."""
    done = chatclient(server.port, "Olga", script="/unblock olga\n/block Olga\n",
                      env=dict(os.environ, LANG="pt_BR.UTF-8", LC_ALL="C.UTF-8", LANGUAGE="pt_BR"))
    refusals = [line for line in done.stdout.splitlines() if line.startswith("! ")]
    assert refusals == ["! /desbloquear falhou: você não pode desbloquear a si mesmo: ninguém pode bloquear a si mesmo",
                        "! /bloquear falhou: você não pode bloquear a si mesmo"], done.stdout + done.stderr

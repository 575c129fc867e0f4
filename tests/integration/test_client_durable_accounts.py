"""Accounts and TLS from the client's side, against the real server (loopback, port 0).

Passwords: claimed at login (``register``), claimed later (``ChatClient.register``,
``/register``), asked without echo when the server wants one (``getpass`` is patched),
or given to scripts by ``CHAT_PASSWORD`` or ``--password-file``; never on the command line.
TLS: a self-signed certificate made with the ``openssl`` command at test time.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from client import CertificateError, ChatClient, LoginRefused, RequestFailed
from client import auth as client_auth
from client.events import Reconnected, Reconnecting
from client.exitcodes import ExitCode
from client.oneshot import send_once
from client.terminal import TerminalUI
from faultproxy import FaultProxy
from protocol import DirectMessage, Event
from clientkit import start
from server import ServerConfig, ServerThread
from tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0
PASSWORD = "correct horse battery"


def claim(server: ServerThread, name: str = "Alice", password: str = PASSWORD) -> None:
    """Register ``name`` and leave."""
    with ChatClient(name, "127.0.0.1", server.port, password=password, register=True) as client:
        assert client.connect(timeout=WAIT).registered


class FakePrompt:
    """Stands in for getpass.getpass: answers from a list, records the prompts."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str = "Password: ", stream: object = None) -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise EOFError
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer  # e.g. KeyboardInterrupt: Ctrl-C at the prompt
        return answer


@pytest.fixture
def prompt(monkeypatch: pytest.MonkeyPatch) -> FakePrompt:
    fake = FakePrompt()
    monkeypatch.setattr("getpass.getpass", fake)
    return fake


def run_pipe(server: ServerThread, script: str, name: str = "Alice", **options: object) -> tuple[int, list[str], list[str]]:
    out, err = io.StringIO(), io.StringIO()
    ui = TerminalUI(name, "127.0.0.1", server.port, timeout=WAIT, stdin=io.StringIO(script), stdout=out,
                    stderr=err, interactive=False, **options)
    code = ui.run()
    return code, out.getvalue().splitlines(), err.getvalue().splitlines()


# --- The library --------------------------------------------------------------------------


def test_register_at_login_then_the_name_needs_its_password(server: ServerThread, clients: list[ChatClient]) -> None:
    alice = start(clients, server.port, "Alice", password=PASSWORD, register=True)
    assert alice.registered and alice.welcome.registered and not alice.register_on_login
    with pytest.raises(LoginRefused) as missing:
        start(clients, server.port, "alice")
    assert missing.value.code == "auth_required"
    with pytest.raises(LoginRefused) as wrong:
        start(clients, server.port, "alice", password="not the password")
    assert wrong.value.code == "bad_password"
    # Several sessions of one account may be online at once.
    second = None
    deadline = time.monotonic() + WAIT
    while second is None:  # the wrong password above makes the next try wait a moment
        try:
            second = start(clients, server.port, "ALICE", password=PASSWORD)
        except LoginRefused as exc:
            assert exc.code == "rate_limited" and exc.retry_after is not None and time.monotonic() < deadline
            threading.Event().wait(exc.retry_after)
    assert second.registered


def test_a_wrong_password_makes_the_next_try_wait(server: ServerThread, clients: list[ChatClient]) -> None:
    claim(server)
    with pytest.raises(LoginRefused):
        start(clients, server.port, "Alice", password="wrong password")
    late = ChatClient("Alice", "127.0.0.1", server.port, password=PASSWORD)
    clients.append(late)
    with pytest.raises(LoginRefused) as again:
        late.connect(timeout=WAIT, retry_until=0)  # no waiting: the refusal itself
    assert again.value.code == "rate_limited" and 0 < again.value.retry_after <= 1.0
    # Without a deadline, connect() sits through that short wait (a script started just
    # after its classmate's typo logs in a moment later).
    assert start(clients, server.port, "Alice", password=PASSWORD).connected


def test_weak_passwords_are_refused(server: ServerThread, clients: list[ChatClient]) -> None:
    with pytest.raises(LoginRefused) as at_login:
        start(clients, server.port, "Alice", password="short", register=True)
    assert at_login.value.code == "weak_password"
    guest = start(clients, server.port, "Alice")
    with pytest.raises(RequestFailed) as later:
        guest.register("short")
    assert later.value.code == "weak_password" and not guest.registered


def test_a_guest_claims_its_name_and_reconnects_with_the_password(server: ServerThread,
                                                                  clients: list[ChatClient]) -> None:
    events: list[Event] = []
    with FaultProxy(server.host, server.port) as proxy:
        alice = start(clients, proxy.port, "Alice", on_event=events.append, reconnect_delay=0.05)
        assert not alice.registered
        alice.register(PASSWORD)
        assert alice.registered and alice.password == PASSWORD
        with pytest.raises(RequestFailed) as twice:
            alice.register(PASSWORD)
        assert twice.value.code == "account_exists"
        proxy.cut("Alice")
        deadline = time.monotonic() + WAIT
        while not any(isinstance(e, Reconnected) for e in events):
            assert time.monotonic() < deadline, events
            threading.Event().wait(0.02)
        welcome = next(e for e in events if isinstance(e, Reconnected)).welcome
        assert welcome.registered and alice.connected
    with pytest.raises(LoginRefused) as info:
        start(clients, server.port, "Alice")
    assert info.value.code == "auth_required"


def test_accounts_required() -> None:
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, require_accounts=True)) as srv:
        with pytest.raises(LoginRefused) as info:
            ChatClient("Guest", srv.host, srv.port).connect(timeout=WAIT)
        assert info.value.code == "accounts_required"
        code, lines, errors = run_pipe(srv, "", name="Guest")
        assert code == ExitCode.AUTH_FAILED
        assert errors[0].startswith("error: login refused: this server only admits registered names")
        with ChatClient("Member", srv.host, srv.port, password=PASSWORD, register=True) as member:
            assert member.connect(timeout=WAIT).registered


# --- The terminal and --send: prompts, environment, file ------------------------------------


def test_register_on_the_command_line_asks_twice(server: ServerThread, prompt: FakePrompt) -> None:
    prompt.answers = [PASSWORD, PASSWORD]
    code, lines, errors = run_pipe(server, "/who\n", register=True, prompt_passwords=True)
    assert code == ExitCode.OK, errors
    assert lines[0] == f"* connected to 127.0.0.1:{server.port} as Alice (registered)"
    assert prompt.prompts == ["new password for Alice (at least 8 characters): ", "the same password again: "]
    with pytest.raises(LoginRefused):
        ChatClient("Alice", "127.0.0.1", server.port).connect(timeout=WAIT)


def test_register_on_the_command_line_of_a_taken_name_says_it_is_taken_not_wrong_password(
        server: ServerThread, prompt: FakePrompt) -> None:
    """``chatclient.py --register Alice`` when Alice is someone's account: the user meant a
    new account, so "wrong password" was not true; nor is asking for a password again."""
    claim(server)
    prompt.answers = ["another password", "another password"]
    code, lines, errors = run_pipe(server, "", register=True, prompt_passwords=True)
    assert code == ExitCode.AUTH_FAILED and lines == []
    assert errors == ["error: login refused: this name is already registered: log in with its password, or "
                      "choose another name"]
    assert len(prompt.prompts) == 2  # the new password, twice; never "password for Alice" after it


@pytest.mark.parametrize(("answers", "problem"), [
    (["first password", "other password"], "the two passwords differ"),
    (["short"], "at least 8 characters"),
    ([], "no password given"),
])
def test_register_refuses_bad_prompts(server: ServerThread, prompt: FakePrompt, answers: list[str],
                                      problem: str) -> None:
    prompt.answers = answers
    code, lines, errors = run_pipe(server, "", register=True, prompt_passwords=True)
    assert code == ExitCode.AUTH_FAILED and lines == []
    assert problem in errors[0]


def test_the_password_is_asked_when_needed_and_asked_again_when_wrong(server: ServerThread,
                                                                      prompt: FakePrompt) -> None:
    claim(server)
    prompt.answers = ["wrong password", PASSWORD]
    code, lines, errors = run_pipe(server, "/who\n", prompt_passwords=True)
    assert code == ExitCode.OK, errors
    assert prompt.prompts == ["password for Alice: ", "password for Alice: "]
    assert errors == ["error: wrong password; try again"]
    assert lines[0].endswith("as Alice (registered)")


def test_three_wrong_passwords_give_up(server: ServerThread, prompt: FakePrompt) -> None:
    claim(server)
    prompt.answers = ["wrong one!", "wrong two!", "wrong three!"]
    code, _, errors = run_pipe(server, "", prompt_passwords=True)
    assert code == ExitCode.AUTH_FAILED
    assert errors[-1] == "error: login refused: wrong password"
    assert len(prompt.prompts) == 3


def test_a_script_without_password_is_told_how_to_give_one(server: ServerThread, prompt: FakePrompt) -> None:
    claim(server)
    code, lines, errors = run_pipe(server, "")
    assert code == ExitCode.AUTH_FAILED and lines == [] and prompt.prompts == []
    assert errors == ["error: login refused: the name Alice is registered: it needs its password; "
                      "set CHAT_PASSWORD or use --password-file FILE"]


def test_register_in_the_terminal(server: ServerThread, prompt: FakePrompt) -> None:
    prompt.answers = [PASSWORD, PASSWORD, "mismatch one", "mismatch two"]
    code, lines, _ = run_pipe(server, "/register\n/register\n", prompt_passwords=True)
    assert code == ExitCode.OK
    assert "* Alice is now registered: log in with its password from now on" in lines
    assert "! Alice is registered already" in lines
    assert len(prompt.prompts) == 2
    # Without prompts and without a script password it says how to give one.
    code, lines, _ = run_pipe(server, "/register\n", name="Bob")
    assert "! /register needs a password typed without echo" in lines[-1]
    code, lines, _ = run_pipe(server, "/register x\n", name="Carol")
    assert lines[-1] == "! usage: /register (alone: the password is asked without echo)"


def test_register_with_a_weak_password_in_the_terminal(server: ServerThread, prompt: FakePrompt) -> None:
    # A password too short, or two that differ, is said and asked again, as a wrong one at
    # login is; after three tries nothing is registered.
    prompt.answers = ["short", "long enough", "long enuogh", "tiny"]
    _, lines, _ = run_pipe(server, "/register\n", prompt_passwords=True)
    assert lines[-3:] == ["! /register: a password needs at least 8 characters; try again",
                          "! /register: the two passwords differ; try again",
                          "! /register: a password needs at least 8 characters"]
    assert len(prompt.prompts) == 4 and prompt.answers == []
    # A typo corrected on the second try registers.
    prompt.answers, prompt.prompts = ["short", PASSWORD, PASSWORD], []
    code, lines, _ = run_pipe(server, "/register\n", prompt_passwords=True)
    assert code == ExitCode.OK and lines[-2:] == [
        "! /register: a password needs at least 8 characters; try again",
        "* Alice is now registered: log in with its password from now on"]


def test_ctrl_c_at_the_password_prompt_ends_the_client_as_interrupted(server: ServerThread,
                                                                       prompt: FakePrompt) -> None:
    """It ended silently with status 0, as a chat left normally."""
    claim(server, "Carol")
    prompt.answers = [KeyboardInterrupt()]
    code, lines, errors = run_pipe(server, "", name="Carol", prompt_passwords=True)
    assert code == ExitCode.INTERRUPTED, (lines, errors)
    assert len(prompt.prompts) == 1


def test_send_once_with_the_password_for_scripts(server: ServerThread, clients: list[ChatClient]) -> None:
    claim(server, "Carol")
    start(clients, server.port, "Bob")
    out, err = io.StringIO(), io.StringIO()
    code = send_once("Carol", "Bob", "hi", host="127.0.0.1", port=server.port, timeout=WAIT, stdout=out,
                     stderr=err, password=PASSWORD)
    assert code == ExitCode.OK and out.getvalue().startswith("delivered to Bob"), err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    code = send_once("Carol", "Bob", "hi", host="127.0.0.1", port=server.port, timeout=WAIT, stdout=out,
                     stderr=err, password="wrong password")
    assert code == ExitCode.AUTH_FAILED
    assert err.getvalue() == "error: login refused: wrong password\n"


def chatclient(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "CHAT_PASSWORD"}
    return subprocess.run([sys.executable, "chatclient.py", *args], cwd=ROOT, capture_output=True, text=True,
                          encoding="utf-8", timeout=WAIT * 2, input=stdin, env={**environment, **(env or {})})


def test_the_command_line_takes_the_password_from_the_environment_or_a_file(
        server: ServerThread, clients: list[ChatClient], tmp_path: Path) -> None:
    claim(server, "Carol")
    start(clients, server.port, "Bob")
    port = str(server.port)
    done = chatclient("Carol", "--port", port, "--send", "Bob", "from env", env={"CHAT_PASSWORD": PASSWORD})
    assert (done.returncode, done.stderr) == (0, "")
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\nignored second line\n", encoding="utf-8")
    done = chatclient("Carol", "--port", port, "--password-file", str(password_file), "--send", "Bob", "from file")
    assert (done.returncode, done.stderr) == (0, "")
    done = chatclient("Carol", "--port", port, "--send", "Bob", "no password")
    assert done.returncode == ExitCode.AUTH_FAILED and "set CHAT_PASSWORD" in done.stderr
    # The terminal client in pipe mode, the same way.
    done = chatclient("Carol", "--port", port, stdin="/who\n", env={"CHAT_PASSWORD": PASSWORD})
    assert done.returncode == 0 and done.stdout.startswith("* connected to") and "(registered)" in done.stdout


def test_passwords_are_never_taken_from_the_command_line(tmp_path: Path) -> None:
    done = chatclient("Carol", "--password", "hunter2-secret", "--send", "Bob", "x")
    assert done.returncode == ExitCode.USAGE
    assert "passwords are not accepted on the command line" in done.stderr
    assert "hunter2-secret" not in done.stderr + done.stdout
    done = chatclient("Carol", "--password-file", str(tmp_path / "missing"), "--send", "Bob", "x")
    assert done.returncode == ExitCode.USAGE and "cannot read the password file" in done.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n")
    done = chatclient("Carol", "--password-file", str(empty), "--send", "Bob", "x")
    assert done.returncode == ExitCode.USAGE and "is empty" in done.stderr


def test_password_sources_in_order(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("from the file\r\n", encoding="utf-8")
    assert client_auth.script_password(str(path), {"CHAT_PASSWORD": "from env"}) == "from the file"
    assert client_auth.script_password(None, {"CHAT_PASSWORD": "from env"}) == "from env"
    assert client_auth.script_password(None, {"CHAT_PASSWORD": ""}) is None
    assert client_auth.script_password(None, {}) is None


# --- TLS ------------------------------------------------------------------------------------------


def make_certificate(folder: Path, san: str = "DNS:localhost,IP:127.0.0.1") -> tuple[Path, Path]:
    require_tool("openssl", why="to make a test certificate")
    cert, key = folder / "c.pem", folder / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-addext", f"subjectAltName={san}", "-days", "2", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[ServerThread]:
    cert, key = certificate
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key)) as srv:
        yield srv


def test_tls_with_the_servers_certificate_trusted(tls_server: ServerThread, certificate: tuple[Path, Path],
                                                  clients: list[ChatClient]) -> None:
    cafile = str(certificate[0])
    got: list[Event] = []
    bob = start(clients, tls_server.port, "Bob", cafile=cafile, on_event=got.append)
    alice = start(clients, tls_server.port, "Alice", tls=True, cafile=cafile)
    assert alice.tls and bob.tls
    assert alice.send_direct("Bob", "over TLS").wait("delivered", WAIT)
    assert [e.text for e in got if isinstance(e, DirectMessage)] == ["over TLS"]
    started = time.monotonic()
    alice.close()
    assert time.monotonic() - started < 1.5  # the server closes after our goodbye: no cut needed
    assert alice.close_reason == "closed by this client"


def test_tls_without_trust_is_a_clear_error(tls_server: ServerThread) -> None:
    client = ChatClient("Alice", "127.0.0.1", tls_server.port, tls=True)
    with pytest.raises(CertificateError) as info:
        client.connect(timeout=WAIT)
    assert str(info.value).startswith("cannot verify the server's certificate: ")
    assert "self-signed" in str(info.value) or "self signed" in str(info.value)


def test_tls_checks_the_host_name(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path, san="DNS:elsewhere.example")
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, tls_cert=cert, tls_key=key)) as srv:
        client = ChatClient("Alice", "127.0.0.1", srv.port, cafile=str(cert))
        with pytest.raises(CertificateError, match="mismatch"):
            client.connect(timeout=WAIT)


def test_tls_errors_on_the_command_line(tls_server: ServerThread, certificate: tuple[Path, Path],
                                        clients: list[ChatClient], tmp_path: Path) -> None:
    start(clients, tls_server.port, "Bob", cafile=str(certificate[0]))
    port = str(tls_server.port)
    done = chatclient("Carol", "--port", port, "--tls", "--send", "Bob", "x")
    assert done.returncode == ExitCode.NO_SERVER and done.stdout == ""
    assert done.stderr.startswith("error: cannot verify the server's certificate: ")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    done = chatclient("Carol", "--port", port, "--cafile", str(certificate[0]), "--send", "Bob", "x")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("delivered to Bob")
    done = chatclient("Carol", "--port", port, "--cafile", str(tmp_path / "nope.pem"), "--send", "Bob", "x")
    assert done.returncode == ExitCode.NO_SERVER and "cannot use the CA file" in done.stderr
    assert "Traceback" not in done.stderr
    done = chatclient("Carol", "--port", port, stdin="/who\n")  # plain TCP to a TLS server
    assert done.returncode == ExitCode.NO_SERVER and "Traceback" not in done.stderr


def test_tls_reconnects_and_resends(tls_server: ServerThread, certificate: tuple[Path, Path],
                                    clients: list[ChatClient]) -> None:
    cafile = str(certificate[0])
    got: list[Event] = []
    events: list[Event] = []
    start(clients, tls_server.port, "Bob", cafile=cafile, on_event=got.append)
    with FaultProxy("127.0.0.1", tls_server.port, raw=True) as proxy:
        # The proxy is reached as 127.0.0.1, which the certificate names too; TLS runs end to end.
        alice = start(clients, proxy.port, "Alice", cafile=cafile, on_event=events.append, reconnect_delay=0.05)
        assert alice.send_direct("Bob", "first").wait("delivered", WAIT)
        proxy.refuse_new = True
        assert proxy.cut() == 1
        deadline = time.monotonic() + WAIT
        while not any(isinstance(e, Reconnecting) for e in events):
            assert time.monotonic() < deadline
            threading.Event().wait(0.01)
        second = alice.send_direct("Bob", "second")
        proxy.refuse_new = False
        assert second.wait("delivered", WAIT)
    assert [e.text for e in got if isinstance(e, DirectMessage)] == ["first", "second"]
    assert any(isinstance(e, Reconnected) and e.resent == 1 for e in events)


@pytest.mark.skipif(not hasattr(os, "login_tty"), reason="needs os.login_tty (a POSIX pseudo-terminal)")
def test_a_real_terminal_never_echoes_the_password(server: ServerThread) -> None:
    import select

    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CHAT_PASSWORD"}
    env.update(TERM="xterm", PYTHONIOENCODING="utf-8")
    # login_tty makes the pty the controlling terminal, so getpass reads /dev/tty as for a person.
    proc = subprocess.Popen([sys.executable, "chatclient.py", "Alice", "--port", str(server.port), "--register"],
                            cwd=ROOT, env=env, preexec_fn=lambda: os.login_tty(slave), pass_fds=(slave,))
    os.close(slave)
    seen = b""

    def expect(wanted: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + WAIT
        while wanted not in seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{wanted!r} never appeared: {seen!r}"
            if select.select([master], [], [], remaining)[0]:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"{wanted!r} never appeared; the terminal closed: {seen!r}"
                seen += chunk

    try:
        expect(b"new password for Alice")
        os.write(master, PASSWORD.encode() + b"\r")
        expect(b"the same password again: ")
        os.write(master, PASSWORD.encode() + b"\r")
        expect(b"as Alice (registered)")
        os.write(master, b"/quit\r")
        assert proc.wait(WAIT) == 0
    finally:
        proc.kill()
        proc.wait(WAIT)
        os.close(master)
    assert PASSWORD.encode() not in seen and b"Traceback" not in seen
    with pytest.raises(LoginRefused):
        ChatClient("Alice", "127.0.0.1", server.port).connect(timeout=WAIT)


def test_password_in_the_terminal_asks_the_current_and_the_new_one_without_echo(server: ServerThread,
                                                                                  prompt: FakePrompt) -> None:
    """A student changes their password: /password asks the current one and the new one
    twice (getpass: no echo), never takes them from the line, and the new one logs in."""
    claim(server)
    new = "a brand new secret"
    prompt.answers = [PASSWORD, new, new]
    code, lines, _ = run_pipe(server, "/password\n", password=PASSWORD, prompt_passwords=True)
    assert code == ExitCode.OK
    assert "* the password of Alice is changed: log in with the new one from now on" in lines
    assert prompt.prompts == ["current password for Alice: ", "new password for Alice (at least 8 characters): ",
                              "the same password again: "]
    with ChatClient("Alice", "127.0.0.1", server.port, password=new) as client:
        assert client.connect(timeout=WAIT).registered
    code, lines, _ = run_pipe(server, "/password mine\n", password=new)
    assert lines[-1] == "! usage: /password (alone: the passwords are asked without echo)"
    code, lines, _ = run_pipe(server, "/password\n", name="Guest")
    assert lines[-1] == "! /password: Guest has no password: /register claims the name with one"
    # Last: a wrong password makes the next login from here wait.
    prompt.answers = ["not the password", "another new one", "another new one"]
    code, lines, errors = run_pipe(server, "/password\n", password=new, prompt_passwords=True)
    assert lines[-1:] == ["! /password failed: wrong password"], (lines, errors)

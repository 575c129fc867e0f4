"""chatserver.py as a new user meets it: bad ports are usage errors, a busy port names the
flag that changes it, the log says each address once, the console lists its commands.

Loopback only; every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import os
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server import ChatServer, ServerConfig
from server.app import ListenFailed
from server.console import help_lines

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0


def run(*args: str, program: str = "chatserver.py") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, program, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=WAIT, stdin=subprocess.DEVNULL)


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- Ports out of range are usage errors --------------------------------------------------


@pytest.mark.parametrize(("program", "flag", "value", "error"), [
    ("chatserver.py", "--port", "99999", "argument --port: a port is between 0 and 65535, not 99999"),
    ("chatserver.py", "--port", "-1", "argument --port: a port is between 0 and 65535, not -1"),
    ("chatserver.py", "--web-port", "99999", "argument --web-port: a port is between 0 and 65535, not 99999"),
    ("chatserver.py", "--web-port", "http", "argument --web-port: not a port number: 'http'"),
    ("chatclient.py", "--port", "99999", "argument --port: a port is between 1 and 65535, not 99999"),
])
def test_a_port_out_of_range_is_a_usage_error(program: str, flag: str, value: str, error: str) -> None:
    args = ("Alice",) if program == "chatclient.py" else ("--memory",)
    done = run(*args, flag, value, program=program)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == f"{program}: error: {error}"


# --- A busy port says which, and the flag that changes it --------------------------------


def test_a_busy_web_port_names_it_and_the_web_port_flag(busy_port: int) -> None:
    done = run("--host", "127.0.0.1", "--port", "0", "--memory", "--web-port", str(busy_port))
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert "Traceback" not in done.stderr
    assert len(errors) == 1, done.stderr
    assert errors[0].endswith(
        f"cannot start: the web client cannot listen on 127.0.0.1 port {busy_port} (Address already in use); "
        "choose another port with --web-port PORT, or turn the web client off with --web-port 0")


def test_a_busy_chat_port_names_it_and_the_port_flag(busy_port: int) -> None:
    done = run("--host", "127.0.0.1", "--port", str(busy_port), "--memory", "--web-port", "0")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert "Traceback" not in done.stderr
    assert len(errors) == 1, done.stderr
    assert errors[0].endswith(f"cannot start: cannot listen on 127.0.0.1 port {busy_port} "
                              "(Address already in use); choose another port with --port PORT, "
                              "or another address with --host")


@pytest.mark.parametrize("which", ["chat", "web"])
def test_a_busy_port_is_found_before_the_database_is_made(busy_port: int, tmp_path: Path, which: str) -> None:
    """A second server started by mistake on a taken port: the one line that says so, and
    no new database in its data directory (nor "new database" in the log) for one that
    never served: the port is taken before the store is opened."""
    data = tmp_path / "turma"
    chat, web = (busy_port, 0) if which == "chat" else (0, busy_port)
    done = run("--host", "127.0.0.1", "--port", str(chat), "--web-port", str(web), "--data", str(data))
    assert done.returncode == 1
    assert [line for line in done.stderr.splitlines() if " ERROR " in line or " INFO " in line] == [
        line for line in done.stderr.splitlines() if " ERROR " in line], done.stderr
    assert f"port {busy_port} (Address already in use)" in done.stderr
    assert sorted(path.name for path in data.glob("chat.sqlite3*")) == []


def test_one_port_for_chat_and_web_is_a_usage_error() -> None:
    """Not "listening on 5050", then the web client's port in use: the server's own."""
    port = str(free_port())
    done = run("--host", "127.0.0.1", "--port", port, "--web-port", port, "--memory")
    assert done.returncode == 2 and " INFO " not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == (f"chatserver.py: error: --port and --web-port are both {port}: the web "
                                            "client needs a port of its own (or --web-port 0: no web client)")


def test_a_host_name_that_does_not_resolve_is_said_in_words() -> None:
    done = run("--host", "no-such-host.invalid", "--port", "0", "--memory", "--web-port", "0")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "cannot listen on no-such-host.invalid port 0 (" in errors[0]
    assert "Unknown error" not in errors[0] and "--host" in errors[0]


def test_a_failed_web_listener_leaves_nothing_open_or_locked(busy_port: int, tmp_path: Path) -> None:
    async def scenario() -> None:
        chat_port = free_port()
        config = ServerConfig(host="127.0.0.1", port=chat_port, web_port=busy_port, data_dir=tmp_path)
        with pytest.raises(ListenFailed) as failed:
            await ChatServer(config).start()
        assert (failed.value.listener, failed.value.port) == ("web", busy_port)
        # The chat port is free again and the data directory unlocked: a server starts there.
        again = ChatServer(ServerConfig(host="127.0.0.1", port=chat_port, data_dir=tmp_path))
        await again.start()
        await again.stop()

    asyncio.run(asyncio.wait_for(scenario(), WAIT))


# --- Settings that could never work are usage errors ------------------------------------------


@pytest.mark.parametrize("value", ["0", "-3"])
def test_a_connection_limit_per_address_below_one_is_a_usage_error(value: str) -> None:
    """0 would refuse everyone, with nothing in the log to say why."""
    done = run("--port", "0", "--web-port", "0", "--memory", "--max-connections-per-address", value)
    assert done.returncode == 2 and ("chatserver.py: error: --max-connections-per-address is a number of connections, "
                                     f"at least 1, not {value}\n") in done.stderr, done.stderr


@pytest.mark.parametrize(("args", "error"), [
    (("--memory", "--data", "turma"), "--data and --memory exclude each other: --memory keeps nothing on disk"),
    (("--data", "turma", "--cluster", "redis://127.0.0.1:1/0"),
     "--data and --cluster exclude each other: a cluster keeps everything in Redis (--cluster, or CLUSTER_URL in "
     "const.py)"),
])
def test_data_with_memory_or_cluster_is_a_usage_error_not_ignored(args: tuple[str, ...], error: str) -> None:
    done = run("--port", "0", "--web-port", "0", *args)
    assert done.returncode == 2 and f"chatserver.py: error: {error}\n" in done.stderr, done.stderr


@pytest.mark.parametrize(("args", "error"), [
    (("--web-host-name", "http://sala.escola.br/"), "--web-host-name: 'http://sala.escola.br/' is not a host name: "
                                                    "give the name alone, as in sala.escola.br (no http://, no port, "
                                                    "no /)"),
    (("--web-host-name", "sala.escola.br:21071"), "--web-host-name: 'sala.escola.br:21071' is not a host name: give "
                                                  "the name alone, as in sala.escola.br (no http://, no port, no /)"),
    (("--web-origin", "sala.escola.br"), "--web-origin: 'sala.escola.br' is not an origin: give the scheme and the "
                                         "name, and the port if it is not the scheme's, as in https://sala.escola.br "
                                         "or http://sala.escola.br:8080"),
    (("--web-origin", "http://sala.escola.br/chat"), "--web-origin: 'http://sala.escola.br/chat' is not an origin"),
    # An IPv6 host in brackets, as a URL writes it: "http://2001:db8::5:8080" reads 8080 as the address's last group.
    (("--web-origin", "[2001:db8::5]:8080"), "--web-origin: '[2001:db8::5]:8080' is not an origin: give the scheme "
                                             "and the name, and the port if it is not the scheme's, as in "
                                             "https://[2001:db8::5] or http://[2001:db8::5]:8080"),
])
def test_a_web_name_or_origin_that_could_never_match_is_a_usage_error(args: tuple[str, ...], error: str) -> None:
    done = run("--port", "0", "--web-port", "0", "--memory", *args)
    assert done.returncode == 2 and f"chatserver.py: error: {error}" in done.stderr, done.stderr


def test_a_web_name_from_the_settings_file_is_said_to_come_from_it(tmp_path: Path, monkeypatch) -> None:
    """README tells an operator to put settings in const_local.py: the error names that
    file, where the wrong name is, not const.py."""
    settings = tmp_path / "const_local.py"
    settings.write_text('WEB_ALLOWED_HOSTS = ("http://sala.escola.br/",)\n', encoding="utf-8")
    monkeypatch.setenv("CHAT_CONST_LOCAL", str(settings))
    done = run("--port", "0", "--web-port", "0", "--memory")
    assert done.returncode == 2 and f"chatserver.py: error: WEB_ALLOWED_HOSTS in {settings}: " \
           "'http://sala.escola.br/' is not a host name" in done.stderr, done.stderr


def test_an_address_or_port_from_the_settings_file_that_cannot_be_listened_on_names_the_file(
        tmp_path: Path, monkeypatch, busy_port: int) -> None:
    """A const_local.py left with another network's address (192.0.2.20: none of this
    machine's) or a port something else holds: the error pointed at --host and --port
    only, and the server stopped before its log said which settings file applied, so the
    operator looked for the value on a command line that did not have it."""
    settings = tmp_path / "const_local.py"
    monkeypatch.setenv("CHAT_CONST_LOCAL", str(settings))
    settings.write_text('SERVER_HOST = "192.0.2.20"\n', encoding="utf-8")
    done = run("--port", "0", "--web-port", "0", "--memory")
    assert done.returncode == 1 and "cannot listen on 192.0.2.20 port 0 (" in done.stderr, done.stderr
    assert done.stderr.rstrip().endswith(f"; 192.0.2.20 is SERVER_HOST in {settings}"), done.stderr
    settings.write_text(f'SERVER_HOST = "127.0.0.1"\nWEB_PORT = {busy_port}\n', encoding="utf-8")
    done = run("--port", "0", "--memory")
    assert done.returncode == 1 and done.stderr.rstrip().endswith(
        f"cannot start: the web client cannot listen on 127.0.0.1 port {busy_port} (Address already in use); "
        f"choose another port with --web-port PORT, or turn the web client off with --web-port 0; "
        f"{busy_port} is WEB_PORT in {settings}"), done.stderr
    done = run("--port", "0", "--memory", "--host", "192.0.2.21")  # the command line's: nothing to add
    assert done.stderr.rstrip().endswith("another address with --host"), done.stderr


# --- A data directory that cannot be used names it, and what to do -------------------------


def run_patched(prelude: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """chatserver.main(args) in a new Python, after ``prelude`` (which stands for a fault
    this machine cannot make: a read-only mount, a full disk)."""
    script = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{prelude}\nimport chatserver\n" \
             f"sys.exit(chatserver.main({list(args)!r}))"
    return subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=WAIT,
                          stdin=subprocess.DEVNULL)


# Every address as two loopbacks (the tests listen on no network), a machine whose one
# stable IPv6 address is 2001:db8:1:2::20 (server/lan.py reads it from Linux's table), and
# a SIGTERM once the server has said its lines and takes the signal.
EVERY_ADDRESS_ON_THE_LOOPBACK = """
import os, signal, socket
import server.lan
system_getaddrinfo = socket.getaddrinfo
def two_loopbacks(host, port, *args, **kwargs):
    if host is not None:
        return system_getaddrinfo(host, port, *args, **kwargs)
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0))]
socket.getaddrinfo = two_loopbacks
server.lan._IF_INET6 = {table!r}
server.lan._ROUTES = "/nonexistent"
import chatserver
chatserver._tell_parent_listening = lambda: os.kill(os.getpid(), signal.SIGTERM)  # (once its handlers are in place)
"""


def test_a_server_on_every_address_gives_the_class_its_ipv6_addresses_too(tmp_path: Path) -> None:
    """SERVER_HOST = "" listens on 0.0.0.0 and :: both; the LAN line was worked out from
    the first socket's 0.0.0.0, which takes IPv4 only, and left the IPv6 addresses out."""
    table = tmp_path / "if_inet6"
    table.write_text("20010db8000100020000000000000020 02 40 00 80     eth0\n")
    done = run_patched(EVERY_ADDRESS_ON_THE_LOOPBACK.format(table=str(table)), "--host", "", "--port", "0",
                       "--web-port", "0", "--memory")
    assert done.returncode == 0, done.stderr
    port = re.search(r"listening on 127\.0\.0\.1:(\d+) and \[::1\]:(\d+)\n", done.stderr).group(1)
    lan = [line for line in done.stderr.splitlines() if " INFO from the LAN: python3 chatclient.py NAME " in line]
    assert len(lan) == 1 and f"[2001:db8:1:2::20]:{port}" in lan[0], done.stderr


def test_a_data_folder_that_is_a_file_names_the_folder_and_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    done = run("--port", "0", "--web-port", "0", "--data", str(tmp_path / "afile"))
    assert done.returncode == 1
    assert f"ERROR cannot start: --data {tmp_path / 'afile'} must be a folder, but {tmp_path / 'afile'} is a file; " \
           "give --data a folder, or move the file\n" in done.stderr, done.stderr
    # Given relatively, it is named absolutely: where it was looked for.
    done = run_patched("", "--port", "0", "--web-port", "0", "--data", "afile/data", cwd=tmp_path)
    assert f"--data {tmp_path / 'afile' / 'data'} must be a folder, but {tmp_path / 'afile'} is a file" \
        in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_new_database_is_named_absolutely_and_its_schema_said_in_one_line(tmp_path: Path) -> None:
    """Started from another folder, ``--data data`` is another, empty chat: the log names
    the folder absolutely, so that this shows; a new database is one line, not one per
    migration."""
    from server.store import SCHEMA_VERSION
    proc = subprocess.Popen([sys.executable, str(ROOT / "chatserver.py"), "--host", "127.0.0.1", "--port", "0",
                             "--web-port", "0", "--data", "data"], cwd=tmp_path, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        said = proc.communicate("/quit\n", timeout=WAIT)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
    assert proc.returncode == 0, said
    assert f" INFO data in {tmp_path / 'data' / 'chat.sqlite3'}\n" in said, said
    assert said.count("schema version") == 1 and f"new database, at schema version {SCHEMA_VERSION}\n" in said, said


# The lock file cannot be made or written, as on a read-only mount or a full disk.
FAULTY_DISK = """
import errno, os, server.lockfile as lockfile
class Faulty:
    def __getattr__(self, name):
        return getattr(os, name)
    def open(self, path, *args):
        raise OSError(errno.{code}, os.strerror(errno.{code}), str(path))
lockfile.os = Faulty()
"""


@pytest.mark.parametrize(("code", "said"), [
    ("EROFS", "cannot start: --data {dir} is on a read-only file system; give --data a folder the server may "
              "write in, or mount it read-write\n"),
    ("ENOSPC", "cannot start: the disk holding --data {dir} is full ("),
    ("EACCES", "cannot start: no permission to write in --data {dir} (Permission denied); give --data a folder "
               "this user may write in\n"),
])
def test_a_data_folder_on_a_read_only_or_full_disk_names_the_folder_and_what_to_do(
        tmp_path: Path, code: str, said: str) -> None:
    done = run_patched(FAULTY_DISK.format(code=code), "--port", "0", "--web-port", "0", "--data", "data", cwd=tmp_path)
    assert done.returncode == 1
    assert said.format(dir=tmp_path / "data") in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_database_that_cannot_be_written_says_the_disk_may_be_full(tmp_path: Path) -> None:
    """A full disk under an existing database: SQLite says "disk I/O error", which reads like
    a broken disk; the log says the disk may be full, and how much it has left."""
    prelude = """
import sqlite3, server.store
def full(path):
    error = sqlite3.OperationalError("disk I/O error")
    error.sqlite_errorcode, error.sqlite_errorname = 4874, "SQLITE_IOERR_SHMSIZE"
    raise error
server.store.open_database = full
"""
    done = run_patched(prelude, "--port", "0", "--web-port", "0", "--data", "data", cwd=tmp_path)
    assert done.returncode == 1
    assert re.search(rf"ERROR cannot use the database {re.escape(str(tmp_path / 'data' / 'chat.sqlite3'))}: disk I/O "
                     r"error; the disk holding it may be full \([\d.]+ [KMG]?B\w* free\): free some space, or move "
                     r"--data to another disk; else the disk may be failing\n", done.stderr), done.stderr


# --- The log and the console ----------------------------------------------------------------


class Console:
    """chatserver.py in a subprocess, its console on a pipe; its log (standard error) and
    its standard output read with deadlines: ``said`` has both as they came, ``log`` and
    ``out`` each."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, "chatserver.py", "--host", "127.0.0.1", "--memory", *args],
                                     cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.said = self.log = self.out = b""

    def _take(self, stream, chunk: bytes) -> None:
        self.said += chunk
        if stream is self.proc.stderr:
            self.log += chunk
        else:
            self.out += chunk

    def expect(self, pattern: str, timeout: float = WAIT) -> re.Match[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern.encode(), self.said)
            if match:
                return match
            left = deadline - time.monotonic()
            assert left > 0, f"{pattern!r} never came; the server said: {self.said.decode(errors='replace')}"
            for stream in select.select([self.proc.stderr, self.proc.stdout], [], [], left)[0]:
                chunk = os.read(stream.fileno(), 4096)
                assert chunk, f"{pattern!r} never came; the server ended: {self.said.decode(errors='replace')}"
                self._take(stream, chunk)

    def type(self, line: str) -> None:
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def finish(self) -> str:
        """Wait for the end (after /quit); all the server said."""
        assert self.proc.wait(WAIT) == 0
        self._take(self.proc.stdout, self.proc.stdout.read())
        self._take(self.proc.stderr, self.proc.stderr.read())
        return self.said.decode()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)
        self.proc.stdin.close()
        self.proc.stdout.close()
        self.proc.stderr.close()


def test_the_log_says_each_address_once_and_the_console_lists_its_commands() -> None:
    web_port = free_port()
    console = Console("--port", "0", "--web-port", str(web_port))
    try:
        console.expect(rf"web client on http://127\.0\.0\.1:{web_port}/\n")
        console.expect(r"listening on 127\.0\.0\.1:\d+\n")
        console.type("/help")
        console.expect(re.escape(help_lines()[-1]) + r"\n")
        console.type("/nonsense")
        console.expect(r"unknown command '/nonsense'\n" + re.escape(help_lines()[0]))
        console.type("/quem agora")  # words after it change nothing (it said "unknown command" and the help)
        console.expect(r"online: ")
        console.type("/lista")  # the client's name for it, typed here too
        console.expect(r"(?s)online: .*online: ")
        console.type("/quit")
        said = console.finish()
    finally:
        console.close()
    assert len(re.findall(rf":{web_port}\b", said)) == 1, said
    assert len(re.findall(r"listening on ", said)) == 1, said
    assert said.count("\n".join(help_lines())) == 2, said  # after /help and after /nonsense
    for command in ("/who", "/quit", "/sair", "/help"):
        assert command in "\n".join(help_lines())
    assert "Traceback" not in said


def test_the_consoles_answers_go_to_its_output_not_to_the_log() -> None:
    """README has the operator send the log to a file (``2>server.log``): /who, /help, /admin
    and /backup were answered on standard error, into that file, and the operator at the
    terminal saw nothing (only /password's answers came to the screen), while the log got
    lines without a time."""
    console = Console("--port", "0", "--web-port", "0")
    try:
        console.expect(r"listening on 127\.0\.0\.1:\d+\n")
        for command in ("/who", "/help", "/admin Ninguém", "/backup", "/nonsense"):
            console.type(command)
        console.expect(r"unknown command '/nonsense'")
        console.type("/quit")
        console.finish()
    finally:
        console.close()
    out, log = console.out.decode(), console.log.decode()
    for answer in ("online: nobody", help_lines()[0], "Ninguém has no account", "nothing to back up",
                   "unknown command '/nonsense'"):
        assert answer in out and answer not in log, (answer, out, log)
    assert all(re.match(r"\d{4}-\d\d-\d\d ", line) for line in log.splitlines()), log  # each a time first


def test_a_line_the_console_cannot_decode_is_refused_in_words_and_the_console_goes_on() -> None:
    """A Latin-1 terminal's "João" (the byte E3) in a UTF-8 locale, whose standard input is
    strict (PYTHONIOENCODING says so here, as a pt_BR.UTF-8 locale does): the console
    thread ended on the UnicodeDecodeError without a word, and /who and /quit after it went
    unread, the server running on. The line is now read with U+FFFD for the byte."""
    console = Console("--port", "0", "--web-port", "0", env=dict(os.environ, PYTHONIOENCODING="utf-8:strict"))
    try:
        console.expect(r"listening on 127\.0\.0\.1:\d+\n")
        console.proc.stdin.write(b"/admin Jo\xe3o\n")
        console.type("/who")
        console.expect(r"online: ")
        console.type("/quit")
        said = console.finish()
    finally:
        console.close()
    assert "U+FFFD" in said, said
    assert "Traceback" not in said


def test_the_console_makes_an_account_a_server_administrator_of_every_room() -> None:
    """Issue 13: ``/admin NAME`` at the server's terminal: the account administers every
    room (here: mutes in the default room, which only administrators may) until the
    server stops."""
    from protocol import Done, ErrorCode, Hello, Mute, RoomNotice, UserJoined, UserLeft, Welcome
    from wire import WireClient
    console = Console("--port", "0", "--web-port", "0")
    try:
        port = int(console.expect(r"listening on 127\.0\.0\.1:(\d+)\n").group(1))
        with WireClient("127.0.0.1", port) as teacher, WireClient("127.0.0.1", port) as vic:
            teacher.send(Hello("h", "Teacher", 2, "correct horse battery", True))
            teacher.expect(Welcome)
            vic.send(Hello("h", "Vic", 2))
            vic.expect(Welcome, skip=(UserJoined,))
            skip = (UserJoined, UserLeft, RoomNotice)
            teacher.send(Mute("u1", "#lobby", "Vic"))
            teacher.expect_error(ErrorCode.FORBIDDEN, skip=skip)
            console.type("/admin teacher")  # any spelling; the list shows the account's
            console.expect(r"server administrators: Teacher\n")
            teacher.send(Mute("u2", "#lobby", "Vic"))
            assert teacher.expect(Done, skip=skip).request_id == "u2"
            console.type("/admin no way")
            console.expect(r"'no way' is not a valid name: a name cannot contain spaces: try 'no_way'\n")
            # A name with no account is refused: whoever registered it later would administer.
            console.type("/admin Ninguem")
            console.expect(r"Ninguem has no account: a server administrator must be a registered account\. "
                           r"Let them register the name first \(/register in the client\), then type "
                           r"/admin Ninguem again\n")
            with WireClient("127.0.0.1", port) as ninguem:
                ninguem.send(Hello("h", "Ninguem", 2, "correct horse battery", True))
                ninguem.expect(Welcome, skip=skip)
                ninguem.send(Mute("u3", "#lobby", "Vic"))
                ninguem.expect_error(ErrorCode.FORBIDDEN, skip=skip)
            console.type("/admin")
            console.expect(r"server administrators: Teacher\n")
        console.type("/quit")
        said = console.finish()
    finally:
        console.close()
    assert "the console made Teacher a server administrator" in said
    assert "Ninguem a server administrator" not in said
    assert "Traceback" not in said


def test_the_console_resets_a_password_shown_once_and_ends_the_accounts_sessions() -> None:
    """A teacher's student forgot the password: ``/password NAME`` at the server's terminal
    prints a new random one once (never in the log), revokes the account's resume
    credentials and ends its sessions with a reason the clients put in their words."""
    import const
    from protocol import RESUME, ErrorCode, ErrorReply, Goodbye, Hello, UserJoined, UserLeft, Welcome
    from wire import WireClient
    console = Console("--port", "0", "--web-port", "0")
    try:
        port = int(console.expect(r"listening on 127\.0\.0\.1:(\d+)\n").group(1))

        def hello(**fields) -> Welcome | ErrorReply:
            with WireClient("127.0.0.1", port) as client:
                client.send(Hello("h", "Aluno", 2, **fields))
                while True:
                    answer = client.next()
                    if isinstance(answer, (Welcome, ErrorReply)):
                        return answer

        with WireClient("127.0.0.1", port) as student, WireClient("127.0.0.1", port) as other:
            student.send(Hello("h", "Aluno", 2, "forgotten one", True, features=(RESUME,)))
            resume = student.expect(Welcome).resume
            other.send(Hello("h", "Other", 2))
            other.expect(Welcome, skip=(UserJoined,))
            console.type("/password aluno")  # any spelling; the answer says the account's
            new = console.expect(r"new password of Aluno: (\S+)  \(shown only now").group(1).decode()
            # A code of its own first: a client does not log in again with the old password.
            assert student.expect_error(ErrorCode.PASSWORD_RESET, skip=(UserJoined,)).request_id is None
            assert student.expect(Goodbye, skip=(UserJoined,)).reason == const.PASSWORD_RESET_REASON
            assert student.wait_closed() is not None
            left = other.expect(UserLeft, skip=(UserJoined,))
            assert (left.name, left.reason) == ("Aluno", const.PASSWORD_RESET_REASON)
        assert len(new) >= 16
        assert hello(resume=resume, features=(RESUME,)).code == ErrorCode.AUTH_REQUIRED
        assert isinstance(hello(password=new), Welcome)
        assert hello(password="forgotten one").code == ErrorCode.BAD_PASSWORD
        console.type("/password Ninguem")
        console.expect(r"Ninguem has no account: there is no password to reset\n")
        console.type("/password")
        console.expect(r"type /password NAME: the account NAME gets a new password\n")
        console.type("/senha Ninguem")  # the Portuguese name of the command, as /quem and /sair
        console.expect(r"(?s)(Ninguem has no account: there is no password to reset\n.*){2}")  # a second time
        console.type("/quit")
        said = console.finish()
    finally:
        console.close()
    assert "the console reset the password of Aluno" in said
    assert said.count(new) == 1  # shown once, and not in the log
    # On the console's own output, not the log's stream: an operator who sends standard
    # error to a log file (2>server.log) still sees it, and the file never has it.
    assert new.encode() in console.out and new.encode() not in console.log
    assert "Traceback" not in said


def test_the_console_answers_its_commands_in_the_order_they_were_typed() -> None:
    """``/password Dana`` and at once ``/unregister Dana``: the unregister's question came
    first (the new password is hashed in a thread, then stored), so the answers read as
    those of the other commands. Each command's answer waits for those typed before it."""
    from protocol import Hello, Welcome
    from wire import WireClient
    console = Console("--port", "0", "--web-port", "0")
    try:
        port = int(console.expect(r"listening on 127\.0\.0\.1:(\d+)\n").group(1))
        with WireClient("127.0.0.1", port) as dana:
            dana.send(Hello("h", "Dana", 2, "a password of hers", True))
            dana.expect(Welcome)
        console.type("/password Dana\n/unregister Dana\n/who")
        console.expect(r"(?s)new password of Dana: .*deletes the account Dana.*\n.*online")
        console.type("/quit")
        said = console.finish()
    finally:
        console.close()
    out = console.out.decode()
    assert out.index("new password of Dana") < out.index("deletes the account Dana") < out.rindex("online"), out
    assert "Traceback" not in said


# --- The operator's own settings (overrides.py) ------------------------------------------


def test_the_log_says_which_settings_file_was_applied_and_what_it_set(tmp_path: Path, monkeypatch) -> None:
    """The upgrade tester's finding 4: settings kept in const_local.py survive an upgrade,
    and the log shows whether they were applied (a new archive without the file admits
    guests again: the log says so too)."""
    settings = tmp_path / "const_local.py"
    settings.write_text('REQUIRE_ACCOUNTS = True\nMAX_TEXT_CHARS = 2000\n', encoding="utf-8")
    for named, expected in ((str(settings), f" INFO settings of {settings} applied: MAX_TEXT_CHARS, REQUIRE_ACCOUNTS\n"),
                            ("", " INFO settings: const.py's defaults; to change some, write them in "
                                 "const_local.py beside const.py (or in the file that the environment variable "
                                 "CHAT_CONST_LOCAL names)\n")):
        monkeypatch.setenv("CHAT_CONST_LOCAL", named)
        proc = subprocess.Popen([sys.executable, "chatserver.py", "--host", "127.0.0.1", "--port", "0",
                                 "--web-port", "0", "--memory"], cwd=ROOT, stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            said = proc.communicate("/quit\n", timeout=WAIT)[1]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(WAIT)
        assert proc.returncode == 0, said
        assert expected in said, said


@pytest.mark.parametrize("program", ["chatserver.py", "chatclient.py"])
def test_a_misspelt_setting_stops_the_program_with_one_line_naming_its_line(program: str, tmp_path: Path,
                                                                            monkeypatch) -> None:
    settings = tmp_path / "const_local.py"
    settings.write_text('REQUIRE_ACCOUNTS = True\nADMIN = ("João",)\n', encoding="utf-8")
    monkeypatch.setenv("CHAT_CONST_LOCAL", str(settings))
    args = ("--help",) if program == "chatclient.py" else ("--memory",)
    for lang, line in (("en", f"your settings {settings}, line 2: const.py has no setting ADMIN "
                              "(did you mean ADMINS?)\n"),
                       ("pt_BR", f"as suas configurações {settings}, linha 2: o const.py não tem a configuração "
                                 "ADMIN (você quis dizer ADMINS?)\n")):
        done = run(*args, "--lang", lang, program=program)
        assert (done.returncode, done.stderr, done.stdout) == (2, line, "")

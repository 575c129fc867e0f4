"""The server and its clients on Windows and macOS, as this Linux machine plays them
(tests/support/otherplatforms.py: what those systems' Python lacks, taken away here; not
a real Windows or Mac). Real servers on 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from browserpage import page_at
from clientkit import start
from lineprocess import DEADLINE, ROOT, Process
from otherplatforms import MACOS, MACOS_OPEN_MAX, WINDOWS, ProactorLikePolicy, environment
from protocol import DirectMessage
from redisserver import free_port
from servers import in_thread
from test_client_realserver import next_event
from test_tls import make_certificate
from tools import require_tool

NAMES = ("João", "Conceição")


@pytest.fixture
def proactor_like() -> Iterator[None]:
    """Every loop made meanwhile lacks what Windows' proactor loop lacks."""
    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(ProactorLikePolicy())
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(previous)


def test_a_server_on_a_loop_without_add_reader_accepts_and_relays(proactor_like, clients):
    # Windows' default loop has no add_reader: the listener accepted through it only, so
    # `py chatserver.py` stopped at its start with NotImplementedError.
    with in_thread(fast=True) as server:
        assert type(server._loop).__name__ == "ProactorLikeEventLoop"
        joao = start(clients, server.port, NAMES[0])
        conceicao = start(clients, server.port, NAMES[1])
        message = joao.send_direct(NAMES[1], "olá, tudo bem?")
        assert message.wait({"delivered"}, DEADLINE), message
        assert next_event(conceicao, DirectMessage).text == "olá, tudo bem?"


def played(platform: str) -> dict[str, str]:
    """The environment variables of a program that plays ``platform`` (Process adds them)."""
    return environment(platform, {})


def chatserver(platform: str, *args: str, web_port: int = 0) -> Process:
    process = Process("chatserver.py", "--host", "127.0.0.1", "--port", "0", "--web-port", str(web_port), *args,
                      env=played(platform))
    process.port = int(process.wait_for(r"listening on \S+:(\d+)").group(1))
    return process


def chatclient(platform: str, server: Process, name: str, *args: str, stdin: bool = True) -> Process:
    return Process("chatclient.py", name, "--host", "127.0.0.1", "--port", str(server.port), *args, stdin=stdin,
                   env=played(platform))


@pytest.mark.parametrize("platform", [WINDOWS, MACOS])
def test_chatserver_and_chatclients_chat_with_accented_names(platform, tmp_path):
    web_port = free_port()
    server = chatserver(platform, "--data", str(tmp_path / "data"), web_port=web_port)
    joao = conceicao = None
    try:
        server.wait_for(f"web client on http://127.0.0.1:{web_port}/")
        joao = chatclient(platform, server, NAMES[0])
        conceicao = chatclient(platform, server, NAMES[1])
        server.wait_for(f"login {NAMES[0]}")
        server.wait_for(f"login {NAMES[1]}")
        joao.type(f"@{NAMES[1]} olá, Conceição!")
        conceicao.wait_for(f"{NAMES[0]} → you: olá, Conceição!")
        joao.wait_for(f"delivered to {NAMES[1]}")
        conceicao.type(f"@{NAMES[0]} oi, João")
        joao.wait_for(f"{NAMES[1]} → you: oi, João")
        once = chatclient(platform, server, "Zé", "--send", NAMES[1], "de um script", stdin=False)
        assert once.proc.wait(DEADLINE) == 0
        conceicao.wait_for("Zé → you: de um script")
        page = http.client.HTTPConnection("127.0.0.1", web_port, timeout=DEADLINE)
        page.request("GET", "/app.js")
        answer = page.getresponse()
        assert (answer.status, answer.getheader("Content-Type")) == (200, "text/javascript; charset=utf-8")
        page.close()
        joao.type("/quit")
        assert joao.proc.wait(DEADLINE) == 0
    finally:
        for process in (joao, conceicao, server):
            if process is not None:
                process.stop()


def test_a_windows_server_with_tls_takes_tls_clients(tmp_path):
    cert, key = make_certificate(tmp_path)
    server = chatserver(WINDOWS, "--memory", "--tls-cert", str(cert), "--tls-key", str(key))
    joao = chatclient(WINDOWS, server, NAMES[0], "--cafile", str(cert))
    try:
        server.wait_for(f"login {NAMES[0]}")
        once = chatclient(WINDOWS, server, NAMES[1], "--cafile", str(cert), "--send", NAMES[0], "por TLS", stdin=False)
        assert once.proc.wait(DEADLINE) == 0
        joao.wait_for(f"{NAMES[1]} → you: por TLS")
    finally:
        joao.stop()
        server.stop()


def test_a_macos_server_raises_its_open_file_limit_as_far_as_macos_lets_it():
    # macOS starts a process with 256 files and refuses a soft limit over 10240: asking
    # for 21,024 failed, and the server took 192 connections at most.
    server = chatserver(MACOS, "--memory")
    try:
        server.wait_for(f"this system lets the server have {MACOS_OPEN_MAX} open files")
    finally:
        server.stop()


def test_ctrl_c_stops_a_windows_server_with_its_goodbye(tmp_path):
    # Windows' loop takes no signal handler: Ctrl-C reaches asyncio.run's own, which
    # cancelled the server's task, so the clients lost their connection instead.
    server = chatserver(WINDOWS, "--data", str(tmp_path / "data"))
    joao = chatclient(WINDOWS, server, NAMES[0], "--no-reconnect")
    try:
        server.wait_for(f"login {NAMES[0]}")
        server.proc.send_signal(signal.SIGINT)
        joao.wait_for("Disconnected by the server: .*shutting down")
        assert server.proc.wait(DEADLINE) == 0
        server.wait_for("shutting down")
    finally:
        joao.stop()
        server.stop()


def test_a_windows_client_without_reconnecting_ends_when_the_server_does(tmp_path):
    # Windows cannot interrupt a read with a signal (no pthread_kill): the client that was
    # told the server is gone stayed blocked reading its input until the next line came.
    server = chatserver(WINDOWS, "--memory")
    joao = chatclient(WINDOWS, server, NAMES[0], "--no-reconnect")  # its input stays open
    try:
        server.wait_for(f"login {NAMES[0]}")
        server.proc.send_signal(signal.SIGINT)
        joao.wait_for("Disconnected by the server: .*shutting down")
        assert joao.proc.wait(DEADLINE) == 3
    finally:
        joao.stop()
        server.stop()


def test_piped_input_in_utf8_or_in_windows_code_page_is_sent_as_written(tmp_path):
    # Windows reads a pipe in its ANSI code page (cp1252 in Brazil): the UTF-8 file a
    # student pipes in (Notepad's, with or without its BOM) came as "JoÃ£o", or was refused.
    # A Python script's text pipe there writes cp1252: that is read as such.
    server = chatserver(WINDOWS, "--memory")
    conceicao = chatclient(WINDOWS, server, NAMES[1])
    try:
        server.wait_for(f"login {NAMES[1]}")
        lines = ("\ufeff@Conceição olá, Conceição, do Bloco de Notas 😀\n".encode()
                 + "@Conceição em cp1252: ação, João\n".encode("cp1252"))
        joao = subprocess.run([sys.executable, "chatclient.py", NAMES[0], "--port", str(server.port)], cwd=ROOT,
                              input=lines, capture_output=True, timeout=DEADLINE,
                              env={**os.environ, **played(WINDOWS), "PYTHONIOENCODING": "cp1252"})
        assert joao.returncode == 0, joao.stdout.decode("cp1252") + joao.stderr.decode("cp1252")
        conceicao.wait_for(f"{NAMES[0]} → you: olá, Conceição, do Bloco de Notas 😀")
        conceicao.wait_for(f"{NAMES[0]} → you: em cp1252: ação, João")
    finally:
        conceicao.stop()
        server.stop()


def test_the_page_from_a_windows_server_chats_with_a_windows_terminal_client(tmp_path):
    require_tool("chromium")
    web_port = free_port()
    server = chatserver(WINDOWS, "--memory", web_port=web_port)
    joao = None
    try:
        with page_at(tmp_path, f"http://127.0.0.1:{web_port}/", None) as page:  # type: ignore[arg-type]
            page.log_in(NAMES[1])
            joao = chatclient(WINDOWS, server, NAMES[0])
            joao.type(f"@{NAMES[1]} olá do terminal")
            page.open_conversation(NAMES[0])
            page.wait_for("document.querySelector('#messages .msg-in .msg-text')?.textContent === 'olá do terminal'")
            page.type("oi, João: ação ✓")
            page.enter()
            joao.wait_for(f"{NAMES[1]} → you: oi, João: ação ✓")
            assert not page.problems()
    finally:
        if joao is not None:
            joao.stop()
        server.stop()


def test_the_example_bot_on_windows_answers_and_leaves_on_ctrl_c():
    server = chatserver(WINDOWS, "--memory")
    bot = Process("examples/bot.py", "relogio", "--port", str(server.port), env=played(WINDOWS))
    joao = chatclient(WINDOWS, server, NAMES[0])
    try:
        bot.wait_for("relogio is in #lobby")
        joao.type("!hora")
        joao.wait_for(r"\(room\) relogio: It is \d\d:\d\d in São Paulo")
        # Windows' Ctrl-C cannot interrupt a wait without a timeout (a lock's, a queue's):
        # the bot waited for the next event before it left.
        bot.proc.send_signal(signal.SIGINT)
        assert bot.proc.wait(DEADLINE) == 0
        server.wait_for(r"logout relogio from \S+ \(quit\)")
    finally:
        for process in (bot, joao, server):
            process.stop()


def test_workers_are_refused_in_one_line_where_ports_cannot_be_shared():
    # Windows has no SO_REUSEPORT: --workers started nodes that died with a traceback.
    result = subprocess.run([sys.executable, "chatserver.py", "--host", "127.0.0.1", "--port", "0", "--web-port", "0",
                             "--workers", "2", "--cluster", "redis://127.0.0.1:1/0"], cwd=ROOT, capture_output=True,
                            text=True, timeout=DEADLINE, stdin=subprocess.DEVNULL,
                            env={**os.environ, **played(WINDOWS)})
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "--workers needs SO_REUSEPORT" in result.stderr.splitlines()[-1]


def test_a_second_windows_server_on_the_same_data_folder_is_refused(tmp_path):
    server = chatserver(WINDOWS, "--data", str(tmp_path / "data"))
    try:
        second = Process("chatserver.py", "--host", "127.0.0.1", "--port", "0", "--web-port", "0",
                         "--data", str(tmp_path / "data"), env=played(WINDOWS))
        assert second.proc.wait(DEADLINE) == 1
        second.wait_for(r"another chat server \(pid \d+\) is using")
    finally:
        server.stop()

"""examples/bot.py, the bot the README shows, run as a process against a real server:
it answers ``!hora`` in the broadcast room and in a named room, and leaves cleanly.
Every wait is bounded."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from client import ChatClient
from logins import library_login, login
from processes import stop_process
from protocol import RoomMessage, RoomPost

ROOT = Path(__file__).resolve().parents[2]
WAIT = 15.0


def start_bot(port: int, *args: str, lang: str = "C.UTF-8") -> subprocess.Popen[str]:
    """examples/bot.py on the server at ``port`` in locale ``lang``; returns once it says it
    is in its room."""
    env = dict(os.environ, LANG=lang, LC_ALL=lang, LANGUAGE="")
    bot = subprocess.Popen([sys.executable, "examples/bot.py", "relogio", "--port", str(port), *args], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", env=env)
    ready: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: ready.put(bot.stdout.readline()), daemon=True).start()
    try:
        line = ready.get(timeout=WAIT)
    except queue.Empty:
        stop_process(bot)
        raise AssertionError(f"the bot did not start: {bot.stderr.read()}") from None
    assert line.startswith(("relogio is in ", "relogio está em ")), line
    return bot


def answer_to(alice: ChatClient, kind: type, timeout: float = WAIT):
    """The next message of ``kind`` from the bot that Alice gets."""
    while True:
        event = alice.events.get(timeout=timeout)
        if isinstance(event, kind) and event.sender == "relogio":
            return event


def test_the_bot_answers_hora_in_the_broadcast_room_and_leaves_on_ctrl_c(server, clients: list[ChatClient]) -> None:
    alice = library_login(clients, server.port, "Alice")
    bot = start_bot(server.port)
    try:
        assert alice.send_room("que horas são?").wait("sent", WAIT)
        assert alice.send_room("!hora").wait("sent", WAIT)
        event = answer_to(alice, RoomMessage)
        assert re.fullmatch(r"It is \d\d:\d\d in São Paulo", event.text), event
        bot.send_signal(signal.SIGINT)
        assert bot.wait(WAIT) == 0
        assert "Traceback" not in bot.stderr.read()
    finally:
        stop_process(bot)


def test_the_bot_answers_in_its_room_in_portuguese(server, clients: list[ChatClient]) -> None:
    alice = library_login(clients, server.port, "Alice")
    alice.join("#redes")
    bot = start_bot(server.port, "--room", "#redes", lang="pt_BR.UTF-8")
    try:
        assert alice.send_to_room("#redes", "!HORA ").wait("sent", WAIT)
        event = answer_to(alice, RoomPost)
        assert event.room_name == "#redes" and re.fullmatch(r"Em São Paulo agora: \d\d:\d\d", event.text), event
        bot.terminate()  # SIGTERM leaves cleanly too
        assert bot.wait(WAIT) == 0
        assert "Traceback" not in bot.stderr.read()
    finally:
        stop_process(bot)


def test_the_bot_says_a_refused_login_in_words_and_in_the_users_language(server, clients: list[ChatClient]) -> None:
    """A taken name is said as the terminal client says it, a sentence in the user's
    language, never the server's English with its code (``(name_taken)``); exit status 4."""
    holder = login(server, "relogio", tokens={})  # someone else: the bot has no token of theirs
    for lang, words in (("C.UTF-8", "login refused"), ("pt_BR.UTF-8", "login recusado")):
        env = dict(os.environ, LANG=lang, LC_ALL=lang, LANGUAGE="")
        bot = subprocess.run([sys.executable, "examples/bot.py", "relogio", "--port", str(server.port)], cwd=ROOT,
                             capture_output=True, text=True, encoding="utf-8", env=env, timeout=WAIT)
        assert bot.returncode == 4, bot
        assert words in bot.stderr and "name_taken" not in bot.stderr, bot.stderr
    holder.close()

"""A class of account holders through a server restart (the Python clients' shared core).

Logged in again with their passwords, 300 students came back over 65 s after a restart:
the server checks at most 10 passwords a second, for everyone (scrypt is slow on purpose),
and told the rest "too many logins". With the account's resume credential (kept in memory
by client/credential.py) a reconnection costs no password check: 300 were back in 2 s.
"""

from __future__ import annotations

import sqlite3
import threading

import pytest

import server.login
from client.events import Reconnected
from client.library import ChatClient
from client.resume import ResumeTokens
from server import ServerConfig, ServerThread
from waits import wait_until

CLASS = 25
PASSWORD = "senha-da-turma"


@pytest.fixture
def checks(monkeypatch):
    """The server's password checks (scrypt runs), counted."""
    counted = [0]
    real = server.login.verify_password

    def verify(account, password):
        counted[0] += 1
        return real(account, password)

    monkeypatch.setattr(server.login, "verify_password", verify)
    return counted


def a_class(srv: ServerThread) -> tuple[list[ChatClient], dict[str, int]]:
    """CLASS students who registered their accounts, and their reconnections so far."""
    back: dict[str, int] = {}
    lock = threading.Lock()
    students = []
    for i in range(1, CLASS + 1):
        name = f"Aluno{i}"

        def on_event(event, name=name):
            if isinstance(event, Reconnected):
                with lock:
                    back[name] = back.get(name, 0) + 1

        student = ChatClient(name, srv.host, srv.port, on_event=on_event, password=PASSWORD, register=True,
                             resume_tokens=ResumeTokens(None), reconnect_on_goodbye=True,
                             reconnect_delay=0.05, reconnect_max_delay=0.5)
        student.connect()
        students.append(student)
    return students, back


def restart(srv: ServerThread, port: int, config: ServerConfig) -> ServerThread:
    """Stop ``srv`` (if it runs) and start it again on its port and database."""
    srv.stop()
    return ServerThread(ServerConfig(host="127.0.0.1", port=port, data_dir=config.data_dir)).__enter__()


def test_a_class_comes_back_after_a_restart_without_a_password_check(tmp_path, checks):
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
    srv = ServerThread(config).__enter__()
    students, back = a_class(srv)
    port = srv.port
    try:
        checks[0] = 0
        srv = restart(srv, port, config)
        wait_until(lambda: len(back) == CLASS, 10, "every student back")
        assert all(student.registered and student.connected for student in students)
        assert checks[0] == 0  # each came back with its credential, not its password
    finally:
        for student in students:
            student.close()
        srv.stop()


def test_refused_credentials_fall_back_to_the_password_at_once(tmp_path, checks):
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
    srv = ServerThread(config).__enter__()
    students, back = a_class(srv)
    port = srv.port
    try:
        srv.stop()
        with sqlite3.connect(tmp_path / "chat.sqlite3") as db:  # as if they had all expired
            db.execute("DELETE FROM account_credentials")
        checks[0] = 0
        srv = restart(srv, port, config)
        wait_until(lambda: len(back) == CLASS, 15, "every student back")
        assert all(student.registered and student.login_error is None for student in students)
        assert checks[0] == CLASS  # the password once each, and nobody asked
        srv = restart(srv, port, config)  # the new credentials those logins brought serve the next one
        wait_until(lambda: sum(back.values()) == 2 * CLASS, 10, "every student back again")
        assert checks[0] == CLASS
    finally:
        for student in students:
            student.close()
        srv.stop()

"""Backups of a running server (the upgrade tester's finding 1): ``/backup [FOLDER]`` (or
``/copia``) at the server's terminal and ``chatserver.py --backup FOLDER`` copy the
database with SQLite's backup API into a new folder, which is then a data folder of its
own; a folder that is not empty is refused.

Loopback only; every wait has a deadline."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from server import backup, mailbox
from server.store import open_database
from test_server_cli import ROOT, WAIT, Console, run

from protocol import Accepted, Hello, Queued, SendDirect, UserJoined, Welcome
from wire import WireClient


class DataConsole(Console):
    """chatserver.py on a data folder (Console's is in memory)."""

    def __init__(self, data: Path, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "chatserver.py", "--host", "127.0.0.1", "--port", "0",
                                      "--web-port", "0", "--data", str(data), *args],
                                     cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.said = b""


def send_some(port: int, count: int) -> None:
    """João sends Conceição ``count`` messages, each acknowledged (on disk)."""
    with WireClient("127.0.0.1", port) as bia:
        bia.send(Hello("h", "Conceição", 2))
        bia.expect(Welcome)
    with WireClient("127.0.0.1", port) as joao:
        joao.send(Hello("h", "João", 2))
        joao.expect(Welcome, skip=(UserJoined,))
        for i in range(count):
            joao.send(SendDirect(f"m{i}", "Conceição", f"olá {i}"))
            assert joao.expect((Accepted, Queued), skip=(UserJoined,)).request_id == f"m{i}"


def history_of(data: Path) -> list[int]:
    db = open_database(data / "chat.sqlite3")
    try:
        entries, _ = mailbox.history(db, "joão", "conceição", None, 500)
        return [e.msg_id for e in entries]
    finally:
        db.close()


def test_a_running_server_is_backed_up_from_its_console_and_the_backup_is_a_data_folder(tmp_path: Path) -> None:
    data, copy, elsewhere = tmp_path / "data", tmp_path / "cópia", tmp_path / "by hand"
    console = DataConsole(data)
    try:
        port = int(console.expect(r"listening on 127\.0\.0\.1:(\d+)\n").group(1))
        send_some(port, 30)
        console.type(f"/backup {copy}")
        made = console.expect(r"backup made: (.+)/chat\.sqlite3 \(([\d.]+ [KMG]?B), (\d+) messages?, in [\d.]+ s\); "
                              r"to use it, start a server with --data \S")
        assert made.group(1).decode() == str(copy) and int(made.group(3)) == 30
        # Not into a folder that holds anything: it would not be a data folder of its own.
        console.type(f"/copia {data}")
        console.expect(r"no backup made: .+ is not an empty folder")
        # The same while it runs, from another process.
        done = run("--data", str(data), "--backup", str(elsewhere))
        assert done.returncode == 0, done.stderr
        assert re.search(r"backup made: .+by hand/chat\.sqlite3 \([\d.]+ [KMG]?B, 30 messages, in [\d.]+ s\)",
                         done.stderr), done.stderr
        console.type("/quit")
        said = console.finish()
    finally:
        console.close()
    assert "Traceback" not in said
    for folder in (copy, elsewhere):
        assert sorted(p.name for p in folder.iterdir()) == ["chat.sqlite3"]  # the lookups are derived at start
        with sqlite3.connect(folder / "chat.sqlite3") as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert len(history_of(folder)) == 30


def test_a_backup_into_a_folder_that_is_not_empty_or_of_no_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("x")
    done = run("--data", str(tmp_path / "nothing here"), "--backup", str(tmp_path / "full"))
    assert done.returncode == 1 and "no backup made" in done.stderr, done.stderr
    open_database(tmp_path / "data" / "chat.sqlite3").close()
    try:
        backup.back_up(tmp_path / "data" / "chat.sqlite3", tmp_path / "full")
    except backup.BackupRefused as refused:
        assert "is not an empty folder" in str(refused)
    else:
        raise AssertionError("a backup into a folder that is not empty was made")
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["notes.txt"]

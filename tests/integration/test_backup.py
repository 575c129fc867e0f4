"""Backups, restores and upgrades (the upgrade tester's findings 1, 5 and 6): ``/backup
[FOLDER]`` (or ``/copia``) at the server's terminal and ``chatserver.py --backup FOLDER``
copy the database with SQLite's backup API into a new folder, which is then a data folder
of its own (a folder that is not empty is refused); after an unclean stop the database is
checked before anything is served, and a damaged one is refused, unchanged.

Loopback only; every wait has a deadline."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from server import backup, lookups, mailbox, store as store_module
from server.store import open_database
from test_server_cli import ROOT, WAIT, Console, run

from protocol import Accepted, Hello, Queued, SendDirect, UserJoined, Welcome
from wire import WireClient


class DataConsole(Console):
    """chatserver.py on a data folder (Console's is in memory)."""

    def __init__(self, data: Path, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "chatserver.py", "--host", "127.0.0.1", "--port", "0",
                                      "--web-port", "0", "--data", str(data), *args],
                                     cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.said = self.log = self.out = b""

    def finish_failed(self) -> str:
        """All a server that ended by itself said."""
        self.said += self.proc.stderr.read()
        return self.said.decode()


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
        console.type("/backup")  # no folder: a new one beside the data folder
        console.expect(r"backup made: " + re.escape(str(tmp_path)) + r"/data-backup-\d{8}-\d{6}/chat\.sqlite3 ")
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


def test_a_backup_into_a_file_says_it_is_a_file(tmp_path: Path) -> None:
    """'--backup ../copia-1/chat.sqlite3' (the database's file named, not its folder) was
    refused as 'not an empty folder', untrue of a file."""
    open_database(tmp_path / "data" / "chat.sqlite3").close()
    (tmp_path / "copia-1").mkdir()
    (tmp_path / "copia-1" / "chat.sqlite3").write_text("x")
    done = run("--data", str(tmp_path / "data"), "--backup", str(tmp_path / "copia-1" / "chat.sqlite3"))
    assert done.returncode == 1 and f"no backup made: {tmp_path / 'copia-1' / 'chat.sqlite3'} is a file, not a " \
        "folder: a backup goes into a new (or empty) folder" in done.stderr, done.stderr


def test_a_backup_folder_given_with_dot_dot_is_said_as_the_folder_it_is(tmp_path: Path) -> None:
    """'--backup ../copia-1' said '/tmp/x/../copia-1' in its lines, made and refused: a path
    nobody reads at a glance (and wrong if a part of it is a link); the folder itself is said."""
    open_database(tmp_path / "data" / "chat.sqlite3").close()
    (tmp_path / "data" / "sub").mkdir()
    made = run("--data", str(tmp_path / "data"), "--backup", str(tmp_path / "data" / "sub" / ".." / ".." / "copia-1"))
    resolved = (tmp_path / "copia-1").resolve()
    assert made.returncode == 0 and f"backup made: {resolved / 'chat.sqlite3'} (" in made.stderr \
        and f"start a server with --data {resolved}\n" in made.stderr and "/../" not in made.stderr, made.stderr
    refused = run("--data", str(tmp_path / "data"), "--backup", str(tmp_path / "data" / ".." / "copia-1"))
    assert refused.returncode == 1 and f"no backup made: {resolved} is not an empty folder" in refused.stderr \
        and "/../" not in refused.stderr, refused.stderr


def test_the_console_says_a_backup_folder_given_with_dot_dot_as_the_folder_it_is(tmp_path: Path) -> None:
    open_database(tmp_path / "data" / "chat.sqlite3").close()
    resolved = (tmp_path / "copia-1").resolve()
    console = DataConsole(tmp_path / "data")
    try:
        console.expect(r"listening on 127\.0\.0\.1:(\d+)\n")
        console.type(f"/backup {tmp_path / 'data' / '..' / 'copia-1'}")
        console.expect(r"backing up the database into " + re.escape(str(resolved)) + "…")
        console.expect(r"backup made: " + re.escape(str(resolved / "chat.sqlite3")) + " ")
        console.type("/quit")
        said = console.finish()
    finally:
        console.close()
    assert "/../" not in said, said


def test_a_backup_of_a_stopped_server_leaves_only_the_copy_and_nothing_beside_the_database(tmp_path: Path) -> None:
    data, copy = tmp_path / "data", tmp_path / "cópia"
    db = open_database(data / "chat.sqlite3")
    mailbox.store_messages(db, [mailbox.StoredMessage(1, "João", "joão", "Conceição", "conceição", "olá", 1000.0, "c1",
                                                      "queued", 10**10)])
    db.close()
    before = sorted(p.name for p in data.iterdir())
    done = run("--data", str(data), "--backup", str(copy))
    assert done.returncode == 0, done.stderr
    # No empty -wal or -shm left by the copy's reading, beside the database or the copy.
    assert sorted(p.name for p in data.iterdir()) == before
    assert sorted(p.name for p in copy.iterdir()) == ["chat.sqlite3"]
    assert len(history_of(copy)) == 1
    assert re.search(r" INFO backup of the database made: .+ \(\d+ bytes, 1 message, ", done.stderr), done.stderr


def test_the_backup_line_writes_its_numbers_as_the_language_does(tmp_path: Path) -> None:
    """"112.0 KB" and "0.0 s" in a Portuguese sentence read as thousands: 112,0 KB."""
    open_database(tmp_path / "data" / "chat.sqlite3").close()
    done = run("--data", str(tmp_path / "data"), "--backup", str(tmp_path / "cópia"), "--lang", "pt_BR")
    assert done.returncode == 0, done.stderr
    assert re.search(r"cópia feita: .+/chat\.sqlite3 \(\d+,\d KB, 0 mensage(?:m|ns), em \d+,\d s\)", done.stderr), \
        done.stderr


def test_a_folder_the_system_refuses_to_look_at_is_refused_in_one_line(tmp_path: Path) -> None:
    # A folder name longer than the file system takes (ENAMETOOLONG): the look at the folder
    # raised a bare OSError before any copy, past BackupRefused, so the console's backup
    # thread died with a traceback and /backup said "being made: wait" until a restart.
    database = tmp_path / "data" / "chat.sqlite3"
    open_database(database).close()
    too_long = tmp_path / ("pasta-" * 60)
    try:
        backup.back_up(database, too_long)
    except backup.BackupRefused as refused:
        assert "could not back up" in str(refused) and "too long" in str(refused), refused
    else:
        raise AssertionError("a backup into a folder the system refuses was made")
    refused_then_made(tmp_path, str(too_long), r"could not back up .+ too long")


def refused_then_made(tmp_path: Path, folder: str, reason: str) -> None:
    """A server on ``tmp_path``/data says in one line, ``no backup made: `` and ``reason``
    (a pattern), that its console's /backup ``folder`` was not made, and takes the next
    /backup (a failure the console did not expect once killed its backup thread with a
    traceback, and every later /backup said "being made: wait" until a restart)."""
    console = DataConsole(tmp_path / "data")
    try:
        console.expect(r"listening on 127\.0\.0\.1:(\d+)\n")
        console.type(f"/backup {folder}")
        console.expect(r"no backup made: " + reason)
        console.type(f"/backup {tmp_path / 'cópia'}")  # the console takes the next one
        console.expect(r"backup made: .+/cópia/chat\.sqlite3 ")
        console.type("/quit")
        said = console.finish()
    finally:
        console.close()
    assert "Traceback" not in said


def test_a_backup_that_fails_unexpectedly_is_said_in_one_line_and_the_next_one_is_taken(tmp_path: Path) -> None:
    # A NUL in the folder's name: os's calls raise ValueError, which backup.py does not
    # expect (nothing it refuses). Python says "embedded null byte" up to 3.12,
    # "mkdir: embedded null character in path" from 3.13.
    open_database(tmp_path / "data" / "chat.sqlite3").close()
    refused_then_made(tmp_path, f"{tmp_path}/có\x00pia", r"ValueError: .*null (byte|character)")


def a_damaged_database(data: Path) -> Path:
    """A database left by a killed server (the lookups' marker there), one of whose pages
    in the middle of the messages was zeroed (a torn copy, a failing disk)."""
    path = data / "chat.sqlite3"
    db = open_database(path)
    mailbox.store_messages(db, [mailbox.StoredMessage(i, "João", "joão", "Ana", "ana", "olá " * 60, 1000.0 + i,
                                                      f"c{i}", "queued", 10**10) for i in range(1, 3001)])
    db.close()  # the last connection: the log folded into the file; the marker stays
    assert lookups.left_open(path)
    pages = path.stat().st_size // 4096
    with open(path, "r+b") as file:
        file.seek(pages // 2 * 4096)
        file.write(bytes(4096))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_after_an_unclean_stop_a_damaged_database_is_refused_unchanged(tmp_path: Path, caplog) -> None:
    """It started on it and took new messages, saying only "data in ..." (finding 1)."""
    path = a_damaged_database(tmp_path / "data")
    before = digest(path)
    caplog.set_level("INFO", logger="chat.store")
    try:
        open_database(path).close()
    except store_module.DatabaseDamaged as damaged:
        assert "nothing was changed" in str(damaged) and "restore it from a backup" in str(damaged)
    else:
        raise AssertionError("a damaged database was opened")
    assert "checking the database after an unclean stop" in caplog.text
    assert digest(path) == before


def test_the_server_says_in_one_line_that_a_damaged_database_is_refused(tmp_path: Path) -> None:
    path = a_damaged_database(tmp_path / "data")
    console = DataConsole(tmp_path / "data")
    try:
        assert console.proc.wait(WAIT) == 1, "it started on a damaged database"
        said = console.finish_failed()
    finally:
        console.close()
    errors = [line for line in said.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"cannot use the database {path}:" in errors[0], said
    assert "fails SQLite's check" in errors[0] and "restore it from a backup" in errors[0]
    assert re.search(r"INFO checking the database after an unclean stop", said), said
    assert "Traceback" not in said


def test_after_a_clean_stop_the_database_is_not_checked(tmp_path: Path, monkeypatch, caplog) -> None:
    path = tmp_path / "chat.sqlite3"
    db = open_database(path)
    lookups.close_cleanly(db, path)
    db.close()
    caplog.set_level("INFO", logger="chat.store")
    open_database(path).close()
    assert "checking the database" not in caplog.text


def a_database_one_schema_behind(tmp_path: Path, monkeypatch) -> tuple[Path, int]:
    """A database of this schema, with Bob in it, and a next schema for this server."""
    path = tmp_path / "chat.sqlite3"
    db = open_database(path)
    mailbox.remember_user(db, "bob", "Bob", 1.0)
    db.close()
    version = store_module.SCHEMA_VERSION
    monkeypatch.setitem(store_module.MIGRATIONS, version + 1, "ALTER TABLE users ADD COLUMN nickname TEXT")
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", version + 1)
    return path, version


def test_before_an_upgrade_the_database_as_it_was_is_kept_beside_it_and_said(tmp_path: Path, monkeypatch,
                                                                                caplog) -> None:
    """The first start of a new version migrated one way, making no copy, and said nothing
    until it was over (findings 5 and 6): whoever went back had nothing to go back to."""
    path, version = a_database_one_schema_behind(tmp_path, monkeypatch)
    caplog.set_level("INFO", logger="chat")
    open_database(path).close()
    copy = tmp_path / f"chat.sqlite3.schema-{version}"
    said = [r.getMessage() for r in caplog.records]
    upgrading = f"upgrading the database from schema {version} to {version + 1}; do not stop the server"
    kept = f"kept a copy of the database as it was (schema {version}) in {copy}"
    migrated = f"database migrated from schema version {version} to {version + 1}"
    assert [line for line in said if line in (upgrading, kept, migrated)] == [upgrading, kept, migrated], said
    with sqlite3.connect(copy) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (version,)
        assert db.execute("SELECT name FROM users").fetchall() == [("Bob",)]
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert sorted(p.name for p in tmp_path.iterdir() if ".schema-" in p.name) == [copy.name]
    # Its next start has nothing to migrate: no copy, no line.
    caplog.clear()
    open_database(path).close()
    assert "upgrading" not in caplog.text and "kept a copy" not in caplog.text


def test_without_room_for_the_copy_the_upgrade_is_refused_and_nothing_changed(tmp_path: Path, monkeypatch) -> None:
    path, version = a_database_one_schema_behind(tmp_path, monkeypatch)
    monkeypatch.setattr(store_module.shutil, "disk_usage", lambda place: SimpleNamespace(free=4096))
    try:
        open_database(path).close()
    except store_module.UpgradeRefused as refused:
        line = str(refused)
    else:
        raise AssertionError("migrated without a copy")
    assert f"from schema {version} to {version + 1}" in line and "free some space" in line
    assert "nothing was changed" in line and "\n" not in line
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (version,)
    assert not [p for p in tmp_path.iterdir() if ".schema-" in p.name]


def test_a_new_database_keeps_no_copy(tmp_path: Path) -> None:
    open_database(tmp_path / "chat.sqlite3").close()
    assert not [p for p in tmp_path.iterdir() if ".schema-" in p.name]


def test_a_folder_holding_only_an_unfinished_backup_is_not_started_on(tmp_path: Path) -> None:
    """A backup cut off (the server stopped with /quit while it copied, the disk filled)
    leaves FOLDER/chat.sqlite3.partial. Started with --data FOLDER, the server made a new,
    empty database beside it without a word: the class's messages were nowhere. It refuses,
    in one line that says what the folder holds."""
    folder = tmp_path / "backup"
    folder.mkdir()
    (folder / "chat.sqlite3.partial").write_bytes(b"SQLite format 3\x00" + bytes(100))
    console = DataConsole(folder)
    try:
        assert console.proc.wait(WAIT) == 1, "it started on an unfinished backup"
        said = console.finish_failed()
    finally:
        console.close()
    errors = [line for line in said.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "unfinished backup" in errors[0] and str(folder) in errors[0], said
    assert not (folder / "chat.sqlite3").exists(), "a new database was made"
    assert "Traceback" not in said

"""What the server writes about people is readable by its owner only (the privacy review,
docs/privacy.md): the data folder it creates and the backups it makes hold every message,
account and hash, so on a shared machine (a school's lab) no other user of the machine
may read them, whatever the umask; a data folder that others can read is said in the log.

Real chatserver.py processes on 127.0.0.1, port 0; every wait has a deadline."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from logins import leave, login
from servers import ServerProcess, run_chatserver

from server import mailbox
from server.store import open_database

from protocol import Accepted, Delivered, DirectMessage, OutcomeAck, Receipt, RoomMessage, SendDirect, SendRoom, UserJoined

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")

OTHERS = stat.S_IRWXG | stat.S_IRWXO


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The umask most systems give (022: new files readable by everyone), inherited by
    the servers the test starts."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_folder_and_a_backup_of_it_are_readable_by_their_owner_only(tmp_path: Path,
                                                                              usual_umask: None) -> None:
    data = tmp_path / "data"
    with ServerProcess("--data", str(data)) as server:
        alice = login(server, "Alice")
        alice.send(SendRoom("m1", "a secret of Alice's"))
        alice.expect(Accepted, skip=(RoomMessage, UserJoined))
        leave(alice)
        assert server.stop() == 0
    assert mode(data) & OTHERS == 0, f"data folder mode {mode(data):o}"
    backup = tmp_path / "copy"
    made = run_chatserver("--data", str(data), "--backup", str(backup))
    assert made.returncode == 0, made.stderr
    assert mode(backup) & OTHERS == 0, f"backup folder mode {mode(backup):o}"
    assert mode(backup / "chat.sqlite3") & OTHERS == 0, f"backup file mode {mode(backup / 'chat.sqlite3'):o}"


def test_a_backup_into_an_empty_folder_others_can_read_is_readable_by_its_owner_only(tmp_path: Path,
                                                                                    usual_umask: None) -> None:
    data = tmp_path / "data"
    with ServerProcess("--data", str(data)) as server:
        leave(login(server, "Alice"))
        assert server.stop() == 0
    backup = tmp_path / "copy"
    backup.mkdir(mode=0o755)
    made = run_chatserver("--data", str(data), "--backup", str(backup))
    assert made.returncode == 0, made.stderr
    assert mode(backup / "chat.sqlite3") & OTHERS == 0, f"backup file mode {mode(backup / 'chat.sqlite3'):o}"


def test_a_data_folder_other_users_can_read_is_said_in_the_log_with_the_command_that_closes_it(
        tmp_path: Path, usual_umask: None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    with ServerProcess("--data", str(data)) as server:
        said = "".join(server.lines)  # said before it listens
    assert f"other users of this machine can read the data folder {data}" in said, said
    assert f"chmod 700 {data}" in said, said
    assert mode(data) == 0o755  # the operator's folder: said, not changed


def test_a_private_data_folder_is_not_warned_about(tmp_path: Path, usual_umask: None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    with ServerProcess("--data", str(data)) as server:
        said = "".join(server.lines)  # said before it listens
    assert "listening on" in said and "can read the data folder" not in said, said


def test_a_backup_holds_no_text_of_the_messages_the_retention_purged(tmp_path: Path) -> None:
    """Messages past HISTORY_RETENTION are purged; SQLite frees their pages, and the backup
    API copies free pages as they are, old texts in them: a backup made after the purge
    must not bring the texts back (docs/privacy.md)."""
    data = tmp_path / "data"
    with ServerProcess("--data", str(data), "--rate-per-connection", "1000", "--rate-per-address", "1000") as server:
        ana, bia = login(server, "Ana"), login(server, "Bia")
        for i in range(120):
            ana.send(SendDirect(f"m{i}", "Bia", f"segredo-{i:04d} " + "x" * 600))
            ana.expect(Accepted, skip=(UserJoined,))
            bia.send(Receipt(bia.expect(DirectMessage, skip=(UserJoined,)).msg_id))
            ana.send(OutcomeAck(ana.expect(Delivered).msg_id))  # told: purged at the retention
        leave(ana)
        leave(bia)
        assert server.stop() == 0
    db = open_database(data / "chat.sqlite3")
    try:
        # What the server's sweep does once they are past the retention: all but the newest go.
        assert mailbox.purge(db, time.time() + 1) == 119
    finally:
        db.close()
    backup = tmp_path / "copy"
    made = run_chatserver("--data", str(data), "--backup", str(backup))
    assert made.returncode == 0, made.stderr
    copied = (backup / "chat.sqlite3").read_bytes()
    left = [i for i in range(119) if f"segredo-{i:04d}".encode() in copied]
    assert left == [], f"{len(left)} purged texts in the backup"
    assert b"segredo-0119" in copied  # the message the purge kept

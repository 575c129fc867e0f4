"""The retention's purge leaves no purged text in the SQLite database's files: the pages it
frees whole are zeroed (``secure_delete``), not left with their old bytes until SQLite
reuses them (docs/privacy.md, "Where deleted and expired texts may still be")."""

from __future__ import annotations

from pathlib import Path

from server import mailbox
from server.mailbox import StoredMessage
from server.store import open_database


def test_a_purge_leaves_no_purged_text_in_the_database_files(tmp_path: Path) -> None:
    path = tmp_path / "chat.sqlite3"
    db = open_database(path)
    try:
        with db:
            stored = mailbox.store_messages(db, [
                StoredMessage(i + 1, "Ana", "ana", "Bia", "bia", f"segredo-{i:04d} " + "x" * 600, 1000.0 + i, f"m{i}",
                              "room", 9e9) for i in range(120)])
        assert len(stored) == 120
        with db:
            # (room posts: told to nobody, purged at the retention)
            assert mailbox.purge(db, 5000.0) == 119
    finally:
        db.close()
    files = b"".join(file.read_bytes() for file in tmp_path.iterdir())
    left = [i for i in range(119) if f"segredo-{i:04d}".encode() in files]
    assert left == [], f"{len(left)} of 119 purged texts left in {sorted(p.name for p in tmp_path.iterdir())}"
    assert b"segredo-0119" in files  # the newest, which the purge keeps

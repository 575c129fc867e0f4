"""``mailbox.with_msg_id``: every store gives a new message its id with it (issue 9's cheap
path), so it must be ``dataclasses.replace`` exactly, whatever fields StoredMessage has."""

from __future__ import annotations

from dataclasses import fields, replace

from server.mailbox import StoredMessage, with_msg_id


def test_with_msg_id_is_replace_of_the_id_and_keeps_every_other_field() -> None:
    message = StoredMessage(0, "João", "joão", "Conceição", "conceição", "olá", 12.5, "c1", "queued",
                            99.0, 13.0, True)
    moved = with_msg_id(message, 42)
    assert moved == replace(message, msg_id=42)
    assert [getattr(moved, f.name) for f in fields(StoredMessage)][1:] == \
        [getattr(message, f.name) for f in fields(StoredMessage)][1:]
    assert with_msg_id(StoredMessage(0, "a", "a", None, None, "t", 1.0, "c", "room"), 7).expires_at is None

"""``mailbox.change_refused``: the rule every store applies to an edit or delete before it
changes anything (the Redis store's script states it in Lua). Pure function, each branch
and each boundary: another's message, a deleted one, the same text, a room the sender
may not post to now, the edit window; and ``change_time``, when a change is stamped."""

from __future__ import annotations

from server.mailbox import (BARRED, CHANGE_STEP, DEFAULT_ROOM_SLOT, FORBIDDEN, GONE, TOO_LATE, UNCHANGED, StoredMessage,
                            change_refused, change_time)

WINDOW = 900.0
SENT = 1000.0


def dm(**changes) -> StoredMessage:
    fields = dict(msg_id=7, sender="João", sender_key="joão", recipient="Conceição", recipient_key="conceição",
                  text="olá", sent_at=SENT, client_id="c1", state="delivered")
    fields.update(changes)
    return StoredMessage(**fields)


def post(room_key: str | None) -> StoredMessage:
    return dm(recipient=room_key, recipient_key=room_key, state="room")


def test_a_change_within_the_window_by_its_sender_is_made():
    assert change_refused(dm(), "joão", "olá!", SENT + WINDOW, WINDOW) is None  # the last second of it
    assert change_refused(dm(), "joão", None, SENT + 1, WINDOW) is None


def test_after_the_window_its_sender_may_not_but_someone_entitled_to_may_delete():
    assert change_refused(dm(), "joão", "olá!", SENT + WINDOW + 0.001, WINDOW) == (TOO_LATE, None)
    assert change_refused(dm(), "joão", None, SENT + WINDOW + 0.001, WINDOW) == (TOO_LATE, None)
    assert change_refused(dm(), None, None, SENT + 10 * WINDOW, WINDOW) is None  # a moderator's delete


def test_another_users_message_is_forbidden_with_the_message():
    message = dm()
    assert change_refused(message, "conceição", "mine now", SENT + 1, WINDOW) == (FORBIDDEN, message)


def test_a_resend_changes_nothing_whatever_the_time():
    message = dm()
    assert change_refused(message, "joão", "olá", SENT + 10 * WINDOW, WINDOW) == (UNCHANGED, message)
    deleted = dm(text="", deleted=True, edited_at=SENT + 5)
    assert change_refused(deleted, "joão", None, SENT + 10 * WINDOW, WINDOW) == (UNCHANGED, deleted)
    assert change_refused(deleted, "joão", "back again", SENT + 1, WINDOW) == (GONE, None)


def test_an_edit_of_a_post_in_a_room_its_sender_may_not_post_to_now_is_barred():
    allowed = frozenset({"sala", DEFAULT_ROOM_SLOT})
    assert change_refused(post("sala"), "joão", "edited", SENT + 1, WINDOW, allowed) is None
    assert change_refused(post(None), "joão", "edited", SENT + 1, WINDOW, allowed) is None  # the default room
    muted = post("cozinha")
    assert change_refused(muted, "joão", "edited", SENT + 1, WINDOW, allowed) == (BARRED, muted)
    lobby = post(None)
    assert change_refused(lobby, "joão", "edited", SENT + 1, WINDOW, frozenset({"sala"})) == (BARRED, lobby)
    assert change_refused(muted, "joão", None, SENT + 1, WINDOW, allowed) is None  # a delete stays allowed
    assert change_refused(dm(), "joão", "edited", SENT + 1, WINDOW, frozenset()) is None  # not a room's
    assert change_refused(muted, "joão", "edited", SENT + 1, WINDOW, None) is None  # no check asked


def test_a_change_is_stamped_now_or_just_after_the_last_when_the_clock_says_no_later():
    assert change_time(dm(), SENT + 5) == SENT + 5  # never changed
    assert change_time(dm(edited_at=SENT + 5), SENT + 6) == SENT + 6
    assert change_time(dm(edited_at=SENT + 5), SENT + 5) == SENT + 5 + CHANGE_STEP  # the same second
    assert change_time(dm(edited_at=SENT + 5), SENT + 2) == SENT + 5 + CHANGE_STEP  # stepped back

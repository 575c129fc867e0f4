"""The edit window (const.EDIT_WINDOW) measured on a clock that never steps while the server
runs (server/clocksteps.py, MessageAges): a step of the wall clock neither lets an old
message be edited nor refuses a fresh one. Fake clocks, no I/O; the rule the stores apply
(``now - sent_at > window``: server/mailbox.py change_refused) is written out here."""

from __future__ import annotations

from server.clocksteps import MessageAges

T0 = 1_700_000_000.0
WINDOW = 15 * 60.0


def too_late(ages: MessageAges, msg_id: int, sent_at: float, now: float, steady: float) -> bool:
    window = ages.window_for(msg_id, WINDOW, steady)
    return window is None or now - sent_at > window


def test_a_clock_stepped_back_an_hour_does_not_let_a_two_hours_old_message_be_edited() -> None:
    ages = MessageAges()
    ages.look(T0, 0.0, last_msg_id=7)  # message 7 sent at T0
    ages.look(T0 + 7200.0, 7200.0, last_msg_id=7)
    ages.look(T0 + 3600.0, 7201.0, last_msg_id=7)  # stepped back an hour
    assert too_late(ages, 7, T0, T0 + 3601.0, 7201.0)


def test_a_clock_stepped_forward_an_hour_does_not_refuse_a_fresh_message() -> None:
    ages = MessageAges()
    ages.look(T0, 0.0, last_msg_id=7)
    ages.look(T0 + 3660.0, 60.0, last_msg_id=7)  # a minute later, stepped forward an hour
    assert not too_late(ages, 7, T0, T0 + 3660.0, 60.0)
    assert too_late(ages, 7, T0, T0 + 3600.0 + WINDOW + 1.0, WINDOW + 1.0)  # its window still ends


def test_a_message_taken_after_the_step_is_measured_as_it_is() -> None:
    ages = MessageAges()
    ages.look(T0, 0.0, last_msg_id=7)
    ages.look(T0 - 3600.0, 1.0, last_msg_id=7)  # stepped back an hour
    ages.look(T0 - 3590.0, 11.0, last_msg_id=8)  # message 8 sent at T0 - 3595
    assert not too_late(ages, 8, T0 - 3595.0, T0 - 3590.0 + 60.0, 71.0)
    assert too_late(ages, 8, T0 - 3595.0, T0 - 3595.0 + WINDOW + 1.0, 16.0 + WINDOW)


def test_a_step_older_than_the_window_still_refuses_the_messages_before_it() -> None:
    ages = MessageAges()
    ages.look(T0, 0.0, last_msg_id=7)
    ages.look(T0 - 86400.0, 1.0, last_msg_id=7)  # a day back
    # A day on the monotonic clock later, the wall clock says T0: message 7 looks fresh.
    assert ages.window_for(7, WINDOW, 2 * WINDOW) is None
    assert ages.window_for(7, WINDOW, 86400.0) is None  # the step was forgotten, not its effect
    assert ages.window_for(8, WINDOW, 86400.0) == WINDOW  # a later message: no step since

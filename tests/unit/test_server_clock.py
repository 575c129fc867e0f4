"""The server's clock as a client reckons it (client/serverclock.py): from the ``now`` of
the server's welcome and pongs (PROTOCOL.md, "welcome"), moved on by the clock of waits.
A client whose own clock is 2 h off says how long is left of a wait the server gave: a
guest name's hold, and the edit window of a message whose time is the server's. Fake
clocks, no I/O."""

from __future__ import annotations

import time

import pytest

from client.clock import WaitsClock
from client.serverclock import SERVER_CLOCK, ServerClock

T = 1_795_000_000.0


@pytest.fixture
def clock_off(monkeypatch: pytest.MonkeyPatch):
    """This computer's wall clock ``off`` seconds from the server's, which said its time T
    (the process's clock heard it: forgotten after, tests/conftest.py server_clock_unheard).
    The clock of waits is a fresh one, started on the faked wall clock: the process's had
    seen the real one, and took the step to T + off for a sleep when it was forward (a real
    date before T)."""
    def set_off(off: float) -> None:
        started = time.monotonic()
        monkeypatch.setattr(time, "time", lambda: T + off + (time.monotonic() - started))
        monkeypatch.setattr(SERVER_CLOCK, "_clock", WaitsClock())
        SERVER_CLOCK.heard(int(T * 1000))
    return set_off


def test_the_servers_time_moves_on_with_the_clock_of_waits_and_is_the_own_one_unheard(monkeypatch) -> None:
    waits = [10.0]
    clock = ServerClock(clock=lambda: waits[0])
    monkeypatch.setattr(time, "time", lambda: T + 7200.0)
    assert clock.now() == T + 7200.0  # nothing heard: this computer's clock
    clock.heard(int(T * 1000))
    waits[0] = 70.0
    assert clock.now() == T + 60.0
    clock.heard(None)  # an older server's pong: nothing new
    assert clock.now() == T + 60.0
    clock.forget()
    assert clock.now() == T + 7200.0


@pytest.mark.parametrize("off", [-2 * 3600.0, 2 * 3600.0])
def test_a_kept_guest_name_says_its_wait_from_the_servers_time(clock_off, off: float) -> None:
    from client.display import login_refused_words
    from client.errors import LoginRefused
    clock_off(off)
    held = LoginRefused("name_taken", "the name 'Otávio' is kept", until=T + 9 * 60)
    line = login_refused_words(held, "Otávio")
    assert "(9 min from now)" in line or "(8 min 59 s from now)" in line, line


@pytest.mark.parametrize("off", [-2 * 3600.0, 2 * 3600.0])
def test_the_window_offers_edit_by_the_servers_time_of_a_message(clock_off, off: float) -> None:
    """A message of ours from another device (its time the server's) sent a minute ago is
    editable, and one of 20 minutes ago is not, however this clock is off."""
    from client.gui.model import ChatModel
    from protocol import Carbon
    clock_off(off)
    model = ChatModel("João", "127.0.0.1:5000")
    model.apply(Carbon(11, "Ana", "a prova mudou", T - 20 * 60, "sent"))
    assert model.editable("ana") is None
    model.apply(Carbon(12, "Ana", "é na sala 204", T - 60, "sent"))
    assert model.editable("ana") is not None


@pytest.mark.parametrize("off", [-2 * 3600.0, 2 * 3600.0])
def test_a_mutes_end_and_a_kept_names_are_said_on_this_computers_clock(clock_off, off: float) -> None:
    """"until HH:MM" of a time the server gave is when this computer's clock will read
    HH:MM: its 10 minutes' mute ends ten minutes after its clock's now, not 2 h before."""
    from client.display import describe_room_notice, format_when, login_refused_words
    from client.errors import LoginRefused
    from protocol import RoomNotice
    clock_off(off)
    line = describe_room_notice(RoomNotice("#redes", "mute", "Vic", T, "Olga", until=T + 600.0), "Vic")
    assert f"until {format_when(T + off + 600.0)}" in line, line
    held = LoginRefused("name_taken", "the name 'Otávio' is kept", until=T + 9 * 60)
    assert f"until {format_when(T + off + 9 * 60)} (" in login_refused_words(held, "Otávio")


def test_a_refused_logins_time_is_the_servers_to_say_its_wait_from() -> None:
    """A first login refused for a kept name (no welcome came): the refusal's ``now``."""
    from client.core import LoginAttempt
    from client.errors import LoginRefused
    from protocol import Connection, ErrorReply, Hello, Role
    attempt = LoginAttempt(Hello("h", "Otávio", 1))
    server = Connection(Role.SERVER)
    server.receive_data(attempt.data_to_send())
    list(server.events())
    attempt.receive_data(server.send(ErrorReply("name_taken", "kept", "h", until=T + 540.0, now=int(T * 1000))))
    with pytest.raises(LoginRefused):
        attempt.step("test")
    assert abs(SERVER_CLOCK.now() - T) < 1.0

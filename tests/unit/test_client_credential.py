"""The client core's rule for an account's resume credential (client/credential.py), on a
fake clock: which secret each hello carries, and when the password comes back."""

from __future__ import annotations

import const
from client.core import ClientCore, LoginAttempt
from protocol import RESUME, ErrorCode, ErrorReply, Goodbye, Revoke, Welcome
from protocol.connection import Connection, Role

PASSWORD = "senha-da-turma"
SECRET = "q0Jc4yqD6tQy1Vg2rHk1S1a0bq3VbM8kTz3s1dY9e8U"


def welcome(name: str = "João", registered: bool = True, resume: str | None = SECRET) -> Welcome:
    return Welcome("r1", name, 2, "test", 15.0, registered, resume, (RESUME,))


def login(core: ClientCore, now: float, name: str = "João", **fields) -> tuple[str | None, str | None]:
    """A hello at ``now`` and its welcome; returns the hello's (password, resume)."""
    hello = core.hello(name, PASSWORD, False, None, now)
    core.open(Connection(Role.CLIENT), welcome(name, **fields), now, reconnected=False)
    return hello.password, hello.resume


def test_the_first_login_sends_the_password_and_asks_for_a_credential():
    core = ClientCore()
    hello = core.hello("João", PASSWORD, False, None, 0.0)
    assert (hello.password, hello.resume) == (PASSWORD, None) and RESUME in hello.features


def test_reconnections_carry_the_credential_and_no_password_until_it_is_too_old():
    core = ClientCore()
    assert login(core, 0.0) == (PASSWORD, None)
    assert login(core, 60.0, resume=None) == (None, SECRET)  # its welcome brings no new one: kept
    assert login(core, const.ACCOUNT_RESUME_TTL - 1, resume=None) == (None, SECRET)
    # The server would refuse it now: the password at once, which brings a new one.
    assert login(core, const.ACCOUNT_RESUME_TTL, resume="n" * 43) == (PASSWORD, None)
    assert core.hello("joão", PASSWORD, False, None, const.ACCOUNT_RESUME_TTL + 1).resume == "n" * 43


def test_a_refused_credential_is_forgotten_and_the_password_goes_at_once():
    core = ClientCore()
    login(core, 0.0)
    assert core.hello("João", PASSWORD, False, None, 10.0).resume == SECRET
    assert core.fall_back(ErrorCode.AUTH_REQUIRED)  # the shell logs in again at once...
    hello = core.hello("João", PASSWORD, False, None, 10.0)
    assert (hello.password, hello.resume) == (PASSWORD, None)  # ...with the password
    assert not core.fall_back(ErrorCode.BAD_PASSWORD)  # whose refusal stands


def test_other_refusals_keep_it_and_so_does_a_password_refusal_after_it():
    core = ClientCore()
    login(core, 0.0)
    core.hello("João", PASSWORD, False, None, 5.0)
    assert not core.fall_back(ErrorCode.RATE_LIMITED)
    assert core.hello("João", PASSWORD, False, None, 6.0).resume == SECRET


def test_no_credential_for_another_name_a_registration_or_without_a_password():
    core = ClientCore()
    login(core, 0.0)
    assert core.hello("Conceição", PASSWORD, False, None, 1.0).password == PASSWORD
    assert core.hello("João", PASSWORD, True, None, 1.0).password == PASSWORD  # register: proves it
    assert core.hello("João", None, False, "guest-token", 1.0).resume == "guest-token"


def test_a_guest_welcome_or_a_sign_out_forgets_it():
    core = ClientCore()
    login(core, 0.0)
    login(core, 1.0, registered=False, resume="guest-token")
    assert core.hello("João", PASSWORD, False, None, 2.0).password == PASSWORD
    login(core, 3.0)
    core.receive_data(Connection(Role.SERVER).send(ErrorReply(ErrorCode.PASSWORD_RESET, "reset")), 4.0)
    core.next_events()
    assert core.hello("João", PASSWORD, False, None, 5.0).password == PASSWORD


def test_closing_the_session_revokes_it_before_the_goodbye():
    core = ClientCore()
    attempt = LoginAttempt(core.hello("João", PASSWORD, False, None, 0.0))
    server = Connection(Role.SERVER)
    server.receive_data(attempt.data_to_send())
    hello = next(server.events())
    attempt.receive_data(server.send(Welcome(hello.request_id, "João", 2, "test", 15.0, True, SECRET, (RESUME,))))
    core.open(attempt.conn, attempt.step("test"), 0.0, reconnected=False)
    core.close("bye")
    server.receive_data(core.data_to_send())
    sent = [event for event in server.events() if isinstance(event, (Revoke, Goodbye))]
    assert [type(e) for e in sent] == [Revoke, Goodbye] and sent[0].resume == SECRET
    assert core.hello("João", PASSWORD, False, None, 1.0).password == PASSWORD

"""client.auth.log_in at a school's bell: many logins from one address at once meet the
server's password-check budget (``rate_limited``, "too many logins at once; try again in
0.1 s"). Every front end sits through such a short wait, prompting or not (the window and
scripted terminals too), within the caller's ``retry_until``; a long one is said."""

from __future__ import annotations

import time

import pytest

import const

from client import auth
from client.errors import LoginRefused
from protocol import ErrorCode


class Bell:
    """A client whose first ``refusals`` connects are refused ``rate_limited`` after
    ``wait`` seconds, then welcomed."""

    def __init__(self, refusals: int, wait: float) -> None:
        self.refusals, self.wait, self.connects = refusals, wait, 0
        self.name, self.password = "Conceição", "senha-da-turma"

    def connect(self, timeout: float, retry_until: float | None = None, on_retry=None) -> str:
        self.connects += 1
        if self.connects <= self.refusals:
            raise LoginRefused(ErrorCode.RATE_LIMITED, "too many logins at once; try again in 0.1 s", self.wait)
        return "welcome"


def no_prompt(prompt: str) -> str:
    raise AssertionError("nobody to ask")


@pytest.mark.parametrize("ask", [None, no_prompt], ids=["not prompting", "prompting"])
def test_a_short_wait_for_the_password_check_budget_is_sat_through(ask) -> None:
    client = Bell(refusals=3, wait=0.0)
    assert auth.log_in(client, ask, lambda line: None) == "welcome"  # type: ignore[arg-type]
    assert client.connects == 4


def test_a_wait_longer_than_the_login_may_take_is_said_at_once() -> None:
    client = Bell(refusals=1, wait=auth.MAX_LOGIN_WAIT + 1)
    with pytest.raises(LoginRefused):
        auth.log_in(client, None, lambda line: None)  # type: ignore[arg-type]
    client = Bell(refusals=1, wait=1.0)
    with pytest.raises(LoginRefused):  # --send's --timeout ends sooner than the wait
        auth.log_in(client, None, lambda line: None, retry_until=time.monotonic() + 0.5)  # type: ignore[arg-type]
    assert client.connects == 1


def test_the_window_sits_through_it_too(monkeypatch) -> None:
    """The window's login (client/gui/session.py) used to show the refusal in a dialog,
    "Too many attempts", to a student whose class logged in at the same moment."""
    from client.gui import session

    made: list[Bell] = []
    monkeypatch.setattr(session, "ChatClient", lambda *args, **kwargs: made.append(Bell(2, 0.0)) or made[-1])
    client, welcome = session.log_in("Conceição", "127.0.0.1", 5000, lambda event: None, password="senha-da-turma")
    assert (client, welcome, client.connects) == (made[0], "welcome", 3)


def test_a_new_password_too_long_is_said_and_asked_again_before_it_is_sent() -> None:
    """A new password over the server's limit was taken (and sent, to be refused in the
    server's English): it is said in the user's words and asked again, as one too short."""
    from client.auth import ask_new_password
    answers = iter(["p" * (const.MAX_PASSWORD_CHARS + 1), "senha secreta", "senha secreta"])
    told: list[str] = []
    assert ask_new_password("Ana", told.append, lambda prompt: next(answers)) == "senha secreta"
    assert told == ["the password is too long: at most 1024 characters; try again"]


def test_a_register_or_password_change_too_long_is_refused_before_anything_goes_out() -> None:
    """A register or a change to a password over the server's limit went out (once
    connected) to be refused bad_field; the library refuses it first, with the field and
    the limit, as the server would (a client says it in its user's words)."""
    from client import ChatClient
    from client.errors import RequestFailed
    client = ChatClient("Ana", "127.0.0.1", 9)  # never connected: nothing could go out anyway
    too_long = "p" * (const.MAX_PASSWORD_CHARS + 1)
    for ask, field in ((lambda: client.register(too_long)), "password"), \
            ((lambda: client.change_password("old secret", too_long)), "new"), \
            ((lambda: client.change_password(too_long, "new secret")), "old"):
        with pytest.raises(RequestFailed) as refused:
            ask()
        assert (refused.value.code, refused.value.field, refused.value.max_chars) == (
            ErrorCode.BAD_FIELD, field, const.MAX_PASSWORD_CHARS)

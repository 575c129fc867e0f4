"""Passwords for the terminal front ends: where they come from, and logging in with them.

A password never comes from the command line, where every user of the machine can read
it (``ps``) and the shell keeps it in its history. It comes from, in this order:

1. ``--password-file FILE``: the first line of FILE (its line ending removed);
2. the environment variable ``CHAT_PASSWORD`` (:data:`PASSWORD_ENV`);
3. a prompt without echo (:func:`getpass.getpass`), in an interactive session only,
   when the server answers ``auth_required`` (or ``bad_password``: up to three tries),
   and twice (to catch typos) when claiming a name with ``--register`` or ``/register``.

:func:`log_in` is ``client.connect()`` plus that prompting; :func:`refusal_line` and
:data:`AUTH_CODES` say how a refusal is reported and which exit status it gets.
"""

from __future__ import annotations

import getpass
import math
import os
import time
from collections.abc import Callable, Mapping

import const
from i18n import _
from protocol import ErrorCode, Welcome

from .core import LOGIN_OUTCOMES, MAX_LOGIN_WAIT, login_wait  # noqa: F401 (MAX_LOGIN_WAIT: the old name)
from .display import ERROR_TEXTS, explain_error, login_refused_words
from .errors import LoginRefused
from .events import Reconnecting
from .exitcodes import ExitCode
from .library import ChatClient

PASSWORD_ENV = "CHAT_PASSWORD"
# Password prompts per login (the server slows down repeated failures anyway).
MAX_PROMPTS = 3
# Refusals of a login that are about the password or the account: ExitCode.AUTH_FAILED.
AUTH_CODES = frozenset(code for code, outcome in LOGIN_OUTCOMES.items() if outcome.account)

Ask = Callable[[str], str]


class PasswordError(Exception):
    """No usable password: unreadable file, prompts that do not match, too short..."""



def refusal_exit_code(exc: LoginRefused) -> ExitCode:
    """The exit status of a client whose login was refused (the same for ``--send`` and
    the terminal): a failing store, the account, or anything else about the login."""
    if exc.code == ErrorCode.UNAVAILABLE:
        return ExitCode.UNAVAILABLE
    return ExitCode.AUTH_FAILED if exc.code in AUTH_CODES else ExitCode.LOGIN_REFUSED

def ask_password(prompt: str) -> str:
    """Read a password from the terminal without echo (looked up at call time, so tests
    can patch ``getpass.getpass``)."""
    return getpass.getpass(prompt)


def read_password_file(path: str) -> str:
    """The first line of ``path`` without its line ending; PasswordError if unusable."""
    try:
        with open(path, encoding="utf-8") as file:
            line = file.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise PasswordError(_("cannot read the password file {path}: {why}").format(
            path=repr(path), why=getattr(exc, "strerror", None) or exc)) from None
    password = line.rstrip("\r\n")
    if not password:
        raise PasswordError(_("the password file {path} is empty (the password is its first line)").format(
            path=repr(path)))
    return password


def script_password(password_file: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The password given for scripts (file, then environment), or None."""
    if password_file is not None:
        return read_password_file(password_file)
    value = (os.environ if environ is None else environ).get(PASSWORD_ENV)
    return value or None


def ask_new_password(name: str, tell: Callable[[str], None], ask: Ask = ask_password) -> str:
    """Ask for a new password for ``name``, twice (to catch typos). One too short or too
    long (the server would refuse it) or two that differ is said (``tell(line)``) and asked again, up
    to MAX_PROMPTS times, as a wrong password at login is; then PasswordError."""
    prompt = _("new password for {name} (at least {n} characters): ").format(name=name, n=const.MIN_PASSWORD_LENGTH)
    attempt = 1
    while True:
        first = ask(prompt)
        if len(first) < const.MIN_PASSWORD_LENGTH:
            why = final = _(ERROR_TEXTS["weak_password"]).format(n=const.MIN_PASSWORD_LENGTH)
        elif len(first) > const.MAX_PASSWORD_CHARS:
            why = final = explain_error(ErrorCode.BAD_FIELD, "", field="password", max_chars=const.MAX_PASSWORD_CHARS)
        elif ask(_("the same password again: ")) != first:
            why, final = _("the two passwords differ"), _("the two passwords differ; nothing was registered")
        else:
            return first
        if attempt == MAX_PROMPTS:
            raise PasswordError(final)
        tell(_("{why}; try again").format(why=why))
        attempt += 1


def log_in(client: ChatClient, ask: Ask | None, tell: Callable[[str], None],
           timeout: float = const.CONNECT_TIMEOUT, *, retry_until: float | None = None,
           on_retry: Callable[[Reconnecting], object] | None = None) -> Welcome:
    """``client.connect(timeout, retry_until=..., on_retry=...)`` (which retries a login
    whose connection is cut), sitting through short ``rate_limited`` waits (up to
    MAX_LOGIN_WAIT each, and not past ``retry_until``); when the server wants a password
    and ``ask`` is given (an interactive session), ask for it and try again, up to
    MAX_PROMPTS times. ``tell(line)`` reports a wrong password.

    Raises what connect() raises; EOFError or KeyboardInterrupt from a prompt pass through.
    """
    prompts = 0
    while True:
        try:
            return client.connect(timeout=timeout, retry_until=retry_until, on_retry=on_retry)
        except LoginRefused as exc:
            # The server's throttle after a wrong password, or its password-check budget
            # when a class logs in at once from one address (a school's NAT): a wait, not
            # a refusal, for a script and the window as for a person at the terminal.
            # ChatClient.connect() waits those out itself, by the same rule (core.login_wait),
            # for LOGIN_PATIENCE s when given no deadline: a front end waits on after that.
            wait = login_wait(exc, time.monotonic(), math.inf if retry_until is None else retry_until)
            if wait is not None:
                time.sleep(wait)
                continue
            if ask is None:
                raise
            if exc.code not in (ErrorCode.AUTH_REQUIRED, ErrorCode.BAD_PASSWORD) or prompts >= MAX_PROMPTS:
                raise
            if exc.code == ErrorCode.BAD_PASSWORD:
                tell(_("wrong password; try again"))
            client.password = ask(_("password for {name}: ").format(name=client.name))
            prompts += 1


def error_line(text: str) -> str:
    """``error: TEXT``, the form of every failure the front ends print on stderr."""
    return _("error: {why}").format(why=text)


def needs_password_text() -> str:
    """Why ``--register`` cannot go on without a terminal to ask the password in."""
    return _("--register needs a password: run it in a terminal, or set {variable} or use "
             "--password-file FILE").format(variable=PASSWORD_ENV)


def refusal_line(exc: LoginRefused, scripted: bool, name: str | None = None) -> str:
    """The ``error: ...`` line for a refused login of ``name``, with a hint for scripts."""
    line = login_refused_words(exc, name)
    if exc.code == ErrorCode.AUTH_REQUIRED and scripted:
        line += _("; set {variable} or use --password-file FILE").format(variable=PASSWORD_ENV)
    return error_line(line)

"""The account's resume credential, for a session's reconnections (sans-I/O).

A server checks passwords slowly on purpose (scrypt, and at most
``const.LOGIN_CHECKS_PER_SECOND`` for everyone together), so a class of 300 account holders
that logged in again with their passwords after a server restart came back over a minute,
most of them told "too many logins" meanwhile. A resume credential (PROTOCOL.md, "Accounts:
the resume credential") logs in without a password check: a lookup by hash. So:

- every hello that carries the password asks for one (the ``resume`` feature), and the
  welcome's ``resume`` of an account login is kept: here, in memory, never in a file (the
  reference clients write no password nor credential to disk; a guest's name token is
  another thing, client/resume.py);
- a later hello for the same name carries the credential and no password, unless the
  login claims the name (``register``) or the credential is older than
  ``const.ACCOUNT_RESUME_TTL`` (the server would refuse it: the password at once);
- a refusal of a hello that carried it (``auth_required``: expired, revoked, the password
  was reset...) forgets it, and the shell logs in again at once with the password: the
  person is asked only if that fails too;
- a session signed out because its password changed or was reset forgets it as well (the
  server revoked it); closing the session revokes it (client/core.py, ``close``).

Times are seconds on the shell's monotonic clock.
"""

from __future__ import annotations

import const
from protocol import ErrorCode, Welcome

from registry import canonical


class AccountCredential:
    """The credential one client holds for its account, and what each hello sends."""

    def __init__(self, lifetime: float = const.ACCOUNT_RESUME_TTL) -> None:
        self.lifetime = lifetime
        self._secret: str | None = None
        self._name_key: str | None = None
        self._expires = 0.0
        self.in_use = False  # the last hello carried it (not the password)

    def for_hello(self, name: str, password: str | None, register: bool, token: str | None,
                  now: float) -> tuple[str | None, str | None]:
        """(password, resume) for a hello as ``name``: the credential in place of the
        password when one is held for that name and still young enough, else ``password``
        and ``token`` (a guest's name token, client/resume.py) as they are."""
        self.in_use = (self._secret is not None and password is not None and not register
                       and self._name_key == canonical(name) and now < self._expires)
        if self.in_use:
            return None, self._secret
        return password, token

    def welcomed(self, welcome: Welcome, now: float) -> None:
        """A login succeeded: keep the credential an account's welcome brought (a login
        with the password; one with the credential brings none: keep the old one)."""
        if welcome.registered and welcome.resume and not self.in_use:
            self._secret, self._name_key = welcome.resume, canonical(welcome.name)
            self._expires = now + self.lifetime
        elif not welcome.registered:
            self.forget()  # a guest session: an account's credential has nothing to prove here
        self.in_use = False

    def refused(self, code: str) -> bool:
        """A hello was refused with ``code``. True if it carried the credential and the
        refusal is the server's "not this one" (``auth_required``): it is forgotten and
        the shell logs in again at once, with the password."""
        was_in_use, self.in_use = self.in_use, False
        if was_in_use and code == ErrorCode.AUTH_REQUIRED:
            self.forget()
            return True
        return False

    @property
    def secret(self) -> str | None:
        """The credential held (for a password change to keep it), or None."""
        return self._secret

    def forget(self) -> None:
        self._secret = self._name_key = None
        self._expires = 0.0

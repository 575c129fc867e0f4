"""Accounts: claimed names protected by passwords, stored only as salted scrypt hashes.

Hashing is deliberately slow (tens of milliseconds), so the relay runs :func:`hash_password`
and :func:`verify_password` on a worker thread, never on the event loop. Passwords are never
logged and never stored; ``Hello.password`` is left out of the event's repr.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from dataclasses import dataclass

import const

from .limits import WAIT_ROUNDING

# scrypt cost parameters: n=2**14, r=8 uses 16 MiB and about 50 ms per hash.
_N, _R, _P = 2 ** 14, 8, 1
KDF = f"scrypt:n={_N},r={_R},p={_P}"


@dataclass(frozen=True, slots=True)
class Account:
    name: str
    pw_hash: bytes = b""
    salt: bytes = b""
    kdf: str = KDF


def _scrypt(password: str, salt: bytes, kdf: str) -> bytes:
    params = dict(part.split("=") for part in kdf.removeprefix("scrypt:").split(","))
    n, r, p = int(params["n"]), int(params["r"]), int(params["p"])
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


# The characters of a password the operator's /password NAME sets: lower-case letters and
# digits without the look-alikes (l and 1, o and 0), so that it can be read out to a
# student and typed without asking "upper or lower case?": 32 of them, 5 bits each.
RESET_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def reset_password_text() -> str:
    """A new random password for the operator to pass on: ``const.RESET_PASSWORD_GROUPS``
    groups of five characters of :data:`RESET_ALPHABET` (from ``secrets``) joined by
    dashes, ``k7m2x-q9cab-…``: 100 bits in four groups. The dashes are part of it, and
    never its first character (a program would take a leading "-" for an option)."""
    return "-".join("".join(secrets.choice(RESET_ALPHABET) for _ in range(5))
                    for _ in range(const.RESET_PASSWORD_GROUPS))


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be used, or None if it may."""
    if len(password) < const.MIN_PASSWORD_LENGTH:
        return f"a password needs at least {const.MIN_PASSWORD_LENGTH} characters"
    return None


def hash_password(name: str, password: str, salt: bytes | None = None) -> Account:
    """A new account record for ``name`` (slow: call it off the event loop), with a new
    random salt, or ``salt``: that of a claim answered uncertain (server/login.py), so that
    its resend with the same password makes the very record the store may hold."""
    if salt is None:
        salt = secrets.token_bytes(16)
    return Account(name, _scrypt(password, salt, KDF), salt, KDF)


def same_account(stored: Account, account: Account) -> bool:
    """True if ``stored`` is the very record ``account`` is: the same name, and the same
    hash of the same random salt, as only one hashing (or its resend's, :func:`hash_password`)
    makes."""
    return (bool(account.salt) and stored.salt == account.salt and stored.pw_hash == account.pw_hash
            and stored.name == account.name)


def verify_password(account: Account, password: str) -> bool:
    """True if ``password`` is the account's (slow; constant-time comparison)."""
    return hmac.compare_digest(_scrypt(password, account.salt, account.kdf), account.pw_hash)


def load_accounts(db: sqlite3.Connection) -> dict[str, Account]:
    rows = db.execute("SELECT name_key, name, pw_hash, salt, kdf FROM accounts").fetchall()
    return {key: Account(name, pw_hash, salt, kdf) for key, name, pw_hash, salt, kdf in rows}


def save_account(db: sqlite3.Connection, name_key: str, account: Account) -> bool:
    """Insert the account; False if the name was claimed meanwhile, True if it holds this
    very record already (:func:`same_account`: a resend after an uncertain answer)."""
    cursor = db.execute("INSERT OR IGNORE INTO accounts (name_key, name, pw_hash, salt, kdf, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (name_key, account.name, account.pw_hash, account.salt, account.kdf, time.time()))
    if cursor.rowcount == 1:
        return True
    row = db.execute("SELECT name, pw_hash, salt FROM accounts WHERE name_key = ?", (name_key,)).fetchone()
    return row is not None and same_account(Account(row[0], bytes(row[1] or b""), bytes(row[2] or b"")), account)


def set_password(db: sqlite3.Connection, name_key: str, account: Account, keep: bytes | None) -> bool:
    """Replace the hash of the account ``name_key`` with ``account``'s and forget every
    resume credential of it but ``keep`` (the hash of the one of the session that changed
    it, if any), in one transaction; False if there is no such account."""
    cursor = db.execute("UPDATE accounts SET pw_hash = ?, salt = ?, kdf = ? WHERE name_key = ?",
                        (account.pw_hash, account.salt, account.kdf, name_key))
    if cursor.rowcount != 1:
        return False
    db.execute("DELETE FROM account_credentials WHERE name_key = ? AND token_hash IS NOT ?", (name_key, keep))
    return True


class FailureThrottle:
    """Slows down password guessing, per key (the login desk uses "name@address" and
    "@address", never a name alone, so nobody elsewhere can slow an owner down).

    A failure is recorded for a name key and its address keys together (:meth:`failed`).
    The name key counts the name's consecutive failures: after the k-th, the next attempt
    with it is refused until ``base * 2**(k-1)`` seconds have passed (at most ``cap``). An
    address key counts the *names* that failed from there, not the failures: it grows by
    one when a name starts failing, and every failure from there blocks it again for its
    current delay. So one user guessing their own or one other name from a shared address
    (a classroom behind one NAT) holds the others there up for ``base`` after each of
    its (ever rarer) failures, while an address trying many names waits up to ``cap``
    before each. A success clears the name key's count. Memory is bounded: every entry
    costs a password check, which are capped per second, and forgotten entries are
    pruned by :meth:`prune`.
    """

    def __init__(self, base: float = const.LOGIN_FAILURE_DELAY, cap: float = const.LOGIN_FAILURE_MAX_DELAY) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, blocked until)

    def retry_after(self, keys: tuple[str, ...], now: float) -> float:
        """Seconds to wait before any of ``keys`` may try again (0: go ahead; so too what
        is left by rounding alone, WAIT_ROUNDING: a client that waited the wait it was
        told, limits.retry_seconds, gets in)."""
        failures = self._failures
        if not failures:  # empty unless a password was wrong lately: a login storm pays nothing here
            return 0.0
        wait = WAIT_ROUNDING
        for key in keys:
            entry = failures.get(key)
            if entry is not None and entry[1] - now > wait:
                wait = entry[1] - now
        return wait if wait > WAIT_ROUNDING else 0.0

    def has_failed(self, key: str) -> bool:
        """True if ``key`` failed since its last success (or prune)."""
        return key in self._failures

    def failed(self, keys: tuple[str, ...], now: float) -> None:
        """A wrong password for ``keys[0]`` (a name key); ``keys[1:]`` are its address keys."""
        new_name = keys[0] not in self._failures
        for i, key in enumerate(keys):
            count = self._failures.get(key, (0, 0.0))[0]
            if i == 0 or new_name or not count:
                count += 1
            self._failures[key] = (count, now + self.delay(count))

    def delay(self, count: int) -> float:
        """The wait after the ``count``-th failure of a key."""
        return min(self.cap, self.base * 2 ** (count - 1))

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def forget_name(self, name_key: str) -> None:
        """Forget the failures of ``name_key`` from every address (its account was deleted);
        the addresses' own (``@address``) stay: they are the guessers', not the name's."""
        prefix = name_key + "@"
        self._failures = {k: v for k, v in self._failures.items() if not k.startswith(prefix)}

    def prune(self, now: float) -> None:
        """Forget keys whose delay ran out long ago (an hour)."""
        self._failures = {k: v for k, v in self._failures.items() if v[1] > now - 3600}

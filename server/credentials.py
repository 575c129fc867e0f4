"""Account resume credentials: a secret that logs a client back in to an account without
its password, so that a reloaded web page stays logged in (issue 12).

A client asks for one with the ``resume`` feature in its hello (PROTOCOL.md, "Features").
After a login that proved the password (or claimed the account), the server draws 32
random bytes (256 bits), keeps only their SHA-256 hash, with the account and an expiry
(``const.ACCOUNT_RESUME_TTL`` after it was issued), and gives the secret to the client in
the ``welcome``'s ``resume``. A later hello for that account carrying it as ``resume``, and
no password, logs in to the account as the password would, until it expires or is
revoked: by the client (``revoke``: "Log out"), or all of an account's at once when its
password is set (:meth:`AccountCredentials.revoke_account`). A wrong, expired or revoked
one is ``auth_required``, as a hello without a password is.

A plain hash, not scrypt: a random 256-bit secret cannot be guessed from its hash, and a
stolen database gives nobody the secrets. Guest names have their own tokens (guests.py).

Policy and bookkeeping only: the login desk decides, the relay writes through to the store
with the functions at the bottom. Time comes in as an argument.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from dataclasses import dataclass


def digest(secret: str) -> bytes:
    """What is stored of ``secret``: its SHA-256."""
    return hashlib.sha256(secret.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class Credential:
    """One issued credential (the secret itself is not kept)."""

    name_key: str
    expires_at: float


class AccountCredentials:
    """The live credentials of every account, by the hash of their secret."""

    def __init__(self, credentials: dict[bytes, Credential]) -> None:
        self.by_hash = credentials

    def issue(self, name_key: str, now: float, lifetime: float) -> tuple[str, bytes, Credential]:
        """A new credential for the account ``name_key``: (secret for the client, its hash,
        the record to store). Not live until :meth:`add` (once it is stored)."""
        secret = secrets.token_urlsafe(32)
        return secret, digest(secret), Credential(name_key, now + lifetime)

    def add(self, token_hash: bytes, credential: Credential) -> None:
        self.by_hash[token_hash] = credential

    def check(self, name_key: str, secret: str | None, now: float) -> bool:
        """True if ``secret`` is a live credential of the account ``name_key``. A lookup
        by hash: the hash of a guess tells nothing about the stored ones. An expired
        credential found here is forgotten (the store drops it at its next load)."""
        if not secret:
            return False
        token_hash = digest(secret)
        credential = self.by_hash.get(token_hash)
        if credential is None or credential.name_key != name_key:
            return False
        if credential.expires_at <= now:
            del self.by_hash[token_hash]
            return False
        return True

    def revoke(self, name_key: str, secret: str) -> bytes | None:
        """Forget ``secret`` if it is a credential of ``name_key``; returns its hash (to
        delete from the store), or None if it was not one."""
        token_hash = digest(secret)
        credential = self.by_hash.get(token_hash)
        if credential is None or credential.name_key != name_key:
            return None
        del self.by_hash[token_hash]
        return token_hash

    def revoke_account(self, name_key: str, keep: bytes | None = None) -> int:
        """Forget every credential of ``name_key`` (its password changed) but the one whose
        hash is ``keep`` (the session's that changed it); returns how many."""
        doomed = [h for h, c in self.by_hash.items() if c.name_key == name_key and h != keep]
        for token_hash in doomed:
            del self.by_hash[token_hash]
        return len(doomed)


# --- Store operations (run by the store; see store.py) ------------------------------------


def load_credentials(db: sqlite3.Connection, now: float) -> dict[bytes, Credential]:
    """Every credential still live at ``now`` (a read: the expired ones are deleted by
    :func:`save_credential`)."""
    rows = db.execute("SELECT token_hash, name_key, expires_at FROM account_credentials WHERE expires_at > ?",
                      (now,)).fetchall()
    return {bytes(token_hash): Credential(name_key, expires_at) for token_hash, name_key, expires_at in rows}


def save_credential(db: sqlite3.Connection, token_hash: bytes, credential: Credential, now: float) -> None:
    """Store a new credential, and forget those expired by ``now`` (so the table holds
    about one row per live credential, with no sweep of its own)."""
    db.execute("DELETE FROM account_credentials WHERE expires_at <= ?", (now,))
    db.execute("INSERT OR REPLACE INTO account_credentials (token_hash, name_key, expires_at) VALUES (?, ?, ?)",
               (token_hash, credential.name_key, credential.expires_at))


def delete_credential(db: sqlite3.Connection, token_hash: bytes) -> None:
    db.execute("DELETE FROM account_credentials WHERE token_hash = ?", (token_hash,))


def delete_account_credentials(db: sqlite3.Connection, name_key: str) -> None:
    db.execute("DELETE FROM account_credentials WHERE name_key = ?", (name_key,))

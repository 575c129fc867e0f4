"""Resume tokens: the secret that proves a guest is the same guest when it comes back.

A server gives a guest a resume token in the ``welcome`` when the guest takes a name
(PROTOCOL.md, "Guest names"); the guest's queued messages and history pass only to a
hello that carries it. The client keeps it per server (``host:port``) and name, in memory
for its reconnections and in a small JSON file so that the next run of the terminal
client, the window and ``--send`` on this machine come back as the same guest::

    {"127.0.0.1:5000": {"bob": "token..."}}

The file is ``resume.json`` in the state directory: ``$CHAT_STATE_DIR`` if set (tests
point it elsewhere), else ``%APPDATA%\\chat`` on Windows, else
``$XDG_CONFIG_HOME/chat`` (default ``~/.config/chat``). It is created with mode 0600 and
replaced atomically (a new file renamed over the old one), so a crash never leaves half a
file. A missing, unreadable or corrupt file reads as empty: the worst outcome is a guest
treated as a newcomer. Two programs saving at the same instant may lose one token (the
last write wins); that guest is then a newcomer once, which is safe.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

from registry import canonical

log = logging.getLogger("chat.client")

FILE_NAME = "resume.json"


def state_dir() -> Path:
    """Where this user's client state lives (see the module docstring)."""
    explicit = os.environ.get("CHAT_STATE_DIR")
    if explicit:
        return Path(explicit)
    if os.name == "nt" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "chat"
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "chat"


class ResumeTokens:
    """Tokens by server and name; ``path`` None keeps them in memory only. Thread-safe."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._memory: dict[str, dict[str, str]] = {}

    @classmethod
    def default(cls) -> ResumeTokens:
        """The user's file, in :func:`state_dir`."""
        return cls(state_dir() / FILE_NAME)

    def get(self, server: str, name: str) -> str | None:
        """The token kept for ``name`` (any case) at ``server``, or None."""
        with self._lock:
            token = self._memory.get(server, {}).get(canonical(name))
            if token is None and self.path is not None:
                token = self._read().get(server, {}).get(canonical(name))
            return token

    def for_hello(self, servers: str | Sequence[str], name: str, password: str | None) -> str | None:
        """The token a hello for ``name`` carries: the one kept for the first of ``servers``
        that has one, or, for a guest without one (no ``password``), a new secret kept for
        every one of them *before* the hello goes out, so that a retry after a lost welcome
        proves it is the same guest (PROTOCOL.md, "Guest names"). ``servers`` are the
        addresses of one chat (one server, or a client's list: a cluster's nodes share guest
        names), the one in use first. Shared by every client shell."""
        servers = [servers] if isinstance(servers, str) else list(servers)
        token = next(filter(None, (self.get(server, name) for server in servers)), None)
        if token is None and password is None:
            token = secrets.token_urlsafe(32)
            for server in servers:
                self.put(server, name, token)
        return token

    def proven(self, servers: str | Sequence[str], name: str, token: str | None) -> None:
        """A login as ``name`` took or proved ``token``: keep it for every one of
        ``servers``, over any stale one kept there."""
        if not token:
            return
        for server in [servers] if isinstance(servers, str) else servers:
            if self.get(server, name) != token:
                self.put(server, name, token)

    def put(self, server: str, name: str, token: str) -> None:
        """Keep ``token`` for ``name`` at ``server``, in memory and, if possible, in the
        file (a failure to write is logged once per call and otherwise ignored)."""
        with self._lock:
            self._memory.setdefault(server, {})[canonical(name)] = token
            if self.path is None:
                return
            tokens = self._read()
            tokens.setdefault(server, {})[canonical(name)] = token
            try:
                self._write(tokens)
            except OSError as exc:
                log.warning("cannot save the resume token in %s: %s", self.path, exc)

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring the unreadable resume file %s: %s", self.path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {server: {name: token for name, token in names.items() if isinstance(token, str)}
                for server, names in data.items() if isinstance(names, dict)}

    def _write(self, tokens: dict[str, dict[str, str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(tokens, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with suppress(OSError):
                os.unlink(temporary)
            raise

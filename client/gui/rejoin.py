"""Logging in again after the server's planned stop, while the library does not do it itself.

The client library reconnects by itself after a lost connection, but it takes the server's
``bye`` (sent when the server stops or restarts) as the end of the session: a
``ConnectionClosed`` follows, and nothing more. The window then calls :func:`rejoin` on a
worker thread, which relies on three things the library already offers, so that no rule of
reconnecting is written twice:

- one ``ChatClient`` may :meth:`~client.library.ChatClient.connect` again after its session
  ended (the same name, password, resume token and request-id prefix);
- its backoff (``ChatClient._backoff``) says how long to wait before each attempt, and the
  login refusals worth waiting out are its ``_RETRY_LOGIN``;
- progress is reported with the library's own events, :class:`~client.events.Reconnecting`
  before each wait and :class:`~client.events.Reconnected` once back, so the window shows
  it exactly as a reconnection the library made itself.

When the library goes on reconnecting after a ``bye`` (issue 12, the client core), no
``ConnectionClosed`` follows the ``bye`` any more, the window never calls this, and this
module can go.

No tkinter here: unit-tested with a fake client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import const
from protocol import Event

from ..errors import CertificateError, LoginRefused, ServerUnreachable
from ..events import Reconnected, Reconnecting
from ..library import _RETRY_LOGIN


def rejoin(client: object, report: Callable[[Event], object], stop: threading.Event, reason: str, *,
           timeout: float = const.CONNECT_TIMEOUT, max_attempts: int | None = None) -> BaseException | None:
    """Connect ``client`` again until it works, ``stop`` is set, or it cannot work.

    Blocking: call from a worker thread. ``report(event)`` gets ``Reconnecting(attempt,
    delay, reason)`` before each wait and ``Reconnected(welcome, 0)`` once the session is
    open (from this thread). Returns None when the session is back or ``stop`` was set
    (a session opened after ``stop`` is closed again), else the error that ends the tries
    for good: a :class:`LoginRefused` that waiting cannot change (``bad_password``...), a
    :class:`CertificateError`, a ``RuntimeError`` from ``connect()``, or
    :class:`ServerUnreachable` after ``max_attempts`` attempts.
    """
    attempt = 0
    while True:
        attempt += 1
        if max_attempts is not None and attempt > max_attempts:
            return ServerUnreachable(f"gave up reconnecting after {attempt - 1} attempts ({reason})")
        delay = client._backoff(attempt)  # type: ignore[attr-defined]
        report(Reconnecting(attempt, round(delay, 2), reason))
        if stop.wait(delay):
            return None
        try:
            welcome = client.connect(timeout)  # type: ignore[attr-defined]
        except LoginRefused as exc:
            if exc.code not in _RETRY_LOGIN:
                return exc
            reason = f"login refused: {exc.message} ({exc.code})"
            continue
        except CertificateError as exc:
            return exc
        except ServerUnreachable as exc:
            reason = str(exc)
            continue
        except RuntimeError as exc:  # already connected, or the old receiver never ended
            return exc
        if stop.is_set():
            client.close()  # type: ignore[attr-defined]
            return None
        report(Reconnected(welcome, 0))
        return None

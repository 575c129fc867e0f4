"""The write batcher: one session whose flush raises does not silence the others.

``flush_all`` takes the turn's list of sessions with frames waiting and flushes each. A
session is added to the batcher only when its queue goes from empty to not empty, so one
that the loop never reached kept its queue for ever: every later frame to it was added to
that queue, and nothing wrote it. One exception in one session's flush (a bug anywhere in
what a flush calls: the relay's ``drained``, a transport) so stalled every session behind
it in that turn, silently and for good.
"""

from __future__ import annotations

import logging

import pytest

from server.outbox import WriteBatcher


class _Loop:
    """call_soon, run by hand; an exception out of a callback is kept, as asyncio's
    handler would log it, and the loop goes on."""

    def __init__(self) -> None:
        self.soon: list = []
        self.raised: list[BaseException] = []

    def call_soon(self, callback, *args) -> None:
        self.soon.append((callback, args))

    def run(self) -> None:
        while self.soon:
            callback, args = self.soon.pop(0)
            try:
                callback(*args)
            except Exception as exc:
                self.raised.append(exc)


class _Session:
    """A session's part the batcher sees: frames waiting, written by flush."""

    def __init__(self, batcher: WriteBatcher, fail: bool = False) -> None:
        self.batcher, self.fail = batcher, fail
        self.unsent: list[bytes] | None = None
        self.written: list[bytes] = []

    def write(self, frame: bytes) -> None:
        if self.unsent is None:
            self.unsent = [frame]
            self.batcher.add(self)
        else:
            self.unsent.append(frame)

    def flush(self) -> None:
        unsent, self.unsent = self.unsent, None
        self.written += unsent
        if self.fail:
            self.fail = False
            raise RuntimeError("a bug after the write")


@pytest.mark.logs_tracebacks("a flush made to raise")
def test_a_flush_that_raises_leaves_the_others_flushed_and_is_logged(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="chat.server")
    loop = _Loop()
    batcher = WriteBatcher(loop)  # type: ignore[arg-type]
    ana, bia, caio = _Session(batcher, fail=True), _Session(batcher), _Session(batcher)
    for session in (ana, bia, caio):
        session.write(b"one\n")
    loop.run()
    assert [s.written for s in (ana, bia, caio)] == [[b"one\n"]] * 3
    for session in (ana, bia, caio):  # and the next turn's frames go out as ever
        session.write(b"two\n")
    loop.run()
    assert [s.written for s in (ana, bia, caio)] == [[b"one\n", b"two\n"]] * 3
    # Logged by the batcher, with its traceback, once; nothing escapes to the loop.
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [RuntimeError]
    assert loop.raised == []

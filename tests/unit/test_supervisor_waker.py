"""The ``--workers`` supervisor's wake-up (chatserver.Waker) under a burst of signals.

Seen in CI on a loaded machine: a tight burst of SIGCHLD (or SIGTERM) at the supervisor
ended it with a RecursionError. A Python signal handler runs between any two bytecodes,
also inside another handler, and also when a system call it made returns (PEP 475): each
handler's ``os.write`` of the wake-up byte let the next one run inside it, and so on, a
frame deeper per signal. Here a signal is made to come during every write, as it did."""
import os

import chatserver


def test_a_signal_during_each_wake_up_write_nests_no_handler_deeper_than_one(monkeypatch) -> None:
    woken = chatserver.Waker()
    depth = {"now": 0, "most": 0, "writes": 0}
    real_write = os.write

    def handler() -> None:  # the SIGCHLD handler: a wake-up
        depth["now"] += 1
        depth["most"] = max(depth["most"], depth["now"])
        try:
            woken.wake()
        finally:
            depth["now"] -= 1

    def write_with_a_signal_inside(fd: int, data: bytes) -> int:
        depth["writes"] += 1
        written = real_write(fd, data)
        if depth["writes"] < 5000:  # (bounded: the burst ends by itself)
            handler()  # the next signal of the burst, run as the write returns
        return written

    monkeypatch.setattr(chatserver.os, "write", write_with_a_signal_inside)
    try:
        handler()
        assert depth["most"] <= 2, depth  # the first, and at most one inside it
        woken.wait(0)  # the supervisor is woken all the same
        handler()  # and a later signal, after the burst, wakes it again
        assert depth["writes"] >= 2, depth
    finally:
        monkeypatch.undo()
        woken.close()


def test_a_stop_signal_during_the_first_stop_is_passed_on_once_and_nests_no_deeper() -> None:
    woken = chatserver.Waker()
    first = []
    try:
        assert woken.stop() is True
        for _ in range(3):
            first.append(woken.stop())
        assert first == [False, False, False] and woken.stopping
    finally:
        woken.close()

"""server/wakeup.py: one timer for a core's next deadline, with a fake loop and clock."""

from __future__ import annotations

from server.wakeup import Wakeup


class Loop:
    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[tuple[float, object]] = []

    def call_later(self, delay: float, callback) -> None:
        self.timers.append((self.now + delay, callback))

    def run_until(self, when: float) -> None:
        self.now = when
        for due, callback in sorted([t for t in self.timers if t[0] <= when], key=lambda t: t[0]):
            self.timers.remove((due, callback))
            callback()


def test_only_the_earliest_deadline_has_a_timer_and_a_fired_one_lets_the_next_be_set() -> None:
    loop, fired = Loop(), []
    waker = Wakeup(loop.call_later, lambda: loop.now, late=0.01)
    waker.at(110.0, lambda: fired.append("a"))
    waker.at(120.0, lambda: fired.append("later"))  # a timer fires sooner: none set
    waker.at(110.0, lambda: fired.append("same"))
    assert len(loop.timers) == 1
    waker.at(105.0, lambda: fired.append("sooner"))  # earlier: another timer
    assert len(loop.timers) == 2
    loop.run_until(105.02)
    assert fired == ["sooner"]
    waker.at(None, lambda: fired.append("nothing due"))
    loop.run_until(110.02)
    assert fired == ["sooner", "a"]
    waker.at(120.0, lambda: fired.append("next"))  # the fired timers let the next one be set
    loop.run_until(120.02)
    assert fired == ["sooner", "a", "next"]


def test_without_a_scheduler_nothing_is_set() -> None:
    Wakeup(None, lambda: 0.0).at(1.0, lambda: None)  # no error, no timer

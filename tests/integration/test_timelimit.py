"""The per-test time limit (tests/support/timelimit.py): a hanging test fails, in bounded time,
saying where it hung, and the run goes on.

Runs pytest in a subprocess on a small file of tests that hang in the ways the suite's
own helpers used to (a wait without timeout, a read from a peer that never writes, a
fixture that never finishes, a loop that swallows exceptions).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

# Where timelimit.py is, and the repository (PYTHONPATH of the pytest runs started here).
SUPPORT = Path(__file__).resolve().parents[1] / "support"
ROOT = Path(__file__).resolve().parents[2]

HANGING = textwrap.dedent('''
    import socket
    import threading
    import time

    import pytest

    pytestmark = pytest.mark.timeout_seconds(1)


    def hang_in_a_wait():
        threading.Event().wait()


    def test_waits_forever():
        hang_in_a_wait()


    def test_reads_from_a_peer_that_never_writes():
        a, b = socket.socketpair()
        with a, b:
            a.recv(1)


    def test_swallows_exceptions_in_a_loop():
        while True:
            try:
                time.sleep(0.01)
            except Exception:
                pass


    @pytest.fixture
    def never_ready():
        threading.Event().wait()
        yield


    def test_hangs_in_its_fixture(never_ready):
        pass


    @pytest.mark.timeout_seconds(5)
    def test_the_closest_marker_wins_and_the_limit_is_disarmed_after_each_test():
        time.sleep(1.5)  # past the module's 1 s, within its own 5 s; no stray alarm from before
''')


@pytest.mark.timeout_seconds(90)  # a pytest run of its own, about 10 s
def test_a_hanging_test_fails_in_bounded_time_with_the_stacks_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "test_hanging.py").write_text(HANGING)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SUPPORT), str(ROOT)]))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "timelimit", "-p", "no:cacheprovider", "-q",
                           "-rfE", "test_hanging.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    took = time.monotonic() - started
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "3 failed, 1 passed, 1 error" in output, output
    assert took < 30, f"{took:.1f} s"
    assert output.count("test exceeded 1 s") >= 4, output
    assert "test_hanging.py::test_hangs_in_its_fixture (setup)" in output, output
    # The stacks of all threads, so the report shows where it was stuck.
    assert "Stacks of all threads when it was stopped" in output and "--- thread MainThread" in output
    assert "in hang_in_a_wait" in output, output
    assert "@pytest.mark.timeout_seconds(N)" in output


@pytest.mark.timeout_seconds(90)
def test_the_default_limit_applies_without_a_marker(tmp_path: Path) -> None:
    (tmp_path / "test_default.py").write_text(textwrap.dedent('''
        import threading
        import timelimit

        timelimit.DEFAULT_TIME_LIMIT = 0.5  # as if 60 s had passed


        def test_waits_forever():
            threading.Event().wait()
    '''))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SUPPORT), str(ROOT)]))
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "timelimit", "-p", "no:cacheprovider", "-q",
                           "test_default.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and "test exceeded 0.5 s" in done.stdout, done.stdout + done.stderr

"""A traceback the code under test logs fails the test (tests/support/tracebacks.py): from the
test's own thread or another, unless the test is marked ``logs_tracebacks``; an error logged
without a traceback, or a traceback at a lower level, does not.

Runs pytest in a subprocess on a small file of tests, with a conftest that installs the guard
as tests/conftest.py does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parents[1] / "support"
ROOT = Path(__file__).resolve().parents[2]

CONFTEST = textwrap.dedent('''
    import tracebacks
    from tracebacks import no_unexpected_tracebacks  # noqa: F401


    def pytest_configure(config):
        tracebacks.configure(config)
''')

TESTS = textwrap.dedent('''
    import logging
    import threading

    import pytest

    log = logging.getLogger("chat.server")


    def a_safety_net():
        try:
            raise RuntimeError("a bug in a callback")
        except RuntimeError:
            log.exception("store callback failed")


    def test_a_caught_bug_in_the_tests_thread():
        a_safety_net()


    def test_a_caught_bug_in_a_servers_thread():
        thread = threading.Thread(target=a_safety_net)
        thread.start()
        thread.join(5)


    @pytest.mark.logs_tracebacks("made to raise")
    def test_one_provoked_on_purpose():
        a_safety_net()


    def test_an_error_without_a_traceback_and_a_warning_with_one():
        log.error("the disk is full")
        try:
            raise OSError("no space")
        except OSError:
            log.warning("retrying", exc_info=True)
''')


@pytest.mark.timeout_seconds(90)
def test_a_logged_traceback_fails_its_test_unless_it_says_it_provokes_one(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_logging.py").write_text(TESTS)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SUPPORT), str(ROOT)]))
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rE", "test_logging.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "4 passed, 2 errors" in output, output
    for name in ("test_a_caught_bug_in_the_tests_thread", "test_a_caught_bug_in_a_servers_thread"):
        assert f"ERROR test_logging.py::{name}" in output, output
        assert f"ERROR at teardown of {name}" in output, output  # (the summary's wording varies by version)
    assert "of test_one_provoked_on_purpose" not in output and "of test_an_error_without" not in output, output
    assert "chat.server: store callback failed (RuntimeError: a bug in a callback)" in output, output
    assert "@pytest.mark.logs_tracebacks(reason)" in output, output

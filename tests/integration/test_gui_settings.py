"""The window started from a desktop launcher (no terminal) over a settings error
(overrides.py): the one line that stops it is shown in a dialog, not only on a stderr
nobody sees, and the window then ends with status 2 as the terminal programs do.

A real X server (Xvfb, test_gui's fixture), the window as a subprocess, xdotool to find
and answer the dialog; every wait has a deadline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from client.gui.screenshot import capture
from test_gui import REPO, TIMEOUT, display  # noqa: F401  (fixture)
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)


def dialog_of(title: str, env: dict[str, str], proc: subprocess.Popen) -> str:
    """The X id of the window named ``title``, once it is shown; fails if ``proc`` ends first."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        # xdotool's patterns match no letter outside ASCII ("não"): the name is compared here.
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", "^Chat"], env=env,
                               capture_output=True, text=True, timeout=TIMEOUT)
        for window in found.stdout.split():
            name = subprocess.run(["xdotool", "getwindowname", window], env=env, capture_output=True, text=True,
                                  timeout=TIMEOUT)
            if name.stdout.strip() == title:
                return window
        if proc.poll() is not None:
            raise AssertionError(f"the window ended (status {proc.returncode}) with no dialog: "
                                 f"{proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"no dialog {title!r} within {TIMEOUT} s")


def test_a_settings_error_is_shown_in_a_dialog_as_well_as_on_stderr(display: str, tmp_path: Path) -> None:
    require_tool("xdotool", why="to find and answer the dialog")
    settings = tmp_path / "const_local.py"
    settings.write_text('SERVER_PORT = "5000"\n', encoding="utf-8")
    env = dict(os.environ, DISPLAY=display, CHAT_CONST_LOCAL=str(settings), LANGUAGE="pt_BR")
    line = f"as suas configurações {settings}, linha 1: SERVER_PORT é um número inteiro no const.py (5000), não '5000'"
    proc = subprocess.Popen([sys.executable, str(REPO / "chatclient.py"), "--gui"], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        window = dialog_of("Chat: a janela não pode abrir", env, proc)
        require_tool("xwd", "x11-apps", why="to take the dialog's screenshot")
        shot = capture(tmp_path / "gui-settings-error.png", display)
        print(f"\nscreenshot: {shot}")
        subprocess.run(["xdotool", "windowfocus", "--sync", window, "key", "Return"], env=env, check=True,
                       timeout=TIMEOUT)
        assert proc.wait(TIMEOUT) == 2
        assert proc.stderr.read() == line + "\n"
    finally:
        if proc.poll() is None:
            proc.kill()  # our own child, by its PID
            proc.wait(TIMEOUT)
        proc.stderr.close()

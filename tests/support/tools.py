"""The tools some tests need (openssl, chromium, Xvfb...), and the one rule for their absence.

On a developer's machine a missing tool skips the tests that need it, saying what to
install. In CI (the environment variable ``CI`` is set, as every CI service does, and
``.ci/run`` does too) nothing may be skipped for a missing tool: the test fails instead,
because a skip there would hide a whole area (TLS, the browser, the window) behind a
green run. ``CHAT_REQUIRE_BROWSER=1``, the older switch, means the same.

    from tools import require_tool
    require_tool("openssl", package="openssl", why="to make a test certificate")
"""

from __future__ import annotations

import os
import shutil

import pytest


def tools_required() -> bool:
    """True when a missing tool must fail the test rather than skip it (CI)."""
    ci = os.environ.get("CI", "").strip().lower()
    return ci not in ("", "0", "false", "no") or os.environ.get("CHAT_REQUIRE_BROWSER") == "1"


def missing_tool(reason: str) -> None:
    """Skip the test with ``reason`` (what is missing and how to install it), or fail it
    under CI. Never returns."""
    if tools_required():
        pytest.fail(f"{reason}; CI must install it (see .ci/run)", pytrace=False)
    pytest.skip(reason)


def require_tool(program: str, package: str | None = None, why: str = "") -> str:
    """The path of ``program``; without it, :func:`missing_tool` (skip, or fail in CI),
    naming the Debian ``package`` that has it (default: the program's name)."""
    path = shutil.which(program)
    if path is None:
        purpose = f" {why}" if why else ""
        missing_tool(f"{program} is not installed{purpose} (Debian: apt-get install {package or program})")
    return path


def require_module(name: str, package: str) -> None:
    """Import-check the optional standard-library module ``name`` (tkinter is packaged
    apart on Debian, as ``package``); skip, or fail in CI, without it."""
    try:
        __import__(name)
    except ImportError:
        missing_tool(f"the Python module {name} is not installed (Debian: apt-get install {package})")

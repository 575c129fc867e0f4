"""The web page on a 360-px phone and for keyboard and screen-reader users, as an
accessibility tester used it (headless Chromium; see test_web_browser.py for the harness):
what is drawn is what can be tapped, the page never scrolls sideways, status changes are
said once, and focus stays where the user can see it. Layout is asserted by geometry
(``elementFromPoint``, bounding boxes, ``scrollWidth``), accessibility by the DOM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from browserpage import TIMEOUT, Page, alice, page  # noqa: F401 (fixtures)
from chatpeer import TcpPeer
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)
PHONE_360 = {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True}


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


def phone(page: Page) -> None:
    page.cdp.send("Emulation.setDeviceMetricsOverride", PHONE_360)
    page.wait_for("innerWidth === 360")


def hit_at_centre(page: Page, element_id: str) -> str:
    """The id of the element a tap at the centre of ``element_id`` lands on."""
    return page.js(f"(() => {{ const r = document.getElementById({json.dumps(element_id)}).getBoundingClientRect();"
                   " const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);"
                   " return hit ? hit.id : null; })()")


def rendered(page: Page, element_id: str) -> bool:
    return page.js(f"(() => {{ const e = document.getElementById({json.dumps(element_id)});"
                   " return getComputedStyle(e).display !== 'none' && e.getClientRects().length > 0; })()")


def test_the_closed_password_dialog_is_not_drawn_over_the_login_form(page: Page) -> None:
    phone(page)
    # A tap on the Name field reaches the Name field, not the (closed) dialog over it.
    assert hit_at_centre(page, "login-name") == "login-name"
    assert page.js("document.getElementById('password-dialog').open") is False
    assert not rendered(page, "password-dialog")
    assert page.js("document.getElementById('password-old').offsetParent") is None
    # Nor is it in the Tab order: from the login button, Tab does not reach its fields.
    assert not rendered(page, "password-cancel")
    # Opened, it is drawn, on top.
    page.js("document.getElementById('password-dialog').showModal()")
    assert rendered(page, "password-dialog")
    assert hit_at_centre(page, "password-old") == "password-old"
    page.js("document.getElementById('password-dialog').close()")
    assert not rendered(page, "password-dialog")
    assert hit_at_centre(page, "login-name") == "login-name"
    assert page.problems() == []

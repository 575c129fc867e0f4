"""The page's frame handlers (webclient/protocol.js, afterdelivered.js, blocks.js and
rooms.js): one per frame type.

The page's handlers live in ``HANDLERS``; later sections add theirs with
``Object.assign(HANDLERS, {...})``. A key given twice silently replaces the first handler
(it happened: the rooms' ``ok`` replaced the one that marks an edit done), so every key
must be given once.
"""

from __future__ import annotations

import re

from i18n.extract import WEB_ROOT, page_scripts


def page_source() -> str:
    """The page's scripts, one after the other, as the browser runs them."""
    return "\n".join(path.read_text(encoding="utf-8") for path in page_scripts())


def handler_keys(source: str) -> list[str]:
    """Every handler name in ``HANDLERS`` and the blocks assigned to it, in order."""
    keys = []
    start = source.index("const HANDLERS = {")
    keys += re.findall(r"^  (\w+)\(chat", source[start:source.index("\n};", start)], flags=re.M)
    for block in re.finditer(r"Object\.assign\(HANDLERS, \{(.*?)\n\}\);", source, flags=re.S):
        keys += re.findall(r"^  (\w+)\(chat", block.group(1), flags=re.M)
    return keys


def test_every_frame_type_has_one_handler() -> None:
    keys = handler_keys(page_source())
    assert "ok" in keys and "edited" in keys and "room_info" in keys, keys
    assert sorted(k for k in set(keys) if keys.count(k) > 1) == []


def test_a_key_given_twice_is_caught() -> None:
    source = "const HANDLERS = {\n  ok(chat, frame) {\n  },\n};\nObject.assign(HANDLERS, {\n  ok(chat, frame, out) {\n  },\n});\n"
    keys = handler_keys(source)
    assert keys == ["ok", "ok"]


def test_the_pages_default_room_name_is_the_servers() -> None:
    """The page maps the default room's ``edited``/``deleted`` to "Everyone" by its name."""
    import const

    found = re.search(r'^const DEFAULT_ROOM = "([^"]*)";', page_source(), flags=re.M)
    assert found is not None and found.group(1) == const.DEFAULT_ROOM


def test_the_pages_limits_are_const_pys() -> None:
    """The page fills the clients' sentences with the protocol's limits, copied from
    const.py (it cannot import it): a change there must reach the page too."""
    import const
    source = page_source()
    names = ("MAX_TEXT_CHARS|MAX_TOPIC_CHARS|MIN_PASSWORD_LENGTH|MAX_PASSWORD_CHARS|MAX_NAME_LENGTH|EDIT_WINDOW|"
             "QUEUE_TTL|GUEST_HOLD")
    copied = dict(re.findall(rf"^const ({names}) = ([^;]+);", source, flags=re.M))
    assert set(copied) == set(names.split("|")), copied
    assert {name: eval(value, {}) for name, value in copied.items()} == \
        {"MAX_TEXT_CHARS": const.MAX_TEXT_CHARS, "MAX_TOPIC_CHARS": const.MAX_TOPIC_CHARS,
         "MIN_PASSWORD_LENGTH": const.MIN_PASSWORD_LENGTH, "MAX_PASSWORD_CHARS": const.MAX_PASSWORD_CHARS,
         "MAX_NAME_LENGTH": const.MAX_NAME_LENGTH, "EDIT_WINDOW": const.EDIT_WINDOW,
         "QUEUE_TTL": const.QUEUE_TTL, "GUEST_HOLD": const.GUEST_HOLD}


def test_the_pages_heartbeat_is_const_pys() -> None:
    """The page gives up a silent connection by the rule of the server and the other clients
    (client/core.py), with their constants copied from const.py."""
    import const
    source = page_source()
    copied = dict(re.findall(r"^const (HEARTBEAT_INTERVAL|HEARTBEAT_TIMEOUT) = ([^;]+);", source, flags=re.M))
    assert {name: float(value) for name, value in copied.items()} == \
        {"HEARTBEAT_INTERVAL": const.HEARTBEAT_INTERVAL, "HEARTBEAT_TIMEOUT": const.HEARTBEAT_TIMEOUT}


def test_the_pages_wake_check_is_the_terminals_and_the_windows() -> None:
    """The page sees a sleep of the computer as soon as the library does (client/clock.py)."""
    from client.clock import WAKE_CHECK
    found = re.search(r"^const WAKE_CHECK = ([^;]+);", page_source(), flags=re.M)
    assert found is not None and float(found.group(1)) == WAKE_CHECK


def test_the_pages_state_marks_are_the_windows_where_both_have_one() -> None:
    # The page's "queued" mark was ⏲ (U+23F2), which fonts such as DejaVu lack: an empty
    # box on many Linux desktops. The window's marks display there; the page uses them.
    from client.gui.model import STATE_LABELS

    css = (WEB_ROOT / "style.css").read_text(encoding="utf-8")
    page = dict(re.findall(r'\.msg\[data-state="(\w+)"\] \.msg-status::before \{ content: "([^"]+)"; \}', css))
    window = {state: label.split(" ", 1)[0] for state, label in STATE_LABELS.items()}
    assert page["queued"] == window["queued"] == "◷", (page, window)
    assert page["sent"] == window["sent"] and page["delivered"] == window["delivered"], (page, window)


def test_the_pages_give_up_and_backoff_are_the_client_librarys() -> None:
    """The page gives a message up, holds and paces its sends, and spaces the logins to a
    server that fails after each (STABLE_SESSION), by client/core.py's rule, with its constants copied (it cannot import them): a change there must reach the page."""
    from client import core
    source = page_source()
    names = ["UNAVAILABLE_ATTEMPTS", "THROTTLE_WAIT", "THROTTLE_MAX_DELAY", "PACE_WINDOW", "RESEND_WINDOW",
             "THROTTLE_JITTER", "READ_INTERVAL", "READ_RETRY_WINDOW", "STABLE_SESSION"]
    copied = dict(re.findall(rf"^const ({'|'.join(names)}) = ([^;]+);", source, flags=re.M))
    assert set(copied) == set(names), copied
    page = {name: eval(value, {}) for name, value in copied.items()}
    assert page == {"UNAVAILABLE_ATTEMPTS": core.UNAVAILABLE_ATTEMPTS, "THROTTLE_WAIT": list(core.THROTTLE_WAIT),
                    "THROTTLE_MAX_DELAY": core.THROTTLE_MAX_DELAY, "PACE_WINDOW": core.PACE_WINDOW,
                    "RESEND_WINDOW": core.RESEND_WINDOW, "THROTTLE_JITTER": list(core.JITTER),
                    "READ_INTERVAL": core.READ_INTERVAL, "READ_RETRY_WINDOW": core.READ_RETRY_WINDOW,
                    "STABLE_SESSION": core.STABLE_SESSION}


def test_the_pages_rule_of_returns_is_the_terminals_and_the_windows() -> None:
    """After a restart the page keeps quiet about the same people, for as long, as the
    terminal and the window do (client/returns.py), with the constants copied here."""
    import const
    from client.returns import REJOIN_GRACE, SERVER_STOPPING
    source = page_source()
    grace = re.search(r"^const REJOIN_GRACE = ([^;]+);", source, flags=re.M)
    stopping = re.search(r'^const SERVER_STOPPING = "([^"]*)";', source, flags=re.M)
    assert grace is not None and float(grace.group(1)) == REJOIN_GRACE
    assert stopping is not None and stopping.group(1) == SERVER_STOPPING == const.SHUTDOWN_REASON

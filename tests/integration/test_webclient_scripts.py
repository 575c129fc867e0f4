"""The page's seven scripts (webclient/lang.js says how they share one scope): index.html
loads every one of them, once, deferred, in the order each depends on; none is left out
of the page nor of what the tools read (i18n.extract.page_scripts); and run one after the
other as the browser runs them (tests/support/pageload.js, in node), none needs at load
a name that a later one defines."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from i18n.extract import WEB_ROOT, page_scripts
from tools import require_tool

SUPPORT = Path(__file__).resolve().parents[1] / "support"


def test_index_loads_every_script_of_the_page_once_deferred_in_order() -> None:
    html = (WEB_ROOT / "index.html").read_text(encoding="utf-8")
    tags = re.findall(r"<script [^>]*>", html)
    assert tags and all(" defer" in tag for tag in tags), tags  # in order, after the page is parsed
    names = [path.name for path in page_scripts()]
    assert names == ["lang.js", "protocol.js", "afterdelivered.js", "blocks.js", "rooms.js", "view.js", "app.js"], names
    assert sorted(names) == sorted(path.name for path in WEB_ROOT.glob("*.js")), "a script the page does not load"


def test_each_script_is_strict_and_only_the_last_starts_the_page() -> None:
    for path in page_scripts():
        source = path.read_text(encoding="utf-8")
        assert '\n"use strict";\n' in source[:2000], path.name
        starts = re.findall(r"^start\(\);$", source, flags=re.M)
        assert starts == (["start();"] if path.name == "app.js" else []), path.name


def load_in_order(paths: list) -> subprocess.CompletedProcess:
    node = require_tool("node", "nodejs", why="to run the page's scripts")
    return subprocess.run([node, str(SUPPORT / "pageload.js"), *map(str, paths)], capture_output=True, text=True,
                          timeout=30)


def test_each_script_loads_after_the_ones_before_it_and_needs_nothing_later() -> None:
    done = load_in_order(page_scripts())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [word for path in page_scripts() for word in ("loaded", str(path))]


def test_a_script_that_needs_a_later_one_at_load_is_caught() -> None:
    # rooms.js adds its handlers to protocol.js's HANDLERS as it loads.
    done = load_in_order([WEB_ROOT / "lang.js", WEB_ROOT / "rooms.js"])
    assert done.returncode != 0 and "HANDLERS is not defined" in done.stderr, done.stderr

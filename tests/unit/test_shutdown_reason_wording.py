"""The close reason of a stopping server is worded in one place, const.SHUTDOWN_REASON:
its bye, the WebSocket's close code chosen by it, the cluster's held leaves and the
clients' "the server stopped" all compare or send that one string. A second copy of the
literal drifted from it unseen (PROTOCOL.md's bye reasons are matched by equality)."""

from __future__ import annotations

import re
from pathlib import Path

import const
from i18n.extract import page_scripts

ROOT = Path(__file__).resolve().parents[2]
FILES = ("server/web.py", "server/relay.py", "server/app.py", "server/cluster/node.py", "server/cluster/directory.py",
         "client/gui/model.py", "client/display.py", "client/core.py")


def test_no_module_words_the_shutdown_reason_again() -> None:
    literal = re.compile(r'(?<!N_\()["\']' + re.escape(const.SHUTDOWN_REASON) + r'["\']')
    copies = [f"{name}:{number}" for name in FILES
              for number, line in enumerate((ROOT / name).read_text(encoding="utf-8").splitlines(), 1)
              if literal.search(line)]
    assert copies == [], f"use const.SHUTDOWN_REASON, not the literal: {copies}"


def test_the_page_s_copy_is_the_servers_wording() -> None:
    # The page cannot import const.py: its one copy must say the same.
    source = "\n".join(path.read_text(encoding="utf-8") for path in page_scripts())
    said = re.search(r'^const SERVER_STOPPING = "([^"]*)";', source, re.M)
    assert said is not None and said.group(1) == const.SHUTDOWN_REASON

"""What the login form says after a guest's "Log out" (webclient/app.js, logOutWords), for
each answer its revoke can get, run in node with the page's own scripts
(tests/support/pagerun.js): nothing when the name was given up; that it stays kept until
GUEST_HOLD after the bye when the server refused; that it may stay kept, until at the
latest, when the server could not tell or did not answer. The browser tests
(test_web_session.py) drive the same through a real server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from i18n.extract import WEB_ROOT, page_scripts
from tools import require_tool

SUPPORT = Path(__file__).resolve().parents[1] / "support"

# Bob logs out at 10:00:30 today (UTC: node runs with TZ=UTC), so that the times said are
# today's, without a date.
SAY = """
const at = Math.floor(Date.now() / 86400000) * 86400 + 10 * 3600 + 30;
const said = (answer) => {
  const words = logOutWords("Bob", answer, at);
  return words === null ? null : words();
};
console.log(JSON.stringify({
  ok: said({ type: "ok", id: "r1" }),
  unavailable: said({ type: "error", id: "r1", code: "unavailable", message: "storage unavailable" }),
  limited: said({ type: "error", id: "r1", code: "rate_limited", message: "slow down", retry_after: 1 }),
  uncertain: said({ type: "error", id: "r1", code: "unavailable", message: "storage unavailable", uncertain: true }),
  none: said(null),
  wait: LOGOUT_WAIT,
}));
"""


def run_page(script: str, tmp_path: Path) -> dict:
    node = require_tool("node", "nodejs", why="to run the page's scripts")
    test = tmp_path / "test.js"
    test.write_text(script, encoding="utf-8")
    done = subprocess.run([node, str(SUPPORT / "pagerun.js"), str(WEB_ROOT / "i18n" / "en.json"), str(test),
                           *map(str, page_scripts())], capture_output=True, text=True, timeout=30,
                          env={**os.environ, "TZ": "UTC"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_guests_log_out_says_whether_its_name_is_free_and_until_when_it_may_be_kept(tmp_path: Path) -> None:
    said = run_page(SAY, tmp_path)
    assert said["ok"] is None  # given up: free for anyone at once, nothing to say
    refused = ("You are logged out, but the server could not free the name Bob: it stays kept until 10:10 AM, and"
               " nobody can log in with it before then, you included.")
    assert said["unavailable"] == refused and said["limited"] == refused, said
    # Answered: the bye ended the session as the revoke was answered; the hold counts from it.
    unsure = ("You are logged out, but the server did not confirm that it freed the name Bob: it may stay kept until"
              " {until} at the latest, and if so nobody can log in with it before then, you included.")
    assert said["uncertain"] == unsure.format(until="10:10 AM"), said
    # No answer: the server may take HEARTBEAT_TIMEOUT (45 s) to find the session gone first.
    assert said["none"] == unsure.format(until="10:11 AM"), said
    assert 2 < said["wait"] <= 5, said  # over the server's ANSWERS_WAIT (2 s); a bounded wait

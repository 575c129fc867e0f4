"""The page's list of our rooms asked again on a live connection (webclient/rooms.js: our
own join seen from another device, or a read refused not_member): a room it lacks goes
(dropUnlisted), and its words must be true then too. The server changes a room before it
announces the change (server/roomdesk.py _conclude: the store first, then the notice), so
a list can lack a room while the notice of the leave or kick that took it is still on its
way. Run in node with the page's own scripts (tests/support/pagerun.js)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from i18n.extract import WEB_ROOT, page_scripts
from tools import require_tool

SUPPORT = Path(__file__).resolve().parents[1] / "support"

# Bob's page lists #redes and #lab; the phone joins #novo (the page asks for its rooms
# again) and, a moment later, leaves #lab: the list comes before that leave's notice.
RELIST = """
const ids = (() => { let n = 0; return () => `r${++n}`; })();
const chat = createChat(ids);
Object.assign(chat, { status: "online", version: 2, me: "Bob", welcomedOnce: true });
const notices = (key) => (chat.conversations.get(key) || { items: [] }).items
  .filter((item) => item.kind === "notice").map((item) => item.text);
const entry = (room) => ({ room, count: 2, topic: "" });
const mine = roomsOnWelcome(chat)[1];
receiveFrame(chat, { type: "room_list", id: mine.id, rooms: [entry("#redes"), entry("#lab")], mine: true });
const before = notices(ROOM).length;
const out = receiveFrame(chat, { type: "room_notice", room: "#novo", act: "joined", name: "Bob", at: 1 });
const again = out.send.find((frame) => frame.type === "rooms" && frame.mine);
const listed = receiveFrame(chat, { type: "room_list", id: again.id, rooms: [entry("#novo"), entry("#redes")],
  mine: true });
receiveFrame(chat, { type: "room_notice", room: "#lab", act: "left", name: "Bob", at: 2 });
console.log(JSON.stringify({ said: notices(ROOM).slice(before), inLab: notices("##lab"), announced: listed.announce,
  rooms: [...chat.rooms.keys()], outOf: [...chat.outOf.entries()] }));
"""


def run_page(script: str, tmp_path: Path) -> dict:
    node = require_tool("node", "nodejs", why="to run the page's scripts")
    test = tmp_path / "test.js"
    test.write_text(script, encoding="utf-8")
    done = subprocess.run([node, str(SUPPORT / "pagerun.js"), str(WEB_ROOT / "i18n" / "en.json"), str(test),
                           *map(str, page_scripts())], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_room_off_a_list_asked_again_while_connected_is_not_said_gone_while_disconnected(tmp_path: Path) -> None:
    """The page said "it left your rooms while you were disconnected" of #lab, on a
    connection that never broke; the leave's own notice, which came next, was not said
    (the room was gone by then). The words say what is known: off the list, why not known."""
    seen = run_page(RELIST, tmp_path)
    gone = ("You are no longer in #lab: it left your rooms (put out of it, or left on another device); join it"
            " again (Join or create a room) to go back")
    assert seen["said"] == [gone], seen
    assert seen["announced"] == [gone], seen
    assert seen["inLab"] == ["You are no longer in #lab: join it again (Join or create a room) to write here, or open"
                             " Everyone"], seen
    assert sorted(seen["rooms"]) == ["##novo", "##redes"] and seen["outOf"] == [["##lab", "gone"]], seen


# The list of our rooms refused for now, again and again: asked again after each wait (the
# server's retry_after), under one patience; given up on, the refusal is said, and no more
# is asked until the next welcome. A fake clock (monotonicSeconds).
REFUSED = """
let now = 1000;
monotonicSeconds = () => now;
const ids = (() => { let n = 0; return () => `r${++n}`; })();
const chat = createChat(ids);
Object.assign(chat, { status: "online", version: 2, me: "Bob", welcomedOnce: true });
const said = () => (chat.conversations.get(chat.active) || { items: [] }).items
  .filter((item) => item.kind === "notice").length;
let asked = roomsOnWelcome(chat)[1];
const waits = [];
for (let i = 0; i < 20 && asked; i++) {
  receiveFrame(chat, { type: "error", id: asked.id, code: "unavailable", message: "later", retry_after: 25 });
  const due = nextAskAgain(chat);
  if (due === null) break;
  waits.push(due - now);
  if (said()) break;
  now = due;
  asked = askAgainDue(chat, now).find((frame) => frame.type === "rooms" && frame.mine);
}
const again = asked ? { mine: asked.mine, after: asked.after === undefined } : null;
console.log(JSON.stringify({ waits, said: said(), due: nextAskAgain(chat), again }));
"""


def test_a_list_of_our_rooms_refused_for_now_is_asked_again_within_patience_then_said(tmp_path: Path) -> None:
    seen = run_page(REFUSED, tmp_path)
    assert seen["waits"] == [25, 25], seen  # 60 s of patience: a third wait of 25 s is past it
    assert seen["said"] == 1 and seen["due"] is None, seen
    assert seen["again"] == {"mine": True, "after": True}, seen

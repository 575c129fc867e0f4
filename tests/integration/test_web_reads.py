"""The page's read marks (webclient/afterdelivered.js ``readFrames``): at most one per conversation per
second with the newest id, and a ``rate_limited`` without id (a read's or typing's
refusal) neither shown nor lost: the client library's rule (client/core.py, "Read
marks"), kept alike. A backlog of messages, each its own WebSocket frame, sent a read per
frame. The page's functions are called directly with a fake clock, in headless Chromium
as test_web_throttle.py.
"""

from __future__ import annotations

import pytest

from browserpage import Page, page  # noqa: F401 (fixture)
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)

SETUP = """
  let n = 0;
  const chat = createChat(() => `t-${++n}`);
  receiveFrame(chat, {type: "welcome", id: "t-0", name: "Tiago", version: 1, server: "s", heartbeat: 15,
                      features: ["read"], read_receipts: true});
  const key = startConversation(chat, "Ze");
  openConversation(chat, key);
  const realNow = monotonicSeconds;
  let now = 1000;
  monotonicSeconds = () => now;
  const dm = (id) => receiveFrame(chat, {type: "dm", msg_id: id, from: "Ze", to: "Tiago", text: `recado ${id}`,
                                         sent_at: 1});
"""


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


def test_a_backlog_of_frames_costs_a_few_reads_and_a_later_message_its_own(page: Page) -> None:
    result = page.js("(() => {" + SETUP + """
      const r = {written: []};
      try {
        for (let i = 0; i < 80; i++) {  // each its own frame, 10 ms apart; the page reads after each
          dm(100 + i);
          r.written.push(...readFrames(chat, true));
          now += 0.01;
        }
        r.due = chat.readDueAt - now;
        now = chat.readDueAt;
        r.written.push(...readFrames(chat, true));
        r.after = readFrames(chat, true).length;
        now += 0.3;  // a later message, within the interval: it waits for it, not longer
        dm(500);
        r.early = readFrames(chat, true).length;
        r.laterDue = chat.readDueAt - now;
        now = chat.readDueAt;
        r.later = readFrames(chat, true);
      } finally {
        monotonicSeconds = realNow;
      }
      return r;
    })()""")
    assert len(result["written"]) <= 3, result["written"]
    assert result["written"][-1] == {"type": "read", "with": "Ze", "msg_id": 179}
    assert 0 < result["due"] <= 1.0 and result["after"] == 0
    assert result["early"] == 0 and 0 < result["laterDue"] <= 0.7 + 1e-9
    assert result["later"] == [{"type": "read", "with": "Ze", "msg_id": 500}]


def test_a_rate_limited_read_is_not_shown_and_its_mark_goes_again_after_the_wait(page: Page) -> None:
    result = page.js("(() => {" + SETUP + """
      const r = {};
      try {
        dm(10);
        r.first = readFrames(chat, true);
        now += 0.1;
        const out = receiveFrame(chat, {type: "error", code: "rate_limited",
                                        message: "too many requests ('read' not done); try again in 0.5 s",
                                        retry_after: 0.5});
        r.announced = out.announce;
        r.notices = chat.conversations.get(key).items.filter((i) => i.kind !== "message").length;
        r.during = readFrames(chat, true).length;
        r.due = chat.readDueAt - now;
        now = chat.readDueAt;
        r.again = readFrames(chat, true);
        now += 5;
        r.after = readFrames(chat, true).length;
      } finally {
        monotonicSeconds = realNow;
      }
      return r;
    })()""")
    assert result["first"] == [{"type": "read", "with": "Ze", "msg_id": 10}]
    assert result["announced"] == [] and result["notices"] == 0  # nothing said: the user asked for nothing
    assert result["during"] == 0 and 0.5 - 1e-6 <= result["due"] <= 0.9 + 1e-6
    assert result["again"] == [{"type": "read", "with": "Ze", "msg_id": 10}]
    assert result["after"] == 0

"""The page, when the server says "not now" (``rate_limited``, ``unavailable``): it holds
back every send until the server's wait is over, writes them again under their ids one
paced step at a time, and backs off while the refusals go on; the client library's rule
(client/core.py), kept alike in the page (webclient/protocol.js). A full disk's queued messages written
again all at once drew hundreds of refusals a second. Headless Chromium, as
test_web_browser.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from browserpage import TIMEOUT, Page, page  # noqa: F401 (fixture)
from protocol import DirectMessage
from server import ServerConfig
from test_web_unsure import bob_writing_to_alice
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


def test_a_storm_of_refusals_gets_one_frame_per_hold_backing_off_under_the_same_ids(page: Page) -> None:
    """The page's protocol functions, called directly with a fixed random factor (the
    jitter's top, 1.2): 30 messages refused at once, each asking for 0.01 s."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      receiveFrame(chat, {type: "welcome", id: "t-0", name: "Bob", version: 1, server: "s", heartbeat: 15});
      const key = startConversation(chat, "Carol");
      const frames = [];
      for (let i = 0; i < 30; i++) frames.push(...outgoingFrames(chat, composeMessage(chat, key, `m${i}`)));
      const ids = frames.map((f) => f.id);
      const realRandom = Math.random, realNow = monotonicSeconds;
      let now = 1000;  // a fake clock for the page's functions
      Math.random = () => 1;
      monotonicSeconds = () => now;
      const r = {written: frames.length, holds: [], perHold: [], resent: []};
      try {
        const refuse = (f) => receiveFrame(chat, {type: "error", id: f.id, code: "rate_limited",
                                                  message: "later", retry_after: 0.01});
        let out = frames.flatMap((f) => refuse(f).send);
        r.duringTheBurst = out.length;
        const typed = composeMessage(chat, key, "typed during the hold");
        r.typedNow = outgoingFrames(chat, typed).length;
        for (let hold = 0; hold < 12; hold++) {
          r.holds.push(chat.throttle.until - now);
          r.early = (r.early || 0) + holdDue(chat, chat.throttle.until - 0.001).length;
          now = chat.throttle.until;
          const again = holdDue(chat, now);
          r.perHold.push(again.length);
          r.resent.push(...again.map((f) => f.id));
          again.forEach((f) => refuse(f));
        }
        // Taken at last: the window opens one more per message taken, in order.
        now = chat.throttle.until;
        let next = holdDue(chat, now);
        r.order = [];
        for (let step = 0; step < 40 && next.length; step++) {
          r.order.push(...next.map((f) => f.id));
          r.most = Math.max(r.most || 0, next.length);
          next = next.flatMap((f) => receiveFrame(chat, {type: "accepted", id: f.id, msg_id: 100 + r.order.length}).send);
        }
        r.ids = ids;
        r.typedId = typed.id;
        r.items = chat.conversations.get(key).items.filter((i) => i.kind === "message").map((i) => i.state);
      } finally {
        Math.random = realRandom;
        monotonicSeconds = realNow;
      }
      return r;
    })()""")
    assert result["written"] == 30 and result["duringTheBurst"] == 0 and result["typedNow"] == 0
    assert result["early"] == 0  # nothing before the hold is over
    assert result["perHold"] == [1] * 12  # one frame per hold, not the 30 again
    assert set(result["resent"]) == {result["ids"][0]}  # the first, under its id each time
    holds = result["holds"]
    assert holds[0] == pytest.approx(0.1, abs=0.01) and holds[1] == pytest.approx(0.24, abs=0.01)
    assert all(b >= a - 0.01 for a, b in zip(holds, holds[1:])) and max(holds) == pytest.approx(30, abs=0.01)
    assert result["order"] == result["ids"] + [result["typedId"]]  # all, in order, each once
    assert 1 < result["most"] <= 8
    assert result["items"] == ["sent"] * 31


def test_messages_over_the_byte_budget_all_arrive_once_none_shown_failed(tmp_path: Path) -> None:
    """A real server whose byte budget lets two of these messages through at once, then one
    a second or so: the page used to show the rest "failed" (too many attempts) and never
    sent them; now they wait and go."""
    config = ServerConfig(host="127.0.0.1", port=0, bytes_per_connection=500.0, bytes_burst_per_connection=1000.0)
    with bob_writing_to_alice(tmp_path, config=config) as (page, alice):
        page.js("window.seenStates = []; new MutationObserver((changes) => changes.forEach((c) => "
                "window.seenStates.push(c.target.dataset.state))).observe(document.getElementById('messages'), "
                "{attributes: true, subtree: true, attributeFilter: ['data-state']})")
        texts = [f"{i} " + "x" * 400 for i in range(8)]
        for text in texts:
            page.type(text)
            page.enter()
        got = [alice.expect(DirectMessage, TIMEOUT * 2).text for _ in texts]
        # Each once. (Not necessarily in order: a message written before the refusal of
        # the one before it came back may find the budget refilled.)
        assert sorted(got) == texts
        with pytest.raises(TimeoutError):  # and none twice
            alice.expect(DirectMessage, 0.5)
        refused = page.srv.call(lambda: page.srv.server.relay.metrics.direct_rate_limited)
        assert 0 < refused <= 2 * len(texts), refused
        assert "failed" not in page.js("window.seenStates")
        assert page.problems() == []


def test_a_reconnection_resends_a_few_at_once_and_the_rest_paced_under_their_ids(page: Page) -> None:
    """The page's protocol functions, called directly: 3 messages left unanswered go again
    at once after the next welcome; 150 (a full disk's episode) go 4 at first, then one
    more for each taken (client/core.py's rule), not in one burst."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      const welcome = () => receiveFrame(chat, {type: "welcome", id: "w", name: "Bob", version: 1, server: "s",
                                                heartbeat: 15}).send.filter((f) => f.type === "send");
      welcome();
      const key = startConversation(chat, "Carol");
      const r = {};
      const few = [0, 1, 2].map((i) => outgoingFrames(chat, composeMessage(chat, key, `few ${i}`))[0].id);
      r.few = welcome().map((f) => f.id).join() === few.join();
      few.forEach((id, i) => receiveFrame(chat, {type: "delivered", id, msg_id: 1 + i}));
      const ids = [];
      for (let i = 0; i < 150; i++) ids.push(outgoingFrames(chat, composeMessage(chat, key, `m${i}`))[0].id);
      let next = welcome();
      r.first = next.length;
      const order = [];
      r.most = 0;
      for (let step = 0; step < 400 && next.length; step++) {
        order.push(...next.map((f) => f.id));
        r.most = Math.max(r.most, next.length);
        next = next.flatMap((f) => receiveFrame(chat, {type: "accepted", id: f.id, msg_id: 100 + order.length}).send)
          .filter((f) => f.type === "send");
      }
      r.inOrder = order.join() === ids.join();
      return r;
    })()""")
    assert result["few"] and result["first"] == 4 and result["most"] <= 8 and result["inOrder"], result


def test_while_the_server_answers_unavailable_the_page_status_says_so_and_when_it_tries(page: Page) -> None:
    """A cluster with its Redis down: the page's status said "Online" (and its messages
    "sending") until it gave up; now it says the server is unavailable and when the page
    tries again, and is "Online" again once the server takes a message. The countdown is
    beside the status (a role=status region, said again at every change of its words), so
    that a screen reader says the server is unavailable once, not every second."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      receiveFrame(chat, {type: "welcome", id: "t-0", name: "Bob", version: 1, server: "s", heartbeat: 15});
      const key = startConversation(chat, "Carol");
      const [frame] = outgoingFrames(chat, composeMessage(chat, key, "during the outage"));
      const realNow = monotonicSeconds;
      let now = 1000;
      monotonicSeconds = () => now;
      const r = {};
      const status = () => {
        renderTopbar(chat);
        const detail = document.getElementById("connection-detail");
        return `${document.getElementById("connection").textContent}|${detail.hidden ? "" : detail.textContent}`;
      };
      try {
        r.before = status();
        receiveFrame(chat, {type: "error", id: frame.id, code: "unavailable", message: "no", retry_after: 5});
        r.during = status();
        now += 4;
        r.later = status();
        now += 2;
        r.resent = holdDue(chat, now).map((f) => f.id);
        r.now = status();
        receiveFrame(chat, {type: "accepted", id: frame.id, msg_id: 9});
        r.after = status();
      } finally {
        monotonicSeconds = realNow;
        render(shell.chat);
      }
      return r;
    })()""")
    assert result["before"] == "Online|" and result["after"] == "Online|", result
    unavailable = "Online · the server is unavailable (it cannot store messages now)"
    assert result["during"] == f"{unavailable}|trying again in 5.0 s", result
    assert result["later"] == f"{unavailable}|trying again in 1.0 s", result
    assert result["now"] == f"{unavailable}|trying again now", result
    assert len(result["resent"]) == 1


def test_a_message_given_up_after_unavailable_answers_says_how_often_and_how_long_as_the_terminal(
        page: Page) -> None:
    """The page gave a message up after as many "unavailable" answers as the terminal
    (client/core.py UNAVAILABLE_ATTEMPTS) but said only the server's last wait ("...; try
    again in 5.0 s"), as if it still tried, and an "unconfirmed" one did not say how often it
    was tried: now the terminal's sentences (client/display.py), in English and Portuguese.
    The page's functions with a fake clock and the jitter's middle: held 5, 10, 20, 30, 30 s."""
    result = page.js("""(async () => {
      // The English sentences are the page's catalogue too, fetched as the page loads: a
      // run before it came read the server's words (CI, once in four runs).
      await useLanguage("en");
      const realRandom = Math.random, realNow = monotonicSeconds;
      let now = 1000;
      Math.random = () => 0.5;
      monotonicSeconds = () => now;
      const outage = (uncertain) => {
        let n = 0;
        const chat = createChat(() => `t-${++n}`);
        receiveFrame(chat, {type: "welcome", id: "t-0", name: "Bob", version: 1, server: "s", heartbeat: 15});
        const key = startConversation(chat, "Carol");
        let [frame] = outgoingFrames(chat, composeMessage(chat, key, "during the outage"));
        const refuse = (f, first) => receiveFrame(chat, {type: "error", id: f.id, code: "unavailable",
          message: "the server cannot save anything right now", retry_after: 5, uncertain: first && uncertain});
        refuse(frame, true);
        let answers = 1;
        for (let i = 0; i < 10 && chat.throttle.until !== null; i++) {
          now = chat.throttle.until;
          holdDue(chat, now).forEach((f) => { answers += 1; refuse(f, false); });
        }
        const item = chat.conversations.get(key).items.find((i) => i.kind === "message");
        return {item, answers};
      };
      const r = {};
      try {
        const sure = outage(false), unsure = outage(true);
        r.answers = [sure.answers, unsure.answers];
        r.states = [sure.item.state, unsure.item.state];
        r.en = [failureWords(sure.item), failureWords(unsure.item)];
        await useLanguage("pt_BR");
        r.pt = [failureWords(sure.item), failureWords(unsure.item)];
      } finally {
        await useLanguage("en");
        Math.random = realRandom;
        monotonicSeconds = realNow;
      }
      return r;
    })()""")
    assert result["answers"] == [6, 6] and result["states"] == ["failed", "failed"], result
    assert result["en"] == [
        "the server could not store it (its disk is full or failing, or it cannot reach its Redis): tried 6 times "
        "in 95 s, and it was not sent; send it again later",
        "the server's storage did not answer in time: tried 6 times in 95 s, and the server cannot tell whether "
        "it was stored: it may or may not have been"], result
    assert "tentou-se 6 vezes em 95 s, e ela não foi enviada" in result["pt"][0], result
    assert "tentou-se 6 vezes em 95 s, e o servidor não sabe dizer" in result["pt"][1], result


def test_a_catch_up_or_a_history_refused_for_now_is_asked_again_after_the_wait(page: Page) -> None:
    """A reconnection comes when the servers have trouble: the catch-up's ``since`` and the
    open conversation's ``history`` may be refused for now. Dropped, what another device
    took meanwhile stayed unshown, and the conversation's states stale, until the next
    reconnection. They are asked again after the server's wait, while patience lasts
    (60 s of waits, as client/library.py's CATCH_UP_PATIENCE); the protocol's functions
    with a fake clock."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      receiveFrame(chat, {type: "welcome", id: "t-0", name: "Bob", version: 1, server: "s", heartbeat: 15,
                          features: ["since"]});
      const realNow = monotonicSeconds;
      let now = 1000;
      monotonicSeconds = () => now;
      const r = {};
      try {
        const since = sinceFrame(chat, 5, 7, 2);
        receiveFrame(chat, {type: "error", id: since.id, code: "unavailable", message: "later", retry_after: 2});
        r.sinceDue = nextAskAgain(chat) - now;
        r.early = askAgainDue(chat, now + 1.9).length;
        now += 2;
        r.since = askAgainDue(chat, now);
        r.sinceNewId = r.since.length === 1 && r.since[0].id !== since.id;
        receiveFrame(chat, {type: "since_page", id: r.since[0].id, messages: [
          {msg_id: 9, from: "Carol", to: "Bob", text: "oi", sent_at: 1, state: "delivered"}]});
        r.shown = chat.conversations.get("@carol").items.filter((i) => i.kind === "message").map((i) => i.text);
        const key = startConversation(chat, "Dani");
        const asked = openConversation(chat, key).filter((f) => f.type === "history");
        const refuse = (f, wait) => receiveFrame(chat, {type: "error", id: f.id, code: "rate_limited",
                                                      message: "slow down", retry_after: wait});
        refuse(asked[0], 1);
        now += 1;
        const again = askAgainDue(chat, now);
        r.history = again.map((f) => [f.type, f.with]);
        // Refused for longer than patience lasts: given up, and asked when next opened.
        let last = again[0];
        for (let i = 0; i < 3 && last; i++) {
          refuse(last, 25);
          now = nextAskAgain(chat) === null ? now : nextAskAgain(chat);
          last = askAgainDue(chat, now)[0];
        }
        r.givenUpAfter = nextAskAgain(chat);
        r.askedOnOpen = openConversation(chat, key).filter((f) => f.type === "history").length;
        // A connection lost forgets what was to be asked again: the next one catches up afresh.
        const third = sinceFrame(chat, 5, 7, 1);
        receiveFrame(chat, {type: "error", id: third.id, code: "unavailable", message: "later", retry_after: 1});
        connectionLost(chat);
        r.afterLoss = chat.askAgain.length;
      } finally {
        monotonicSeconds = realNow;
      }
      return r;
    })()""")
    assert result["sinceDue"] == 2 and result["early"] == 0
    assert result["since"] == [{"type": "since", "id": result["since"][0]["id"], "after_id": 7, "limit": 50}]
    assert result["sinceNewId"] and result["shown"] == ["oi"]
    assert result["history"] == [["history", "Dani"]]
    assert result["givenUpAfter"] is None and result["askedOnOpen"] == 1
    assert result["afterLoss"] == 0


def test_a_catch_up_asks_the_history_of_each_conversation_a_message_of_ours_waits_in(page: Page) -> None:
    """A cluster node back from a break says ``catch_up``: the outcome of a message of
    ours may have gone to another device of ours alone, acknowledged there, and nobody
    tells it here any more (PROTOCOL.md, "catch_up"). The page catches up as after a
    reconnection (with the feature since, one "since" from the newest message shown), and
    asks the newest page of each conversation in which one of ours is still sent or
    queued, and takes the states from it; the protocol's functions, called directly."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      chat.history = true;
      const r = {};
      r.hello = helloFrame(chat, "Ana", "", false).features;
      receiveFrame(chat, {type: "welcome", id: "t-1", name: "Ana", version: 1, server: "s", heartbeat: 15,
                          features: ["since", "catch_up"]});
      const bia = startConversation(chat, "Bia"), carol = startConversation(chat, "Carol");
      const waiting = composeMessage(chat, bia, "olá Bia");
      receiveFrame(chat, {type: "queued", id: waiting.id, msg_id: 7});
      const done = composeMessage(chat, carol, "olá Carol");
      receiveFrame(chat, {type: "delivered", id: done.id, msg_id: 8});
      const out = receiveFrame(chat, {type: "catch_up"});
      r.asked = out.send.map((f) => [f.type, f.with || f.after_id]);
      r.announced = out.announce.length;
      receiveFrame(chat, {type: "history_page", id: out.send[1].id, with: "Bia", before: null,
        messages: [{msg_id: 7, from: "Ana", to: "Bia", text: "olá Bia", sent_at: 50, state: "delivered"}]});
      r.state = chat.conversations.get(bia).items.filter((i) => i.kind === "message").map((i) => i.state);
      return r;
    })()""")
    assert "catch_up" in result["hello"]
    # Since message 8, the newest shown; Bia's page for message 7 (nothing of ours waits with Carol).
    assert result["asked"] == [["since", 8], ["history", "Bia"]] and result["announced"] == 0
    assert result["state"] == ["delivered"]
    assert page.problems() == []


def test_a_catch_up_pages_back_to_the_oldest_message_of_ours_still_waiting(page: Page) -> None:
    """Ana's message 7 to Bia waits (queued) under 140 newer ones of Bia's: the newest page,
    cut short by the server at 40 long ones, does not reach it, so the page asks the next
    older one from its cursor, and takes 7's state from there; then asks no more. Bounded: with the message older than four pages,
    it stops after the fourth. A page refused for now is asked again with its cursor."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      chat.history = true;
      const r = {};
      receiveFrame(chat, {type: "welcome", id: "t-1", name: "Ana", version: 1, server: "s", heartbeat: 15,
                          features: ["catch_up"]});
      const bia = startConversation(chat, "Bia");
      const waiting = composeMessage(chat, bia, "olá Bia");
      receiveFrame(chat, {type: "queued", id: waiting.id, msg_id: 7});
      const fromBia = (first, count) => Array.from({length: count}, (_, i) =>
        ({msg_id: first + i, from: "Bia", to: "Ana", text: "oi", sent_at: 60 + i, state: "delivered"}));
      const asked = receiveFrame(chat, {type: "catch_up"}).send;
      r.first = asked.map((f) => [f.type, f.with, f.limit, f.before]);
      let out = receiveFrame(chat, {type: "history_page", id: asked[0].id, with: "Bia", before: 108,
                                    messages: fromBia(108, 40)});
      r.second = out.send.map((f) => [f.type, f.with, f.limit, f.before]);
      const refused = receiveFrame(chat, {type: "error", id: out.send[0].id, code: "unavailable", retry_after: 1});
      const again = askAgainDue(chat, monotonicSeconds() + 2);
      r.again = again.map((f) => [f.type, f.with, f.limit, f.before]);
      out = receiveFrame(chat, {type: "history_page", id: again[0].id, with: "Bia",
        messages: [{msg_id: 7, from: "Ana", to: "Bia", text: "olá Bia", sent_at: 50, state: "delivered"},
                   ...fromBia(8, 100)]});
      r.third = out.send.length;
      r.state = chat.conversations.get(bia).items.filter((i) => i.dir === "out").map((i) => i.state);
      // Older than four pages: four asked, then no more.
      const far = composeMessage(chat, bia, "e agora?");
      receiveFrame(chat, {type: "queued", id: far.id, msg_id: 9000});
      let next = receiveFrame(chat, {type: "catch_up"}).send;
      r.pages = 0;
      for (let cursor = 20000; next.length && r.pages < 10; cursor -= 500) {
        r.pages += 1;
        next = receiveFrame(chat, {type: "history_page", id: next[0].id, with: "Bia", before: cursor,
                                   messages: fromBia(cursor, 500)}).send;
      }
      return r;
    })()""")
    assert result["first"] == [["history", "Bia", 500, None]]
    assert result["second"] == [["history", "Bia", 500, 108]]
    assert result["again"] == [["history", "Bia", 500, 108]]
    assert result["third"] == 0 and result["state"] == ["delivered"]
    assert result["pages"] == 4
    assert page.problems() == []


def test_a_page_that_shows_nothing_yet_catches_up_from_where_the_server_first_welcomed_it(page: Page) -> None:
    """The page showed no direct message and lost its connection; meanwhile Carol wrote to
    another device of Bob's. The first welcome's ``last_id`` (feature since) is where this
    page began: the reconnection asks every conversation after it (not after a later
    welcome's), and Carol's message shows. Before, a page that showed nothing asked
    nothing. A welcome without ``last_id`` (an older server) still asks nothing."""
    result = page.js("""(() => {
      let n = 0;
      const welcome = (id, extra) => Object.assign({type: "welcome", id, name: "Bob", version: 1, server: "s",
                                                    heartbeat: 15, features: ["since"]}, extra);
      const asked = (out) => out.send.filter((f) => f.type === "since" || (f.type === "history" && f.with))
        .map((f) => [f.type, f.after_id === undefined ? f.with : f.after_id]);
      const r = {};
      let chat = createChat(() => `t-${++n}`);
      chat.history = true;
      receiveFrame(chat, welcome("t-0", {last_id: 40}));
      connectionLost(chat);
      const out = receiveFrame(chat, welcome("t-1", {last_id: 45}));
      r.asked = asked(out);
      const since = out.send.find((f) => f.type === "since");
      receiveFrame(chat, {type: "since_page", id: since.id, messages: [
        {msg_id: 41, from: "Carol", to: "Bob", text: "chegou o livro", sent_at: 1, state: "delivered"}]});
      r.shown = (chat.conversations.get("@carol") || {items: []}).items
        .filter((i) => i.kind === "message").map((i) => i.text);
      chat = createChat(() => `u-${++n}`);
      chat.history = true;
      receiveFrame(chat, welcome("u-0", {}));
      connectionLost(chat);
      r.older = asked(receiveFrame(chat, welcome("u-1", {})));
      return r;
    })()""")
    assert result["asked"] == [["since", 40]]
    assert result["shown"] == ["chegou o livro"]
    assert result["older"] == []

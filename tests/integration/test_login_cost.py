"""What one login costs the server: its log lines and its look-alike indexes (issue 9).

A login storm of 10,000 clients paid for every line logged and every structure kept per
user; these tests hold the cheaper forms in place without weakening what they serve.
"""

from __future__ import annotations

import logging

from registry import Lookalikes, lookalike_key
from server.background import ServerThread
from server.config import ServerConfig
from tests.wire import WireClient


def test_a_login_is_one_info_line_and_the_connect_line_is_debug(caplog):
    caplog.set_level(logging.INFO, logger="chat.server")
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        with WireClient.login(server.host, server.port, "Alice") as alice:
            port = alice.sock.getsockname()[1]
            mine = [r for r in caplog.records if f":{port}" in r.getMessage()]
            assert [r.getMessage().split()[0] for r in mine] == ["login"], [r.getMessage() for r in mine]
            assert mine[0].levelno == logging.INFO
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="chat.server")
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        with WireClient.login(server.host, server.port, "Bob") as bob:
            port = bob.sock.getsockname()[1]
            said = [(r.levelno, r.getMessage().split()[0]) for r in caplog.records if f":{port}" in r.getMessage()]
            assert said == [(logging.DEBUG, "connect"), (logging.INFO, "login")], said


def test_groups_of_look_alikes_grow_and_shrink_through_one_member():
    # A lone name is kept as itself, a group as a dict: every step between the two forms.
    index = Lookalikes(["Alice"])
    index.add("AIice")
    index.add("A1ice")
    assert index.rivals("alice") == ["A1ice", "AIice"] and index.rivals("AIice") == ["A1ice", "Alice"]
    index.discard("aiice")
    assert index.rivals("alice") == ["A1ice"] and index.rivals("A1ice") == ["Alice"]
    index.discard("Alice")
    assert index.rivals("A1ice") == [] and index.rivals("Alice") == ["A1ice"] and len(index) == 1
    index.add("Alice")  # a lone member becomes a group again
    assert index.rivals("A1ice") == ["Alice"] and len(index) == 2
    index.discard("A1ice")
    index.discard("Alice")
    assert index.rivals("Alice") == [] and len(index) == 0
    index.discard("Alice")  # absent: nothing


def test_the_look_alike_key_is_computed_once_per_name():
    lookalike_key.cache_clear()
    first = lookalike_key("Zoë")
    assert lookalike_key("Zoë") is first  # the indexes share one string, not a copy each
    assert lookalike_key.cache_info().hits == 1


def test_a_login_storm_is_logged_up_to_a_budget_then_counted(caplog):
    from server.logsummary import LogBudget

    caplog.set_level(logging.INFO, logger="test.budget")
    now = [100.0]
    budget = LogBudget(logging.getLogger("test.budget"), "logins", rate=10.0, burst=3.0, clock=lambda: now[0])

    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "test.budget"]

    logged = [budget.log(logging.INFO, "login user%d", i) for i in range(10)]
    assert logged == [True] * 3 + [False] * 7
    assert lines() == ["login user0", "login user1", "login user2"]  # the held seven: DEBUG only
    now[0] += 0.1  # one line's worth of budget back: the count first, then the line
    assert budget.log(logging.INFO, "login user10")
    assert lines()[3:] == ["7 more logins not logged one by one in the last 0 s", "login user10"]
    budget.log(logging.INFO, "login user11")
    now[0] += 30
    budget.sweep()  # the periodic pass tells what waited, once
    budget.sweep()
    assert lines()[5:] == ["1 more logins not logged one by one in the last 30 s"]
    caplog.clear()
    budget.flush()
    assert lines() == []


def test_the_held_back_lines_still_go_out_at_debug(caplog):
    from server.logsummary import LogBudget

    caplog.set_level(logging.DEBUG, logger="test.budget")
    budget = LogBudget(logging.getLogger("test.budget"), "logouts", rate=1.0, burst=1.0, clock=lambda: 5.0)
    budget.log(logging.INFO, "logout a")
    budget.log(logging.INFO, "logout b")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.INFO, "logout a"),
                                                                    (logging.DEBUG, "logout b")]

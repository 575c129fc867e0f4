"""A guest's ``register()`` whose connection is cut before the server's ``ok`` (the real
server, 127.0.0.1 port 0; Ana through tests/support/faultproxy.py).

The server may have made the account or not: the frame may have reached it or not. The
client used to raise a plain NotConnected, the same as for a request never sent, and then
logged in again as the guest, without the password: an account made meanwhile refused
that (``auth_required``) and the session ended for good. Now the reconnection's hello
carries the password being claimed, which logs in to the account if it was made and is
ignored for a guest name if not (PROTOCOL.md, ``hello``): its welcome tells the outcome,
which ``register()`` waits for within its timeout, and else raises AnswerLost (uncertain).
"""

from __future__ import annotations

import pytest

from client import AnswerLost, ChatClient, NotConnected
from client.resume import ResumeTokens
from clientkit import server_behind_proxy, start
from faultproxy import UP, Fault, FaultProxy
from waits import wait_until

WAIT = 10.0
PASSWORD = "correct horse battery"
FAST = {"reconnect_delay": 0.05, "reconnect_max_delay": 0.3}


def ana_through(proxy: FaultProxy, clients: list[ChatClient]) -> ChatClient:
    return start(clients, proxy.port, "Ana", resume_tokens=ResumeTokens(None), **FAST)


@pytest.mark.timeout_seconds(60)
def test_a_register_cut_after_the_server_got_it_ends_registered_on_the_reconnection() -> None:
    with server_behind_proxy() as (server, proxy, clients):
        ana = ana_through(proxy, clients)
        proxy.add(Fault(UP, frame_type="register", when="after", name="Ana"))
        ana.register(PASSWORD, timeout=WAIT)  # the outcome, learnt by the reconnection: made
        assert proxy.cuts, "the test did not cut the register"
        assert ana.registered and ana.password == PASSWORD
        wait_until(lambda: ana.connected, WAIT, "Ana's reconnection")  # settled by its login, just before
        assert ana.reconnects == 1 and ana.login_error is None
        # True on the server too: the password logs in to the account.
        other = start(clients, server.port, "Ana", password=PASSWORD, resume_tokens=ResumeTokens(None))
        assert other.registered


@pytest.mark.timeout_seconds(60)
def test_a_register_cut_before_the_server_got_it_says_the_name_was_not_registered() -> None:
    with server_behind_proxy() as (server, proxy, clients):
        ana = ana_through(proxy, clients)
        proxy.add(Fault(UP, frame_type="register", when="before", name="Ana"))
        with pytest.raises(NotConnected) as raised:
            ana.register(PASSWORD, timeout=WAIT)
        assert not isinstance(raised.value, AnswerLost), raised.value  # the outcome is known
        assert "not registered" in str(raised.value), raised.value
        assert not ana.registered and ana.password is None
        wait_until(lambda: ana.connected, WAIT, "Ana's reconnection")
        # Nothing was made on the server: asked again, it is.
        ana.register(PASSWORD, timeout=WAIT)
        assert ana.registered


@pytest.mark.timeout_seconds(60)
def test_a_register_whose_reconnection_does_not_come_in_time_is_said_unknown_then_settled() -> None:
    with server_behind_proxy() as (server, proxy, clients):
        ana = ana_through(proxy, clients)
        proxy.add(Fault(UP, frame_type="register", when="after", name="Ana"))
        proxy.refuse_after_cuts = 1  # the server is out of reach after the cut
        with pytest.raises(AnswerLost) as raised:
            ana.register(PASSWORD, timeout=1.0)
        assert raised.value.uncertain and "not known" in str(raised.value), raised.value
        assert not ana.registered
        proxy.refuse_new = False  # back: the next login finds out
        wait_until(lambda: ana.connected, WAIT, "Ana's reconnection")
        assert ana.registered and ana.password == PASSWORD, (ana.registered, ana.close_reason)


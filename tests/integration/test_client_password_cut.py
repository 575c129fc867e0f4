"""A ``change_password()`` whose outcome is not known, then a lost connection (the real
server, 127.0.0.1 port 0; Ana through tests/support/faultproxy.py).

The next login carries the account's resume credential, which the change keeps working
either way; but once that is refused (revoked here, as "Log out" on another device does;
expired after 30 days), the client logs in with a password. It used to be the old one,
though the server may have made the change: then ``bad_password``, and the session ended
for good. Now, as ``register()`` does, the hello tries the new password first: a welcome
says the change was made (kept for the next logins), and ``bad_password`` says it was not
(the old one is tried next, after the server's short wait for a wrong password).
"""

from __future__ import annotations

import pytest

from client import AnswerLost, ChatClient, RequestTimeout
from client.resume import ResumeTokens
from clientkit import server_behind_proxy, start
from faultproxy import DOWN, Fault, FaultProxy
from protocol import Done, Ping, Revoke, UserJoined, UserLeft
from waits import wait_until
from wire import WireClient

WAIT = 10.0
SHORT = 0.5  # the caller's patience, while the proxy holds the request back
PASSWORD = "correct horse battery"
NEW_PASSWORD = "battery staple horse"
FAST = {"reconnect_delay": 0.05, "reconnect_max_delay": 0.3}


def ana_registered(server, proxy: FaultProxy, clients: list[ChatClient]) -> ChatClient:
    """Ana's account, logged in through the proxy, with the resume credential her welcome
    brought revoked by another session of hers: her next login needs a password."""
    ana = start(clients, proxy.port, "Ana", password=PASSWORD, register=True, resume_tokens=ResumeTokens(None),
                **FAST)
    secret = ana.core.credential.secret
    assert ana.registered and secret is not None
    with WireClient.login(server.host, server.port, "Ana", password=PASSWORD) as other:
        other.send(Revoke("revoke-1", secret))
        assert other.expect(Done, skip=(Ping, UserJoined, UserLeft)).request_id == "revoke-1"
    return ana


def back_with(ana: ChatClient, password: str) -> None:
    """Ana's reconnection logged in (with ``password``, which she keeps)."""
    wait_until(lambda: ana.reconnects or ana.closed.is_set(), WAIT, "Ana's reconnection")
    assert ana.connected, (ana.close_reason, ana.login_error)
    assert ana.reconnects == 1 and ana.login_error is None
    assert ana.registered and ana.password == password


@pytest.mark.timeout_seconds(60)
def test_a_change_timed_out_whose_answer_is_lost_with_the_connection_logs_in_with_the_new_password() -> None:
    with server_behind_proxy() as (server, proxy, clients):
        ana = ana_registered(server, proxy, clients)
        assert proxy.stall("Ana") == 1
        with pytest.raises(RequestTimeout):
            ana.change_password(PASSWORD, NEW_PASSWORD, timeout=SHORT)
        # The server gets the request now and makes the change; its "ok" never comes.
        proxy.add(Fault(DOWN, frame_type="ok", when="before", name="Ana"))
        assert proxy.unstall("Ana") == 1
        back_with(ana, NEW_PASSWORD)
        assert proxy.cuts, "the test did not cut the answer"


@pytest.mark.timeout_seconds(60)
def test_a_change_whose_answer_is_lost_with_the_connection_logs_in_with_the_new_password() -> None:
    with server_behind_proxy() as (server, proxy, clients):
        ana = ana_registered(server, proxy, clients)
        proxy.add(Fault(DOWN, frame_type="ok", when="before", name="Ana"))  # made, its "ok" lost
        with pytest.raises(AnswerLost):
            ana.change_password(PASSWORD, NEW_PASSWORD, timeout=WAIT)
        back_with(ana, NEW_PASSWORD)


@pytest.mark.timeout_seconds(60)
def test_a_change_timed_out_that_never_reached_the_server_logs_in_with_the_old_password() -> None:
    with server_behind_proxy() as (server, proxy, clients):
        ana = ana_registered(server, proxy, clients)
        assert proxy.stall("Ana") == 1
        with pytest.raises(RequestTimeout):
            ana.change_password(PASSWORD, NEW_PASSWORD, timeout=SHORT)
        assert proxy.cut("Ana") == 1  # what the proxy held back is lost: no change was made
        back_with(ana, PASSWORD)  # the new one refused (bad_password), then the old one

"""A password check or hash that raises on its worker thread is still answered.

Password hashing runs off the loop (server/app.py's offload). If it raises (scrypt out of
memory under many logins at once, an account whose stored parameters scrypt refuses), the
request must still get an answer within a bounded time (``unavailable``: nothing was
done), the desk's count of checks under way must be given back, and the failure logged:
before, the answer never came (a hello waited for the login timeout, a ``register``
for ever) and the name stayed "under way" for later checks from that address.
"""

from __future__ import annotations

import logging

import const
import server.login
from protocol import Done, ErrorCode, ErrorReply, Hello, Register, UserJoined, Welcome
from server.accounts import Account
from logins import login
from servers import in_thread
from wire import WireClient

# Well below the login timeout (its default): an answer, not the timeout's disconnect.
ANSWER_WITHIN = 5.0


def test_a_password_check_that_raises_is_answered_unavailable_and_frees_its_place(caplog):
    caplog.set_level(logging.ERROR, logger="chat.server")
    with in_thread(login_timeout=60.0) as srv:
        logins = srv.server.relay.logins
        # Parameters scrypt refuses (n is not a power of two): verify_password raises.
        broken = Account("Ana", b"h" * 32, b"s" * 16, "scrypt:n=3,r=1,p=1")
        srv.call(logins.accounts.__setitem__, "ana", broken)
        with WireClient(srv.host, srv.port) as client:
            client.send(Hello("h1", "Ana", const.PROTOCOL_VERSION, "some password"))
            answer = client.expect((Welcome, ErrorReply), timeout=ANSWER_WITHIN)
            assert isinstance(answer, ErrorReply) and answer.code == ErrorCode.UNAVAILABLE, answer
            assert answer.request_id == "h1"
        assert srv.call(lambda: dict(logins._checking)) == {}
    assert any("verify_password" in record.getMessage() for record in caplog.records), caplog.text


def test_a_register_whose_hash_raises_is_answered_unavailable(monkeypatch):
    def out_of_memory(name: str, password: str) -> Account:
        raise MemoryError("scrypt could not allocate its memory")

    with in_thread() as srv:
        monkeypatch.setattr(server.login, "hash_password", out_of_memory)
        with login(srv, "Bia") as bia:
            bia.send(Register("r1", "a good long password"))
            answer = bia.expect((Done, ErrorReply), timeout=ANSWER_WITHIN, skip=(UserJoined,))
            assert isinstance(answer, ErrorReply) and answer.code == ErrorCode.UNAVAILABLE, answer
            assert answer.request_id == "r1"
        assert "bia" not in srv.server.relay.logins.accounts

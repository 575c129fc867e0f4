"""The clients offer Edit and Delete for as long as the server takes them: the window its
welcome says (``edit_window``, with the ``edits`` feature: PROTOCOL.md, "welcome"), not
const.EDIT_WINDOW, which is only an older server's. A server set to 5 minutes gave Edit
buttons it then refused; one set to 60 gave none after 15. Fake clocks, no I/O."""

from __future__ import annotations

import pytest

import const
from client.core import ClientCore, LoginAttempt
from protocol import EDITS, Carbon, Connection, Hello, Role, Welcome

T = 1_795_000_000.0


def _logged_in(edit_window: float | None) -> ClientCore:
    """A client core welcomed by a server whose clock says T and whose window is ``edit_window``."""
    core = ClientCore()
    attempt = LoginAttempt(core.hello("João", None, False, None))
    server = Connection(Role.SERVER)
    server.receive_data(attempt.data_to_send())
    hello = next(server.events())
    assert isinstance(hello, Hello)
    attempt.receive_data(server.send(Welcome(hello.request_id, "João", 1, "test", 10.0, features=(EDITS,),
                                             now=int(T * 1000), edit_window=edit_window)))
    welcome = attempt.step("test")
    assert welcome is not None
    core.open(attempt.conn, welcome, 100.0, False)
    return core


@pytest.mark.parametrize(("window", "editable_after", "not_after"), [
    (300.0, 4 * 60, 6 * 60),        # a server set to 5 minutes: no Edit at 6
    (3600.0, 50 * 60, 61 * 60),     # set to 60: Edit still at 50
    (None, 14 * 60, 16 * 60),       # an older server: const.EDIT_WINDOW's 15
])
def test_the_window_offers_edit_for_the_servers_window(window, editable_after: float, not_after: float) -> None:
    from client.gui.model import ChatModel
    _logged_in(window)
    model = ChatModel("João", "127.0.0.1:5000")
    model.apply(Carbon(11, "Ana", "a prova mudou", T - not_after, "sent"))
    assert model.editable("ana") is None
    model.apply(Carbon(12, "Ana", "é na sala 204", T - editable_after, "sent"))
    assert model.editable("ana") is not None


@pytest.mark.parametrize(("window", "span"), [(300.0, "5 min"), (3600.0, "1 h"), (None, "15 min"), (90.0, "90 s"),
                                             (30.0, "30 s")])  # not "0.5 minutes"
def test_too_late_says_the_servers_window(window, span: str) -> None:
    from client.display import explain_error
    _logged_in(window)
    assert explain_error("too_late", "too late") == \
        f"a message can be edited or deleted only within {span} of sending it"


@pytest.mark.parametrize("absurd", [400 * 86400.0, 1e12])  # (a negative one: bad_field)
def test_a_window_no_server_sends_is_taken_as_the_older_servers(absurd: float) -> None:
    from client.serverwindow import edit_window
    _logged_in(absurd)
    assert edit_window() == const.EDIT_WINDOW

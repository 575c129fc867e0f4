"""What became of a message we sent, said apart by every Python client (the terminal, the
window, ``--send``): refused at once is "not sent" (nothing reached anyone: fix it, or
send it again), taken and then expired is "not delivered" (it waited, and how long), and
one the server may or may not have stored is "not confirmed". The page's own test is
tests/integration/test_web_browser.py."""

from __future__ import annotations

import pytest

from client.display import (NOT_CONFIRMED, NOT_DELIVERED, NOT_SENT, NOT_YET, explain_error, failed_outcome,
                            format_span)
from client.errors import LocalError
from client.gui.model import state_label
from client.outgoing import FAILED, Failure, OutgoingMessage
from client.screen import Style
from client.terminal_lines import describe_follow_up, describe_mark, describe_status
from i18n import use

DAY = 24 * 3600.0
PLAIN = Style(False)


@pytest.fixture
def portuguese():
    use("pt_BR")
    yield
    use("en")


def failed(to: str | None, error: tuple[str, str], msg_id: int | None = None, age: float = 0.0) -> OutgoingMessage:
    message = OutgoingMessage("r1", to, "olá")
    message.created -= age
    if msg_id is not None:
        assert message._advance("queued", msg_id=msg_id)
    assert message._advance(FAILED, error=error)
    return message


def test_each_way_a_message_can_fail_has_its_own_outcome() -> None:
    assert failed_outcome(Failure("unknown_recipient", "x")) == NOT_SENT
    assert failed_outcome(Failure("message_too_large", "x")) == NOT_SENT
    assert failed_outcome(Failure("unavailable", "x", attempts=6, tried_for=60.0)) == NOT_SENT
    assert failed_outcome((LocalError.QUEUE_FULL, "x")) == NOT_SENT
    assert failed_outcome((LocalError.CONNECTION_LOST, "x")) == NOT_SENT  # never taken by the server
    assert failed_outcome((LocalError.CONNECTION_LOST, "x"), stored=True) == NOT_YET  # taken: still on its way
    assert failed_outcome(Failure("expired", "x"), stored=True) == NOT_DELIVERED
    assert failed_outcome(("expired", "x")) == NOT_DELIVERED  # told at a login: no tracker had its msg_id
    assert failed_outcome((LocalError.UNCONFIRMED, "x")) == NOT_CONFIRMED


def test_a_wait_is_said_in_days_hours_or_minutes() -> None:
    assert format_span(7 * DAY) == "7 days"
    assert format_span(DAY + 60) == "1 day"
    assert format_span(5 * 3600 + 100) == "5 h"
    assert format_span(150) == "2 min 30 s"


def test_the_terminal_says_a_refused_message_was_not_sent_and_what_to_do() -> None:
    refused = failed("Bob", Failure("unknown_recipient", "nobody called Bob has ever logged in here"))
    error = refused.error
    assert describe_status(refused, FAILED, error) == \
        "✗ not sent to Bob: olá — nobody called Bob has ever logged in here: check the name"
    assert describe_mark(refused, FAILED, error, PLAIN) == \
        "✗ not sent: nobody called Bob has ever logged in here: check the name"
    assert describe_follow_up(refused, FAILED, error, PLAIN, "12:00") == \
        "[12:00] ✗ not sent to Bob: olá — nobody called Bob has ever logged in here: check the name"
    long = failed("Bob", Failure("message_too_large", "too long"))
    assert describe_status(long, FAILED, long.error) == \
        "✗ not sent to Bob: olá — the text is longer than 4000 characters: shorten it, or send it in parts"


def test_the_terminal_says_an_expired_message_waited_and_was_not_delivered() -> None:
    expired = failed("Bob", Failure("expired", "your message 7 to Bob expired before it was delivered"),
                     msg_id=7, age=7 * DAY + 5)
    error = expired.error
    why = "it waited 7 days for Bob and expired: their client never took it; tell them some other way, " \
          "or send it again when they are online"
    assert describe_status(expired, FAILED, error) == f"✗ not delivered to Bob: olá — {why}"
    assert describe_mark(expired, FAILED, error, PLAIN) == f"✗ not delivered: {why}"
    assert describe_follow_up(expired, FAILED, error, PLAIN, "12:00") == f"[12:00] ✗ not delivered to Bob: olá — {why}"


def test_the_terminal_says_it_in_portuguese(portuguese) -> None:
    refused = failed("Bob", Failure("unknown_recipient", "x"))
    assert describe_status(refused, FAILED, refused.error) == \
        "✗ não enviada a Bob: olá — ninguém chamado Bob jamais entrou aqui: confira o nome"
    expired = failed("Bob", Failure("expired", "x"), msg_id=7, age=7 * DAY)
    assert describe_status(expired, FAILED, expired.error) == (
        "✗ não entregue a Bob: olá — ela esperou 7 dias por Bob e expirou: o cliente dessa pessoa nunca a recebeu; "
        "avise de outro jeito, ou envie de novo quando a pessoa estiver online")
    assert describe_mark(refused, FAILED, refused.error, PLAIN).startswith("✗ não enviada: ")


def test_the_window_labels_each_outcome_apart() -> None:
    assert state_label(FAILED, Failure("unknown_recipient", "x"), "Zed") == \
        "✗ not sent: nobody called Zed has ever logged in here: check the name"
    assert state_label(FAILED, Failure("expired", "x"), "Zed", msg_id=7, waited=7 * DAY) == \
        "✗ not delivered: it waited 7 days for Zed and expired: their client never took it; tell them some " \
        "other way, or send it again when they are online"
    assert state_label(FAILED, (LocalError.CONNECTION_LOST, "x"), "Zed", msg_id=7).startswith("… not delivered yet: ")
    assert state_label(FAILED, (LocalError.UNCONFIRMED, "x"), "Zed").startswith("? not confirmed: ")


def test_an_expiry_without_its_time_says_it_waited_all_the_same() -> None:
    """An expiry of an earlier session's message (no tracker, no time it was sent)."""
    assert explain_error("expired", "x", "Bob") == \
        "it waited for Bob until it expired: their client never took it; tell them some other way, or send it " \
        "again when they are online"
    assert explain_error("expired", "x", "Bob", waited=3 * DAY).startswith("it waited 3 days for Bob and expired")
    # Told at a login long after it expired: it waited its lifetime (const.QUEUE_TTL), no more.
    assert explain_error("expired", "x", "Bob", waited=40 * DAY).startswith("it waited 7 days for Bob and expired")


def test_help_explains_every_mark() -> None:
    from client.commands import help_lines
    legend = next(line for line in help_lines() if "✓✓" in line)
    for words in ("not sent", "not delivered", "not confirmed", "expired"):
        assert words in legend, legend


def test_an_expiry_told_at_a_login_says_it_waited_its_lifetime_and_what_to_do() -> None:
    """The usual way an expiry is heard of, days later: no tracker of this run knows the
    message; the server's words name it and its recipient."""
    from client.terminal_lines import describe_event
    from protocol import ErrorReply
    told = ErrorReply("expired", "your message 17 to Bob expired before it was delivered", "old-8", msg_id=17)
    assert describe_event(told, "Alice") == (
        "✗ not delivered: your message 17 to Bob expired before it was delivered; it waited 7 days and its "
        "recipient's client never took it: tell them some other way")
    use("pt_BR")
    try:
        assert describe_event(told, "Alice") == (
            "✗ não entregue: your message 17 to Bob expired before it was delivered; ela esperou 7 dias e o "
            "cliente de quem ia recebê-la nunca a recebeu: avise de outro jeito")
    finally:
        use("en")


def test_an_expiry_says_the_wait_the_server_says_not_the_clients_own_lifetime() -> None:
    """A server whose operator set another QUEUE_TTL (here 2 days) says how long each
    expired message waited (the error's ``waited``): every client says that number, told
    at a login or to the tracker that followed the message; a server that does not say it
    (older) gets the client's own measure, no more than const.QUEUE_TTL."""
    from client.terminal_lines import describe_event
    from protocol import ErrorReply
    told = ErrorReply("expired", "your message 17 to Bob expired before it was delivered", "old-8", msg_id=17,
                      waited=2 * DAY)
    assert describe_event(told, "Alice") == (
        "✗ not delivered: your message 17 to Bob expired before it was delivered; it waited 2 days and its "
        "recipient's client never took it: tell them some other way")
    expired = failed("Bob", Failure.of(told), msg_id=17, age=40 * DAY)  # followed here, told much later
    assert describe_mark(expired, FAILED, expired.error, PLAIN).startswith("✗ not delivered: it waited 2 days for Bob")
    assert state_label(FAILED, Failure.of(told), "Zed", msg_id=17, waited=40 * DAY).startswith(
        "✗ not delivered: it waited 2 days for Zed and expired")


def test_a_trackers_kind_and_whether_it_is_settled_as_the_library_documents_them() -> None:
    from client.outgoing import DELIVERED, QUEUED, SENT
    direct, to_room = OutgoingMessage("r1", "Bob", "oi"), OutgoingMessage("r2", None, "olá, turma")
    assert (direct.kind, to_room.kind) == ("direct", "room")
    assert not direct.settled and not to_room.settled  # sending
    direct._advance(SENT)
    assert not direct.settled  # the server has it, the recipient does not yet
    direct._advance(QUEUED)
    assert direct.settled and not direct.done  # on disk: delivered when Bob logs in, or expired
    direct._advance(DELIVERED)
    assert direct.settled and direct.done
    to_room._advance(SENT)
    assert to_room.settled and to_room.done  # a room message is final once the server has it

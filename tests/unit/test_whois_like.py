"""A ``whois`` of a valid name nobody has (status ``unknown``) carries ``like``: the one
user online whose name looks like it (registry/names.py, rule 7), chosen by the rule a
``send`` refused ``unknown_recipient`` names it by (RegistryDesk.rival), never the asker,
and only when there is exactly one. The field is additive: absent, the frame is as before.
Sans-I/O: RegistryDesk with a fake relay and session; the codec with bytes."""

from __future__ import annotations

import json
from types import SimpleNamespace

from protocol import ErrorCode, LookupRequest, LookupResult, SendDirect
from protocol import codec
from registry import Registry, canonical
from server.registrydesk import RegistryDesk


class FakeSession:
    def __init__(self, name: str) -> None:
        self.key = canonical(name)
        self.sent: list = []

    def send(self, event: object) -> None:
        self.sent.append(event)


def _desk(online: list[str], known: tuple[str, ...] = ()) -> RegistryDesk:
    """A desk whose relay's directory (a real Registry) has ``online`` users."""
    directory = Registry()
    for number, name in enumerate(online):
        directory.register(name, "10.0.0.1", 5000 + number, 1763712000.0 + number, SimpleNamespace())
    relay = SimpleNamespace(intake=SimpleNamespace(admit=lambda session, handler, request: True),
                            directory=directory, known={canonical(name): name for name in (*known, *online)},
                            peers=SimpleNamespace(node_of=lambda session: None),
                            presence=SimpleNamespace(flush=lambda: None), config=SimpleNamespace())
    return RegistryDesk(relay)  # type: ignore[arg-type]


def _whois(desk: RegistryDesk, asker: str, name: str) -> LookupResult:
    session = FakeSession(asker)
    desk._lookup(session, LookupRequest("w", name))
    [answer] = session.sent
    return answer


def test_a_whois_of_a_name_nobody_has_names_the_one_online_that_looks_like_it() -> None:
    desk = _desk(["João", "Ana"])
    assert _whois(desk, "Ana", "Joao") == LookupResult("w", "Joao", "unknown", like="João")


def test_the_asker_is_never_suggested() -> None:
    desk = _desk(["Joao"])
    answer = _whois(desk, "Joao", "João")
    assert (answer.status, answer.like) == ("unknown", None)


def test_no_like_when_nobody_online_looks_like_it_nor_for_a_name_someone_has() -> None:
    desk = _desk(["Pedro"], known=("Bob",))
    assert _whois(desk, "Pedro", "Joao").like is None
    assert _whois(desk, "Pedro", "Bob") == LookupResult("w", "Bob", "offline")
    assert _whois(desk, "Bob", "pedro").like is None


def test_whois_and_send_choose_by_the_same_rule() -> None:
    desk = _desk(["João", "Ana"])
    for asker in ("Ana", "João"):
        session = FakeSession(asker)
        desk._lookup(session, LookupRequest("w", "JOAO"))
        refused = desk.nobody(session, SendDirect("s", "JOAO", "oi"))
        assert refused.code == ErrorCode.UNKNOWN_RECIPIENT
        assert session.sent[0].like == refused.like == (None if asker == "João" else "João")


def test_like_is_on_the_wire_only_when_set_and_read_back() -> None:
    frame = codec.encode(LookupResult("w", "Joao", "unknown", like="João"))
    assert json.loads(frame) == {"type": "user", "id": "w", "name": "Joao", "status": "unknown", "like": "João"}
    assert codec.decode(frame, codec.TYPES, 4000) == LookupResult("w", "Joao", "unknown", like="João")
    plain = codec.encode(LookupResult("w", "Joao", "unknown"))
    assert b"like" not in plain and codec.decode(plain, codec.TYPES, 4000).like is None  # (an older server's)

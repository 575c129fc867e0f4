"""Nothing lost when one dies, tried as Jepsen would (tests/support/chaos.py says how).

The suite runs two short seeds: a cluster (three nodes and Redis killed -9 and paused at
random, a node cut off from Redis) and a durable single server (killed and paused).
``CHAOS_SECONDS`` (e.g. 300) makes each run that long instead, and ``CHAOS_SEEDS`` (e.g.
``1-20``) picks the seeds: for a long run by hand. Each seed and its faults are printed,
so a failure names what to run again.

The checker itself is tried on made-up records: a test that cannot fail is a defect.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from chaos import EDIT_MARK, OK, REFUSED, ROOM, UNSURE, Record, edits_behind, posts_behind, run_chaos, violations
from redisserver import require_redis_server

from client.outgoing import DELIVERED, FAILED, SENT, OutgoingMessage, MessageUpdate
from protocol import DirectMessage, Edited, RoomEdited, RoomPost

RUNNER = Path(__file__).resolve().parents[1] / "support" / "chaosrun.py"
SECONDS = float(os.environ.get("CHAOS_SECONDS", "8"))


def seeds(default: str) -> list[int]:
    first, _, last = os.environ.get("CHAOS_SEEDS", default).partition("-")
    return list(range(int(first), int(last or first) + 1))


def check(outcome) -> None:
    print(f"seed {outcome.seed}: {outcome.sent} sent ({outcome.room_posts} to the room), {outcome.acknowledged} "
          f"acknowledged, edits {outcome.edits}; faults:")
    print("\n".join(outcome.faults))
    assert outcome.faults, "no fault was injected"
    assert outcome.acknowledged > 0, "no message got through"
    assert outcome.room_posts > 1, "nothing was posted to the room but the warm-up"
    assert outcome.edits.get("ok"), "no edit was stored"
    # Every promise, the cluster's "delivered" to a sender who stays connected included: it
    # was allowed to fail here (as a known disorder) from session 30 until its last known
    # cause was found (a receipt's outcome not routed to a sender the recipient's node did
    # not see online: tests/integration/test_cluster_lagging_directory.py). A run that
    # shows it prints what Redis holds of each such message (chaos.store_view). Seeds to
    # try by hand with 20 clients, where each of the causes found showed: 44, 111, 140, 185.
    assert not outcome.problems, f"seed {outcome.seed}:\n" + "\n".join(outcome.problems[:40]) + "\n" + outcome.logs


@pytest.mark.timeout_seconds(SECONDS + 150)
@pytest.mark.parametrize("seed", seeds("1"))
def test_cluster_under_kills_and_pauses_loses_and_repeats_nothing(tmp_path, seed):
    require_redis_server()
    check(run_chaos(tmp_path, seed, cluster=True, seconds=SECONDS))


@pytest.mark.timeout_seconds(SECONDS + 150)
@pytest.mark.parametrize("seed", seeds("2"))
def test_single_server_under_kills_and_pauses_loses_and_repeats_nothing(tmp_path, seed):
    check(run_chaos(tmp_path, seed, cluster=False, seconds=SECONDS))


class _Stub:
    connected = True


def _delivered(request_id: str, to: str, text: str, msg_id: int) -> OutgoingMessage:
    message = OutgoingMessage(request_id, to, text)
    message._advance(DELIVERED, msg_id=msg_id)
    return message


def _records() -> dict[str, Record]:
    ana, bia = Record("Ana"), Record("Bia")
    for n in (1, 2):
        message = _delivered(f"r{n}", "Bia", f"t{n}", 10 + n)
        ana.sent.append(message)
        ana.on_event(MessageUpdate(message, DELIVERED))
    return {"Ana": ana, "Bia": bia}


def _show(record: Record, *texts: str) -> None:
    for text in texts:
        record.on_event(DirectMessage(10 + int(text[1:]), "Ana", "Bia", text, 0.0))


def test_the_checker_passes_a_clean_run_and_names_each_broken_promise():
    clients = {"Ana": _Stub(), "Bia": _Stub()}
    clean = _records()
    _show(clean["Bia"], "t1", "t2")
    assert violations(clean, clients) == []
    twice = _records()
    _show(twice["Bia"], "t1", "t2", "t2")
    assert violations(twice, clients) == ["Bia was shown 't2' 2 times"]
    lost = _records()
    _show(lost["Bia"], "t1")
    assert [v.split(" (")[0] for v in violations(lost, clients)] == ["Bia was never shown 't2' from Ana"]
    swapped = _records()
    _show(swapped["Bia"], "t2", "t1")
    assert violations(swapped, clients) == ["Bia was shown 't1' after 't2': not the sender's order"]
    invented = _records()
    _show(invented["Bia"], "t1", "t2", "t3")
    assert violations(invented, clients) == ["Bia was shown 't3' from Ana, never sent so"]


def _failed_unstored(request_id: str, text: str, to: str | None = "Bia", room: str | None = None) -> OutgoingMessage:
    message = OutgoingMessage(request_id, to, text, room=room)
    message._advance(FAILED, error=("unavailable", "the server cannot save anything right now"))
    return message


def test_the_checker_names_a_message_shown_though_its_sender_was_told_it_failed():
    clients = {"Ana": _Stub(), "Bia": _Stub()}
    records = _records()
    records["Ana"].sent.append(_failed_unstored("r3", "t3"))
    _show(records["Bia"], "t1", "t2")
    assert violations(records, clients) == []
    _show(records["Bia"], "t3")
    assert violations(records, clients) == ["Bia was shown 't3', which Ana was told had failed (unavailable)"]


def _posted(request_id: str, text: str, msg_id: int) -> OutgoingMessage:
    message = OutgoingMessage(request_id, None, text, room=ROOM)
    message._advance(SENT, msg_id=msg_id)
    return message


def _room_records() -> dict[str, Record]:
    """Ana posted p1 (msg_id 21) and p2 (22) to the room; Bia p3 (23) (and p6, where a
    test adds it); both are members."""
    ana, bia = Record("Ana"), Record("Bia")
    for record, n in ((ana, 1), (ana, 2), (bia, 3)):
        message = _posted(f"p{n}", f"p{n}", 20 + n)
        record.sent.append(message)
        record.on_event(MessageUpdate(message, SENT))
    return {"Ana": ana, "Bia": bia}


def _see(record: Record, *texts: str, room: str = ROOM) -> None:
    for text in texts:
        n = int(text[1:])
        record.on_event(RoomPost(20 + n, "Bia" if n in (3, 6) else "Ana", room, text, 0.0))


def test_the_checker_names_each_broken_promise_of_the_room():
    clients = {"Ana": _Stub(), "Bia": _Stub()}
    clean = _room_records()
    _see(clean["Ana"], "p1", "p2", "p3")
    _see(clean["Bia"], "p1", "p2", "p3")
    _see(clean["Bia"], "p9", room="#outra")  # another room's: not this check's
    assert violations(clean, clients) == [] and not posts_behind(clean)
    broken = _room_records()
    _see(broken["Ana"], "p1", "p3", "p2", "p3")
    _see(broken["Bia"], "p1", "p4")
    assert posts_behind(broken)  # what the end of a run waits for: Bia has yet to see p2 and p3
    assert violations(broken, clients) == [
        "Ana was shown 'p2' (22) after 'p3' (23): not the room's order",
        "Ana was shown 'p3' 2 times in #caos",
        "Bia was shown 'p4' from Ana in #caos, never sent so",
        "Bia was never shown 'p2' from Ana in #caos (<OutgoingMessage p2 room='#caos' sent msg_id=22>)",
        "Bia was never shown 'p3' from Bia in #caos (<OutgoingMessage p3 room='#caos' sent msg_id=23>)",
    ]
    reordered = _room_records()  # Ana's second post stored before her first
    reordered["Ana"].sent.reverse()
    _see(reordered["Ana"], "p1", "p2", "p3")
    _see(reordered["Bia"], "p1", "p2", "p3")
    assert violations(reordered, clients) == [
        "Ana's 'p1' was stored as 21, before its earlier 'p2' (22): not the sender's order"]
    unfinished = _room_records()
    unfinished["Ana"].sent.append(OutgoingMessage("p5", None, "p5", room=ROOM))
    _see(unfinished["Ana"], "p1", "p2", "p3")
    _see(unfinished["Bia"], "p1", "p2", "p3")
    assert violations(unfinished, clients) == [
        "Ana: <OutgoingMessage p5 room='#caos' sending msg_id=None> unfinished at the end"]
    refused = _room_records()
    refused["Bia"].sent.append(_failed_unstored("p6", "p6", to=None, room=ROOM))
    _see(refused["Ana"], "p1", "p2", "p3", "p6")
    _see(refused["Bia"], "p1", "p2", "p3")
    assert violations(refused, clients) == ["Ana was shown 'p6', which Bia was told had failed (unavailable)"]
    assert not posts_behind(refused)  # nobody waits for a post that was never stored


def _edit(record: Record, n: int, number: int) -> None:
    """Bia is told edit ``number`` of Ana's message t``n``."""
    record.on_event(Edited(10 + n, "Ana", "Bia", f"t{n} ~{number}", float(number)))


def test_the_checker_names_each_broken_promise_of_an_edit():
    clients = {"Ana": _Stub(), "Bia": _Stub()}
    clean = _records()
    clean["Ana"].edits = {11: [(1, OK), (2, REFUSED), (3, UNSURE)], 12: [(1, OK)]}
    clean["Bia"].on_event(DirectMessage(11, "Ana", "Bia", "t1", 0.0))
    _edit(clean["Bia"], 1, 1)
    _edit(clean["Bia"], 1, 3)  # (it may have been stored: it was)
    clean["Bia"].on_event(DirectMessage(12, "Ana", "Bia", "t2 ~1", 0.0))  # edited before it was delivered
    assert violations(clean, clients) == []
    broken = _records()
    broken["Ana"].edits = {11: [(1, OK), (2, REFUSED)], 12: [(1, OK), (2, OK)]}
    _show(broken["Bia"], "t1", "t2")
    _edit(broken["Bia"], 1, 2)
    _edit(broken["Bia"], 2, 1)
    assert violations(broken, clients) == [
        "Bia was shown edit 2 of 't1', which Ana was told was refused",
        "Bia ended with edit 1 of 't2' (msg_id 12), not edit 2, which Ana was told was stored",
    ]
    # The end of a run waits while a stored edit has not reached its recipient, not after.
    assert edits_behind(broken) and not edits_behind(clean)
    gone_back = _records()
    gone_back["Ana"].edits = {11: [(1, OK), (2, OK)]}
    _show(gone_back["Bia"], "t1", "t2")
    _edit(gone_back["Bia"], 1, 2)
    _edit(gone_back["Bia"], 1, 1)  # told late, after edit 2: the reader reads edit 1 again
    assert violations(gone_back, clients) == ["Bia was shown edit 1 of message 11 after edit 2"]
    invented = _records()
    _show(invented["Bia"], "t1", "t2")
    _edit(invented["Bia"], 2, 1)
    assert violations(invented, clients) == ["Bia was shown edit 1 of 't2', never made so"]


def test_the_checker_holds_a_second_device_to_what_it_was_shown():
    """Bia has a second device: each message must reach one of her devices at least, none
    twice on one device, each device the latest stored edit of what it was shown, and the
    room's every post."""
    clients = {"Ana": _Stub(), "Bia": _Stub(), "Bia's second device": _Stub()}
    split = _records()
    phone = {"Bia": Record("Bia")}
    _show(split["Bia"], "t1")
    _show(phone["Bia"], "t2")  # the laptop confirmed t1 while the phone was away: not the phone's to show
    assert violations(split, clients, second=phone) == []
    both = _records()
    phone = {"Bia": Record("Bia")}
    _show(both["Bia"], "t1", "t2")
    _show(phone["Bia"], "t2", "t2")
    assert violations(both, clients, second=phone) == ["Bia's second device was shown 't2' 2 times"]
    lost = _records()
    phone = {"Bia": Record("Bia")}
    _show(lost["Bia"], "t1")
    _show(phone["Bia"], "t1")
    assert [v.split(" (")[0] for v in violations(lost, clients, second=phone)] == [
        "Bia was never shown 't2' from Ana"]
    behind = _records()  # Ana edited t1 while the phone was away, and the laptop confirmed it
    behind["Ana"].edits = {11: [(1, OK)]}
    phone = {"Bia": Record("Bia")}
    _show(behind["Bia"], "t1", "t2")
    _edit(behind["Bia"], 1, 1)
    _show(phone["Bia"], "t1")
    assert edits_behind(behind, phone) and not edits_behind(behind)
    assert violations(behind, clients, second=phone) == [
        "Bia's second device ended with edit 0 of 't1' (msg_id 11), not edit 1, which Ana was told was stored"]
    _edit(phone["Bia"], 1, 1)
    assert violations(behind, clients, second=phone) == [] and not edits_behind(behind, phone)
    room = _room_records()
    phone = {"Bia": Record("Bia")}
    _see(room["Ana"], "p1", "p2", "p3")
    _see(room["Bia"], "p1", "p2", "p3")
    _see(phone["Bia"], "p1", "p3")
    assert violations(room, clients, second=phone) == [
        "Bia's second device was never shown 'p2' from Ana in #caos (<OutgoingMessage p2 room='#caos' sent msg_id=22>)"]
    clients["Bia's second device"] = type("Away", (), {"connected": False})()
    assert violations(split, clients, second={"Bia": Record("Bia")})[0] == \
        "Bia's second device is not connected at the end"


def test_the_checker_holds_what_a_second_device_sent_to_its_own_order_and_outcomes():
    """Ana's second device sent t5 and then t6 to Bia: shown from Ana, they are hers; each
    device has its own order (t5 may come before Ana's t1), and an unfinished or lost one
    is named by the device that sent it."""
    clients = {"Ana": _Stub(), "Bia": _Stub(), "Ana's second device": _Stub()}

    def phone_records() -> tuple[dict[str, Record], dict[str, Record]]:
        records, phone = _records(), {"Ana": Record("Ana")}
        for n in (5, 6):
            message = _delivered(f"r{n}", "Bia", f"t{n}", 10 + n)
            phone["Ana"].sent.append(message)
            phone["Ana"].on_event(MessageUpdate(message, DELIVERED))
        return records, phone

    clean, phone = phone_records()
    _show(clean["Bia"], "t5", "t1", "t6", "t2")
    assert violations(clean, clients, second=phone) == []
    swapped, phone = phone_records()
    _show(swapped["Bia"], "t1", "t6", "t2", "t5")
    assert violations(swapped, clients, second=phone) == ["Bia was shown 't5' after 't6': not the sender's order"]
    lost, phone = phone_records()
    _show(lost["Bia"], "t1", "t2", "t5")
    assert [v.split(" (")[0] for v in violations(lost, clients, second=phone)] == [
        "Bia was never shown 't6' from Ana's second device"]
    unfinished, phone = phone_records()
    phone["Ana"].sent.append(OutgoingMessage("r7", "Bia", "t7"))
    _show(unfinished["Bia"], "t1", "t2", "t5", "t6")
    assert violations(unfinished, clients, second=phone) == [
        "Ana's second device: <OutgoingMessage r7 to='Bia' sending msg_id=None> unfinished at the end"]
    edited, phone = phone_records()
    phone["Ana"].edits = {15: [(1, OK)]}
    _show(edited["Bia"], "t1", "t2", "t5", "t6")
    assert violations(edited, clients, second=phone) == [
        "Bia ended with edit 0 of 't5' (msg_id 15), not edit 1, which Ana's second device was told was stored"]


def test_the_checker_holds_every_device_of_every_member_to_a_posts_last_stored_edit():
    """Ana edited her post p1 (msg_id 21) twice, both stored: Bia and Bia's second device
    must come to read edit 2 (from a RoomEdited, or the post shown with it); Ana's device,
    which made the edits, is told nothing of them."""
    clients = {"Ana": _Stub(), "Bia": _Stub(), "Bia's second device": _Stub()}

    def room_edit(record: Record, number: int) -> None:
        record.on_event(RoomEdited(21, "Ana", ROOM, f"p1{EDIT_MARK}{number}", float(number)))

    records, phone = _room_records(), {"Bia": Record("Bia")}
    records["Ana"].edits = {21: [(1, OK), (2, OK)]}
    _see(records["Ana"], "p1", "p2", "p3")
    _see(records["Bia"], "p1", "p2", "p3")
    room_edit(records["Bia"], 1)
    phone["Bia"].on_event(RoomPost(21, "Ana", ROOM, f"p1{EDIT_MARK}2", 0.0))  # shown once edited
    _see(phone["Bia"], "p2", "p3")
    assert edits_behind(records, phone)
    assert violations(records, clients, second=phone) == [
        "Bia ended with edit 1 of 'p1' (msg_id 21), not edit 2, which Ana was told was stored"]
    room_edit(records["Bia"], 2)
    assert violations(records, clients, second=phone) == [] and not edits_behind(records, phone)
    room_edit(records["Bia"], 1)  # told late, after edit 2
    room_edit(records["Bia"], 2)
    assert violations(records, clients, second=phone) == ["Bia was shown edit 1 of message 21 after edit 2"]


@pytest.mark.parametrize("args", [[], ["--help"], ["cluster", "one"]])
def test_the_hand_runner_says_how_to_run_it(args: list[str]) -> None:
    """``chaosrun.py`` with no arguments (or --help) crashed with an IndexError traceback."""
    done = subprocess.run([sys.executable, str(RUNNER), *args], capture_output=True, text=True, timeout=20,
                          stdin=subprocess.DEVNULL)
    said = done.stdout + done.stderr
    assert "Traceback" not in said and "usage: chaosrun.py" in said, said
    assert done.returncode == (0 if args == ["--help"] else 2), said

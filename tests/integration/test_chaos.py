"""Nothing lost when one dies, tried as Jepsen would (tests/support/chaos.py says how).

The suite runs two short seeds: a cluster (three nodes and Redis killed -9 and paused at
random) and a durable single server (the same). ``CHAOS_SECONDS`` (e.g. 300) makes each
run that long instead, and ``CHAOS_SEEDS`` (e.g. ``1-20``) picks the seeds: for a long
run by hand. Each seed and its faults are printed, so a failure names what to run again.

The checker itself is tried on made-up records: a test that cannot fail is a defect.
"""

from __future__ import annotations

import os

import pytest
from chaos import Record, run_chaos, violations
from redisserver import require_redis_server

from client.outgoing import DELIVERED, OutgoingMessage, MessageUpdate
from protocol import DirectMessage

SECONDS = float(os.environ.get("CHAOS_SECONDS", "8"))


def seeds(default: str) -> list[int]:
    first, _, last = os.environ.get("CHAOS_SEEDS", default).partition("-")
    return list(range(int(first), int(last or first) + 1))


# A known defect of the cluster, found by this test and not fixed for certain (see
# KNOWN_CLUSTER_DISORDER): once in about twenty runs, a message shown to its recipient whose
# sender never hears "delivered" by the end (seen before the node's outcomes for senders
# its directory did not show went through Redis; seen again once in about sixteen runs of
# seed 44 on 2026-12-03, where the sender's node had been judged gone and rejoined: the
# outcome routed to nobody meanwhile is now told again after the rejoin, as at a login,
# tests/integration/test_cluster_nodes.py; seen again in seed 111 with 20 clients, about one
# run in three on 2026-12-04, where the recipient's node died between recording the receipt
# and routing the outcome: every node now tells its sessions their outcomes again as it
# reads a node's end, test_cluster_nodes.py). Every other promise is asserted, the
# sender's order included; this one is reported (a run that shows it prints what Redis
# holds of each such message: chaos.store_view).
UNFINISHED = "unfinished at the end"
KNOWN_CLUSTER_DISORDER = "cluster: a message shown whose sender was never told delivered, after kills and pauses"


def check(outcome, known_disorder: bool = False) -> None:
    print(f"seed {outcome.seed}: {outcome.sent} sent, {outcome.acknowledged} acknowledged; faults:")
    print("\n".join(outcome.faults))
    assert outcome.faults, "no fault was injected"
    assert outcome.acknowledged > 0, "no message got through"
    problems = [p for p in outcome.problems if not (known_disorder and UNFINISHED in p)]
    assert not problems, f"seed {outcome.seed}:\n" + "\n".join(problems[:40]) + "\n" + outcome.logs
    if outcome.problems:
        pytest.xfail(f"{KNOWN_CLUSTER_DISORDER}: " + "; ".join(outcome.problems[:3]))


@pytest.mark.timeout_seconds(SECONDS + 150)
@pytest.mark.parametrize("seed", seeds("1"))
def test_cluster_under_kills_and_pauses_loses_and_repeats_nothing(tmp_path, seed):
    require_redis_server()
    check(run_chaos(tmp_path, seed, cluster=True, seconds=SECONDS), known_disorder=True)


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

"""Loop turns a direct message waits for in memory mode (issue 9: the delivered p99).

The memory store answers at the start of the next loop turn (its contract, base.py); the
frames its answers make (``accepted``, ``dm``, ``delivered``) used to wait in the write
batcher until the turn after, behind every read of the turn in between. They go out with
the answers now. Real sessions, relay and memory store on a real event loop, fake
transports (bench/inprocess.py's driver); each ``asyncio.sleep(0)`` is one loop turn.
"""

from __future__ import annotations

import asyncio

from bench.inprocess import FakeTransport, in_process_relay, logged_in_clients
from server.background import ServerThread
from server.config import ServerConfig


def _frames(transport: FakeTransport) -> list[bytes]:
    frames = b"".join(transport.written).split(b"\n")[:-1]
    transport.written.clear()
    return frames


def test_a_message_and_its_acks_are_written_one_loop_turn_after_each_read():
    async def run() -> list[tuple[str, list[bytes], list[bytes]]]:
        relay, batcher = in_process_relay(asyncio.get_running_loop())
        (alice, to_alice), (bob, to_bob) = await logged_in_clients(relay, batcher, 2, batch_acks=False)
        _frames(to_alice), _frames(to_bob)
        seen = []
        alice.data_received(b'{"type":"send","id":"s1","to":"user1","text":"hi"}\n')
        await asyncio.sleep(0)  # one turn: the store's answer, and the writes it made
        seen.append(("send", _frames(to_alice), _frames(to_bob)))
        msg_id = int(seen[0][2][0].split(b'"msg_id":')[1].split(b",")[0]) if seen[0][2] else 0
        bob.data_received(b'{"type":"receipt","msg_id":%d}\n' % msg_id)
        await asyncio.sleep(0)
        seen.append(("receipt", _frames(to_alice), _frames(to_bob)))
        return seen

    (_, accepted, dm), (_, delivered, nothing) = asyncio.run(run())
    assert [f[:20] for f in accepted] == [b'{"type":"accepted","'], accepted
    assert [f[:20] for f in dm] == [b'{"type":"dm","msg_id'], dm
    assert [f[:21] for f in delivered] == [b'{"type":"delivered","'], delivered
    assert nothing == []


def test_the_memory_server_flushes_its_writes_after_the_store_s_answers():
    # server/app.py wires the batcher to the memory store as the driver above does; the
    # durable store has no such hook and keeps its own turn (its answers follow commits).
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        hook = server.call(lambda: server.server.store.after_answers)
        assert hook is not None and hook.__name__ == "flush_all"

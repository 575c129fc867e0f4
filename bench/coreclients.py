"""The benchmark's client-core phase: real :class:`client.aio.AioChatClient` clients.

The throughput and latency phases of bench/benchmark.py drive the servers with a raw
generator (``BenchClient``: the protocol ``Connection`` and a few lines of the core's
rules), because a whole client core per simulated user would measure the generator, not
the server. This phase is the other half of the picture: a few dozen clients that ARE the
project's client (the asyncio shell over the same sans-I/O ``ClientCore`` as the terminal
client and the window: request matching, trackers, receipts after hand-off, outcome acks,
heartbeats) offer a low, fixed rate of direct messages, open loop, and the phase reports
the latency from ``send_direct`` to the tracker's ``delivered`` as such a client sees it
(the generator's CPU share is printed beside it: near 100%, the latency is the client's). Any message that does not end
``delivered`` is an error, so a regression in the core (or between the core and the
server) fails the benchmark's smoke run.

Called from bench/benchmark.py's ``run`` for each chat server kind (not the relay, which
speaks only the frames the raw generator sends)::

    errors += await coreclients.measure(kind, args, pinning)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from client.aio import AioChatClient
from client.outgoing import DELIVERED
from client.resume import ResumeTokens

# Clients and offered messages per second of the phase (``--client-core``, ``--core-rate``).
CORE_CLIENTS = 50
CORE_RATE = 200
# Logins in flight at once, and how long the phase waits for the last messages to end.
CONNECT_AT_ONCE = 50
DRAIN_SECONDS = 30.0
LOGIN_TIMEOUT = 30.0


@dataclass(frozen=True)
class CoreFigures:
    """What one client-core phase measured against one server."""

    clients: int
    login_seconds: float
    sent: int
    latencies: list[float]  # send_direct -> delivered, seconds, of the messages delivered
    errors: list[str]
    generator_share: float  # this process's CPU over the phase, share of one core

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def core_phase(port: int, clients: int, rate: int, seconds: float, prefix: str = "core") -> CoreFigures:
    """Log ``clients`` asyncio clients in to 127.0.0.1:``port``, offer ``rate`` direct
    messages per second in total for ``seconds`` (random sender, random other recipient),
    wait (bounded) until each ended, close them all."""
    tokens = ResumeTokens(None)  # guests' tokens in memory: nothing written to the home directory
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    made = [AioChatClient(f"{prefix}{i}", "127.0.0.1", port, resume_tokens=tokens, reconnect=False,
                          on_event=lambda event: None)
            for i in range(max(2, clients))]

    async def log_in(client: AioChatClient) -> None:
        async with gate:
            await client.connect(LOGIN_TIMEOUT)

    started = time.perf_counter()
    await asyncio.gather(*(log_in(client) for client in made))
    login_seconds = time.perf_counter() - started
    latencies: list[float] = []
    errors: list[str] = []
    ends: list[asyncio.Future[Any]] = []

    def ended(sent_at: float, sender: str, message: Any, done: asyncio.Future[str]) -> None:
        if done.result() == DELIVERED:
            latencies.append(time.perf_counter() - sent_at)
        else:
            errors.append(f"{sender}: message to {message.to} ended {done.result()}: {message.error}")

    try:
        cpu = time.process_time()
        sent = 0
        started = time.perf_counter()
        while (now := time.perf_counter()) - started < seconds:
            for _ in range(int((now - started) * rate) - sent):
                sender, recipient = random.sample(made, 2)
                message, done = sender.send_direct(recipient.name, f"core benchmark message {sent}")
                done.add_done_callback(lambda d, t=now, s=sender.name, m=message: ended(t, s, m, d))
                ends.append(done)
                sent += 1
            await asyncio.sleep(0.001)
        if ends:
            _finished, unfinished = await asyncio.wait(ends, timeout=DRAIN_SECONDS)
            if unfinished:
                errors.append(f"{len(unfinished)} of {sent} messages not ended within {DRAIN_SECONDS:g} s")
        generator_share = (time.process_time() - cpu) / max(1e-9, time.perf_counter() - started)
    finally:
        await asyncio.gather(*(client.close() for client in made))
    return CoreFigures(len(made), login_seconds, sent, latencies, errors, generator_share)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def report(label: str, rate: int, seconds: float, figures: CoreFigures) -> None:
    """Print the phase's figures (one heading line, one line of figures)."""
    print(f"client core, {label}: {figures.clients} client.aio clients (logged in in {figures.login_seconds:.2f} s), "
          f"{figures.sent} direct messages at an offered {rate:,}/s for {seconds:g} s")
    lat = figures.latencies
    print(f"  send_direct to delivered through the core: p50 {ms(figures.percentile(0.5))}; "
          f"p99 {ms(figures.percentile(0.99))}; max {ms(max(lat, default=float('nan')))}; "
          f"mean {ms(statistics.fmean(lat) if lat else float('nan'))}; "
          f"the generator used {figures.generator_share:.0%} of a core")


async def measure(kind: Any, args: argparse.Namespace, pinning: Any) -> list[str]:
    """The client-core phase against a fresh server of ``kind`` (a benchmark ServerKind);
    returns the errors (empty when every message ended delivered)."""
    with tempfile.TemporaryDirectory(prefix="chat-bench-core-") as data_dir:
        server = kind.launch(data_dir, pinning.server)
        try:
            print(f"\n== client core, server {kind.title}")
            figures = await core_phase(server.port, args.client_core, args.core_rate, args.seconds)
        finally:
            server.stop()
    report(kind.label, args.core_rate, args.seconds, figures)
    return [f"client core, {kind.label}: {error}" for error in figures.errors]

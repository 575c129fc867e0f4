"""The room workload (issue 13): one named room of many members, posts delivered to all.

    python3 -m bench.rooms [--members 1000] [--posts 500] [--window 8] [--durable]
    python3 -m bench.benchmark --rooms [--quick | --smoke]      # the same, from the benchmark

Starts ``chatserver.py`` (``--memory``, or ``--data`` with ``--durable``) on a free loopback
port, logs in ``--members`` clients at protocol version 2 (at most 200 handshakes at once,
as the benchmark does), has each join ``#bench``, and then one of them posts ``--posts``
messages to the room, keeping ``--window`` posts unanswered at most (a pipelining client).
It reports:

- **posts per second delivered to all**: posts divided by the seconds from the first post
  to the moment the last member had every post;
- **latency to the last member**, p50 and p99: for each post, from its sending to the
  moment the last of the members received it;
- room frames delivered per second (posts x members), the server's CPU time per post, and
  the share of a core the server and the load generator used (which one limits the rate).

Members read frames as bytes and only look for the post's number (``"text":"p<n>"``):
decoding 1,000 copies of every frame with the protocol core would measure the generator,
not the server. Every member must get every post, once and in order, else the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import sys
import tempfile
import time

from bench.benchmark import ServerProcess, chat_command, ms, percentile, plan_pinning
from protocol import Accepted, Connection, ErrorReply, Hello, JoinRoom, RoomInfo, Role, SendToRoom, Welcome

ROOM = "#bench"
_POST = re.compile(rb'"text":"p(\d+)"')


class Member(asyncio.Protocol):
    """A member: logs in, joins, then counts the room's posts by their number."""

    def __init__(self, name: str, run: RoomRun) -> None:
        self.name, self.run = name, run
        self.conn = Connection(Role.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.ready = asyncio.get_running_loop().create_future()
        self.joined = False
        self.expected = 0  # the number of the next post, to check order and once
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.conn.send(Hello("hello", self.name, 2)))

    def data_received(self, data: bytes) -> None:
        if not self.joined:  # the handshake and the join, through the protocol core
            self.conn.receive_data(data)
            for event in self.conn.events():
                if type(event) is Welcome:
                    self.transport.write(self.conn.send(JoinRoom("j", ROOM)))
                elif type(event) is RoomInfo:
                    self.joined = True
                    self.ready.set_result(None)
                elif type(event) is ErrorReply and not self.ready.done():
                    self.ready.set_exception(RuntimeError(f"{self.name}: {event.code} {event.message}"))
            pending = self.conn.data_to_send()
            if pending:
                self.transport.write(pending)
            return
        self.buffer += data
        lines = self.buffer.split(b"\n")
        self.buffer = lines.pop()
        now = time.perf_counter()
        for line in lines:
            if line.startswith(b'{"type":"ping"'):
                self.transport.write(line.replace(b'"ping"', b'"pong"', 1) + b"\n")
                continue
            match = _POST.search(line)
            if match is None or b'"type":"room"' not in line:
                continue
            number = int(match.group(1))
            if number != self.expected:
                self.run.errors.append(f"{self.name}: post {number} where {self.expected} was due")
            self.expected = number + 1
            self.run.received(number, now)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"{self.name}: connection lost"))
        elif self.expected < self.run.posts:
            self.run.errors.append(f"{self.name}: connection lost after {self.expected} posts")


class Poster(asyncio.Protocol):
    """The member who posts: ``window`` posts unanswered at most."""

    def __init__(self, run: RoomRun) -> None:
        self.run = run
        self.conn = Connection(Role.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.ready = asyncio.get_running_loop().create_future()
        self.next = 0
        self.unanswered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.conn.send(Hello("hello", "poster", 2)))

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        for event in self.conn.events():
            kind = type(event)
            if kind is Welcome:
                self.transport.write(self.conn.send(JoinRoom("j", ROOM, create=True)))
            elif kind is RoomInfo:
                self.ready.set_result(None)
            elif kind is Accepted:
                self.unanswered -= 1
                self.fill()
            elif kind is ErrorReply:
                self.run.errors.append(f"poster: {event.code} {event.message}")
        pending = self.conn.data_to_send()
        if pending:
            self.transport.write(pending)

    def fill(self) -> None:
        run = self.run
        while self.next < run.posts and self.unanswered < run.window:
            run.sent_at.append(time.perf_counter())
            self.transport.write(self.conn.send(SendToRoom(f"r{self.next}", ROOM, f"p{self.next}")))
            self.next += 1
            self.unanswered += 1


class RoomRun:
    """One run's counts: for each post, how many members have it, and when the last did."""

    def __init__(self, members: int, posts: int, window: int) -> None:
        self.members, self.posts, self.window = members, posts, window
        self.sent_at: list[float] = []
        self.have = [0] * posts
        self.last_at = [0.0] * posts
        self.complete = 0
        self.errors: list[str] = []
        self.done: asyncio.Future | None = None

    def received(self, number: int, now: float) -> None:
        if number >= self.posts:
            return
        self.have[number] += 1
        if self.have[number] == self.members + 1:  # every member, the poster's own session included
            self.last_at[number] = now
            self.complete += 1
            if self.complete == self.posts and not self.done.done():
                self.done.set_result(None)


async def measure(args: argparse.Namespace, port: int, server: ServerProcess) -> int:
    loop = asyncio.get_running_loop()
    run = RoomRun(args.members, args.posts, args.window)
    run.done = loop.create_future()
    poster = Poster(run)
    await loop.create_connection(lambda: poster, "127.0.0.1", port)
    await asyncio.wait_for(poster.ready, 30)
    gate = asyncio.Semaphore(200)
    members: list[Member] = []

    async def one(i: int) -> None:
        async with gate:
            member = Member(f"m{i}", run)
            await loop.create_connection(lambda: member, "127.0.0.1", port)
            await asyncio.wait_for(member.ready, 60)
            members.append(member)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(args.members)))
    print(f"{args.members:,} members logged in and joined {ROOM} in {time.perf_counter() - started:.1f} s")
    # The poster is a member too: its own posts come back to it (the sender's sessions
    # get a room's messages), counted from its bytes as the members' are.
    poster_copies = _PosterCopies(run)
    cpu_before, mine_before = server.cpu_seconds(), time.process_time()
    first = time.perf_counter()
    original = poster.data_received

    def poster_received(data: bytes) -> None:
        poster_copies.feed(data)
        original(data)

    poster.data_received = poster_received  # type: ignore[method-assign]
    poster.fill()
    try:
        await asyncio.wait_for(run.done, args.timeout)
    except asyncio.TimeoutError:
        run.errors.append(f"only {run.complete} of {run.posts} posts reached every member within {args.timeout} s")
    finished = time.perf_counter()
    cpu, mine = server.cpu_seconds() - cpu_before, time.process_time() - mine_before
    for member in members:
        member.transport.close()
    poster.transport.close()
    if run.errors:
        print("problems:")
        for line in run.errors[:10]:
            print("  " + line)
        return 1
    latencies = [last - sent for sent, last in zip(run.sent_at, run.last_at)]
    seconds = finished - first
    print(f"one room of {args.members:,} members, {args.posts:,} posts (window {args.window}), "
          f"{'durable' if args.durable else 'in memory'}:")
    print(f"  {args.posts / seconds:,.0f} posts/s delivered to all ({args.posts * (args.members + 1) / seconds:,.0f} "
          f"room frames/s)")
    print(f"  latency to the last member p50 {ms(percentile(latencies, 0.5))}, "
          f"p99 {ms(percentile(latencies, 0.99))}, max {ms(max(latencies))}")
    print(f"  server CPU {cpu * 1e6 / args.posts:,.0f} µs per post ({cpu * 1e6 / (args.posts * (args.members + 1)):.1f} "
          f"µs per member reached), {cpu / seconds:.0%} of a core; "
          f"load generator {mine / seconds:.0%} of its core")
    return 0


class _PosterCopies:
    """The poster's own copies of its posts (a sender's sessions get the room's messages)."""

    def __init__(self, run: RoomRun) -> None:
        self.run, self.buffer = run, b""

    def feed(self, data: bytes) -> None:
        self.buffer += data
        lines = self.buffer.split(b"\n")
        self.buffer = lines.pop()
        now = time.perf_counter()
        for line in lines:
            match = _POST.search(line)
            if match is not None and b'"type":"room"' in line:
                self.run.received(int(match.group(1)), now)


async def run(args: argparse.Namespace) -> int:
    pinning = plan_pinning(args.pin)
    print(f"room benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {pinning.note}")
    with tempfile.TemporaryDirectory(prefix="bench-rooms-") as data_dir:
        server = ServerProcess("chat server", chat_command(args.durable)(data_dir), pinning.server)
        try:
            return await measure(args, server.port, server)
        finally:
            server.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--members", type=int, default=1000, help="members of the room")
    parser.add_argument("--posts", type=int, default=500, help="posts to the room")
    parser.add_argument("--window", type=int, default=8, help="posts the poster keeps unanswered at most")
    parser.add_argument("--durable", action="store_true", help="a durable server (--data) instead of --memory")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for every post to reach everyone")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.rooms", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin server and generator")
    parser.add_argument("--quick", action="store_true", help="200 members, 200 posts")
    parser.add_argument("--smoke", action="store_true", help="tiny: 20 members, 30 posts (a few seconds)")
    args = parser.parse_args(argv)
    return main_with(args)


def main_with(args: argparse.Namespace) -> int:
    """Run with ``args`` (also bench.benchmark's ``--rooms``): ``quick`` and ``smoke`` shrink it."""
    if getattr(args, "quick", False):
        args.members, args.posts = 200, 200
    if getattr(args, "smoke", False):
        args.members, args.posts, args.timeout = 20, 30, 60.0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.members + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.members + 100), hard))
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

"""server/background.py's ServerThread, which tests and benchmarks run servers in: its
loop ends as asyncio.run's does, with no task left pending."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest
from redisserver import RedisServer

from server import ServerThread
from server.app import ChatServer
from server.config import ServerConfig


def test_a_stopped_server_thread_leaves_no_task_pending(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    # The store's Redis client closes in a task of its own, and the sweeper is cancelled:
    # a loop closed under them left them pending, and Python said "Task was destroyed but
    # it is pending!" when it collected them (after most cluster tests, on 3.13).
    caplog.set_level(logging.ERROR, logger="asyncio")
    with RedisServer(tmp_path / "redis") as redis:
        with ServerThread(ServerConfig(host="127.0.0.1", port=0, cluster_url=redis.url)):
            pass
    gc.collect()
    assert "Task was destroyed" not in caplog.text


def test_a_cluster_node_that_stopped_has_closed_its_connection_to_redis(tmp_path) -> None:
    # ChatServer.stop returns once the store's Redis client has closed, not with its close
    # still a task of the loop (which a harness closing its loop by hand then destroyed).
    async def start_and_stop(url: str) -> list[asyncio.Task]:
        server = ChatServer(ServerConfig(host="127.0.0.1", port=0, cluster_url=url))
        await server.start()
        await server.stop()
        return [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]

    with RedisServer(tmp_path / "redis") as redis:
        assert asyncio.run(start_and_stop(redis.url)) == []  # (bounded: conftest's time limit)

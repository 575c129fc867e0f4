"""server/background.py's ServerThread, which tests and benchmarks run servers in: its
loop ends as asyncio.run's does, with no task left pending."""

from __future__ import annotations

import gc
import logging

import pytest
from redisserver import RedisServer

from server import ServerThread
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

"""Run a ChatServer on its own event loop in a background thread (tests, benchmarks).

    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        connect_to(server.host, server.port)

``__enter__`` returns once the server listens (or raises what start() raised);
``__exit__`` stops it as a real shutdown would and joins the thread.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from .app import ChatServer
from .config import ServerConfig


class ServerThread:
    def __init__(self, config: ServerConfig | None = None) -> None:
        self.server = ChatServer(config or ServerConfig(host="127.0.0.1", port=0))
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="chat-server", daemon=True)

    @property
    def host(self) -> str:
        return self.server.address[0]

    @property
    def port(self) -> int:
        return self.server.address[1]

    def call(self, func, *args):
        """Run ``func(*args)`` on the server's loop and return its result (thread-safe)."""
        async def run():
            return func(*args)
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=10)

    def run(self, coro, timeout: float = 10):
        """Run coroutine ``coro`` on the server's loop and return its result (thread-safe)."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=timeout)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise TimeoutError("the server did not start within 10 s")
        if self._failure is not None:
            raise self._failure
        return self

    def stop(self) -> None:
        """Shut the server down (goodbye to clients) and wait for the thread to end."""
        if self._thread.is_alive() and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(timeout=10)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            close_loop(self._loop)

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        try:
            await self.server.start()
        except BaseException as exc:
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()
        await self.server.stop()


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Close ``loop`` (not running) as ``asyncio.run`` ends its own: the tasks still there
    (a store's client closing, a cancelled sweeper) are cancelled and run to their end
    first; a task left pending is collected later with "Task was destroyed but it is
    pending!"."""
    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:  # (an empty gather would belong to the calling thread's loop)
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()

"""Lua scripts run by hash, loaded on demand: ``EVALSHA``, and ``EVAL`` on ``NOSCRIPT``.

Use it like this::

    claim = Script("return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2])")
    reply = await claim(client, keys=["lock"], args=["node-1", 30])

Redis caches scripts by their SHA-1, but forgets them on restart, on ``SCRIPT FLUSH`` and
on a fail-over to a replica that never saw them. So a call sends only the hash; when the
server answers ``NOSCRIPT`` the same call is sent again with the source (``EVAL``, which
also caches it for the next time). Every other reply, errors included, is returned as is.
The two are answered within the call's one timeout: the ``EVAL`` gets what the ``EVALSHA``
left of it (a Redis slow to say ``NOSCRIPT`` does not give a call twice its timeout).

Sent again, such a call comes after the calls issued meanwhile, which ran if another client
loaded the script just then: calls whose order matters go by :meth:`Script.in_order`
(``EVAL`` each time: never answered ``NOSCRIPT``, so never sent again; Redis hashes the
source each call, under a microsecond for a few KB).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .aio import RedisTimeout
from .protocol import CommandHead, RedisError

if TYPE_CHECKING:
    from .aio import RedisClient


class Script:
    """One Lua script: its source and the SHA-1 Redis knows it by."""

    __slots__ = ("source", "sha1")

    def __init__(self, source: str | bytes) -> None:
        self.source = source.encode() if isinstance(source, str) else bytes(source)
        self.sha1 = hashlib.sha1(self.source).hexdigest()

    async def __call__(self, client: RedisClient, keys: Sequence[Any] = (),
                       args: Sequence[Any] = (), timeout: float | None = None) -> Any:
        """Run the script on ``client``; its reply, or the :class:`RedisError` it caused,
        within ``timeout`` seconds (by default the client's) in all.

        Raises what :meth:`RedisClient.execute` raises (connection lost, timeout), and
        :class:`RedisTimeout` (not sent) if nothing of the timeout is left for the ``EVAL``.
        """
        timeout = client.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        reply = await client.execute("EVALSHA", self.sha1, len(keys), *keys, *args, timeout=timeout)
        if isinstance(reply, RedisError) and reply.code == "NOSCRIPT":
            left = deadline - loop.time()
            if left <= 0:
                raise RedisTimeout(f"the script's timeout ({timeout:g} s) passed before Redis said it had forgotten "
                                   "the script; it was not sent again", sent=False)
            reply = await client.execute("EVAL", self.source, len(keys), *keys, *args, timeout=left)
        return reply

    def eval_command(self, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> tuple:
        """The ``EVAL`` command of a call (for a pipeline of calls in order: :meth:`in_order`)."""
        return ("EVAL", self.source, len(keys), *keys, *args)

    def eval_head(self, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> CommandHead:
        """:meth:`eval_command`'s ``keys`` and first ``args``, encoded once, for a call made
        again and again in order with the same ones: ``head.encode(rest)`` is the
        ``eval_command`` of ``args`` followed by ``rest``."""
        return CommandHead(self.eval_command(keys, args))

    async def in_order(self, client: RedisClient, keys: Sequence[Any] = (),
                       args: Sequence[Any] = (), timeout: float | None = None) -> Any:
        """:meth:`__call__`, but run after every call issued before it on ``client`` and
        before every one issued after it, also when the server forgot the script: as
        ``EVAL``, never answered ``NOSCRIPT``, never sent again (the module docstring)."""
        return await client.execute(*self.eval_command(keys, args), timeout=timeout)

"""A Redis client in the project's sans-I/O style: ``resp.protocol`` is the core (bytes in,
replies out, no I/O), ``resp.aio`` the asyncio shell, ``resp.script`` Lua scripts by hash.
docs/resp.md states the contract.
"""

from .aio import RedisAddress, RedisClient, RedisConnectionError, RedisTimeout, backoff, may_have_run, parse_url
from .protocol import NEED_DATA, Connection, ProtocolError, RedisError, encode_command
from .script import Script

__all__ = [
    "NEED_DATA", "Connection", "ProtocolError", "RedisAddress", "RedisClient",
    "RedisConnectionError", "RedisError", "RedisTimeout", "Script", "backoff", "encode_command",
    "may_have_run", "parse_url",
]

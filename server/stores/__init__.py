"""The stores behind the relay: one interface (``base``), two implementations.

- ``base``: :class:`MessageStore`, every operation the relay needs, and its contract.
- ``sqlite``: :class:`SQLiteStore`, durable (``--data``): SQLite with group commit.
- ``memory``: :class:`MemoryStore` (``--memory``): Python structures, nothing on disk.
- ``redis``: :class:`RedisStore` (``--cluster redis://...``): Redis, one Lua script per
  operation, shared by the nodes of a cluster (issue 10).
"""

from .base import MessageStore, StoreUnavailable
from .memory import MemoryStore
from .redis import RedisStore
from .sqlite import SQLiteStore

__all__ = ["MemoryStore", "MessageStore", "RedisStore", "SQLiteStore", "StoreUnavailable"]

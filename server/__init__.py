"""The chat server: an asyncio shell (app, session) around the relay and the registry.

- ``config``: the server's settings, defaulting to const.py.
- ``relay``: what happens to each event a client sends (routing, acks, presence); no I/O.
- ``session``: one client connection, an asyncio Protocol over the sans-I/O core.
- ``stores``: the store interface and its stores (SQLite on disk; in memory for ``--memory``).
- ``app``: listening, heartbeats, shutdown.
- ``background``: run a server in a thread, for tests and benchmarks.
- ``console``: ``/quit`` typed at the server's terminal.
"""

from .app import ChatServer
from .background import ServerThread
from .config import ServerConfig

__all__ = ["ChatServer", "ServerConfig", "ServerThread"]

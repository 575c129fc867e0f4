"""Cluster mode (``--cluster``, issue 10): what makes several nodes one chat over Redis.

- ``node``: :class:`~server.cluster.node.ClusterNode`, the relay's peers in a cluster
  (server/peers.py): identity and heartbeat, name claims, routing, the two stream readers.
- ``scripts``: the Lua scripts, one per atomic step, and the keys they use.
- ``bus``: the entries nodes exchange through the streams (sans-I/O encoding).
- ``directory``: who is online in the cluster, from the events stream (sans-I/O).
- ``sayorder``: a say's ``accepted`` before its ``room`` frame on its node (sans-I/O).

docs/cluster.md, "Nodes", describes the whole; the store half is server/stores/redis.py.
"""

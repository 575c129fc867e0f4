"""The lines the server logs as it starts, read by someone who just typed
``python3 chatserver.py``: each says what it means in plain words, and what to do if
anything, without the project's own jargon."""

import chatserver
import overrides
from server.app import capacity_line, connection_capacity
from server.cluster.node import version_mark_line


def test_fewer_connections_than_asked_says_why_and_what_to_do():
    line = capacity_line(connection_capacity(20000, 20000), 20000, 20000)
    assert line == (
        "accepting at most 19936 connections at once, not the 20000 asked for (MAX_CONNECTIONS): each "
        "connection is an open file, and this system lets the server have 20000 open files (ulimit -Hn), "
        "64 of them kept for its own use (database, log, listening sockets); to accept 20000, raise that limit "
        "before starting the server"), line


def test_a_new_cluster_marked_with_this_version_is_said_plainly():
    line = version_mark_line("redis://127.0.0.1:6379/0", 0, 3)
    assert line == (
        "cluster: the data in Redis at redis://127.0.0.1:6379/0 had no version mark (a new cluster, or one from "
        "before version marks): it is marked version 3 now, this node's; nodes of an earlier version will "
        "refuse to start on it"), line


def test_an_upgraded_cluster_is_said_plainly():
    line = version_mark_line("redis://127.0.0.1:6379/0", 2, 3)
    assert line == (
        "cluster: the data in Redis at redis://127.0.0.1:6379/0 was marked version 2, and no node of that version "
        "runs: it is marked version 3 now, this node's; nodes of an earlier version will refuse to start "
        "on it"), line


def test_no_settings_file_says_where_one_would_go():
    line = chatserver.settings_line(overrides.Applied(None, ()))
    assert line == (
        "settings: const.py's defaults; to change some, write them in const_local.py beside const.py "
        "(or in the file that the environment variable CHAT_CONST_LOCAL names)"), line


def test_a_settings_file_says_which_names_it_set():
    line = chatserver.settings_line(overrides.Applied("/srv/chat/const_local.py", ("ADMINS", "REQUIRE_ACCOUNTS")))
    assert line == "settings of /srv/chat/const_local.py applied: ADMINS, REQUIRE_ACCOUNTS", line

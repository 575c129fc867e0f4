"""What the server and the clients both use that is neither the wire protocol nor the
registry: the command words (commandwords.py: the client's commands and the server's
terminal's), the escapes that make another's text safe on a terminal (safetext.py:
the clients' screens and the server's log), and the columns a text takes on a terminal and
lines wrapped to fit them (columns.py: the client's screen, both /help lists), and the
log's counts with their plural right (plural.py). It imports nothing of either side.
"""

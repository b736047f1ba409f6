# The virtual board's ROM: every module here runs inside a virtual board's own process (the
# MicroPython unix port or the CPython raw REPL), never in the host tools. On the board this folder
# is on sys.path and its modules are top-level (`import machine`); the host imports only
# board_link from it, the constants both sides agree on.

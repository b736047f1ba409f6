# scanmail's scanner application: what turns a button press into a PDF in a mailbox and keeps it
# safe on flash until it is delivered. Rule: one concern per module, MicroPython first and unchanged
# on CPython (runtime differences stay in firmware/compat.py); hardware comes in through the board
# object, never built at import time. Unlike the mail core, modules here may use asyncio (the
# application's one loop); the mail core they call stays blocking.

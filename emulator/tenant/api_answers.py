# What an HTTP API handler may return besides (status, JSON): raw bytes with their type (a message's
# source, an attachment, the workbench's files) or a stream of server-sent events. Rule: handlers
# never write to the socket themselves; http_api.py sends what they return, and an ApiError becomes
# a JSON {"error": "<what was wrong and what to do>"} with its status.


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Raw:
    """Bytes sent as they are, with a Content-Type and extra headers."""

    def __init__(self, body, content_type, headers=None):
        self.body = body
        self.content_type = content_type
        self.headers = dict(headers or {})


class EventStream:
    """A text/event-stream answer: `events` yields (event name, JSON-able data) or None for a
    keep-alive comment, until it ends (the server stops or the client goes away)."""

    def __init__(self, events):
        self.events = events

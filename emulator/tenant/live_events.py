# Live events for the workbench: every trace record and every change made through the API (a
# message deleted, a folder emptied, a switch changed, a reset) goes to each open server-sent-events
# stream. Rule: publishing never blocks a mail session; a subscriber that falls behind by more than
# QUEUE_LIMIT events loses the oldest ones and is told to reload ("resync").
import collections
import threading

QUEUE_LIMIT = 1000
KEEPALIVE_S = 15


class Subscription:
    def __init__(self, hub):
        self._hub = hub
        self._events = collections.deque()
        self._ready = threading.Condition()
        self.closed = False
        self.overflowed = False

    def put(self, event):
        with self._ready:
            if len(self._events) >= QUEUE_LIMIT:
                self._events.popleft()
                self.overflowed = True
            self._events.append(event)
            self._ready.notify()

    def close(self):
        with self._ready:
            self.closed = True
            self._ready.notify()
        self._hub.unsubscribe(self)

    def __iter__(self):
        """(name, data) events as they come; None every KEEPALIVE_S without one; ends on close."""
        try:
            while True:
                with self._ready:
                    if not self._events and not self.closed:
                        self._ready.wait(KEEPALIVE_S)
                    if self.closed:
                        return
                    if self.overflowed:
                        self.overflowed = False
                        self._events.clear()
                        event = ("resync", {})
                    else:
                        event = self._events.popleft() if self._events else None
                yield event
        finally:
            self._hub.unsubscribe(self)


class LiveEvents:
    def __init__(self):
        self._lock = threading.Lock()
        self._subscribers = set()
        self._closed = False

    def subscribe(self):
        subscription = Subscription(self)
        with self._lock:
            if self._closed:
                subscription.close()
            else:
                self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription):
        with self._lock:
            self._subscribers.discard(subscription)

    def publish(self, name, data):
        with self._lock:
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            subscription.put((name, data))

    def close(self):
        with self._lock:
            self._closed = True
            subscribers = list(self._subscribers)
            self._subscribers.clear()
        for subscription in subscribers:
            subscription.close()

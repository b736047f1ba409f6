# The application's log: lines to the serial port (for a person watching) and into a ring on flash,
# bounded in size, that the console's `logs` command reads after a reboot. Rule: two files of at
# most `half` bytes each (`log.0`, the current one, and `log.1`, the one before); when the current
# one is full it becomes the previous one, so the flash holds at most 2 * half bytes of log and
# always the newest lines. Callers never pass a secret (the secret store gives them only to the
# mail core).
import os


class LogRing:
    def __init__(self, folder, half=8192, clock=None, echo=None):
        self.current = folder.rstrip("/") + "/log.0"
        self.previous = folder.rstrip("/") + "/log.1"
        self.half = half
        self._clock = clock
        self._echo = echo
        try:
            self._size = os.stat(self.current)[6]
        except OSError:
            self._size = 0

    def __call__(self, text):
        self.log(text)

    def log(self, text):
        """Write one line; never raises: a task logs its own failures with this, and a clock or a
        port that fails as well must not end the task (the outbox worker would stop sending)."""
        try:
            now = self._clock() if self._clock else None
        except Exception:
            now = None
        line = "%s %s\n" % (now if now is not None else "-", text.replace("\n", " "))
        if self._echo:
            try:
                self._echo(line)
            except Exception:
                pass                     # the line still goes to flash
        data = line.encode()
        if self._size + len(data) > self.half:
            try:
                os.remove(self.previous)
            except OSError:
                pass
            try:
                os.rename(self.current, self.previous)
            except OSError:
                pass
            self._size = 0
        try:
            f = open(self.current, "ab")
            try:
                f.write(data)
            finally:
                f.close()
            self._size += len(data)
        except OSError:
            pass                         # a full flash must not stop the scanner: the line is lost

    def lines(self, count=50):
        out = []
        for path in (self.previous, self.current):
            try:
                f = open(path, "rb")
            except OSError:
                continue
            try:
                for raw in f:
                    out.append(raw.decode("utf-8", "replace").rstrip("\n"))
                    if len(out) > count:
                        out.pop(0)
            finally:
                f.close()
        return out

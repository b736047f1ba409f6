# The virtual board's buttons, pressed from the host (`scanmail board press NAME scan [--hold |
# --release]`, which writes <state>/buttons.json). Rule: a press is counted, never lost between two
# polls: `pressed()` is True once for every press since the last call; `held()` is True while the
# host holds the button down (at boot: the application's safe mode).
import _vboard_host


class Button:
    def __init__(self, config, name):
        self._path = (config.get("state_dir") or "") + "/buttons.json"
        self._name = name
        self._seen = self._state().get("presses", 0)

    def _state(self):
        try:
            return (_vboard_host.read_json(self._path, {}) or {}).get(self._name, {})
        except ValueError:
            return {}

    def pressed(self):
        presses = self._state().get("presses", 0)
        if presses > self._seen:
            self._seen += 1
            return True
        return False

    def held(self):
        return bool(self._state().get("held"))

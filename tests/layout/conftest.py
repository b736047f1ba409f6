# The virtual-board fixture, shared with tests/boards.
from tests.boards.conftest import start_board  # noqa: F401

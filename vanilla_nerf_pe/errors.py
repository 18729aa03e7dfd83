"""The two ways our code ends a nerfstudio command on purpose: bad input, and a training that must stop.

Both are ``SystemExit``: they are raised under nerfstudio's own entry points (``ns-train``,
``ns-eval``, ``ns-render``), which print any other exception with its traceback, and the user
needs one line that names the file or the step and what is wrong. Library callers catch them as
``except InputError as e: str(e)``.
"""

from __future__ import annotations


class InputError(SystemExit):
    """Bad input (data or options): exit status 1 with the message, no traceback."""

    def __init__(self, message: str):
        super().__init__(f"vanilla-nerf-pe: error: {message}")


class TrainingStopped(SystemExit):
    """Training cannot usefully go on (non-finite loss, collapse to an empty scene): exit status 1."""

    def __init__(self, message: str):
        super().__init__(f"vanilla-nerf-pe: training stopped: {message}")

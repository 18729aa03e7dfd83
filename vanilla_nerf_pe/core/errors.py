"""The package's one error convention.

Every error this package raises on purpose derives from :class:`VanillaNeRFError`, a plain
``Exception`` (a library caller catches it with ``except Exception`` or by class), and carries a
message of one or two lines that names the file or the option and what is wrong:

- :class:`InputError`: bad input (a file, an image, an option, a combination of options);
  command-line tools exit with status 2 and print ``PROG: error: MESSAGE``, no traceback.
- :class:`TrainingStopped`: training cannot usefully go on (non-finite loss, collapse to an empty
  scene); exit status 1, ``PROG: training stopped: MESSAGE``.
- :class:`QualityBelowThreshold`: a result below a required quality (``vnp-eval --min-psnr``);
  exit status 1, ``PROG: below threshold: MESSAGE``.

:func:`run_cli` applies the convention in our own console scripts; under nerfstudio's tools
(``ns-train``, ``ns-eval``, ``ns-render``), whose entry points are not ours,
:func:`vanilla_nerf_pe.nerf.patches.install` applies it through ``sys.excepthook`` (installed where
nerfstudio loads our methods, never on import).
"""

from __future__ import annotations

import sys
from typing import Callable, TypeVar

T = TypeVar("T")


class VanillaNeRFError(Exception):
    """Base of this package's errors; ``exit_status`` and ``label`` say how a CLI reports it."""

    exit_status = 1
    label = "error"


class InputError(VanillaNeRFError, ValueError):
    """Bad input (data, images, options): exit status 2, one line, no traceback.

    Also a ``ValueError``, so that code that checks arguments the Python way catches it too.
    """

    exit_status = 2


class TrainingStopped(VanillaNeRFError):
    """Training stopped on purpose (the checkpoint that stands is named): exit status 1."""

    label = "training stopped"


class QualityBelowThreshold(VanillaNeRFError):
    """A result below a required quality (``vnp-eval --min-psnr``): exit status 1."""

    label = "below threshold"


def report(prog: str, error: VanillaNeRFError) -> int:
    """Print ``PROG: LABEL: MESSAGE`` on stderr and return the exit status for ``error``."""
    print(f"{prog}: {error.label}: {error}", file=sys.stderr, flush=True)
    return error.exit_status


def run_cli(prog: str, main: Callable[[], T]) -> T:
    """Run a console script's body; a :class:`VanillaNeRFError` ends it with :func:`report`'s status."""
    try:
        return main()
    except VanillaNeRFError as error:
        raise SystemExit(report(prog, error)) from None

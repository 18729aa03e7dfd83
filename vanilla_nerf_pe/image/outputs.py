"""Writing a run's output files: an OSError becomes an :class:`~vanilla_nerf_pe.core.errors.InputError`
whose one-line message names the file (a parent that is a file, no permission, a full disk)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Iterator

from vanilla_nerf_pe.core.errors import InputError


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Report an OSError while writing under ``path`` as an :class:`InputError` naming the file."""
    try:
        yield
    except OSError as exc:
        raise InputError(f"{exc.filename or path}: cannot write ({exc.strerror or exc})") from None


def write_json(obj, path: Path) -> None:
    """``obj`` as indented JSON at ``path``."""
    with writing(path):
        path.write_text(json.dumps(obj, indent=2) + "\n")


def make_output_dir(path: Path) -> None:
    """Create the directory ``path`` (and its parents); a file in its place is an :class:`InputError`."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{path}: output path exists and is not a directory")
    with writing(path):
        path.mkdir(parents=True, exist_ok=True)


__all__ = ["make_output_dir", "write_json", "writing"]

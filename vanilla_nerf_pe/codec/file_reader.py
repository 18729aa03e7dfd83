"""Reading a ``.vnpi`` file front to back, for every version of the format."""

from __future__ import annotations

import struct

from vanilla_nerf_pe.core.errors import InputError


class FileReader:
    """Reads fixed-size fields in order; running off the end is a "truncated" :class:`InputError`."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        """The values of the ``struct`` format ``fmt`` at the current position; moves past them."""
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise InputError("truncated file (the header ends early)")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

"""The lab's photographs: scikit-image's natural colour photographs that its wheel contains (no
download), and image files named on a command line.

:func:`load_photograph` reads a file, or a shipped photograph by name; the Table 1 protocol
(:mod:`~vanilla_nerf_pe.image.protocol`) and the codec's rate-distortion curves
(:mod:`vanilla_nerf_pe.codec.rd`) run on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from vanilla_nerf_pe.core.image_io import centre_crop, load_image, to_uint8

#: scikit-image's natural colour photographs shipped in its wheel (``skimage.data``, no download).
SHIPPED_PHOTOGRAPHS: Tuple[str, ...] = ("astronaut", "chelsea", "coffee")


def shipped_photographs(size: int = 256) -> Dict[str, np.ndarray]:
    """:data:`SHIPPED_PHOTOGRAPHS` as ``[size, size, 3]`` uint8 centre crops (0: uncropped)."""
    import skimage.data

    return {name: centre_crop(getattr(skimage.data, name)(), size) if size else getattr(skimage.data, name)() for name in SHIPPED_PHOTOGRAPHS}


def load_photograph(path: Path) -> np.ndarray:
    """``[H, W, C]`` uint8: the image file ``path``, or the shipped photograph of that name when no
    such file exists (``astronaut``, ``chelsea``, ``coffee``)."""
    if not path.exists() and str(path) in SHIPPED_PHOTOGRAPHS:
        return shipped_photographs(0)[str(path)]
    return to_uint8(load_image(path))


__all__ = ["SHIPPED_PHOTOGRAPHS", "load_photograph", "shipped_photographs"]

"""Which images nerfstudio's loader reads correctly: the check that the Blender and LLFF parsers run
on every image header before nerfstudio loads it (see :mod:`vanilla_nerf_pe.nerf.data`).

No nerfstudio import here: the ``llff-data`` dataparser uses it, and nerfstudio imports dataparsers
while it builds its datamanager module.
"""

from __future__ import annotations

from pathlib import Path

from vanilla_nerf_pe.core.errors import InputError

# Pillow image modes that nerfstudio's InputDataset.get_numpy_image turns into a correct uint8
# (H, W, 3 or 4) array.
SUPPORTED_MODES = ("RGB", "RGBA", "L")
REFUSED_MODES = {
    "LA": "grayscale with alpha, which nerfstudio's loader cannot read (save it as RGBA)",
    "La": "grayscale with alpha, which nerfstudio's loader cannot read (save it as RGBA)",
    "I;16": "16-bit grayscale, which nerfstudio's loader would cut to 8 bits wrongly (save it as 8-bit)",
    "I;16B": "16-bit grayscale, which nerfstudio's loader would cut to 8 bits wrongly (save it as 8-bit)",
    "I;16L": "16-bit grayscale, which nerfstudio's loader would cut to 8 bits wrongly (save it as 8-bit)",
    "I": "32-bit integer grayscale, which nerfstudio's loader would cut to 8 bits wrongly (save it as 8-bit)",
    "F": "32-bit float grayscale, which nerfstudio's loader cannot read (save it as 8-bit)",
    "P": "a palette image, which nerfstudio's loader would read as palette indices (save it as RGB or RGBA)",
    "PA": "a palette image, which nerfstudio's loader would read as palette indices (save it as RGB or RGBA)",
    "1": "a 1-bit image (save it as 8-bit grayscale or RGB)",
    "CMYK": "a CMYK image (save it as RGB)",
}


def check_image(path: Path, where: str) -> tuple:
    """Open ``path``'s header; return its (width, height) or raise InputError naming ``where``."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise InputError(f"{where}: image {path} does not exist")
    try:
        with Image.open(path) as image:
            mode, size = image.mode, image.size
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{where}: image {path} cannot be read as an image ({exc})") from None
    if mode in REFUSED_MODES:
        raise InputError(f"{where}: image {path} is {REFUSED_MODES[mode]}")
    if mode not in SUPPORTED_MODES:
        raise InputError(f"{where}: image {path} has Pillow mode {mode!r}; RGB, RGBA or 8-bit grayscale are supported")
    if size[0] < 1 or size[1] < 1:
        raise InputError(f"{where}: image {path} is empty ({size[0]}x{size[1]})")
    return size



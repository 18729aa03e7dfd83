"""Tancik et al. 2020's Table 1 ("Fourier Features Let Networks Learn High Frequency Functions in
Low Dimensional Domains"), 2D images, on the generalisation protocol of
:mod:`~vanilla_nerf_pe.image.protocol`, with SIREN and the hash grid beside their four mappings.

:func:`run_table1` reproduces the protocol of their Table 1 (the authors' notebook
``Experiments/2d_image_regression.ipynb`` of github.com/tancik/fourier-feature-networks): 512x512
images, trained on ``y[::2, ::2]``, "4 layers" of 256 (their ``make_network(4, 256)``: three ReLU
layers of 256 and the output layer, here ``num_layers=3``), 2000 full-batch Adam steps, learning
rate 1e-3 (1e-2 for no mapping and the basic mapping), 256 frequencies, positional encoding
``b = 2^linspace(0, 6, 128) - 1`` per axis and Gaussian ``B ~ N(0, 10^2)`` on coordinates in [0, 1).
Two differences, both of the house conventions: coordinates are the pixel centres in [-1, 1], so
the matrices are halved (``2 pi b x01 = 2 pi (b / 2) x + pi b``: the same frequencies, each (sin,
cos) pair turned by a fixed phase that the first layer absorbs); and the network ends in a linear
layer, where theirs ends in a sigmoid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.image_io import square_resize
from vanilla_nerf_pe.core.metrics import psnr
from vanilla_nerf_pe.image.field import ImageField, ImageFieldConfig, even_pixel_mask
from vanilla_nerf_pe.image.fit import fit, render
from vanilla_nerf_pe.image.progress import ProgressFactory, eval_every, fit_callback
from vanilla_nerf_pe.image.protocol import hash_levels_for_grid

#: Tancik et al. 2020, Table 1, 2D images (DIV2K): held-out PSNR in dB of each input mapping.
TANCIK_TABLE1_DIV2K: Dict[str, float] = {"none": 19.32, "basic": 21.72, "pe": 24.95, "gaussian": 25.57}
#: The methods of :func:`run_table1`: Tancik et al.'s four mappings, then SIREN and the hash grid beside them.
TABLE1_METHODS: Tuple[str, ...] = ("none", "basic", "pe", "gaussian", "siren", "hash")


def tancik_mapping_matrix(method: str, num_frequencies: int = 256, posenc_scale: float = 6.0, sigma: float = 10.0, seed: int = 0) -> Tensor:
    """The frequency matrix ``[m, 2]`` (cycles per unit of [0, 1) coordinates) of Tancik et al.'s
    mapping ``gamma(v) = [sin(2 pi B v), cos(2 pi B v)]``:

    * basic: the identity, ``[sin 2 pi v, cos 2 pi v]`` per axis;
    * pe: ``b = 2^linspace(0, posenc_scale, m / 2) - 1`` along x, the same along y (m rows in all);
    * gaussian: ``B ~ N(0, sigma^2)``, m rows, drawn from ``seed``.
    """
    if method == "basic":
        return torch.eye(2)
    if method == "pe":
        b = 2.0 ** torch.linspace(0.0, posenc_scale, num_frequencies // 2, dtype=torch.float64) - 1.0
        along_x = torch.stack([b, torch.zeros_like(b)], dim=-1)
        return torch.cat([along_x, along_x.roll(1, dims=-1)], dim=0).float()
    if method == "gaussian":
        return torch.randn(num_frequencies, 2, generator=torch.Generator().manual_seed(seed)) * sigma
    raise InputError(f"no mapping matrix for method {method!r}")


@dataclass
class Table1Config:
    """The protocol of Tancik et al.'s Table 1 (defaults: theirs) and its two extra methods."""

    size: int = 512
    """images are resized to size x size (theirs: 512)."""
    steps: int = 2000
    """full-batch Adam steps (theirs: 2000)."""
    num_layers: int = 3
    """hidden ReLU layers (their "4 layers": three of 256 and the output layer)."""
    width: int = 256
    """units per layer."""
    lr: float = 1e-3
    """Adam learning rate of pe and gaussian (theirs: 1e-3)."""
    lr_simple: float = 1e-2
    """Adam learning rate of no mapping and the basic mapping (theirs: 1e-2)."""
    num_frequencies: int = 256
    """frequencies of pe and gaussian (theirs: 256)."""
    posenc_scale: float = 6.0
    """pe: the highest frequency is 2^posenc_scale - 1 cycles per image (theirs: 6)."""
    gaussian_sigma: float = 10.0
    """gaussian: sigma on [0, 1) coordinates (theirs: 10)."""
    siren_lr: float = 1e-4
    """SIREN's learning rate (Sitzmann et al.'s image fits: 1e-4)."""
    hash_lr: float = 1e-2
    """the hash grid's learning rate (Müller et al. 2022: 1e-2)."""
    seed: int = 0
    """seed of the initialisations and of the Gaussian matrix."""

    def check(self) -> None:
        if self.size < 4 or self.steps < 1 or self.num_layers < 1 or self.width < 1 or self.num_frequencies < 2:
            raise InputError("table1: --size must be >= 4, --steps, --num-layers, --width >= 1 and --num-frequencies >= 2")


def table1_field(method: str, config: Table1Config, channels: int, height: int, width: int) -> ImageField:
    """The field of one method of :func:`run_table1`, with its learning rate in ``.config.lr``.

    Tancik et al.'s mappings are the ``fourier`` kind with the matrix B of
    :func:`tancik_mapping_matrix`, halved for the [-1, 1] coordinates; no mapping is ``none``;
    SIREN is ``siren`` (omega_0 30); the hash grid is ``hash`` with its finest level at the training
    grid (:func:`hash_levels_for_grid`).
    """
    common = dict(num_layers=config.num_layers, width=config.width, steps=config.steps, seed=config.seed)
    if method == "none":
        field_config = ImageFieldConfig(kind="none", lr=config.lr_simple, **common)
    elif method in ("basic", "pe", "gaussian"):
        matrix = tancik_mapping_matrix(method, config.num_frequencies, config.posenc_scale, config.gaussian_sigma, config.seed) / 2.0
        lr = config.lr_simple if method == "basic" else config.lr
        field_config = ImageFieldConfig(kind="fourier", fourier_num_features=matrix.shape[0], fourier_sigma=1.0, lr=lr, **common)
    elif method == "siren":
        field_config = ImageFieldConfig(kind="siren", lr=config.siren_lr, **common)
    elif method == "hash":
        field_config = hash_levels_for_grid(ImageFieldConfig(kind="hash", lr=config.hash_lr, **common), height, width)
    else:
        raise InputError(f"table1: unknown method {method!r}; choose from {', '.join(TABLE1_METHODS)}")
    model = ImageField(field_config, channels)
    if method in ("basic", "pe", "gaussian"):
        model.network.encoding.B.copy_(matrix)
    return model


def run_table1(images: Dict[str, Tensor], config: Table1Config, methods: Sequence[str] = TABLE1_METHODS,
               device: str = "cpu", on_row: Optional[Callable[[dict], None]] = None,
               progress: Optional[ProgressFactory] = None) -> List[dict]:
    """Fit every method on every image with the protocol; one dict per fit: method, image, held-out
    PSNR (the offset pixels), full-image PSNR (the authors' notebook scores all pixels), seconds,
    parameters. ``on_row(row)`` is called as each fit ends; ``progress`` draws each fit's bar."""
    config.check()
    rows = []
    for name, image in images.items():
        H, W, C = image.shape
        mask = even_pixel_mask(H, W)
        for method in methods:
            model = table1_field(method, config, C, H, W)
            callback = fit_callback(progress, f"table1 {name} {method}", config.steps)
            result = fit(image, model.config, eval_every=eval_every(config.steps, progress), train_mask=mask, callback=callback,
                         device=device, initial_model=model)
            full = float(psnr(render(result.model, H, W).clamp(0.0, 1.0), image))
            row = {"method": method, "image": name, "psnr_held_out": result.final_psnr, "psnr_full_image": full,
                   "seconds": result.seconds, "num_parameters": result.num_parameters}
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def table1_images(sources: Mapping[str, np.ndarray], size: int) -> Dict[str, Tensor]:
    """Each ``[H, W, C]`` uint8 image of ``sources`` as the protocol takes it: its central square
    resized to ``size x size`` (Lanczos), ``[size, size, C]`` in [0, 1]."""
    return {name: square_resize(array, size) for name, array in sources.items()}


def check_methods(methods: Sequence[str]) -> None:
    """An :class:`InputError` unless ``methods`` is a non-empty selection of :data:`TABLE1_METHODS`."""
    bad = [m for m in methods if m not in TABLE1_METHODS]
    if bad or not methods:
        raise InputError(f"--methods {bad or '(none)'}: choose from {', '.join(TABLE1_METHODS)}")


def table1_markdown(rows: Sequence[dict], methods: Sequence[str], images: Sequence[str]) -> str:
    """The table of :func:`run_table1`'s ``rows`` in markdown: per method the mean held-out and
    full-image PSNR over ``images``, Tancik et al.'s DIV2K figure, parameters and seconds per image."""
    lines = [
        f"| method | held-out PSNR, mean of {len(images)} ({', '.join(images)}) | full-image PSNR | Tancik et al., DIV2K | parameters | seconds per image |",
        "|---|---|---|---|---|---|",
    ]
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        mean = lambda key: sum(r[key] for r in mine) / len(mine)  # noqa: E731
        paper = TANCIK_TABLE1_DIV2K.get(method)
        lines.append(f"| {method} | {mean('psnr_held_out'):.2f} dB | {mean('psnr_full_image'):.2f} dB | "
                     f"{f'{paper:.2f} dB' if paper is not None else ''} | {mine[0]['num_parameters']:,} | {mean('seconds'):.0f} |")
    return "\n".join(lines) + "\n"


__all__ = [
    "TABLE1_METHODS",
    "TANCIK_TABLE1_DIV2K",
    "Table1Config",
    "check_methods",
    "run_table1",
    "table1_field",
    "table1_images",
    "table1_markdown",
    "tancik_mapping_matrix",
]

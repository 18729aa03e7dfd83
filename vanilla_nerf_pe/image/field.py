"""2D image fields: a coordinate network f(x, y) = colour, its options, and its saved form.

The toy problem behind NeRF's positional encoding. A ReLU MLP fed raw coordinates learns the low
frequencies of a signal first and the high ones very slowly ("spectral bias", Rahaman et al. 2019),
so its fit of an image is blurry; mapping the coordinates through sinusoids first (NeRF's
positional encoding, Mildenhall et al. 2020; random Gaussian Fourier features, Tancik et al.
2020) or using sine activations (SIREN, Sitzmann et al. 2020) lets it reach the fine detail.

Conventions (shared by the whole lab, :mod:`~vanilla_nerf_pe.image.fit`,
:mod:`~vanilla_nerf_pe.image.analysis`, ..., and by the codec, :mod:`vanilla_nerf_pe.codec`):

* images are ``[H, W, C]`` float32 tensors in [0, 1], ``C`` = 1 (grayscale) or 3 (RGB)
  (:mod:`vanilla_nerf_pe.core.image_io` reads and writes them);
* coordinates are pixel centres in [-1, 1], ``[..., 2]`` ordered ``(x, y)``: x along the width
  (columns, left to right), y along the height (rows, top to bottom); see :func:`pixel_grid`.
  The field is continuous: :func:`~vanilla_nerf_pe.image.fit.render` samples the same square at
  any resolution;
* the networks end in a plain Linear layer, with no sigmoid for any kind, so all four are
  compared on equal terms and a standardised target (``standardize=True``) is representable.
  Predictions can leave [0, 1]; they are clamped only when turned into an image or scored.

The network is the very :class:`~vanilla_nerf_pe.core.network.CoordinateNetwork` of the 3D NeRF
fields, built from the same options (:class:`ImageFieldConfig` subclasses its config).

A fitted field is saved as a directory (:func:`save_field`, :func:`load_field`): ``config.json``
(the options, channel count and image size) and ``model.pt`` (the state dict). Directories written
before the shared network (format ``vanilla_nerf_pe.image_field``) still load: their option names
and state-dict keys are renamed on the way in (:data:`LEGACY_CONFIG_KEYS`,
:data:`LEGACY_STATE_PREFIXES`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Literal, Optional, Tuple

import torch
from torch import Tensor, nn

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.image_io import square_resize
from vanilla_nerf_pe.core.network import CoordinateNetwork, CoordinateNetworkConfig

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
#: The ``format`` of a saved field's config.json. It names the module that wrote the first of this
#: format (the lab was ``vanilla_nerf_pe.lab`` then) and stays as it is: it names a file format.
FORMAT = "vanilla_nerf_pe.lab.field"
LEGACY_FORMAT = "vanilla_nerf_pe.image_field"

#: Option names of the image field before it shared the coordinate network: old -> new.
LEGACY_CONFIG_KEYS: Dict[str, str] = {
    "representation": "kind",
    "num_frequencies": "pe_num_frequencies",
    "include_input": "pe_include_input",
    "fourier_features": "fourier_num_features",
    "omega_0": "siren_first_omega_0",
}
#: State-dict key prefixes of that older field (``encoding``, ``network`` side by side): old -> new.
LEGACY_STATE_PREFIXES: Tuple[Tuple[str, str], ...] = (("encoding.", "network.encoding."), ("network.", "network.mlp."))


# --------------------------------------------------------------------------
# Images, coordinates and masks
# --------------------------------------------------------------------------


def default_image(name: Literal["astronaut", "camera"] = "astronaut", size: int = 128) -> Tensor:
    """A standard test image bundled with scikit-image (no download), resized to ``size x size``.

    ``astronaut`` is RGB (``[size, size, 3]``), ``camera`` grayscale (``[size, size, 1]``).
    Resized with PIL's Lanczos filter.
    """
    import skimage.data

    if name not in ("astronaut", "camera"):
        raise InputError(f"unknown default image {name!r}; choose 'astronaut' or 'camera'")
    if size < 1:
        raise InputError(f"size must be >= 1, got {size}")
    return square_resize(skimage.data.astronaut() if name == "astronaut" else skimage.data.camera(), size)


def pixel_grid(H: int, W: int) -> Tensor:
    """Pixel-centre coordinates ``[H, W, 2]`` in [-1, 1]: ``out[i, j] = (x_j, y_i)``.

    ``x_j = (2 j + 1) / W - 1`` runs along the width, ``y_i = (2 i + 1) / H - 1`` along the height,
    so any resolution samples the same square ``[-1, 1]^2``.
    """
    if H < 1 or W < 1:
        raise InputError(f"pixel_grid needs H, W >= 1, got {H}x{W}")
    xs = (2.0 * torch.arange(W, dtype=torch.float32) + 1.0) / W - 1.0
    ys = (2.0 * torch.arange(H, dtype=torch.float32) + 1.0) / H - 1.0
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1)


def even_pixel_mask(H: int, W: int) -> Tensor:
    """``[H, W]`` bool, True where row and column are both even.

    Tancik et al. 2020's generalisation protocol for images: train on these pixels (a quarter of
    the image, a regular grid of half the resolution) and test on the other three quarters.
    """
    rows = torch.arange(H) % 2 == 0
    cols = torch.arange(W) % 2 == 0
    return rows[:, None] & cols[None, :]


# --------------------------------------------------------------------------
# The field
# --------------------------------------------------------------------------


@dataclass
class ImageFieldConfig(CoordinateNetworkConfig):
    """The coordinate network of a 2D image field (the NeRF fields' options) and how it is fitted."""

    lr: float = 1e-3
    """Adam learning rate."""
    lr_final: Optional[float] = None
    """the learning rate at the last step, reached by a cosine decay from lr; None: lr throughout."""
    steps: int = 2000
    """optimisation steps."""
    batch_pixels: Optional[int] = None
    """random pixels per step; None: the whole (training part of the) image each step."""
    seed: int = 0
    """seed of the initialisation and the pixel minibatches (the Fourier matrix B has its own, fourier_seed)."""
    standardize: bool = False
    """fit per-channel standardised colours (mean and std of the training pixels are stored in the model)."""
    coord_scale: float = 1.0
    """coordinates are multiplied by this before the encoding."""

    def __post_init__(self) -> None:
        # A saved config.json or a YAML file gives skip_connections as a list. No range checks here:
        # under tyro they would print its own multi-line box; check() runs when the field is built.
        self.skip_connections = tuple(self.skip_connections)

    def check(self, option_prefix: str = "--") -> None:
        """The network's checks, then the fitting options'; :class:`InputError` names the option."""
        super().check(option_prefix)
        if self.steps < 0:
            raise InputError(f"{option_prefix}steps must be >= 0, got {self.steps}")
        if self.lr_final is not None and not 0 < self.lr_final <= self.lr:
            raise InputError(f"{option_prefix}lr-final must be in (0, lr], got {self.lr_final}")
        if self.batch_pixels is not None and self.batch_pixels < 1:
            raise InputError(f"{option_prefix}batch-pixels must be >= 1 or None, got {self.batch_pixels}")


class ImageField(nn.Module):
    """f(x, y) = colour: ``CoordinateNetwork(config, in_dim=2, out_dim=channels)`` (``network``).

    ``forward(coords [..., 2]) -> [..., C]`` in image units: the network's linear output on
    ``coords * coord_scale``, times the stored per-channel ``std`` plus ``mean`` (1 and 0 unless
    :func:`~vanilla_nerf_pe.image.fit.fit` standardised the target). Weights are initialised from
    ``config.seed`` without touching the global RNG; the Fourier matrix B is drawn from
    ``config.fourier_seed``. State-dict keys: ``network.encoding.*``, ``network.mlp.*``, ``mean``,
    ``std``.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, config: ImageFieldConfig, channels: int) -> None:
        super().__init__()
        if channels < 1:
            raise InputError(f"channels must be >= 1, got {channels}")
        self.config = config
        self.channels = channels
        self.coord_scale = float(config.coord_scale)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.network = CoordinateNetwork(config, in_dim=2, out_dim=channels)
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    def forward_normalized(self, coords: Tensor) -> Tensor:
        """The network output before de-standardisation: ``[..., 2] -> [..., C]``."""
        return self.network(coords * self.coord_scale)

    def forward(self, coords: Tensor) -> Tensor:
        return self.forward_normalized(coords) * self.std + self.mean

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


# --------------------------------------------------------------------------
# Saved fields
# --------------------------------------------------------------------------


def save_field(model: ImageField, directory: Path, height: int, width: int) -> Tuple[Path, Path]:
    """Write ``model.pt`` (the state dict) and ``config.json`` (options, channels, the fitted image's
    ``height`` and ``width``) into ``directory``; returns their paths. OSError -> :class:`InputError`."""
    model_path, config_path = directory / MODEL_FILE, directory / CONFIG_FILE
    saved = {"format": FORMAT, "config": dataclasses.asdict(model.config), "channels": model.channels, "height": height, "width": width}
    try:
        directory.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), model_path)
        config_path.write_text(json.dumps(saved, indent=2) + "\n")
    except OSError as exc:
        raise InputError(f"{exc.filename or directory}: cannot write ({exc.strerror or exc})") from None
    return model_path, config_path


def upgrade_legacy(saved: dict, state: Dict[str, Tensor]) -> Tuple[dict, Dict[str, Tensor]]:
    """A ``config.json`` dict and state dict of format ``vanilla_nerf_pe.image_field`` in today's names.

    Options are renamed by :data:`LEGACY_CONFIG_KEYS`; that field drew its Fourier matrix from
    ``seed``, so ``fourier_seed`` is set to it (B itself is in the state dict either way). State keys
    are renamed by the first matching prefix of :data:`LEGACY_STATE_PREFIXES`.
    """
    config = {LEGACY_CONFIG_KEYS.get(key, key): value for key, value in saved["config"].items()}
    config.setdefault("fourier_seed", config.get("seed", 0))
    renamed = {}
    for key, value in state.items():
        for old, new in LEGACY_STATE_PREFIXES:
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        renamed[key] = value
    return dict(saved, format=FORMAT, config=config), renamed


def load_field(directory: Path) -> Tuple[ImageField, dict]:
    """Rebuild the :class:`ImageField` saved by :func:`save_field` (or by ``vnp-image fit --output``
    of any version); returns ``(model in eval mode on the CPU, the config.json dict)``.

    Raises :class:`InputError` naming ``directory`` when it is not a saved field or does not load.
    """
    config_path, model_path = directory / CONFIG_FILE, directory / MODEL_FILE
    if not config_path.is_file() or not model_path.is_file():
        raise InputError(f"{directory}: not a saved model directory (needs {CONFIG_FILE} and {MODEL_FILE})")
    try:
        saved = json.loads(config_path.read_text())
        state = torch.load(model_path, map_location="cpu", weights_only=True)
        if saved.get("format") == LEGACY_FORMAT:
            saved, state = upgrade_legacy(saved, state)
        model = ImageField(ImageFieldConfig(**saved["config"]), int(saved["channels"]))
        model.load_state_dict(state)
    except (ValueError, KeyError, TypeError, RuntimeError, OSError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{directory}: cannot load the saved model ({first})") from None
    model.eval()
    return model, saved


__all__ = [
    "CONFIG_FILE",
    "LEGACY_CONFIG_KEYS",
    "LEGACY_STATE_PREFIXES",
    "MODEL_FILE",
    "ImageField",
    "ImageFieldConfig",
    "default_image",
    "even_pixel_mask",
    "load_field",
    "pixel_grid",
    "save_field",
    "upgrade_legacy",
]

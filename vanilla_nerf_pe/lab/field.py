"""2D image fields: fit one image with a coordinate network f(x, y) = colour, compare encodings.

The toy problem behind NeRF's positional encoding. A ReLU MLP fed raw coordinates learns the low
frequencies of a signal first and the high ones very slowly ("spectral bias", Rahaman et al. 2019),
so its fit of an image is blurry; mapping the coordinates through sinusoids first (NeRF's
positional encoding, Mildenhall et al. 2020; random Gaussian Fourier features, Tancik et al.
2020) or using sine activations (SIREN, Sitzmann et al. 2020) lets it reach the fine detail.

Conventions (shared by every function here):

* images are ``[H, W, C]`` float32 tensors in [0, 1], ``C`` = 1 (grayscale) or 3 (RGB);
* coordinates are pixel centres in [-1, 1], ``[..., 2]`` ordered ``(x, y)``: x along the width
  (columns, left to right), y along the height (rows, top to bottom); see :func:`pixel_grid`.
  The field is continuous: :func:`render` samples the same square at any resolution;
* the networks end in a plain Linear layer, with no sigmoid for any representation, so all four
  are compared on equal terms and a standardised target (``standardize=True``) is representable.
  Predictions can leave [0, 1]; they are clamped only when turned into an image or scored
  (:func:`fit`'s PSNR history, :func:`to_uint8`).

The encodings and MLP are the very classes of the 3D NeRF fields
(:class:`vanilla_nerf_pe.encodings.PositionalEncoding`,
:class:`vanilla_nerf_pe.encodings.GaussianFourierFeatures`, :class:`vanilla_nerf_pe.mlp.MLP`,
:class:`vanilla_nerf_pe.mlp.Siren`).
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Literal, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

from vanilla_nerf_pe.encodings import GaussianFourierFeatures, PositionalEncoding
from vanilla_nerf_pe.metrics import psnr
from vanilla_nerf_pe.mlp import MLP, Siren

Representation = Literal["none", "pe", "fourier", "siren"]
REPRESENTATIONS: Tuple[str, ...] = ("none", "pe", "fourier", "siren")


class ImageError(ValueError):
    """An input image that cannot be used; the message is one line and names the file."""


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------


def load_image(path: Union[str, Path], alpha: Literal["composite", "drop"] = "composite") -> Tensor:
    """Read an image file into a ``[H, W, C]`` float32 tensor in [0, 1].

    * grayscale (modes ``1``, ``L``, 16-bit ``I;16``/``I``, float ``F``) stays one channel, C = 1;
    * 16-bit integer images are divided by 65535 (mode ``I`` is taken as 16-bit data and clipped);
    * images with an alpha channel (``RGBA``, ``LA``, palette with transparency) are composited
      on white (``alpha="composite"``, the default) or have the alpha channel discarded
      (``alpha="drop"``); the result has no alpha channel;
    * palette and other colour modes (``P``, ``CMYK``, ``YCbCr``, ...) are converted to RGB.

    Raises:
        ImageError: the file is missing, is not a readable image, or has no pixels.
    """
    if alpha not in ("composite", "drop"):
        raise ValueError(f"alpha must be 'composite' or 'drop', got {alpha!r}")
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if not path.is_file():
        raise ImageError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file, not an image")
    try:
        with Image.open(path) as img:
            img.load()
            array = _pil_to_array(img, alpha)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated / corrupt files
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageError(f"{path}: cannot read image ({message})") from None
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"{path}: empty image ({array.shape[1]}x{array.shape[0]} pixels)")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def _pil_to_array(img, alpha: str) -> np.ndarray:
    """PIL image -> float [H, W, C] array in [0, 1] (see :func:`load_image` for the rules)."""
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode == "1":
        img, mode = img.convert("L"), "L"
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.clip(np.asarray(img, dtype=np.float64) / 65535.0, 0.0, 1.0)[..., None]
    elif mode == "F":
        array = np.clip(np.asarray(img, dtype=np.float64), 0.0, 1.0)[..., None]
    elif mode in ("L", "LA", "RGB", "RGBA"):
        array = np.asarray(img, dtype=np.float64) / 255.0
        if array.ndim == 2:
            array = array[..., None]
        if mode in ("LA", "RGBA"):
            colour, a = array[..., :-1], array[..., -1:]
            array = colour * a + (1.0 - a) if alpha == "composite" else colour
    else:  # CMYK, YCbCr, LAB, HSV, ...
        array = np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    return array.astype(np.float32)


def default_image(name: Literal["astronaut", "camera"] = "astronaut", size: int = 128) -> Tensor:
    """A standard test image bundled with scikit-image (no download), resized to ``size x size``.

    ``astronaut`` is RGB (C = 3), ``camera`` grayscale (C = 1). Resized with PIL's Lanczos filter.
    """
    import skimage.data
    from PIL import Image

    if name not in ("astronaut", "camera"):
        raise ValueError(f"unknown default image {name!r}; choose 'astronaut' or 'camera'")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    array = skimage.data.astronaut() if name == "astronaut" else skimage.data.camera()
    img = Image.fromarray(array).resize((size, size), Image.Resampling.LANCZOS)
    out = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(out[..., None] if out.ndim == 2 else out)


def to_uint8(image: Tensor) -> np.ndarray:
    """``[H, W, C]`` float image -> ``[H, W, C]`` uint8 array, clamped to [0, 1] first."""
    return (image.detach().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).cpu().numpy()


def save_image(image: Tensor, path: Union[str, Path]) -> Path:
    """Write a ``[H, W, 1|3]`` image as an 8-bit PNG (grayscale or RGB), clamping to [0, 1]."""
    from PIL import Image

    array = to_uint8(image)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(path)
    return path


# --------------------------------------------------------------------------
# Coordinates and masks
# --------------------------------------------------------------------------


def pixel_grid(H: int, W: int) -> Tensor:
    """Pixel-centre coordinates ``[H, W, 2]`` in [-1, 1]: ``out[i, j] = (x_j, y_i)``.

    ``x_j = (2 j + 1) / W - 1`` runs along the width, ``y_i = (2 i + 1) / H - 1`` along the height,
    so any resolution samples the same square ``[-1, 1]^2``.
    """
    if H < 1 or W < 1:
        raise ValueError(f"pixel_grid needs H, W >= 1, got {H}x{W}")
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
class ImageFieldConfig:
    """Representation and optimisation of a 2D image field."""

    representation: Representation = "pe"
    """none: ReLU MLP on raw (x, y); pe: NeRF positional encoding; fourier: Gaussian Fourier features; siren: sine MLP."""
    num_frequencies: int = 10
    """pe: number of octaves L (frequencies 2^0 pi .. 2^(L-1) pi)."""
    include_input: bool = False
    """pe: also feed the raw coordinates."""
    pe_base_frequency: float = math.pi
    """pe: lowest angular frequency (pi: NeRF's sin(2^k pi x); 1: sin(2^k x), for inputs scaled to [-pi/2, pi/2])."""
    fourier_sigma: float = 10.0
    """fourier: standard deviation of the frequencies B (in cycles per unit of the [-1, 1] coordinates)."""
    fourier_features: int = 256
    """fourier: number m of random frequencies (2 m features)."""
    omega_0: float = 30.0
    """siren: frequency factor of the first sine layer (hidden layers keep 30)."""
    num_layers: int = 4
    """hidden layers of the MLP (sine layers of the SIREN)."""
    width: int = 256
    """units per hidden layer."""
    lr: float = 1e-3
    """Adam learning rate."""
    steps: int = 2000
    """optimisation steps."""
    batch_pixels: Optional[int] = None
    """random pixels per step; None: the whole (training part of the) image each step."""
    seed: int = 0
    """seed of the initialisation, the Fourier matrix B and the pixel minibatches."""
    standardize: bool = False
    """fit per-channel standardised colours (mean and std of the training pixels are stored in the model)."""
    coord_scale: float = 1.0
    """coordinates are multiplied by this before the encoding."""

    def __post_init__(self) -> None:
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"representation must be one of {REPRESENTATIONS}, got {self.representation!r}")
        if self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.batch_pixels is not None and self.batch_pixels < 1:
            raise ValueError(f"batch_pixels must be >= 1 or None, got {self.batch_pixels}")


class ImageField(nn.Module):
    """f(x, y) = colour: encoding + ReLU ``MLP``, or a ``Siren`` on the raw coordinates.

    * ``none``: ``PositionalEncoding(2, 0, include_input=True)`` (the identity) + MLP;
    * ``pe``: ``PositionalEncoding(2, num_frequencies, include_input)`` + MLP;
    * ``fourier``: ``GaussianFourierFeatures(2, fourier_features, fourier_sigma, seed)`` + MLP;
    * ``siren``: no encoding (``encoding`` is None), ``Siren(2, num_layers, width, C, omega_0)``.

    ``forward(coords [..., 2]) -> [..., C]`` in image units: the network's linear output times the
    stored per-channel ``std`` plus ``mean`` (1 and 0 unless :func:`fit` standardised the target).
    Weights are initialised from ``config.seed`` without touching the global RNG.
    """

    mean: Tensor
    std: Tensor

    def __init__(self, config: ImageFieldConfig, channels: int) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.config = config
        self.channels = channels
        self.coord_scale = float(config.coord_scale)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            rep = config.representation
            self.encoding: Optional[nn.Module]
            if rep == "siren":
                self.encoding = None
                self.network: nn.Module = Siren(2, config.num_layers, config.width, out_dim=channels, first_omega_0=config.omega_0)
            else:
                if rep == "none":
                    self.encoding = PositionalEncoding(2, 0, include_input=True)
                elif rep == "pe":
                    self.encoding = PositionalEncoding(2, config.num_frequencies, config.include_input, config.pe_base_frequency)
                else:
                    self.encoding = GaussianFourierFeatures(2, config.fourier_features, config.fourier_sigma, seed=config.seed)
                self.network = MLP(self.encoding.get_out_dim(), config.num_layers, config.width, out_dim=channels)
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    def forward_normalized(self, coords: Tensor) -> Tensor:
        """The network output before de-standardisation: ``[..., 2] -> [..., C]``."""
        x = coords * self.coord_scale
        if self.encoding is not None:
            x = self.encoding(x)
        return self.network(x)

    def forward(self, coords: Tensor) -> Tensor:
        return self.forward_normalized(coords) * self.std + self.mean

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


@dataclass
class FitResult:
    """What :func:`fit` returns. ``psnr_history``: (step, PSNR in dB on the evaluation pixels)."""

    model: ImageField
    psnr_history: List[Tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0
    num_parameters: int = 0

    @property
    def final_psnr(self) -> float:
        return self.psnr_history[-1][1] if self.psnr_history else float("nan")


def _model_device(model: nn.Module) -> torch.device:
    """The device of the module's first parameter or buffer; the CPU for a module with neither."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _predict(model: ImageField, coords: Tensor, chunk: int) -> Tensor:
    """Model output on ``coords [N, 2]`` in chunks of ``chunk`` rows, without gradients, on the CPU."""
    device = _model_device(model)
    with torch.no_grad():
        return torch.cat([model(coords[i : i + chunk].to(device)).cpu() for i in range(0, coords.shape[0], chunk)], dim=0)


def fit(
    image: Tensor,
    config: ImageFieldConfig,
    eval_every: int = 100,
    train_mask: Optional[Tensor] = None,
    callback: Optional[Callable[[int, float, Optional[float]], None]] = None,
    chunk: int = 65536,
    device: Union[str, torch.device] = "cpu",
) -> FitResult:
    """Fit an :class:`ImageField` to ``image [H, W, C]`` by MSE with Adam.

    Args:
        image: target in [0, 1].
        config: representation and optimisation settings.
        eval_every: record PSNR every this many steps (and always after the last step).
        train_mask: ``[H, W]`` bool, the pixels to train on (e.g. :func:`even_pixel_mask`); the
            PSNR history is then measured on the other pixels (generalisation), otherwise on all.
        callback: called after every step as ``callback(step, loss, psnr_or_None)``.
        chunk: the most pixels per forward pass. A full-image step accumulates the gradient over
            chunks (exactly the full-batch gradient), so memory is bounded for any image size.
        device: where to train ("cpu", "cuda", ...); the returned model stays there, and
            :func:`render` and the PSNR history work from any device (results on the CPU).

    Returns:
        a :class:`FitResult`; PSNR is computed on predictions clamped to [0, 1].
    """
    if image.ndim != 3:
        raise ValueError(f"image must be [H, W, C], got shape {tuple(image.shape)}")
    H, W, C = image.shape
    target = image.reshape(-1, C).float()
    coords = pixel_grid(H, W).reshape(-1, 2)
    if train_mask is not None:
        if train_mask.shape != (H, W):
            raise ValueError(f"train_mask must be [{H}, {W}], got {tuple(train_mask.shape)}")
        flat = train_mask.reshape(-1).bool()
        train_idx, eval_idx = flat.nonzero().squeeze(-1), (~flat).nonzero().squeeze(-1)
        if train_idx.numel() == 0 or eval_idx.numel() == 0:
            raise ValueError("train_mask must select some, but not all, pixels")
    else:
        train_idx = eval_idx = torch.arange(H * W)

    device = torch.device(device)
    model = ImageField(config, C).to(device)
    train_target = target[train_idx].to(device)
    if config.standardize:
        model.mean.copy_(train_target.mean(dim=0))
        model.std.copy_(train_target.std(dim=0, unbiased=False).clamp_min(1e-3))
    train_coords = coords[train_idx].to(device)
    train_norm = (train_target - model.mean) / model.std
    eval_coords, eval_target = coords[eval_idx], target[eval_idx]

    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed)
    n_train = train_idx.numel()
    history: List[Tuple[int, float]] = []
    start = time.perf_counter()
    for step in range(1, config.steps + 1):
        optimizer.zero_grad(set_to_none=True)
        if config.batch_pixels is None:
            loss_value = 0.0
            for i in range(0, n_train, chunk):
                pred = model.forward_normalized(train_coords[i : i + chunk])
                loss = ((pred - train_norm[i : i + chunk]) ** 2).sum() / (n_train * C)
                loss.backward()
                loss_value += float(loss.detach())
        else:
            pick = torch.randint(0, n_train, (config.batch_pixels,), generator=generator).to(device)
            loss = torch.mean((model.forward_normalized(train_coords[pick]) - train_norm[pick]) ** 2)
            loss.backward()
            loss_value = float(loss.detach())
        optimizer.step()
        score: Optional[float] = None
        if step % max(eval_every, 1) == 0 or step == config.steps:
            score = float(psnr(_predict(model, eval_coords, chunk).clamp(0.0, 1.0), eval_target))
            history.append((step, score))
        if callback is not None:
            callback(step, loss_value, score)
    if config.steps == 0:
        history.append((0, float(psnr(_predict(model, eval_coords, chunk).clamp(0.0, 1.0), eval_target))))
    seconds = time.perf_counter() - start
    model.eval()
    return FitResult(model=model, psnr_history=history, seconds=seconds, num_parameters=model.num_parameters())


def render(model: ImageField, H: int, W: int, chunk: int = 65536) -> Tensor:
    """Sample the field on the pixel centres of an ``H x W`` grid: ``[H, W, C]``, not clamped."""
    coords = pixel_grid(H, W).reshape(-1, 2)
    return _predict(model, coords, chunk).reshape(H, W, -1)


def gradient_and_laplacian(model: nn.Module, H: int, W: int, chunk: int = 16384) -> Tuple[Tensor, Tensor]:
    """Gradient norm and Laplacian of a fitted field on the ``H x W`` pixel grid, by autograd.

    The quantities of SIREN's figure 1 (Sitzmann et al. 2020, "Implicit Neural Representations
    with Periodic Activation Functions"): for the grayscale value ``g(x, y) = mean_c f_c(x, y)``
    of the field ``f = model``,

    * ``grad_norm[i, j] = |grad_xy g| = sqrt(g_x^2 + g_y^2)``,
    * ``laplacian[i, j] = g_xx + g_yy``,

    at the pixel centres ``pixel_grid(H, W)[i, j] = (x_j, y_i)``. Derivatives are taken with
    respect to the [-1, 1] coordinates of :func:`pixel_grid` (so one pixel is ``2 / W`` wide).
    Works for any module mapping ``coords [..., 2] -> [..., C]``: for the ReLU networks
    (``none``, ``pe``, ``fourier``) the second derivatives of the piecewise-linear part vanish
    almost everywhere, so ``none`` has a Laplacian of (numerically) zero.

    Args:
        model: an :class:`ImageField` or any module with the same call signature.
        H, W: grid size.
        chunk: the most pixels differentiated at once (bounds memory; the result does not depend on it).

    Returns:
        ``(grad_norm [H, W], laplacian [H, W])``, float32, detached; the model's parameter
        gradients (``.grad``) are left untouched.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    device = _model_device(model)
    coords = pixel_grid(H, W).reshape(-1, 2)
    norms, laps = [], []
    with torch.enable_grad():
        for i in range(0, coords.shape[0], chunk):
            c = coords[i : i + chunk].to(device).requires_grad_(True)
            g = model(c).mean(dim=-1)  # [n] grayscale value
            (grad,) = torch.autograd.grad(g.sum(), c, create_graph=True)  # [n, 2]
            lap = torch.zeros(c.shape[0], device=device)
            if grad.requires_grad:  # False when the field is (piecewise) linear in the coordinates
                for d in range(2):
                    (second,) = torch.autograd.grad(grad[:, d].sum(), c, retain_graph=d == 0, allow_unused=True)
                    if second is not None:
                        lap = lap + second[:, d].detach()
            norms.append(grad.detach().norm(dim=-1).cpu())
            laps.append(lap.cpu())
    return torch.cat(norms).reshape(H, W).float(), torch.cat(laps).reshape(H, W).float()


def finite_difference_derivatives(image: Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """Ground-truth counterpart of :func:`gradient_and_laplacian` by finite differences.

    For ``image [H, W, C]`` (grayscale value = mean over channels) on the pixel grid of spacing
    ``hx = 2 / W``, ``hy = 2 / H`` (the [-1, 1] units of :func:`pixel_grid`):

    * gradient norm from ``np.gradient`` (central differences inside, one-sided at the border);
    * the 5-point discrete Laplacian ``(g[i, j-1] - 2 g + g[i, j+1]) / hx^2 + (g[i-1, j] - 2 g + g[i+1, j]) / hy^2``
      with edge-replicated borders.

    Returns ``(grad_norm [H, W], laplacian [H, W])`` as float64 arrays.
    """
    if image.ndim != 3:
        raise ValueError(f"image must be [H, W, C], got shape {tuple(image.shape)}")
    g = image.detach().double().mean(dim=-1).cpu().numpy()
    H, W = g.shape
    hx, hy = 2.0 / W, 2.0 / H
    gy = np.gradient(g, hy, axis=0) if H > 1 else np.zeros_like(g)
    gx = np.gradient(g, hx, axis=1) if W > 1 else np.zeros_like(g)
    p = np.pad(g, 1, mode="edge")
    lap = (p[1:-1, :-2] - 2 * g + p[1:-1, 2:]) / hx**2 + (p[:-2, 1:-1] - 2 * g + p[2:, 1:-1]) / hy**2
    return np.hypot(gx, gy), lap


def _encode(array: np.ndarray, fmt: str, quality: Optional[int] = None) -> Tuple[int, np.ndarray]:
    """Encode a ``[H, W, 1|3]`` uint8 array with Pillow; return (bytes, decoded ``[H, W, C]`` uint8)."""
    from PIL import Image

    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **({"quality": quality} if quality is not None else {"optimize": True}))
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())))
    return buffer.tell(), decoded.reshape(array.shape)


def _psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """:func:`vanilla_nerf_pe.metrics.psnr` of two uint8 arrays, in float64 (100 dB when identical)."""
    return float(psnr(torch.from_numpy(a).double() / 255.0, torch.from_numpy(b).double() / 255.0))


def compression_report(model: ImageField, image: Tensor) -> dict:
    """The fitted field as a compressed image, against PNG and JPEG of the original.

    The field is stored as its ``state_dict`` (weights, biases, the Fourier matrix, the
    de-standardisation): ``model_bytes_float32`` = 4 bytes per number, ``model_bytes_float16``
    with every number rounded to float16 (``psnr_float16`` is measured with those rounded
    weights). Bits per pixel = 8 * bytes / (H W). ``psnr`` is the field rendered at the image's
    size and quantised to 8 bits, as a decoder would show it. PNG is lossless (the original's size);
    JPEG (Pillow, qualities 1..100) is the smallest file whose PSNR is at least the field's, or
    None when even quality 100 is below it.

    Args:
        model: a fitted :class:`ImageField`.
        image: ``[H, W, C]`` the original in [0, 1].
    """
    H, W, C = image.shape
    pixels = H * W
    original = to_uint8(image)
    fitted = to_uint8(render(model, H, W))
    numbers = sum(t.numel() for t in model.state_dict().values())
    with torch.no_grad():
        half = ImageField(model.config, model.channels)
        half.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    report = {
        "psnr": _psnr_uint8(fitted, original),
        "model_numbers": numbers,
        "model_bytes_float32": 4 * numbers,
        "model_bpp_float32": 32.0 * numbers / pixels,
        "model_bytes_float16": 2 * numbers,
        "model_bpp_float16": 16.0 * numbers / pixels,
        "psnr_float16": _psnr_uint8(to_uint8(render(half.eval(), H, W)), original),
        "raw_bytes": int(original.size),
    }
    png_bytes, _ = _encode(original, "PNG")
    report.update(png_bytes=png_bytes, png_bpp=8.0 * png_bytes / pixels)
    best = None
    for quality in range(1, 101):
        size, decoded = _encode(original, "JPEG", quality)
        score = _psnr_uint8(decoded, original)
        if score >= report["psnr"] and (best is None or size < best[1]):
            best = (quality, size, score)
    report.update(
        jpeg_quality=best[0] if best else None,
        jpeg_bytes=best[1] if best else None,
        jpeg_bpp=8.0 * best[1] / pixels if best else None,
        jpeg_psnr=best[2] if best else None,
    )
    return report


def image_ssim(pred: Tensor, target: Tensor) -> float:
    """:func:`vanilla_nerf_pe.metrics.ssim` for 1- or 3-channel images (grayscale is repeated)."""
    from vanilla_nerf_pe.metrics import ssim

    if pred.shape[-1] == 1:
        pred, target = pred.repeat(1, 1, 3), target.repeat(1, 1, 3)
    return float(ssim(pred.clamp(0.0, 1.0), target))


__all__ = [
    "REPRESENTATIONS",
    "FitResult",
    "ImageError",
    "ImageField",
    "ImageFieldConfig",
    "compression_report",
    "default_image",
    "even_pixel_mask",
    "finite_difference_derivatives",
    "fit",
    "gradient_and_laplacian",
    "image_ssim",
    "load_image",
    "pixel_grid",
    "render",
    "save_image",
    "to_uint8",
]

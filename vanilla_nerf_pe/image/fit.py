"""Fit an :class:`~vanilla_nerf_pe.image.field.ImageField` to one image by MSE with Adam, and
render a fitted field at any resolution.

Images, coordinates and the unclamped network output follow the conventions of
:mod:`vanilla_nerf_pe.image.field`; predictions are clamped to [0, 1] only where they are scored
(the PSNR history).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.metrics import psnr
from vanilla_nerf_pe.image.field import ImageField, ImageFieldConfig, pixel_grid


@dataclass
class FitResult:
    """What :func:`fit` returns."""

    model: ImageField
    """the fitted field, in eval mode, on the device it was trained on."""
    psnr_history: List[Tuple[int, float]] = field(default_factory=list)
    """(step, PSNR in dB on the evaluation pixels)."""
    seconds: float = 0.0
    """wall-clock time of the optimisation, evaluations included."""
    num_parameters: int = 0
    """trainable numbers of the model."""

    @property
    def final_psnr(self) -> float:
        return self.psnr_history[-1][1] if self.psnr_history else float("nan")


def _model_device(model: nn.Module) -> torch.device:
    """The device of the module's first parameter or buffer; the CPU for a module with neither."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _predict(model: nn.Module, coords: Tensor, chunk: int) -> Tensor:
    """Model output on ``coords [N, 2]`` in chunks of ``chunk`` rows, without gradients: ``[N, C]`` on the CPU."""
    device = _model_device(model)
    with torch.no_grad():
        return torch.cat([model(coords[i : i + chunk].to(device)).cpu() for i in range(0, coords.shape[0], chunk)], dim=0)


def fit(
    image: Tensor,
    config: ImageFieldConfig,
    eval_every: int = 100,
    train_mask: Optional[Tensor] = None,
    eval_mask: Optional[Tensor] = None,
    callback: Optional[Callable[[int, float, Optional[float]], None]] = None,
    chunk: int = 65536,
    device: Union[str, torch.device] = "cpu",
    initial_model: Optional[ImageField] = None,
) -> FitResult:
    """Fit an :class:`ImageField` to ``image [H, W, C]`` by MSE with Adam.

    Args:
        image: target in [0, 1].
        config: network and optimisation settings.
        eval_every: record PSNR every this many steps (and always after the last step).
        train_mask: ``[H, W]`` bool, the pixels to train on (e.g.
            :func:`~vanilla_nerf_pe.image.field.even_pixel_mask`); the PSNR history is then measured
            on the other pixels (generalisation), otherwise on all.
        eval_mask: ``[H, W]`` bool, the pixels the PSNR history scores instead (e.g. a validation
            subset of the training grid's own pixels, :func:`~vanilla_nerf_pe.image.protocol.validation_split`).
        callback: called after every step as ``callback(step, loss, psnr_or_None)``.
        chunk: the most pixels per forward pass. A full-image step accumulates the gradient over
            chunks (exactly the full-batch gradient), so memory is bounded for any image size.
        device: where to train ("cpu", "cuda", ...); the returned model stays there, and
            :func:`render` and the PSNR history work from any device (results on the CPU).
        initial_model: start from this field (built from ``config``, e.g. with a Fourier matrix B
            set by hand: :func:`~vanilla_nerf_pe.image.protocol.table1_field`) instead of a fresh one.

    Returns:
        a :class:`FitResult`; PSNR is computed on predictions clamped to [0, 1].
    """
    if image.ndim != 3:
        raise InputError(f"image must be [H, W, C], got shape {tuple(image.shape)}")
    H, W, C = image.shape
    target = image.reshape(-1, C).float()
    coords = pixel_grid(H, W).reshape(-1, 2)
    if train_mask is not None:
        if train_mask.shape != (H, W):
            raise InputError(f"train_mask must be [{H}, {W}], got {tuple(train_mask.shape)}")
        flat = train_mask.reshape(-1).bool()
        train_idx, eval_idx = flat.nonzero().squeeze(-1), (~flat).nonzero().squeeze(-1)
        if train_idx.numel() == 0 or eval_idx.numel() == 0:
            raise InputError("train_mask must select some, but not all, pixels")
    else:
        train_idx = eval_idx = torch.arange(H * W)
    if eval_mask is not None:
        if eval_mask.shape != (H, W) or not bool(eval_mask.any()):
            raise InputError(f"eval_mask must be [{H}, {W}] and select some pixels, got {tuple(eval_mask.shape)}")
        eval_idx = eval_mask.reshape(-1).bool().nonzero().squeeze(-1)

    device = torch.device(device)
    if initial_model is not None and initial_model.channels != C:
        raise InputError(f"initial_model has {initial_model.channels} channels, the image {C}")
    model = (initial_model if initial_model is not None else ImageField(config, C)).to(device)
    train_target = target[train_idx].to(device)
    if config.standardize:
        model.mean.copy_(train_target.mean(dim=0))
        model.std.copy_(train_target.std(dim=0, unbiased=False).clamp_min(1e-3))
    train_coords = coords[train_idx].to(device)
    train_norm = (train_target - model.mean) / model.std
    eval_coords, eval_target = coords[eval_idx], target[eval_idx]

    def eval_psnr() -> float:
        return float(psnr(_predict(model, eval_coords, chunk).clamp(0.0, 1.0), eval_target))

    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = None
    if config.lr_final is not None and config.steps > 1:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps - 1, eta_min=config.lr_final)
    minibatch_rng = torch.Generator().manual_seed(config.seed)
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
            pick = torch.randint(0, n_train, (config.batch_pixels,), generator=minibatch_rng).to(device)
            loss = torch.mean((model.forward_normalized(train_coords[pick]) - train_norm[pick]) ** 2)
            loss.backward()
            loss_value = float(loss.detach())
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        score: Optional[float] = None
        if step % max(eval_every, 1) == 0 or step == config.steps:
            score = eval_psnr()
            history.append((step, score))
        if callback is not None:
            callback(step, loss_value, score)
    if config.steps == 0:
        history.append((0, eval_psnr()))
    seconds = time.perf_counter() - start
    model.eval()
    return FitResult(model=model, psnr_history=history, seconds=seconds, num_parameters=model.num_parameters())


def resolve_device(choice: str) -> str:
    """The device of a ``--device`` choice: ``auto`` is cuda when torch sees a GPU, else cpu; ``cuda``
    without a GPU is an :class:`InputError`."""
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda, but torch sees no GPU (use --device cpu or auto)")
    return choice


def render(model: nn.Module, H: int, W: int, chunk: int = 65536) -> Tensor:
    """Sample the field on the pixel centres of an ``H x W`` grid: ``[H, W, C]`` on the CPU, not clamped."""
    coords = pixel_grid(H, W).reshape(-1, 2)
    return _predict(model, coords, chunk).reshape(H, W, -1)


__all__ = ["FitResult", "fit", "render", "resolve_device"]

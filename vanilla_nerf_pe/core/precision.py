"""Which dtype a coordinate network's matrix products use, and the CPU workaround bfloat16 needs.

- :func:`resolve_precision`: "float32", "bfloat16" or "auto" to a dtype. "auto" is bfloat16 for a
  ReLU network on a CPU with native bfloat16 (x86 AVX512-BF16 or AMX), float32 elsewhere. Networks
  with sine activations (SIREN) stay float32: their sine arguments omega_0 (W x + b) are of order
  30, where bfloat16's 8-bit mantissa leaves steps of 0.125 rad.
- :func:`mlp_autocast`: bfloat16 autocast for the MLP part of a network (the encodings stay
  float32: the top octave of a positional encoding needs x to more than bfloat16's 3 digits), or
  no context at all for float32, so that an outer autocast still applies.
- :func:`call_in_row_buckets`: oneDNN, which runs bfloat16 products on a CPU, builds and caches a
  kernel per matrix shape, and packed sampling gives a new row count at every step; padding the
  rows to a multiple of :data:`ROW_BUCKET` bounds the number of shapes.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, ContextManager, Literal, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from vanilla_nerf_pe.core.errors import InputError

Precision = Literal["float32", "bfloat16", "auto"]
PRECISIONS: Tuple[str, ...] = ("float32", "bfloat16", "auto")
ROW_BUCKET = 1024
"""bfloat16 on a CPU: rows are padded to a multiple of this."""


@functools.lru_cache(maxsize=None)
def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (x86 AVX512-BF16 or AMX), asked of
    torch's own CPU feature detection (what oneDNN will use). Without it oneDNN emulates bfloat16
    with float32 instructions, which is slower than float32 itself."""
    if not torch.backends.mkldnn.is_available():
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(check()) for check in checks if check is not None)


def check_precision(precision: str, sine_activations: bool) -> None:
    """Raise :class:`InputError` for an unknown precision or bfloat16 with sine activations."""
    if precision not in PRECISIONS:
        raise InputError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if sine_activations and precision == "bfloat16":
        raise InputError(
            "precision bfloat16 does not suit SIREN: its sine arguments (~30) keep only steps of 0.125 rad in "
            "bfloat16; use float32 or auto (float32 for SIREN)"
        )


def resolve_precision(precision: Precision, sine_activations: bool, device: torch.device) -> torch.dtype:
    """The dtype of a network's matrix products on ``device``: float32 or bfloat16 (see the module
    docstring). On a GPU "auto" is float32 until a benchmark there shows otherwise."""
    check_precision(precision, sine_activations)
    if precision == "auto":
        native = device.type == "cpu" and cpu_has_native_bfloat16()
        return torch.bfloat16 if native and not sine_activations else torch.float32
    return torch.bfloat16 if precision == "bfloat16" else torch.float32


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"``."""
    return str(dtype).replace("torch.", "")


def mlp_autocast(dtype: torch.dtype, device: torch.device) -> ContextManager:
    """Autocast to ``dtype`` on ``device``, or no context for float32."""
    return torch.autocast(device.type, dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()


def pad_rows(x: Tensor, multiple: int) -> Tensor:
    """x [N, C] with zero rows appended: [ceil(N / multiple) * multiple, C] (x itself if no row is missing)."""
    missing = -x.shape[0] % multiple
    return nn.functional.pad(x, (0, 0, 0, missing)) if missing else x


def call_in_row_buckets(
    fn: Callable[..., Union[Tensor, Tuple[Tensor, ...]]], *inputs: Tensor, multiple: Optional[int] = None
) -> Union[Tensor, Tuple[Tensor, ...]]:
    """``fn(*inputs)`` for inputs ``[..., C_i]`` of one leading shape, computed on rows padded to a
    multiple of ``multiple`` (default :data:`ROW_BUCKET`). The padded rows are zeros whose outputs
    are dropped, so they add no gradient; outputs keep the inputs' leading shape."""
    lead = inputs[0].shape[:-1]
    n = lead.numel()
    outputs = fn(*[pad_rows(x.reshape(n, x.shape[-1]), multiple or ROW_BUCKET) for x in inputs])
    if isinstance(outputs, tuple):
        return tuple(y[:n].reshape(lead + y.shape[-1:]) for y in outputs)
    return outputs[:n].reshape(lead + outputs.shape[-1:])

"""Learning-rate schedule of NeRF: exponential decay from ``lr_init`` to ``lr_final``.

NeRF (Mildenhall et al. 2020, section 5.3) decays the learning rate exponentially from 5e-4 to
5e-5 over the course of optimisation. nerfstudio's ``ExponentialDecayScheduler`` does the same,
but its multiplier is a numpy float that ends up in the optimiser's and scheduler's state; torch
>= 2.6 loads checkpoints with ``weights_only=True``, and such a checkpoint then fails to load in
``ns-eval``, ``ns-render`` and ``ns-viewer``. This scheduler returns plain Python floats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Type

from nerfstudio.engine.schedulers import Scheduler, SchedulerConfig
from torch.optim import Optimizer, lr_scheduler


def exponential_decay(step: int, lr_init: float, lr_final: float, max_steps: int, warmup_steps: int = 0) -> float:
    """Learning rate at ``step``: linear warm-up from 0, then log-linear from lr_init to lr_final
    at ``max_steps``, constant after. A Python float."""
    if step < warmup_steps:
        return lr_init * float(step + 1) / float(warmup_steps)
    frac = min(max((step - warmup_steps) / max(max_steps - warmup_steps, 1), 0.0), 1.0)
    return float(math.exp(math.log(lr_init) * (1.0 - frac) + math.log(lr_final) * frac))


@dataclass
class NeRFDecaySchedulerConfig(SchedulerConfig):
    """Exponential decay to ``lr_final`` at ``max_steps`` (NeRF's schedule), checkpoint-safe."""

    _target: Type = field(default_factory=lambda: NeRFDecayScheduler)
    lr_final: Optional[float] = 5e-5
    """Learning rate reached at max_steps; None keeps the optimiser's rate constant."""
    max_steps: int = 200000
    """Step at which lr_final is reached."""
    warmup_steps: int = 0
    """Linear warm-up steps from 0 to the optimiser's rate."""


class NeRFDecayScheduler(Scheduler):
    """See :class:`NeRFDecaySchedulerConfig`."""

    config: NeRFDecaySchedulerConfig

    def get_scheduler(self, optimizer: Optimizer, lr_init: float) -> lr_scheduler.LRScheduler:
        lr_final = lr_init if self.config.lr_final is None else self.config.lr_final
        cfg = self.config

        def multiplier(step: int) -> float:
            return exponential_decay(step, lr_init, lr_final, cfg.max_steps, cfg.warmup_steps) / lr_init

        return lr_scheduler.LambdaLR(optimizer, lr_lambda=multiplier)

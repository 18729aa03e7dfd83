"""What keeps a training run from losing work: Ctrl-C, a non-finite loss, a collapse to an empty scene.

nerfstudio's trainer, on Ctrl-C, prints a traceback and keeps only the last periodic checkpoint;
on a NaN loss it trains on, and its next periodic checkpoint saves the NaN weights over the last
good ones. :class:`TrainingGuard` adds (the model owns one, built from its options, hands the
guard's callbacks to the trainer and passes every training batch's losses to :meth:`TrainingGuard.check_batch`):

- **Ctrl-C (SIGINT)**: the first one lets the current iteration finish, then saves a checkpoint of
  that step (the one ``--load-dir`` resumes from: step counter, optimiser, scheduler and model
  state, occupancy grid included) and exits with status 130; a second Ctrl-C interrupts at once.
- **Non-finite loss**: checked every step before the optimiser step, and the weights are checked
  before every periodic checkpoint, so no checkpoint ever holds NaN or infinite weights; training
  stops naming the step and the checkpoint that stands.
- **Collapse**: NeRF can fall into the empty scene early on (density everywhere ~0, the gradient
  through the transmittance vanishes, and it never leaves); the original NeRF code and the
  seeds' training loop restart such runs. At ``collapse_check_step`` the moving average of the
  accumulated opacity of the training batches is compared with ``collapse_min_accumulation`` and
  a collapsed run stops with the reason and what to change.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Optional

import torch
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackLocation
from nerfstudio.utils.misc import step_check
from torch import Tensor

from vanilla_nerf_pe.core.errors import TrainingStopped
from vanilla_nerf_pe.nerf.patches import flush_training_logs, stop_viewer_renders

if TYPE_CHECKING:
    from nerfstudio.engine.trainer import Trainer

SIGINT_EXIT_STATUS = 130  # 128 + SIGINT, what a shell reports for a program ended by Ctrl-C


class TrainingGuard:
    """Per-run state of the checks in the module docstring.

    Args:
        collapse_check_step: step at which a collapse is detected (0: no check).
        collapse_min_accumulation: a run whose mean accumulated opacity is below this by then has collapsed.
    """

    def __init__(self, collapse_check_step: int, collapse_min_accumulation: float):
        self.collapse_check_step = collapse_check_step
        self.collapse_min_accumulation = collapse_min_accumulation
        self.trainer: Optional["Trainer"] = None
        self.parameters: Callable[[], Iterable[Tensor]] = lambda: ()
        self.step = 0
        self.interrupted = False
        self.accumulation_ema: Optional[Tensor] = None
        self._previous_handler = None

    # callbacks ----------------------------------------------------------------------------------
    def callbacks(self, trainer: Optional["Trainer"], parameters: Callable[[], Iterable[Tensor]]) -> List[TrainingCallback]:
        """The trainer's callbacks; ``parameters`` gives the weights to check before a checkpoint."""
        self.trainer, self.parameters = trainer, parameters
        if trainer is not None and threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)
        return [
            TrainingCallback([TrainingCallbackLocation.BEFORE_TRAIN_ITERATION], self.before_iteration),
            TrainingCallback([TrainingCallbackLocation.AFTER_TRAIN_ITERATION], self.after_iteration),
            TrainingCallback([TrainingCallbackLocation.AFTER_TRAIN], self.restore_sigint),
        ]

    def _on_sigint(self, signum, frame) -> None:
        self.interrupted = True
        self.restore_sigint()  # a second Ctrl-C is nerfstudio's (or Python's) again: immediate
        print("\nCtrl-C: finishing this iteration and saving a checkpoint (Ctrl-C again to quit at once)", file=sys.stderr)
        # The viewer's frame holds the training lock that the next iteration waits for.
        stop_viewer_renders(getattr(self.trainer, "viewer_state", None))

    def restore_sigint(self, step: int = 0) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def before_iteration(self, step: int) -> None:
        self.step = step
        if self.collapse_check_step > 0 and step == self.collapse_check_step and self.accumulation_ema is not None:
            mean_accumulation = float(self.accumulation_ema)
            if mean_accumulation < self.collapse_min_accumulation:
                raise TrainingStopped(
                    f"step {step}: the scene collapsed to empty space during warm-up (mean accumulated opacity of the "
                    f"training rays {mean_accumulation:.2g} < {self.collapse_min_accumulation:g}); restart with another "
                    "--machine.seed, a lower learning rate or --pipeline.model.density-bias >= 0 "
                    "(--pipeline.model.collapse-check-step 0 turns this check off)"
                )

    def after_iteration(self, step: int) -> None:
        trainer = self.trainer
        if trainer is None:
            return
        saves_now = step_check(step, trainer.config.steps_per_save)  # when the trainer saves (0: never)
        if (saves_now or self.interrupted) and not self.weights_finite():
            raise TrainingStopped(
                f"step {step}: the optimiser step made the weights non-finite, so they were not saved; "
                f"{self._last_checkpoint_phrase()}. Lower the learning rate (--optimizers.fields.optimizer.lr)"
            )
        if self.interrupted:
            trainer.save_checkpoint(step)
            self.restore_sigint()
            print(
                f"vanilla-nerf-pe: interrupted at step {step}; checkpoint saved in {trainer.checkpoint_dir}; "
                f"resume with the same command and --load-dir {trainer.checkpoint_dir}",
                file=sys.stderr,
            )
            if getattr(trainer, "viewer_state", None) is not None:
                # The viewer's render thread would start rendering as soon as this iteration lets go
                # of the training lock, and an interpreter shutting down under a running torch kernel
                # aborts (SIGABRT). The checkpoint is written: flush the logs and leave from here.
                flush_training_logs()
                os._exit(SIGINT_EXIT_STATUS)
            raise SystemExit(SIGINT_EXIT_STATUS)

    # per batch ----------------------------------------------------------------------------------
    def check_batch(self, losses: Dict[str, Tensor], accumulation: Tensor) -> None:
        """Called by the model's get_loss_dict in training, before the backward pass and optimiser step."""
        total = sum(losses.values())
        if not bool(torch.isfinite(total)):
            parts = ", ".join(f"{name} {float(value):.4g}" for name, value in losses.items())
            raise TrainingStopped(
                f"step {self.step}: the loss is not finite ({parts}); stopped before the optimiser step, "
                f"{self._last_checkpoint_phrase()}. Lower the learning rate (--optimizers.fields.optimizer.lr)"
            )
        if self.collapse_check_step > 0 and self.step < self.collapse_check_step:
            mean = accumulation.detach().mean()  # stays on the device: no synchronisation per step
            self.accumulation_ema = mean if self.accumulation_ema is None else 0.9 * self.accumulation_ema + 0.1 * mean

    # helpers ------------------------------------------------------------------------------------
    def weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for p in self.parameters())

    def _last_checkpoint_phrase(self) -> str:
        if self.trainer is None:
            return "no checkpoint written"
        ckpts = sorted(self.trainer.checkpoint_dir.glob("step-*.ckpt"))
        return f"the last good checkpoint stands: {ckpts[-1]}" if ckpts else f"no checkpoint in {self.trainer.checkpoint_dir} yet"

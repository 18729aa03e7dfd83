"""Progress of long runs: one rich progress bar per fit, with its step, current PSNR and time left.

Library functions that run fits take ``progress: Optional[ProgressFactory] = None`` and are silent
without one (as when tests call them); a command-line tool opens :func:`progress_bars` once
(``--quiet``: none) and passes the factory on. The factory is called once per fit,
``progress(label, total_steps)``, and returns that fit's callback ``callback(step, loss, psnr)``,
the signature of :func:`~vanilla_nerf_pe.image.fit.fit`'s ``callback`` (``psnr`` is None between
evaluations).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, List, Optional, Tuple

FitCallback = Callable[[int, float, Optional[float]], None]
ProgressFactory = Callable[[str, int], FitCallback]

#: How many times a fit that shows a progress bar scores its PSNR when its caller would otherwise
#: score only the last step: often enough to watch it rise, rarely enough to cost little.
PROGRESS_EVALUATIONS = 20


def eval_every(steps: int, progress: Optional[ProgressFactory]) -> int:
    """Steps between PSNR evaluations of a fit whose caller needs only the final PSNR: the last step
    only without a progress bar, :data:`PROGRESS_EVALUATIONS` evaluations with one. (An evaluation
    never changes the fit: it runs without gradients and draws no random numbers.)"""
    return max(steps, 1) if progress is None else max(steps // PROGRESS_EVALUATIONS, 1)


def fit_callback(progress: Optional[ProgressFactory], label: str, total: int) -> Optional[FitCallback]:
    """``progress(label, total)``, or None without a progress factory."""
    return None if progress is None else progress(label, total)


def recording(progress: Optional[ProgressFactory], history: List[Tuple[int, float]]) -> ProgressFactory:
    """A factory whose callbacks append ``(step, psnr)`` of every evaluation to ``history`` and pass
    every step on to ``progress``' (when there is one): the PSNR curve of a fit that only reports to
    a progress bar."""

    def start(label: str, total: int) -> FitCallback:
        bar = fit_callback(progress, label, total)

        def report(step: int, loss: float, psnr: Optional[float]) -> None:
            if psnr is not None:
                history.append((step, psnr))
            if bar is not None:
                bar(step, loss, psnr)

        return report

    return start


@contextlib.contextmanager
def progress_bars(quiet: bool = False, console=None) -> Iterator[Optional[ProgressFactory]]:
    """A :data:`ProgressFactory` drawing rich progress bars on ``console`` (default: stderr), or None
    when ``quiet``. When stderr is not a terminal rich draws each bar once, in its final state."""
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.2e}  PSNR {task.fields[psnr]}"),
        TimeRemainingColumn(),
        console=console if console is not None else Console(stderr=True),
        transient=False,
    ) as bars:

        def start(label: str, total: int) -> FitCallback:
            task = bars.add_task(label, total=total, loss=float("nan"), psnr="-")

            def report(step: int, loss: float, psnr: Optional[float]) -> None:
                fields = {"loss": loss} if psnr is None else {"loss": loss, "psnr": f"{psnr:.2f} dB"}
                bars.update(task, completed=step, **fields)

            return report

        yield start


__all__ = ["FitCallback", "PROGRESS_EVALUATIONS", "ProgressFactory", "eval_every", "fit_callback", "progress_bars", "recording"]

"""Seconds per training step of the latent-grid codec's fit (``vnp-image compress --kind latent``),
and of its parts, on this machine: the issue-26 speed measurements (docs/codec.md).

One step is what :func:`vanilla_nerf_pe.codec.latent_fit.train_latent_image` does per step
(soft-rounded latents, synthesis and refinement, context model and rate, backward, Adam). The
parts are each timed forward and backward on their own. Every figure is the best of ``--repeats``
blocks of ``--steps`` steps (the machine is shared: the best block is the least disturbed one).

    python benchmarks/latent_step.py --sizes 256 512 --threads 1 2
    PYTHONPATH=/tmp/old python benchmarks/latent_step.py   # another checkout's code, for a before/after
"""

from __future__ import annotations

import argparse
import time

import torch

from vanilla_nerf_pe.codec import latent as L
from vanilla_nerf_pe.codec import latent_fit
from vanilla_nerf_pe.image.photographs import shipped_photographs


def best_seconds(fn, steps: int, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def quantize(grids, generator):
    """Soft rounding where the code has it (C3's), else uniform noise (the code before it)."""
    if hasattr(L, "soft_round"):
        return L.quantize_latents(grids, "softround", generator, 0.2, 1.5)
    return L.quantize_latents(grids, "noise", generator)


def measure(size: int, steps: int, repeats: int) -> dict:
    image = torch.tensor(shipped_photographs(size)["astronaut"] / 255.0, dtype=torch.float32)
    target = latent_fit.image_planes(image) if hasattr(latent_fit, "image_planes") else image
    model = L.LatentImage(L.LatentConfig(), size, size, 3)
    with torch.no_grad():
        for grid in model.latents:
            grid.normal_(0, 2)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        latents = quantize(model.latents, generator)
        (latent_fit._mse(model, latents, target) + 0.01 * L.latent_bits(latents, model.arm, model.context) / size**2).backward()
        optimizer.step()

    grids = [g.detach().clone().requires_grad_() for g in model.latents]
    parts = {
        "step": step,
        "quantisation proxy": lambda: sum(q.sum() for q in quantize(grids, generator)).backward(),
        "synthesis + refinement": lambda: model.decode(grids).sum().backward(),
        "context model + rate": lambda: L.latent_bits(grids, model.arm, model.context).backward(),
    }
    return {name: best_seconds(fn, steps, repeats) for name, fn in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'size':>5} {'threads':>7}  part: best seconds per step (forward and backward)")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for size in args.sizes:
            for name, seconds in measure(size, args.steps, args.repeats).items():
                print(f"{size:>5} {threads:>7}  {name}: {seconds:.4f}")


if __name__ == "__main__":
    main()

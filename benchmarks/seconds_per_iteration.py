"""Seconds per training iteration: vanilla-nerf-pe against nerfstudio's vanilla-nerf.

Both methods run the same training step as ns-train's Trainer (datamanager batch, forward, loss,
backward, optimiser and scheduler step) on the same data, rays per batch and samples per ray,
in one process, one after the other, on this machine. nerfstudio's vanilla-nerf builds LPIPS at
model construction, which downloads AlexNet weights; the harness replaces that metric with a stub
(it is only used in evaluation, never in a training step).

    python benchmarks/seconds_per_iteration.py --data ../shared/data/blender/lego_100 --rays 1024 --iters 5
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from wall_clock import stub_lpips  # this script's folder is on sys.path


def time_method(method: str, data: Path, rays: int, coarse: int, fine: int, iters: int, warmup: int = 1) -> dict:
    from nerfstudio.configs.method_configs import all_methods
    from nerfstudio.engine.optimizers import Optimizers

    config = copy.deepcopy(all_methods[method])
    config.machine.device_type = "cpu"
    config.pipeline.datamanager.dataparser.data = data
    config.pipeline.datamanager.train_num_rays_per_batch = rays
    sampling = config.pipeline.model
    sampling = getattr(sampling, "hierarchical", sampling)  # ours: the hierarchical option group
    sampling.num_coarse_samples = coarse
    sampling.num_importance_samples = fine
    torch.manual_seed(0)
    pipeline = config.pipeline.setup(device="cpu", test_mode="val")
    pipeline.train()
    optimizers = Optimizers(config.optimizers, pipeline.get_param_groups())
    times = []
    for step in range(warmup + iters):
        start = time.perf_counter()
        _, loss_dict, _ = pipeline.get_train_loss_dict(step=step)
        loss = sum(loss_dict.values())
        optimizers.zero_grad_all()
        loss.backward()
        optimizers.optimizer_step_all()
        optimizers.scheduler_step_all(step)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    seconds = sorted(times)[len(times) // 2]
    return {"method": method, "rays": rays, "samples": f"{coarse}+{fine}", "seconds_per_iter": seconds, "rays_per_second": rays / seconds,
            "parameters": sum(p.numel() for p in pipeline.parameters())}


@dataclass
class Args:
    data: Path = Path("../shared/data/blender/lego_100")
    rays: int = 1024
    coarse: int = 64
    fine: int = 128
    iters: int = 5
    threads: Optional[int] = None
    output: Optional[Path] = None


def main() -> None:
    import tyro

    args = tyro.cli(Args)
    if args.threads:
        torch.set_num_threads(args.threads)
    stub_lpips()
    rows = [time_method(m, args.data, args.rays, args.coarse, args.fine, args.iters) for m in ("vanilla-nerf", "vanilla-nerf-pe")]
    print(f"torch threads: {torch.get_num_threads()}, {args.rays} rays per batch, {args.coarse}+{args.fine} samples, median of {args.iters}")
    print("| method | s / iteration | rays / s | parameters |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['seconds_per_iter']:.2f} | {r['rays_per_second']:.0f} | {r['parameters']:,} |")
    print(f"speed-up of vanilla-nerf-pe: {rows[0]['seconds_per_iter'] / rows[1]['seconds_per_iter']:.2f}x")
    if args.output:
        args.output.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

"""Evaluate a trained run on a few fixed test views, fast enough for CPU.

``ns-eval`` renders every image of the test split (200 for the Blender scenes), which takes a
quarter of an hour on a 2-core CPU even at 100x100. ``vnp-eval`` loads the run exactly as
``ns-eval`` does (nerfstudio's ``eval_setup``, so the same checkpoint-loading path) and scores
views ``0, step, 2 step, ...`` spread evenly over the split, printing and writing JSON with
the per-view and mean PSNR / SSIM (and LPIPS where its weights are present). ``--side-by-side``
writes one PNG of every scored view (ground truth | rendering | depth, a row per view) and
``--min-psnr`` makes it a check: the mean PSNR below it exits with status 1 (the demo's smoke test).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from vanilla_nerf_pe.core.image_io import save_image


def evenly_spaced(count: int, total: int) -> list[int]:
    """``count`` indices spread over ``range(total)``, always including 0."""
    count = max(1, min(count, total))
    return [int(i * total / count) for i in range(count)]


def evaluate_run(
    config_path: Path,
    num_views: int = 5,
    device: Optional[str] = None,
    images_dir: Optional[Path] = None,
    side_by_side: Optional[Path] = None,
) -> Dict:
    """Load the latest checkpoint of a run and score ``num_views`` fixed test views.

    Returns:
        {"step", "checkpoint", "views", "per_view": [{metric: value}], "mean": {metric: value}, "seconds"}.
    """
    from nerfstudio.utils.eval_utils import eval_setup

    _, pipeline, checkpoint, step = eval_setup(config_path, test_mode="test")
    if device is not None:
        pipeline.to(device)
    result = evaluate_pipeline(pipeline, num_views, images_dir=images_dir, side_by_side=side_by_side)
    return {"step": step, "checkpoint": str(checkpoint), **result}


def evaluate_pipeline(
    pipeline, num_views: int = 5, split: str = "eval", images_dir: Optional[Path] = None, side_by_side: Optional[Path] = None
) -> Dict:
    """Score ``num_views`` evenly spaced views of a pipeline's eval dataset (the test split), or
    of its training images with ``split="train"`` (how well the scene is memorised). With
    ``images_dir``, writes ``view_{i}.png`` there: ground truth above the rendering; with
    ``side_by_side``, one PNG there: a row per view, ground truth | rendering | depth.

    Returns:
        {"views", "per_view": [{metric: value}], "mean": {metric: value}, "seconds"}.
    """
    dataset = pipeline.datamanager.train_dataset if split == "train" else pipeline.datamanager.eval_dataset
    views = evenly_spaced(num_views, len(dataset))
    result = score_views(pipeline.model, [(dataset.cameras[i : i + 1], dataset[i]) for i in views], images_dir, views, side_by_side=side_by_side)
    return {"views": views, **result}


def score_views(
    model,
    views: List[Tuple[Any, Dict]],
    images_dir: Optional[Path] = None,
    names: Optional[List[int]] = None,
    metrics_fn: Optional[Callable[[Dict, Dict], Dict[str, float]]] = None,
    side_by_side: Optional[Path] = None,
) -> Dict:
    """Render each (camera, batch) view in eval mode and score it: with ``metrics_fn(outputs,
    batch)``, or by default with the model's own ``get_image_metrics_and_images`` (what ns-eval
    reports). With ``images_dir`` (default metrics only), writes ``view_{name}.png`` there: ground
    truth above the rendering; with ``side_by_side`` (default metrics only), one PNG of all views,
    a row per view: ground truth | rendering | depth.

    Returns:
        {"per_view": [{metric: value}], "mean": {metric: value}, "seconds"}.
    """
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    per_view = []
    rows: List[torch.Tensor] = []
    with torch.no_grad():
        for k, (camera, batch) in enumerate(views):
            outputs = model.get_outputs_for_camera(camera.to(model.device))
            if metrics_fn is not None:
                metrics = metrics_fn(outputs, batch)
            else:
                metrics, images = model.get_image_metrics_and_images(outputs, batch)
                width = int(camera.width.item())
                if images_dir is not None:
                    _save_comparison(images["img"], width, images_dir / f"view_{names[k] if names else k}.png")
                if side_by_side is not None:
                    rows.append(side_by_side_row(images, width))
            per_view.append({key: float(value) for key, value in metrics.items()})
    model.train(was_training)
    if rows:
        save_image(torch.cat(rows, dim=0), side_by_side)
    mean = {key: sum(m[key] for m in per_view) / len(per_view) for key in per_view[0]}
    return {"per_view": per_view, "mean": mean, "seconds": time.perf_counter() - start}


def side_by_side_row(images: Dict[str, torch.Tensor], width: int) -> torch.Tensor:
    """[H, 3 W, 3]: ground truth | final rendering | final depth, from the model's
    ``get_image_metrics_and_images`` panels ("img": target | ... | final; "depth": ... | final)."""
    img, depth = images["img"], images["depth"]
    return torch.cat([img[:, :width], img[:, -width:], depth[:, -width:].to(img)], dim=1)


def _save_comparison(img: torch.Tensor, width: int, path: Path) -> None:
    """Save the model's "img" panels [H, k W, 3] (target | ... | final pass) as target above final."""
    save_image(torch.cat([img[:, :width], img[:, -width:]], dim=0), path)


def check_min_psnr(psnr: float, min_psnr: Optional[float]) -> None:
    """Raise :class:`~vanilla_nerf_pe.core.errors.QualityBelowThreshold` if ``psnr`` is below ``min_psnr``."""
    from vanilla_nerf_pe.core.errors import QualityBelowThreshold

    if min_psnr is not None and not psnr >= min_psnr:  # NaN fails too
        raise QualityBelowThreshold(f"mean PSNR {psnr:.2f} dB is below --min-psnr {min_psnr:g} dB")


@dataclass
class EvalArgs:
    load_config: Path
    """config.yml of a training run (as for ns-eval)."""
    num_views: int = 5
    """number of evenly spaced test views to score."""
    output_path: Optional[Path] = None
    """where to write the JSON; default: print only."""
    images_dir: Optional[Path] = None
    """if given, write view_<i>.png (ground truth above rendering) there."""
    side_by_side: Optional[Path] = None
    """if given, write one PNG there: a row per view, ground truth | rendering | depth."""
    min_psnr: Optional[float] = None
    """if given, exit with status 1 (after writing everything) when the mean PSNR is below it."""


def main() -> None:
    import tyro

    from vanilla_nerf_pe.core.errors import InputError, run_cli

    args = tyro.cli(EvalArgs)

    def evaluate() -> None:
        if not args.load_config.is_file():
            raise InputError(f"--load-config {args.load_config}: no such file (the config.yml of a training run)")
        result = evaluate_run(args.load_config, args.num_views, images_dir=args.images_dir, side_by_side=args.side_by_side)
        text = json.dumps(result, indent=2)
        if args.output_path is not None:
            args.output_path.parent.mkdir(parents=True, exist_ok=True)
            args.output_path.write_text(text)
        print(text)
        check_min_psnr(result["mean"]["psnr"], args.min_psnr)

    run_cli("vnp-eval", evaluate)


if __name__ == "__main__":
    main()

"""Side by side at equal wall-clock: every method trained for the same time on the same data, scored
on the same test views, one table.

    python benchmarks/wall_clock.py                        # CPU, lego_100, 10 minutes per run
    python benchmarks/wall_clock.py --budget 180 --runs vanilla-nerf-pe-fast vanilla-nerf-pe-fast:field=siren
    python benchmarks/wall_clock.py --matrix vanilla-nerf-pe-fast --budget 180   # every field x sampler
    python benchmarks/wall_clock.py --dataparser llff-data --data ../shared/data/llff/fern --downscale-factor 16 \
        --num-views 3 --runs vanilla-nerf-pe-fast nerfacto            # fern, the paper's 3 test views

Each run is ``METHOD`` or ``METHOD:key=value,key=value`` (keys are ``pipeline.model`` options,
e.g. ``sampler=proposal`` or ``network.kind=siren``; keys that start with ``trainer.``, ``pipeline.``
or ``optimizers.`` start at the TrainerConfig, e.g. ``pipeline.datamanager.train_num_rays_per_batch=512``). Runs go one after the other, each in its own
process (so peak memory is its own), through nerfstudio's Trainer: ``train_iteration`` with the
method's training callbacks, exactly as ``ns-train`` steps, until the budget of training time is
spent or the method's ``max_num_iterations`` is reached. Every ``--eval-every`` seconds of training
the clock stops and the fixed test views are rendered, which gives the time to reach 20 and 25 dB.

Data: ``--dataparser blender-data`` (default), ``llff-data`` (our parser; nerfstudio's methods read
the same images, cameras and test views through a nerfstudio-data ``transforms.json`` written from
``poses_bounds.npy``) or ``nerfstudio-data``.

Peers: nerfstudio's ``vanilla-nerf`` (its LPIPS metric downloads AlexNet weights when built, so the
harness replaces it with a stub: it is never used in training) and ``nerfacto`` with its pure-torch
hash grid (``implementation=torch``) and nerfstudio's documented Blender settings.

Writes ``<output-dir>/results.json`` and ``results.md`` and prints the table.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Tuple

import torch

from vanilla_nerf_pe.core.precision import dtype_name

DEFAULT_RUNS = ("vanilla-nerf", "nerfacto", "vanilla-nerf-pe-quick", "vanilla-nerf-pe-fast")

# nerfstudio's documented settings for nerfacto on Blender scenes (docs "Blender" section), with
# the pure-torch hash grid since tiny-cuda-nn needs a CUDA build.
PEER_OVERRIDES: Dict[str, Dict[str, Any]] = {
    "nerfacto": {
        "pipeline.model.implementation": "torch",
        "pipeline.model.background_color": "white",
        "pipeline.model.proposal_initial_sampler": "uniform",
        "pipeline.model.near_plane": 2.0,
        "pipeline.model.far_plane": 6.0,
        "pipeline.model.use_average_appearance_embedding": False,
        "pipeline.model.distortion_loss_mult": 0.0,
        "pipeline.model.disable_scene_contraction": True,
        "pipeline.model.camera_optimizer.mode": "off",
    },
}


def stub_lpips() -> None:
    """Replace torchmetrics' LPIPS (which downloads AlexNet when built) by a NaN stub."""
    import torchmetrics.image.lpip as lpip

    class NoLPIPS(torch.nn.Module):
        def __init__(self, *args, **kwargs):
            super().__init__()

        def forward(self, *args, **kwargs):
            return torch.tensor(float("nan"))

    lpip.LearnedPerceptualImagePatchSimilarity = NoLPIPS  # type: ignore[misc]


def _scalar(value: Any) -> Any:
    """YAML 1.1 reads ``1e-3`` (no dot) as a string; take it as the number it is."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def parse_run(spec: str) -> Tuple[str, Dict[str, Any]]:
    """``METHOD[:k=v,k=v]`` -> (method, {dotted key: value}); values are read as YAML scalars/lists."""
    import yaml

    method, _, rest = spec.partition(":")
    overrides: Dict[str, Any] = dict(PEER_OVERRIDES.get(method, {}))
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq:
            raise SystemExit(f"run {spec!r}: expected key=value, got {item!r}")
        # "trainer.x" is the TrainerConfig's own x; "pipeline.*" and "optimizers.*" start there too; the rest is the model's.
        if key.startswith("trainer."):
            key = key[len("trainer."):]
        elif not key.startswith(("pipeline.", "optimizers.")):
            key = f"pipeline.model.{key}"
        overrides[key] = _scalar(yaml.safe_load(value))
    return method, overrides


def apply_overrides(config, overrides: Dict[str, Any]) -> None:
    """Set each dotted key (dataclass fields, or keys of dicts such as TrainerConfig.optimizers);
    an unknown key ends the run with its name."""
    missing = object()
    for key, value in overrides.items():
        *path, last = key.split(".")
        target = config
        for name in path + [last]:
            parent = target
            target = target.get(name, missing) if isinstance(target, dict) else getattr(target, name, missing)
            if target is missing:
                raise SystemExit(f"unknown option {key!r} (no {name!r} in {type(parent).__name__})")
        if isinstance(target, tuple) and isinstance(value, list):
            value = tuple(value)
        if isinstance(parent, dict):
            parent[last] = value
        else:
            setattr(parent, last, value)


def test_views(config, num_views: int):
    """The fixed test views: (camera, batch) pairs of the test split."""
    from nerfstudio.data.dataparsers.blender_dataparser import BlenderDataParserConfig
    from nerfstudio.data.datasets.base_dataset import InputDataset

    from vanilla_nerf_pe.nerf.evaluate import evenly_spaced

    dataparser = config.pipeline.datamanager.dataparser
    if isinstance(dataparser, BlenderDataParserConfig):  # scored on white, whatever the training images keep
        dataparser = dataclasses.replace(dataparser, alpha_color="white")
    outputs = dataparser.setup().get_dataparser_outputs(split="test")
    dataset = InputDataset(outputs)
    views = evenly_spaced(num_views, len(dataset))
    return views, [(dataset.cameras[i : i + 1], dataset[i]) for i in views]


def score(model, views) -> Dict[str, float]:
    """Mean PSNR and SSIM of the model's final colour over the views, the same metrics for every
    method (nerfstudio's vanilla-nerf calls its final colour ``rgb_fine``)."""
    from vanilla_nerf_pe.core import metrics
    from vanilla_nerf_pe.nerf.evaluate import score_views

    def psnr_ssim(outputs: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor]) -> Dict[str, float]:
        rgb = outputs["rgb" if "rgb" in outputs else "rgb_fine"].clamp(0, 1)
        target = batch["image"][..., :3].to(rgb.device)
        return {"psnr": float(metrics.psnr(rgb, target)), "ssim": float(metrics.ssim(rgb, target))}

    return score_views(model, views, metrics_fn=psnr_ssim)["mean"]


def evaluations_per_ray(model, metrics_dict: Dict[str, Any]) -> float:
    """Field (MLP) evaluations per ray of the last training step."""
    if "evaluations_per_ray" in metrics_dict:
        return float(metrics_dict["evaluations_per_ray"])
    cfg = model.config
    if hasattr(cfg, "num_importance_samples"):  # nerfstudio vanilla-nerf: coarse, then coarse + fine
        return 2 * cfg.num_coarse_samples + cfg.num_importance_samples
    if hasattr(cfg, "num_nerf_samples_per_ray"):  # nerfacto: proposal networks and the field
        return sum(cfg.num_proposal_samples_per_ray) + cfg.num_nerf_samples_per_ray
    return float("nan")


def dataparser_config(method: str, dataparser: str, data: Path, downscale_factor: Optional[int]):
    """The dataparser of a run: ours for our methods; for nerfstudio's methods on LLFF data, its
    nerfstudio-data parser on a transforms.json written from poses_bounds.npy (same views, same split)."""
    from nerfstudio.data.dataparsers.blender_dataparser import BlenderDataParserConfig
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig

    from vanilla_nerf_pe.nerf.llff import LLFFDataParserConfig, nerfstudio_transforms
    from vanilla_nerf_pe.nerf.method_configs import METHODS

    if dataparser == "blender-data":  # our presets' own Blender options (alpha kept for a random background)
        preset = METHODS[method].config.pipeline.datamanager.dataparser if method in METHODS else None
        return dataclasses.replace(preset, data=data) if isinstance(preset, BlenderDataParserConfig) else BlenderDataParserConfig(data=data)
    if dataparser == "nerfstudio-data":
        return NerfstudioDataParserConfig(data=data)
    if method in METHODS:
        return LLFFDataParserConfig(data=data, downscale_factor=downscale_factor)
    path = Path(tempfile.mkdtemp(prefix="llff_transforms_")) / "transforms.json"
    path.write_text(json.dumps(nerfstudio_transforms(data, downscale_factor)))
    return NerfstudioDataParserConfig(data=path, downscale_factor=1)


def run_one(spec: str, data: Path, budget: float, eval_every: float, num_views: int, device: str,
            dataparser: str = "blender-data", downscale_factor: Optional[int] = None) -> Dict[str, Any]:
    from nerfstudio.configs.method_configs import all_methods
    from nerfstudio.engine.callbacks import TrainingCallbackLocation
    from nerfstudio.utils import writer

    stub_lpips()
    method, overrides = parse_run(spec)
    if method not in all_methods:
        raise SystemExit(f"unknown method {method!r}; registered: {', '.join(sorted(all_methods))}")
    config = copy.deepcopy(all_methods[method])
    if dataparser != "blender-data":  # the peers' overrides are nerfstudio's Blender settings
        overrides = {k: v for k, v in overrides.items() if k not in PEER_OVERRIDES.get(method, {}) or k == "pipeline.model.implementation"}
    config.pipeline.datamanager.dataparser = dataparser_config(method, dataparser, data, downscale_factor)
    apply_overrides(config, overrides)
    config.machine.device_type = device
    config.pipeline.datamanager.data = config.pipeline.datamanager.dataparser.data
    config.vis = "tensorboard"
    config.output_dir = Path(tempfile.mkdtemp(prefix="wall_clock_"))
    config.set_timestamp()
    torch.manual_seed(0)
    trainer = config.setup(local_rank=0, world_size=1)
    trainer.setup()
    writer.EVENT_WRITERS.clear()  # no tensorboard files, no console spam
    model = trainer.pipeline.model
    views = test_views(config, num_views)[1]
    curve: List[Dict[str, float]] = []
    trained = 0.0
    next_eval = eval_every
    step, rays = 0, 0
    metrics_dict: Dict[str, Any] = {}
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    while trained < budget and step < config.max_num_iterations:
        start = time.perf_counter()
        trainer.pipeline.train()
        for cb in trainer.callbacks:
            cb.run_callback_at_location(step, location=TrainingCallbackLocation.BEFORE_TRAIN_ITERATION)
        _, _, metrics_dict = trainer.train_iteration(step)
        for cb in trainer.callbacks:
            cb.run_callback_at_location(step, location=TrainingCallbackLocation.AFTER_TRAIN_ITERATION)
        if device == "cuda":
            torch.cuda.synchronize()
        trained += time.perf_counter() - start
        rays += trainer.pipeline.datamanager.get_train_rays_per_batch()
        step += 1
        if trained >= next_eval:
            curve.append({"seconds": trained, "step": step, **score(model, views)})
            print(f"  > {spec}: {trained:6.0f} s, step {step}, PSNR {curve[-1]['psnr']:.2f}", flush=True)
            next_eval += eval_every
    final = score(model, views)
    curve.append({"seconds": trained, "step": step, **final})
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def time_to(db: float) -> Optional[float]:
        return next((c["seconds"] for c in curve if c["psnr"] >= db), None)

    field = getattr(model, "field", None)  # ours: the dtype its "precision" resolved to here
    return {
        "run": spec,
        "mlp_dtype": dtype_name(field.compute_dtype(torch.device(device))) if hasattr(field, "compute_dtype") else "float32",
        "iterations": step,
        "seconds": trained,
        "rays_per_second": rays / max(trained, 1e-9),
        "evaluations_per_ray": evaluations_per_ray(model, {k: float(v) for k, v in metrics_dict.items() if k == "evaluations_per_ray"}),
        "peak_memory_mb": peak,
        "psnr": final["psnr"],
        "ssim": final["ssim"],
        "time_to_20db": time_to(20.0),
        "time_to_25db": time_to(25.0),
        "curve": curve,
    }


def markdown(rows: List[Dict[str, Any]], header: str) -> str:
    def t(x: Optional[float]) -> str:
        return "-" if x is None else f"{x:.0f} s"

    lines = [
        header,
        "",
        "| run | iterations | steps/s | rays/s | MLP evals/ray | peak memory | test PSNR | test SSIM | time to 20 dB | time to 25 dB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']}{' (' + r['mlp_dtype'] + ')' if r.get('mlp_dtype', 'float32') != 'float32' else ''} | {r['iterations']} | {r['iterations'] / max(r['seconds'], 1e-9):.1f} | {r['rays_per_second']:.0f} | {r['evaluations_per_ray']:.0f} | "
            f"{r['peak_memory_mb']:.0f} MB | {r['psnr']:.2f} | {r['ssim']:.3f} | {t(r['time_to_20db'])} | {t(r['time_to_25db'])} |"
        )
    return "\n".join(lines) + "\n"


def matmul_peak_gflops(device: str, n: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matrix-multiply rate (GFLOP/s), the reference for the MLP's throughput."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def field_throughput(
    method: str, device: str, num_samples: int = 1 << 15, repeats: int = 10, precision: Optional[str] = None, use_compile: bool = False
) -> Dict[str, float]:
    """Training throughput of one of our methods' field alone: samples per second through the
    encoding, trunk, heads and colour branch, forward and backward, and the GFLOP/s that makes
    (2 in out per Linear forward, twice that backward).

    ``precision`` overrides the method's (``pipeline.model.precision``); ``use_compile`` runs the
    field through ``torch.compile``. The best of ``repeats + 1`` calls counts, which leaves out the
    first (set-up, compilation).
    """
    from nerfstudio.configs.method_configs import all_methods
    from nerfstudio.data.scene_box import SceneBox

    config = copy.deepcopy(all_methods[method]).pipeline.model
    if precision is not None:
        config.precision = precision
    aabb = torch.tensor([[-1.5] * 3, [1.5] * 3])
    # no cameras here: a bounded scene with Blender's near and far (the field's throughput does not depend on them)
    model = config.setup(scene_box=SceneBox(aabb=aabb), num_train_data=1, metadata={"near_far": (2.0, 6.0)}).to(device)
    field = model.field
    flops = 3 * sum(2 * m.in_features * m.out_features for m in field.modules() if isinstance(m, torch.nn.Linear))

    def forward(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        sigma, feature = field.density_and_feature(x)
        return sigma.sum() + field.color(feature, d).sum()

    step = torch.compile(forward) if use_compile else forward
    x = (torch.rand(num_samples, 3, device=device) - 0.5) * 2
    d = torch.nn.functional.normalize(torch.randn(num_samples, 3, device=device), dim=-1)
    best = float("inf")
    for _ in range(repeats + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step(x, d).backward()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return {"samples_per_second": num_samples / best, "gflops": num_samples * flops / best / 1e9}


def throughput_summary(device: str, variants: bool = False, method: str = "vanilla-nerf-pe-fast") -> str:
    """This machine's float32 matmul peak and ``method``'s field throughput at the preset's
    precision, measured now, in one sentence; with ``variants`` also float32, bfloat16 and
    torch.compile (float32) separately."""
    from nerfstudio.configs.method_configs import all_methods

    from vanilla_nerf_pe.core.precision import resolve_precision

    if method not in all_methods or not hasattr(all_methods[method].pipeline.model, "network"):
        method = "vanilla-nerf-pe-fast"  # a peer's run (nerfacto): measure our fast field
    peak = matmul_peak_gflops(device)
    cfg = all_methods[method].pipeline.model
    dtype = dtype_name(resolve_precision(cfg.precision, cfg.network.kind == "siren", torch.device(device)))
    # Untimed: the process's first field runs ~30% slower (fresh memory pages, kernel set-up).
    field_throughput(method, device, repeats=2)

    def sentence(label: str, **kwargs: Any) -> str:
        r = field_throughput(method, device, **kwargs)
        return f"{label}: {r['samples_per_second']:,.0f} samples/s, {r['gflops']:.0f} GFLOP/s ({r['gflops'] / peak:.2f} of the peak)"

    parts = [sentence(f"{method}'s field, forward + backward, {dtype} (precision {cfg.precision})")]
    if variants:
        parts += [sentence(p, precision=p) for p in ("float32", "bfloat16")]
        parts.append(sentence("float32 under torch.compile", precision="float32", use_compile=True))
    return f"float32 matmul peak {peak:.0f} GFLOP/s; " + "; ".join(parts)


@dataclass
class Args:
    runs: Tuple[str, ...] = DEFAULT_RUNS
    """methods (or METHOD:key=value,...) to train, in order."""
    data: Path = Path("../shared/data/blender/lego_100")
    """the scene (in the layout of --dataparser)."""
    dataparser: Literal["blender-data", "llff-data", "nerfstudio-data"] = "blender-data"
    """how the scene is read (see the module docstring)."""
    downscale_factor: Optional[int] = None
    """llff-data: read images_N/ (None: the largest images present)."""
    budget: float = 600.0
    """seconds of training per run (evaluation excluded)."""
    eval_every: float = 120.0
    """seconds of training between evaluations of the test views (for the time to 20 / 25 dB)."""
    num_views: int = 5
    """evenly spaced test views scored (0, 40, 80, ... of 200)."""
    device: str = "cuda" if torch.cuda.is_available() else "cpu"
    matmul_precision: Literal["highest", "high", "medium"] = "highest"
    """torch.set_float32_matmul_precision: "high" lets a GPU use TF32 for float32 matrix products."""
    output_dir: Path = Path("benchmarks/results/wall_clock")
    throughput_only: bool = False
    """measure only this machine's matmul peak and our field's training throughput (at the preset's
    precision, float32, bfloat16 and float32 under torch.compile), and print them (a minute)."""
    matrix: Optional[str] = None
    """train every field x sampler combination of this method (e.g. vanilla-nerf-pe-fast) instead of --runs."""
    single: Optional[str] = None
    """(internal) train this one run in this process and print its JSON."""


def main() -> None:
    import tyro

    args = tyro.cli(Args)
    torch.set_float32_matmul_precision(args.matmul_precision)
    if args.throughput_only:
        print(f"{time.strftime('%Y-%m-%d')}, {args.device}, {torch.get_num_threads()} threads: {throughput_summary(args.device, variants=True)}")
        return
    expected = {"blender-data": "transforms_train.json", "llff-data": "poses_bounds.npy", "nerfstudio-data": "transforms.json"}[args.dataparser]
    if not (args.data / expected).is_file():
        raise SystemExit(f"--data {args.data}: no {expected} there (the layout of --dataparser {args.dataparser})")
    if args.single is not None:
        result = run_one(args.single, args.data, args.budget, args.eval_every, args.num_views, args.device, args.dataparser, args.downscale_factor)
        print("RESULT " + json.dumps(result))
        return
    args.output_dir.mkdir(parents=True, exist_ok=True)
    runs = args.runs
    if args.matrix is not None:
        from vanilla_nerf_pe.nerf.method_configs import FAST_LEARNING_RATES
        from vanilla_nerf_pe.nerf.model import SAMPLER_KINDS

        # Each field at its own measured learning rate (SIREN's is a tenth of the ReLU fields').
        runs = tuple(
            f"{args.matrix}:network.kind={f},sampler={s},optimizers.fields.optimizer.lr={FAST_LEARNING_RATES[f][0]},"
            f"optimizers.fields.scheduler.lr_final={FAST_LEARNING_RATES[f][1]}"
            for f in ("pe", "fourier", "siren", "hash")
            for s in SAMPLER_KINDS
        )
    rows = []
    for spec in runs:
        print(f"training {spec} for {args.budget:.0f} s on {args.device} ...", flush=True)
        cmd = [sys.executable, __file__, "--single", spec, "--data", str(args.data), "--budget", str(args.budget),
               "--eval-every", str(args.eval_every), "--num-views", str(args.num_views), "--device", args.device,
               "--matmul-precision", args.matmul_precision, "--dataparser", args.dataparser]
        if args.downscale_factor is not None:
            cmd += ["--downscale-factor", str(args.downscale_factor)]
        result = None
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("RESULT "):
                    result = json.loads(line[len("RESULT "):])
                elif line.startswith("  > "):
                    print(line, end="", flush=True)
        if proc.returncode != 0 or result is None:
            print(f"  {spec} failed (exit {proc.returncode})")
            continue
        rows.append(result)
        (args.output_dir / "results.json").write_text(json.dumps({"header": "(partial)", "rows": rows}, indent=2))
        (args.output_dir / "results.md").write_text(markdown(rows, "(partial: runs so far)"))
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    scene = args.data.name + (f" images_{args.downscale_factor}" if args.downscale_factor else "")
    header = (
        f"{scene}, {args.budget:.0f} s of training per run, {args.num_views} test views, {device_name}, "
        f"{time.strftime('%Y-%m-%d')}. {throughput_summary(args.device, method=parse_run(runs[0])[0] if runs else 'vanilla-nerf-pe-fast')}"
    )
    table = markdown(rows, header)
    (args.output_dir / "results.md").write_text(table)
    (args.output_dir / "results.json").write_text(json.dumps({"header": header, "rows": rows}, indent=2))
    print(table)


if __name__ == "__main__":
    main()

"""From a phone video to a NeRF, measured (issue #27): a generated video with a phone's troubles
(``vnp-scene --kind unbounded --video``: exposure +-1 stop, white balance, motion blur, hand
shake) -> ``ns-process-data video`` with COLMAP on the CPU (by default exhaustive matching and the
principal point kept) -> ``vanilla-nerf-pe-360`` for a fixed training time, scored on the held-out
frames against the clean ground truth (each frame at its true pose, neutral exposure, no blur), beside:

- the same training on the same frames with the **true poses** (and the true pinhole intrinsics);
- the preset **with camera refinement** and **without appearance codes**, and with a per-image
  **affine colour transform** (``appearance_affine``) beside the codes or instead of them;
- nerfstudio's **nerfacto** (pure-torch hash grid) on the same processed capture and budget;

and the rotation / translation error of the training cameras after a similarity alignment to the
true poses: COLMAP's, and the refined ones after each run.

Appearance is also scored as NeRF-W does (Martin-Brualla et al. 2021, sec. 6;
``vanilla_nerf_pe/nerf/held_out_appearance.py``): for each held-out frame its appearance (code,
affine transform) alone is fitted, the network frozen, to the left half of the frame as captured
(with its exposure), and the PSNR is taken on the right half; a run without per-image appearance
is scored on the same right half as it renders it.

    python benchmarks/capture_video.py --frames 60 --width 160 --budget 300 --threads 1 --jobs 2   # exhaustive matching, intrinsics kept
    python benchmarks/capture_video.py --colmap-only --matching sequential --refine-intrinsics      # COLMAP's poses with ns-process-data's defaults
    python benchmarks/capture_video.py --perturb 0.5 0.03 --camera-lrs 0 3e-4 1e-3 3e-3 --budget 120   # camera lr study

``--perturb DEG T``: no COLMAP; the training cameras of the true-pose capture are turned by DEG
degrees and moved by T (scene units; the orbit's radius is 2.6), the held-out ones keep their
true poses, and the preset trains with each ``--camera-lrs`` (0: refinement off).

Each run trains in its own process (``--single``), through nerfstudio's Trainer as ``ns-train``
steps (``benchmarks/wall_clock.py``'s harness: its run specs ``METHOD:key=value,...`` and LPIPS
stub). Writes ``<output-dir>/results.json`` and ``results.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wall_clock import PEER_OVERRIDES, apply_overrides, parse_run, stub_lpips  # noqa: E402  (this script's folder)

CONSOLE = Console()


# the captures -------------------------------------------------------------------------------------


def frames_by_name(transforms: Path) -> Dict[str, dict]:
    return {Path(f["file_path"]).name: f for f in json.loads(transforms.read_text())["frames"]}


def true_pose_capture(processed: Path, clip: Path, out: Path, perturb: Optional[tuple] = None, seed: int = 0) -> Path:
    """A nerfstudio-data folder with the processed frames (as decoded from the mp4) that COLMAP
    posed, under their true poses and the true pinhole intrinsics; with ``perturb`` (degrees,
    translation) the training frames' poses turned and moved (the held-out frames keep theirs)."""
    from vanilla_nerf_pe.core.pose_alignment import perturb_poses

    truth = json.loads((clip / "transforms.json").read_text())
    true = frames_by_name(clip / "transforms.json")
    names = sorted(frames_by_name(processed / "transforms.json"))
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    for name in names:
        shutil.copy(processed / "images" / name, out / "images" / name)
    poses = np.stack([np.array(true[n]["transform_matrix"]) for n in names])
    if perturb is not None:
        held_out = set(held_out_indices(len(names)))
        moved = perturb_poses(poses, perturb[0], perturb[1], seed=seed)
        poses = np.stack([poses[i] if i in held_out else moved[i] for i in range(len(names))])
    frames = [{"file_path": f"images/{n}", "transform_matrix": p.tolist()} for n, p in zip(names, poses)]
    meta = {k: truth[k] for k in ("camera_model", "fl_x", "fl_y", "cx", "cy", "w", "h")}
    (out / "transforms.json").write_text(json.dumps({**meta, "frames": frames}, indent=2))
    return out


def colmap_pose_note(processed: Path, clip: Path) -> str:
    """COLMAP's poses as ns-process-data wrote them against the true ones (after the similarity
    alignment), and its intrinsics against the true ones, in one line."""
    from vanilla_nerf_pe.core.pose_alignment import pose_errors

    meta, truth = json.loads((processed / "transforms.json").read_text()), json.loads((clip / "transforms.json").read_text())
    true = frames_by_name(clip / "transforms.json")
    names = [Path(f["file_path"]).name for f in meta["frames"]]
    rot, trans, _ = pose_errors(np.stack([np.array(f["transform_matrix"]) for f in meta["frames"]]),
                                np.stack([np.array(true[n]["transform_matrix"]) for n in names]))
    return (f"COLMAP's poses {np.median(rot):.2f} / {rot.max():.2f} deg (median / max), translation {np.median(trans):.3f} / {trans.max():.3f}; "
            f"{meta.get('camera_model')} fl {meta['fl_x']:.1f} / {meta['fl_y']:.1f}, principal point ({meta['cx']:.1f}, {meta['cy']:.1f}), "
            f"k1 {meta.get('k1', 0.0):.3f} (true: fl {truth['fl_x']:.1f}, ({truth['cx']:.0f}, {truth['cy']:.0f}), no distortion)")


def held_out_indices(num_images: int, train_fraction: float = 0.9) -> List[int]:
    """nerfstudio-data's held-out frames (eval mode "fraction", its default), by sorted name."""
    import math

    train = set(np.linspace(0, num_images - 1, math.ceil(num_images * train_fraction), dtype=int).tolist())
    return [i for i in range(num_images) if i not in train]


# one run ------------------------------------------------------------------------------------------


def train_and_score(spec: str, data: Path, clip: Path, budget: float) -> Dict[str, Any]:
    """Train ``spec`` on ``data`` for ``budget`` seconds (as ns-train steps), then score it."""
    from nerfstudio.configs.method_configs import all_methods
    from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
    from nerfstudio.engine.callbacks import TrainingCallbackLocation
    from nerfstudio.utils import writer

    from vanilla_nerf_pe.core import metrics
    from vanilla_nerf_pe.core.pose_alignment import pose_errors
    from vanilla_nerf_pe.nerf.camera_refinement import refined_poses
    from vanilla_nerf_pe.nerf.held_out_appearance import appearance_modules, render_right_half

    stub_lpips()
    method, overrides = parse_run(spec)
    # wall_clock's peer overrides are for Blender scenes: keep only nerfacto's pure-torch hash grid
    overrides = {k: v for k, v in overrides.items() if k not in PEER_OVERRIDES.get(method, {}) or k == "pipeline.model.implementation"}
    config = copy.deepcopy(all_methods[method])
    config.pipeline.datamanager.dataparser = NerfstudioDataParserConfig(data=data)
    apply_overrides(config, overrides)
    config.pipeline.datamanager.data = data
    config.machine.device_type = "cpu"
    config.vis = "tensorboard"
    config.output_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "capture_video_runs"
    config.set_timestamp()
    torch.manual_seed(0)
    trainer = config.setup(local_rank=0, world_size=1)
    trainer.setup()
    writer.EVENT_WRITERS.clear()
    pipeline, model = trainer.pipeline, trainer.pipeline.model
    trained, step = 0.0, 0
    while trained < budget and step < config.max_num_iterations:
        start = time.perf_counter()
        pipeline.train()
        for cb in trainer.callbacks:
            cb.run_callback_at_location(step, location=TrainingCallbackLocation.BEFORE_TRAIN_ITERATION)
        trainer.train_iteration(step)
        for cb in trainer.callbacks:
            cb.run_callback_at_location(step, location=TrainingCallbackLocation.AFTER_TRAIN_ITERATION)
        trained += time.perf_counter() - start
        step += 1

    pipeline.eval()
    eval_set = pipeline.datamanager.eval_dataset
    psnr_clean, psnr_frame, psnr_right, psnr_right_fitted = [], [], [], []
    fit_start = time.perf_counter()
    for i in range(len(eval_set)):
        name = Path(eval_set._dataparser_outputs.image_filenames[i]).name
        camera, frame = eval_set.cameras[i : i + 1], eval_set[i]["image"][..., :3]
        rgb = model.get_outputs_for_camera(camera)["rgb"].clamp(0, 1).cpu()
        clean = torch.from_numpy(np.asarray(_image(clip / "clean" / name), dtype=np.float32) / 255.0)
        psnr_clean.append(float(metrics.psnr(rgb, clean)))
        psnr_frame.append(float(metrics.psnr(rgb, frame)))
        half = frame.shape[1] // 2  # NeRF-W: the appearance fitted on the left half, scored on the right
        psnr_right.append(float(metrics.psnr(rgb[:, half:], frame[:, half:])))
        # without per-image appearance there is nothing to fit: the right half of the render above
        right = render_right_half(model, camera, frame).clamp(0, 1).cpu() if appearance_modules(model) else rgb[:, half:]
        psnr_right_fitted.append(float(metrics.psnr(right, frame[:, half:])))

    train_set = pipeline.datamanager.train_dataset
    names = [Path(p).name for p in train_set._dataparser_outputs.image_filenames]
    true = frames_by_name(clip / "transforms.json")
    true_poses = np.stack([np.array(true[n]["transform_matrix"])[:3] for n in names])
    given = train_set.cameras.camera_to_worlds.float()
    result: Dict[str, Any] = {"run": spec, "data": data.name, "iterations": step, "seconds": trained,
                              "psnr_clean": float(np.mean(psnr_clean)), "psnr_frame": float(np.mean(psnr_frame)), "eval_frames": len(psnr_clean),
                              "psnr_right": float(np.mean(psnr_right)), "psnr_right_fitted": float(np.mean(psnr_right_fitted)),
                              "eval_seconds": time.perf_counter() - fit_start}
    rot, trans, _ = pose_errors(given.numpy().astype(np.float64), true_poses)
    result.update(rotation_given=_stats(rot), translation_given=_stats(trans))
    camera_optimizer = getattr(model, "camera_optimizer", None)
    if camera_optimizer is not None and camera_optimizer.config.mode != "off":
        rot, trans, _ = pose_errors(refined_poses(camera_optimizer, train_set.cameras).numpy().astype(np.float64), true_poses)
        result.update(rotation_refined=_stats(rot), translation_refined=_stats(trans))
    return result


def _image(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _stats(errors: np.ndarray) -> Dict[str, float]:
    return {"median": float(np.median(errors)), "max": float(np.max(errors))}


# the table ----------------------------------------------------------------------------------------


def markdown(rows: List[Dict[str, Any]], header: str) -> str:
    def pose(r: Dict[str, Any], kind: str) -> str:
        if f"rotation_{kind}" not in r:
            return "-"
        rot, trans = r[f"rotation_{kind}"], r[f"translation_{kind}"]
        return f"{rot['median']:.3f} / {rot['max']:.3f} deg, {trans['median']:.4f} / {trans['max']:.4f}"

    lines = [header, "", "| run | poses | iterations | held-out PSNR vs clean | vs the frame | right half vs the frame | right half, appearance fitted on the left (NeRF-W) "
             "| training poses given (rotation median / max, translation median / max) | refined |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['label']} | {r['data']} | {r['iterations']} | {r['psnr_clean']:.2f} | {r['psnr_frame']:.2f} | {r['psnr_right']:.2f} | "
                     f"{r['psnr_right_fitted']:.2f} | {pose(r, 'given')} | {pose(r, 'refined')} |")
    scenes = sorted({r["scene"] for r in rows if r.get("scene")})
    if scenes:
        lines += ["", "Scene kind chosen by `--pipeline.model.scene auto` (as ns-train prints it): " + "; ".join(scenes)]
    return "\n".join(lines) + "\n"


def scene_line(stdout: str) -> Optional[str]:
    """The scene kind and its reason as the model prints them at start (rich wraps the line at 120
    columns: the lines that follow are joined until its parentheses close)."""
    lines = stdout.splitlines()
    for k, line in enumerate(lines):
        if line.startswith("vanilla-nerf-pe: scene "):
            text = line[len("vanilla-nerf-pe: scene "):].strip()
            for more in lines[k + 1 :]:
                if text.count("(") <= text.count(")"):
                    break
                text += " " + more.strip()
            return text
    return None


def run_single(spec: str, data: Path, clip: Path, budget: float, threads: Optional[int]) -> Optional[Dict[str, Any]]:
    cmd = [sys.executable, __file__, "--single", spec, "--single-data", str(data), "--clip", str(clip), "--budget", str(budget)]
    cmd += ["--threads", str(threads)] if threads else []
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "1000"})
    scene = scene_line(proc.stdout)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return {**json.loads(line[len("RESULT "):]), "scene": scene}
    tail = [line for line in (proc.stdout + proc.stderr).strip().splitlines() if line.strip()]
    CONSOLE.print(f"[red]  {spec} on {data.name} failed (exit {proc.returncode}): {tail[-1] if tail else 'no output'}")
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60, help="frames of the generated video (one orbit)")
    parser.add_argument("--width", type=int, default=160, help="frame width (height 3/4 of it)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exposure-stops", type=float, default=1.0, help="the exposure varies within this many stops either way")
    parser.add_argument("--exposure-curve", default="smooth", choices=["smooth", "random"],
                        help="exposure and white balance from frame to frame: smooth (auto-exposure) or random (each frame its own)")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds of training per run")
    parser.add_argument("--runs", nargs="*", default=["preset", "no-appearance", "true-poses", "nerfacto"],
                        help="which of preset, refinement, no-appearance, true-poses, nerfacto, camera-lr-1e-4, affine (codes and an affine "
                        "colour transform per image), affine-only (the transform instead of codes), true-poses-affine, true-poses-affine-only to train")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once (each in its own process)")
    parser.add_argument("--camera-type", default="perspective", choices=["perspective", "pinhole", "simple_pinhole"], help="ns-process-data's --camera-type")
    parser.add_argument("--matching", default="exhaustive", choices=["sequential", "exhaustive"],
                        help="ns-process-data's --matching-method (exhaustive closes the orbit: docs/real-captures.md)")
    parser.add_argument("--refine-intrinsics", action=argparse.BooleanOptionalAction, default=False,
                        help="ns-process-data's second bundle adjustment that also moves the principal point (off: --no-refine-intrinsics)")
    parser.add_argument("--reuse-colmap", action="store_true", help="keep <work-dir>/colmap from an earlier run with the same clip and options")
    parser.add_argument("--colmap-only", action="store_true", help="print COLMAP's pose errors and intrinsics, train nothing")
    parser.add_argument("--perturb", nargs=2, type=float, metavar=("DEG", "T"), help="the camera lr study instead (see the module docstring)")
    parser.add_argument("--camera-lrs", nargs="*", type=float, default=[0.0, 3e-4, 1e-3, 3e-3], help="with --perturb: camera_opt's lr (0: off)")
    parser.add_argument("--threads", type=int, help="torch threads per run (default: torch's; 1 on a CPU shared with other jobs, "
                        "where two threads wait on each other)")
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/capture_video_bench"), help="the clip, COLMAP's capture, the runs")
    parser.add_argument("--output-dir", type=Path, default=Path("benchmarks/results/capture_video"))
    parser.add_argument("--single", help=argparse.SUPPRESS)
    parser.add_argument("--single-data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--clip", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.single:
        print("RESULT " + json.dumps(train_and_score(args.single, args.single_data, args.clip, args.budget)), flush=True)
        return

    from vanilla_nerf_pe.core.errors import InputError
    from vanilla_nerf_pe.scenes.capture_video import VideoConfig, write_capture_video
    from vanilla_nerf_pe.nerf.video_capture import process_video

    work = args.work_dir
    clip = work / "clip"
    config = VideoConfig(width=args.width, num_frames=args.frames, seed=args.seed, exposure_stops=args.exposure_stops, exposure_curve=args.exposure_curve)
    CONSOLE.print(f"[bold]video[/bold]: {config.num_frames} frames at {config.width}x{config.height}, exposure +-{config.exposure_stops} stops "
                  f"({config.exposure_curve}), seed {config.seed}")
    write_capture_video(clip, config)
    processed = work / "colmap"
    if args.perturb is None:
        note_file = work / "colmap_note.txt"
        if args.reuse_colmap and note_file.is_file() and (processed / "transforms.json").is_file():
            colmap_note = note_file.read_text()
        else:
            if processed.exists():
                shutil.rmtree(processed)
            CONSOLE.print(f"[bold]ns-process-data video[/bold] (COLMAP, {args.matching} matching, {args.camera_type} camera, CPU) ...")
            try:
                capture = process_video(clip / "video.mp4", processed, args.matching, num_downscales=0, camera_type=args.camera_type,
                                        refine_intrinsics=args.refine_intrinsics)
            except InputError as error:  # COLMAP's failure in one line
                raise SystemExit(f"capture_video.py: error: {error}") from None
            colmap_note = (f"ns-process-data {args.matching} matching, --camera-type {args.camera_type}"
                           f"{'' if args.refine_intrinsics else ', --no-refine-intrinsics'}: COLMAP posed {capture.num_posed} "
                           f"of {capture.num_frames} frames in {capture.seconds:.0f} s")
            note_file.write_text(colmap_note)
        CONSOLE.print(f"  {colmap_note}")
        pose_note = colmap_pose_note(processed, clip)
        CONSOLE.print(f"  {pose_note}", soft_wrap=True)
        if args.colmap_only:
            return
        colmap_note += f"; {pose_note}"
    else:
        colmap_note = "no COLMAP: the true poses, perturbed"
        if not (processed / "transforms.json").is_file():  # the frames as decoded from the mp4, all posed
            (processed / "images").mkdir(parents=True, exist_ok=True)
            subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(clip / "video.mp4"), str(processed / "images" / "frame_%05d.png")], check=True)
            shutil.copy(clip / "transforms.json", processed / "transforms.json")
    true_capture = true_pose_capture(processed, clip, work / "true", tuple(args.perturb) if args.perturb else None, args.seed)

    plan = []  # (label, spec, data)
    if args.perturb is None:
        table = {
            "preset": ("vanilla-nerf-pe-360", "vanilla-nerf-pe-360", processed),
            "refinement": ("vanilla-nerf-pe-360 with camera refinement", "vanilla-nerf-pe-360:camera_optimizer.mode='SO3xR3'", processed),
            "no-appearance": ("vanilla-nerf-pe-360, no appearance codes", "vanilla-nerf-pe-360:appearance_embedding_dim=0", processed),
            "true-poses": ("vanilla-nerf-pe-360, true poses", "vanilla-nerf-pe-360", true_capture),
            "nerfacto": ("nerfacto (torch hash grid)", "nerfacto", processed),
            "affine": ("vanilla-nerf-pe-360, codes and affine colour", "vanilla-nerf-pe-360:appearance_affine=True", processed),
            "affine-only": ("vanilla-nerf-pe-360, affine colour instead of codes", "vanilla-nerf-pe-360:appearance_embedding_dim=0,appearance_affine=True", processed),
            "true-poses-affine": ("vanilla-nerf-pe-360, codes and affine colour, true poses", "vanilla-nerf-pe-360:appearance_affine=True", true_capture),
            "true-poses-affine-only": ("vanilla-nerf-pe-360, affine colour instead of codes, true poses",
                                       "vanilla-nerf-pe-360:appearance_embedding_dim=0,appearance_affine=True", true_capture),
            "camera-lr-1e-4": ("vanilla-nerf-pe-360, camera_opt lr 1e-4", "vanilla-nerf-pe-360:camera_optimizer.mode='SO3xR3',optimizers.camera_opt.optimizer.lr=1e-4,"
                               "optimizers.camera_opt.scheduler.lr_final=1e-5", processed),
        }
        plan = [table[name] for name in args.runs]
    else:
        for lr in args.camera_lrs:
            if lr == 0:
                plan.append(("camera refinement off", "vanilla-nerf-pe-360:camera_optimizer.mode='off'", true_capture))
            else:
                plan.append((f"camera_opt lr {lr:g}", f"vanilla-nerf-pe-360:camera_optimizer.mode='SO3xR3',optimizers.camera_opt.optimizer.lr={lr},"
                             f"optimizers.camera_opt.scheduler.lr_final={lr / 10:g}", true_capture))

    args.output_dir.mkdir(parents=True, exist_ok=True)
    rows: List[Optional[Dict[str, Any]]] = [None] * len(plan)

    def one(k: int) -> None:
        label, spec, data = plan[k]
        CONSOLE.print(f"[bold]training[/bold] {label} on {data.name} for {args.budget:.0f} s ...")
        result = run_single(spec, data, clip, args.budget, args.threads)
        if result is None:
            return
        rows[k] = {**result, "label": label}
        CONSOLE.print(f"  {label}: {result['iterations']} iterations, held-out PSNR {result['psnr_clean']:.2f} dB vs clean, "
                      f"{result['psnr_frame']:.2f} vs the frame, right half {result['psnr_right']:.2f}, fitted on the left {result['psnr_right_fitted']:.2f}")
        done = [r for r in rows if r is not None]
        (args.output_dir / "results.json").write_text(json.dumps({"header": "(partial)", "rows": done}, indent=2))

    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        list(pool.map(one, range(len(plan))))
    rows = [r for r in rows if r is not None]
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    cpu = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "CPU")
    cpu += " with AVX512-BF16" if "avx512_bf16" in lscpu else ""
    header = (f"{time.strftime('%Y-%m-%d')}, {cpu}, {torch.get_num_threads()} threads per run, {max(args.jobs, 1)} runs at once. Video: {config.num_frames} frames at "
              f"{config.width}x{config.height}, exposure +-{config.exposure_stops} stops ({config.exposure_curve}), seed {config.seed}; {colmap_note}; "
              f"{args.budget:.0f} s of training per run. Command: python {' '.join(sys.argv)}")
    text = markdown(rows, header)
    (args.output_dir / "results.md").write_text(text)
    (args.output_dir / "results.json").write_text(json.dumps({"header": header, "rows": rows}, indent=2))
    print(text)


if __name__ == "__main__":
    main()

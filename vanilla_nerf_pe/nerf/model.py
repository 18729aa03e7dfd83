"""The vanilla-nerf-pe model: a NeRF field, one of three samplers, volume rendering.

Mildenhall et al. 2020, "NeRF: Representing Scenes as Neural Radiance Fields for View Synthesis".
The model assembles a field (:mod:`vanilla_nerf_pe.nerf.field`, whose coordinate network is
``--pipeline.model.network.*``) with a sampler (:mod:`vanilla_nerf_pe.nerf.samplers`:
``hierarchical``, ``proposal`` or ``occupancy``, each with its option group), renders the
sampler's bins with :func:`~vanilla_nerf_pe.core.render.composite` and trains with
:mod:`vanilla_nerf_pe.nerf.losses`. The scene space (:mod:`vanilla_nerf_pe.nerf.spaces`, one class per kind:
bounded, forward-facing with NDC rays, unbounded with contraction; ``auto`` chooses from the training
cameras) decides where rays are sampled and what the field sees. It decides in one place (:meth:`VanillaNeRFPEModel.background`)
what lies behind the scene, nerfstudio's viewer / ``ns-render`` override included.

Outputs (each ``[num_rays, C]``): ``rgb``, ``depth``, ``accumulation`` of the final pass (the names
nerfstudio's viewer and ``ns-render`` use by default); ``rgb_<pass>``, ``depth_<pass>``,
``accumulation_<pass>`` for each earlier pass a sampler renders (the hierarchical sampler's
``coarse``); ``num_samples`` (bins rendered per ray).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional, Tuple, Type

import torch
from nerfstudio.cameras.camera_optimizers import CameraOptimizer, CameraOptimizerConfig
from nerfstudio.cameras.rays import RayBundle
from nerfstudio.configs.config_utils import to_immutable_dict
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackAttributes
from nerfstudio.models.base_model import Model, ModelConfig
from nerfstudio.utils import colormaps
from nerfstudio.utils.rich_utils import CONSOLE
from torch import Tensor
from torch.nn import Parameter

from vanilla_nerf_pe.core import metrics
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.network import CoordinateNetworkConfig
from vanilla_nerf_pe.core.precision import PRECISIONS, Precision, check_precision, dtype_name
from vanilla_nerf_pe.core.render import BACKGROUND_KINDS, background_color
from vanilla_nerf_pe.nerf.appearance import AffineColor, AppearanceEmbedding, EvalAppearance
from vanilla_nerf_pe.nerf.field import DensityActivation, NeRFField
from vanilla_nerf_pe.nerf.guard import TrainingGuard
from vanilla_nerf_pe.nerf.legacy import migrate_legacy_options, migrate_legacy_state
from vanilla_nerf_pe.nerf.losses import distortion_loss, photometric_loss
from vanilla_nerf_pe.nerf.spaces import SceneKind, build_scene_space
from vanilla_nerf_pe.nerf.samplers import (
    Background,
    HierarchicalSamplerConfig,
    OccupancySamplerConfig,
    ProposalSamplerConfig,
    SamplerConfig,
    render_bins,
)

SamplerKind = Literal["hierarchical", "proposal", "occupancy"]
BackgroundOption = Literal["auto", "white", "black", "random", "last_sample"]
SAMPLER_KINDS: Tuple[str, ...] = ("hierarchical", "proposal", "occupancy")

PAPER_DIFFERENCES: Dict[str, Tuple[Any, Any, str]] = {
    "density_activation": (
        "relu", "softplus",
        "softplus keeps a gradient for empty space, so no density unit locks into 'dead' in the first iterations",
    ),
    "rgb_padding": (
        0.0, 0.001,
        "mip-NeRF's padding: black and white pixels are reached at finite logits, so they do not drive the "
        "sigmoid's gradient towards zero",
    ),
}
"""Where the model's defaults differ from the paper: option -> (paper, ours, why). Adam's epsilon is
the paper's (1e-7) in the ``vanilla-nerf-pe`` preset (:mod:`vanilla_nerf_pe.nerf.method_configs`)."""


def nerf_network() -> CoordinateNetworkConfig:
    """The NeRF field's coordinate network: the shared defaults with the paper's trunk (8 x 256,
    skip at layer 4), the raw position next to its encoding (as the authors' code feeds it) and a
    Fourier sigma of 2: scenes need a lower bandwidth than the shared default of 10, Tancik et
    al.'s for 2D images (the tuning runs are in docs/benchmarks.md)."""
    return CoordinateNetworkConfig(num_layers=8, width=256, skip_connections=(4,), pe_include_input=True, fourier_sigma=2.0)


@dataclass
class VanillaNeRFPEModelConfig(ModelConfig):
    """NeRF with positional encoding; the defaults are the paper's except PAPER_DIFFERENCES."""

    _target: Type = field(default_factory=lambda: VanillaNeRFPEModel)
    enable_collider: bool = False
    """the scene kind sets every ray's near and far (see collider_params)."""
    collider_params: Optional[Dict[str, float]] = None
    """{"near_plane": n, "far_plane": f}: near and far of every ray of a bounded scene. None: the
    dataparser's (Blender: NeRF's 2 and 6), else from the cameras and the scene box."""
    scene: SceneKind = "auto"
    """"bounded" (the scene box), "forward-facing" (NDC rays, NeRF appendix C), "unbounded"
    (mip-NeRF 360's contraction) or "auto": chosen from the training cameras, printed at start."""
    unbounded_far: float = 1000.0
    """far distance of unbounded scenes, in radii of the ball around the training cameras."""
    loss_coefficients: Dict[str, float] = to_immutable_dict({"rgb_loss_coarse": 1.0, "rgb_loss_fine": 1.0})
    """weights of the photometric losses of the final pass ("rgb_loss_fine") and of earlier passes
    ("rgb_loss_<pass>", e.g. the hierarchical sampler's coarse pass)."""
    network: CoordinateNetworkConfig = field(default_factory=nerf_network)
    """the field's coordinate network: kind (pe, fourier, siren, hash, none), trunk and encoding."""
    direction_frequencies: int = 4
    """L of the positional encoding of the view direction."""
    color_width: int = 128
    """width of the view-dependent colour layer."""
    density_activation: DensityActivation = "softplus"
    """"relu" (the paper) or "softplus" (see PAPER_DIFFERENCES)."""
    density_bias: float = 0.0
    """added to the raw density before the activation; mip-NeRF's -1 with softplus starts from a
    thinner fog. 0 is the paper."""
    rgb_padding: float = 0.001
    """colour = sigmoid(x) (1 + 2 p) - p; 0 is the paper's plain sigmoid (see PAPER_DIFFERENCES)."""
    precision: Precision = "float32"
    """dtype of the fields' matrix products: "float32"; "bfloat16" (autocast around the MLPs; the
    encodings, the rendering and the weights stay float32); "auto": bfloat16 for a ReLU field on a
    CPU with native bfloat16 (AVX512-BF16, AMX), else float32."""
    background_color: BackgroundOption = "auto"
    """colour behind the scene. "random" trains on a random colour per ray and needs RGBA images
    (blender-data --alpha-color None); "last_sample" is the colour of each ray's last bin (what lies
    beyond the far bound: sky, far walls). "auto": white for bounded scenes (nerfstudio's Blender
    dataparser composites on white), last_sample for forward-facing and unbounded ones."""
    random_background_in_training: bool = False
    """train on a random colour per ray behind the scene, with the RGBA target composited on the same
    colour, where the training images have alpha (Blender's, loaded with ``blender-data
    --alpha-color None``); evaluation, the viewer and the metrics keep ``background_color``. A fixed
    white lets the field paint the background into the scene as white fog near the object, which
    also keeps occupancy-grid cells occupied; a random one only matches where the scene is empty
    (Instant-NGP and nerfacc train Blender scenes this way). Without alpha it does nothing."""
    sampler: SamplerKind = "hierarchical"
    """"hierarchical" (NeRF's coarse + fine fields), "proposal" (mip-NeRF 360's proposal networks)
    or "occupancy" (occupancy-grid marching with early termination); options in the group of that name."""
    hierarchical: HierarchicalSamplerConfig = field(default_factory=HierarchicalSamplerConfig)
    """options of the hierarchical sampler."""
    proposal: ProposalSamplerConfig = field(default_factory=ProposalSamplerConfig)
    """options of the proposal sampler."""
    occupancy: OccupancySamplerConfig = field(default_factory=OccupancySamplerConfig)
    """options of the occupancy-grid sampler."""
    distortion_loss_mult: float = 0.0
    """weight of mip-NeRF 360's distortion loss on the final weights (0: off; dense samplers only)."""
    compile_field: bool = False
    """run every field's density and feature pass through ``torch.compile`` (dynamic shapes). Off by
    default, the GPU preset included: compiling costs minutes on a CPU before the first step, and
    on a GPU it has not been measured in a training run yet (docs/training.md)."""
    cuda_matmul_precision: Literal["highest", "high"] = "highest"
    """float32 matrix products on a CUDA device: "highest" (IEEE float32) or "high" (TensorFloat-32
    on Ampere and newer cards), set with ``torch.set_float32_matmul_precision`` when training starts
    on CUDA. Nothing changes on a CPU."""
    collapse_check_step: int = 500
    """end of the warm-up after which a training whose mean accumulated opacity (moving average over
    the training batches) is below collapse_min_accumulation stops as collapsed to an empty scene
    (0: no check)."""
    collapse_min_accumulation: float = 1e-3
    """see collapse_check_step."""
    appearance_embedding_dim: int = 0
    """length of a learned code per training image fed to the colour branch (NeRF-W; exposure and
    white balance that change between photographs, :mod:`vanilla_nerf_pe.nerf.appearance`). 0: off."""
    appearance_at_eval: EvalAppearance = "average"
    """the code (and affine colour transform) of views outside training (evaluation, viewer,
    ns-render): "average" of the training images' (nerfacto's choice) or "zeros" (the identity transform)."""
    appearance_affine: bool = False
    """a learned affine colour transform (3 x 3 matrix and offset) of each training image's rendered
    colour, for its exposure and white balance (:class:`vanilla_nerf_pe.nerf.appearance.AffineColor`)."""
    camera_optimizer: CameraOptimizerConfig = field(default_factory=lambda: CameraOptimizerConfig(mode="off"))
    """refinement of the training cameras' poses (nerfstudio's camera optimiser, "SO3xR3" as
    nerfacto; :mod:`vanilla_nerf_pe.nerf.camera_refinement`), trained by the "camera_opt" optimizer. "off" by default."""

    def sampler_config(self) -> SamplerConfig:
        """The option group of the chosen sampler."""
        return getattr(self, self.sampler)

    def check(self) -> None:
        """Raise InputError with a one-line reason if the options do not fit together."""
        self.network.check("--pipeline.model.network.")
        if self.sampler not in SAMPLER_KINDS:
            raise InputError(f"--pipeline.model.sampler {self.sampler!r}: choose one of {', '.join(SAMPLER_KINDS)}")
        if self.background_color not in ("auto",) + BACKGROUND_KINDS:
            raise InputError(f"--pipeline.model.background-color {self.background_color!r}: choose one of auto, {', '.join(BACKGROUND_KINDS)}")
        if self.unbounded_far <= 1.0:
            raise InputError(f"--pipeline.model.unbounded-far must be > 1 (radii), got {self.unbounded_far}")
        if self.precision not in PRECISIONS:
            raise InputError(f"--pipeline.model.precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        try:
            check_precision(self.precision, self.network.kind == "siren")
        except InputError as exc:
            raise InputError(f"--pipeline.model.precision: {exc}") from None
        if self.collider_params is not None and not {"near_plane", "far_plane"} <= set(self.collider_params):
            raise InputError("--pipeline.model.collider-params needs near_plane and far_plane")
        if self.appearance_embedding_dim < 0:
            raise InputError(f"--pipeline.model.appearance-embedding-dim must be >= 0, got {self.appearance_embedding_dim}")
        if self.sampler == "occupancy" and self.distortion_loss_mult > 0:
            raise InputError(
                "--pipeline.model.distortion-loss-mult needs the dense bins of the hierarchical or proposal sampler, "
                "not the occupancy sampler's packed ones"
            )

    def __setstate__(self, state: Dict[str, Any]) -> None:
        """Also loads a config.yml written before the option groups (:func:`~vanilla_nerf_pe.nerf.legacy.migrate_legacy_options`)."""
        self.__dict__.update(VanillaNeRFPEModelConfig().__dict__)
        self.__dict__.update(migrate_legacy_options(state, self))


def background_override() -> Optional[Tensor]:
    """The [3] colour that nerfstudio's viewer and ``ns-render`` set with
    ``background_color_override_context``, which its own renderer reads from a module global; None
    when none is set."""
    from nerfstudio.model_components import renderers

    return renderers.BACKGROUND_COLOR_OVERRIDE


class VanillaNeRFPEModel(Model):
    """See the module docstring."""

    config: VanillaNeRFPEModelConfig

    def populate_modules(self) -> None:
        super().populate_modules()
        cfg = self.config
        cfg.check()
        metadata = self.kwargs.get("metadata") or {}
        collider = (cfg.collider_params["near_plane"], cfg.collider_params["far_plane"]) if cfg.collider_params else None
        self.space, choice = build_scene_space(
            cfg.scene, self.scene_box.aabb, metadata.get("train_cameras"), metadata, cfg.unbounded_far, collider
        )
        CONSOLE.print(f"vanilla-nerf-pe: scene {choice}")

        def make_field(num_layers: Optional[int] = None, width: Optional[int] = None, color: bool = True) -> NeRFField:
            network = dataclasses.replace(cfg.network, num_layers=num_layers or cfg.network.num_layers, width=width or cfg.network.width)
            new_field = NeRFField(
                network, cfg.direction_frequencies, cfg.color_width if color else None,
                cfg.density_activation, cfg.density_bias, cfg.rgb_padding, cfg.precision,
                appearance_dim=cfg.appearance_embedding_dim if color else 0,
            )
            if cfg.compile_field:
                new_field.compile_networks()
            return new_field

        # the datamanager says whether the training images keep their alpha (vanilla_nerf_pe.nerf.data)
        self.random_training_background = cfg.random_background_in_training and bool(metadata.get("images_have_alpha", False))
        if cfg.random_background_in_training and not self.random_training_background:
            CONSOLE.print("vanilla-nerf-pe: the training images have no alpha: --pipeline.model.random-background-in-training does nothing")
        self.appearance = (
            AppearanceEmbedding(self.num_train_data, cfg.appearance_embedding_dim, cfg.appearance_at_eval) if cfg.appearance_embedding_dim > 0 else None
        )
        self.color_transform = AffineColor(self.num_train_data, cfg.appearance_at_eval) if cfg.appearance_affine else None
        # nerfstudio's viewer and ns-export read the refined training poses from model.camera_optimizer
        self.camera_optimizer: CameraOptimizer = cfg.camera_optimizer.setup(num_cameras=self.num_train_data, device="cpu")
        self.field = make_field()
        self.sampler = cfg.sampler_config().setup(make_field)
        self.guard = TrainingGuard(cfg.collapse_check_step, cfg.collapse_min_accumulation)
        self._register_load_state_dict_pre_hook(
            lambda state_dict, prefix, *args: migrate_legacy_state(state_dict, prefix, self.space.state_dict(prefix=prefix + "space."))
        )

    def get_param_groups(self) -> Dict[str, List[Parameter]]:
        camera = {id(p) for p in self.camera_optimizer.parameters()}
        groups = {"fields": [p for p in self.parameters() if p.requires_grad and id(p) not in camera]}
        self.camera_optimizer.get_param_groups(groups)  # "camera_opt", unless off
        return groups

    def get_training_callbacks(self, training_callback_attributes: TrainingCallbackAttributes) -> List[TrainingCallback]:
        trainer = training_callback_attributes.trainer if training_callback_attributes is not None else None
        # "auto" depends on the machine: say what it became, since config.yml only says "auto".
        dtype = dtype_name(self.field.compute_dtype(self.device))
        if self.device.type == "cuda":
            torch.set_float32_matmul_precision(self.config.cuda_matmul_precision)
            dtype += f", float32 matrix products at precision {self.config.cuda_matmul_precision!r}"
        CONSOLE.print(f"vanilla-nerf-pe: field MLPs in {dtype} (--pipeline.model.precision {self.config.precision}, {self.device.type})")
        return self.guard.callbacks(trainer, self.parameters) + self.sampler.training_callbacks(self.field, self.space)

    # rendering ----------------------------------------------------------------------------------
    def configured_background(self) -> str:
        """``background_color`` with "auto" resolved by the scene space (white for bounded scenes,
        whose Blender images nerfstudio composites on white; the last sample elsewhere)."""
        kind = self.config.background_color
        return self.space.auto_background if kind == "auto" else kind

    def background(self, batch_shape: Tuple[int, ...], like: Tensor) -> Background:
        """What lies behind the scene for rays of ``batch_shape``: nerfstudio's override (viewer,
        ``ns-render``) outside training, else ``background_color``; "random" is black outside
        training, as nerfstudio evaluates it; with ``random_background_in_training`` (and RGBA
        images) training rays see a random colour whatever ``background_color`` is."""
        override = None if self.training else background_override()
        if override is not None:
            return override.to(like).expand(*batch_shape, 3)
        kind = "random" if self.training and self.random_training_background else self.configured_background()
        if kind == "last_sample":
            return "last_sample"
        return background_color("black" if kind == "random" and not self.training else kind, batch_shape, like)

    def get_outputs(self, ray_bundle: RayBundle) -> Dict[str, Any]:  # type: ignore[override]
        if self.training:  # the refined training poses; other views keep theirs (as nerfacto)
            self.camera_optimizer.apply_to_raybundle(ray_bundle)
        rays = self.space.rays(ray_bundle.origins, ray_bundle.directions)  # float32, whatever the camera's dtype
        if self.appearance is not None:
            rays.appearance = self.appearance(ray_bundle.camera_indices, rays.origins.shape[0], self.training)
        background = self.background(rays.origins.shape[:-1], rays.origins)
        samples = self.sampler(rays, self.field, background)
        final = render_bins(
            self.field, rays, samples.t_starts, samples.t_ends, samples.far, background, samples.ray_indices, samples.density_and_feature
        )
        outputs: Dict[str, Any] = {k: final[k] for k in ("rgb", "depth", "accumulation")}
        for name, rendered in samples.passes.items():
            outputs.update({f"{k}_{name}": v for k, v in rendered.items()})
        outputs["num_samples"] = samples.stats["num_samples"]
        if self.color_transform is not None:  # each image's exposure and white balance
            for key in [k for k in outputs if k.startswith("rgb")]:
                outputs[key] = self.color_transform(outputs[key], ray_bundle.camera_indices, self.training)
        if self.training:  # for the losses and metrics (not tensors of the image: never in eval outputs)
            outputs.update(samples=samples, weights=final["weights"], background=background)
        else:
            for key in [k for k in outputs if k.startswith("rgb")]:
                outputs[key] = torch.nan_to_num(outputs[key]).clamp(0.0, 1.0)
        return outputs

    def get_rgba_image(self, outputs: Dict[str, Tensor], output_name: str = "rgb") -> Tensor:
        """[H, W, 4]: the colour without the background and the accumulated opacity as alpha, for
        ``ns-export`` (which keeps points with alpha > 0.5) and the viewer's RGBA renders.

        nerfstudio's ``Model.get_rgba_image`` reads a ``renderer_rgb`` module, which our renderer (pure
        functions) does not have. With the "last_sample" background the colour cannot be separated
        from the background: alpha is 1, as nerfstudio does for every background but "random".
        """
        rgb = outputs[output_name]
        accumulation = outputs[output_name.replace("rgb", "accumulation")]
        background = self.background(rgb.shape[:-1], rgb)
        if isinstance(background, str):
            return torch.cat((rgb, torch.ones_like(rgb[..., :1])), dim=-1)
        color = rgb - (1.0 - accumulation) * background  # rgb = colour + (1 - accumulation) * background
        return torch.cat(((color / accumulation.clamp_min(1e-10)).clamp(0.0, 1.0), accumulation), dim=-1)

    # losses and metrics ---------------------------------------------------------------------------
    def target_rgb(self, image: Tensor, background: Any = None) -> Tensor:
        """The pixel colour [..., 3]: an RGBA image composited on the rendering's ``background``
        ([..., 3], from the training outputs) or, without one, on the configured colour (black for
        "random" and "last_sample", like nerfstudio's blend_background)."""
        if image.shape[-1] != 4:
            if self.training and self.config.background_color == "random":
                raise InputError(
                    "--pipeline.model.background-color random needs RGBA training images, but the datamanager gives RGB: "
                    "load the data with `blender-data --alpha-color None`, or use a fixed background"
                )
            return image[..., :3]
        if not isinstance(background, Tensor):
            background = background_color("white" if self.configured_background() == "white" else "black", image.shape[:-1], image)
        alpha = image[..., 3:]
        return image[..., :3] * alpha + background * (1.0 - alpha)

    @staticmethod
    def pass_names(outputs: Dict[str, Any]) -> List[str]:
        """The rendered passes in ``outputs``: "" (final) and each earlier pass's name."""
        return [""] + [key[len("rgb_"):] for key in outputs if key.startswith("rgb_")]

    def get_metrics_dict(self, outputs, batch) -> Dict[str, Tensor]:
        target = self.target_rgb(batch["image"].to(self.device), outputs.get("background"))
        num_samples = outputs["num_samples"]
        metrics_dict = {
            "psnr": metrics.psnr(outputs["rgb"].detach(), target),
            "samples_per_ray": num_samples.mean(),
            # nerfstudio's DynamicBatchPipeline sizes the next batch from this (never 0: it divides).
            "num_samples_per_batch": num_samples.sum().clamp(min=1.0),
        }
        if "samples" in outputs:  # the sampler's statistics (evaluations_per_ray, ...)
            metrics_dict.update({k: v.mean() for k, v in outputs["samples"].stats.items() if k != "num_samples"})
        if self.training:
            self.camera_optimizer.get_metrics_dict(metrics_dict)
        return metrics_dict

    def get_loss_dict(self, outputs, batch, metrics_dict=None) -> Dict[str, Tensor]:
        cfg = self.config
        target = self.target_rgb(batch["image"].to(self.device), outputs.get("background"))
        losses = {}
        for name in self.pass_names(outputs):
            key = f"rgb_loss_{name or 'fine'}"
            losses[key] = cfg.loss_coefficients.get(key, 1.0) * photometric_loss(outputs["rgb" + (f"_{name}" if name else "")], target)
        if "samples" in outputs:
            samples, w = outputs["samples"], outputs["weights"]
            if samples.s is not None:
                losses.update(self.sampler.losses(samples, samples.s, w))
                if cfg.distortion_loss_mult > 0:
                    losses["distortion_loss"] = cfg.distortion_loss_mult * distortion_loss(samples.s, w)
            self.guard.check_batch(losses, outputs["accumulation"])
        if self.training:
            self.camera_optimizer.get_loss_dict(losses)  # its regulariser, unless off
        return losses

    def get_image_metrics_and_images(
        self, outputs: Dict[str, Tensor], batch: Dict[str, Tensor]
    ) -> Tuple[Dict[str, float], Dict[str, Tensor]]:
        rgb = outputs["rgb"]
        target = self.target_rgb(batch["image"].to(rgb.device))
        metrics_dict = {"psnr": float(metrics.psnr(rgb, target)), "ssim": float(metrics.ssim(rgb, target))}
        passes = self.pass_names(outputs)[1:] + [""]  # earlier passes first, the final pass last
        for name in passes[:-1]:
            metrics_dict[f"{name}_psnr"] = float(metrics.psnr(outputs[f"rgb_{name}"], target))
        lpips = metrics.lpips_metric(rgb.device)
        if lpips is not None:
            metrics_dict["lpips"] = float(lpips(rgb, target))

        # bounded scenes' depth on the rays' fixed range; NDC and contracted depths on each image's own
        near, far = self.space.depth_range()
        suffixes = [f"_{name}" if name else "" for name in passes]
        images = {
            "img": torch.cat([target] + [outputs["rgb" + s] for s in suffixes], dim=1),
            "accumulation": torch.cat([colormaps.apply_colormap(outputs["accumulation" + s]) for s in suffixes], dim=1),
            "depth": torch.cat(
                [
                    colormaps.apply_depth_colormap(outputs["depth" + s], accumulation=outputs["accumulation" + s], near_plane=near, far_plane=far)
                    for s in suffixes
                ],
                dim=1,
            ),
        }
        return metrics_dict, images

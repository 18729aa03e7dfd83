"""The vanilla-nerf-pe model: a NeRF field, one of three samplers, volume rendering.

Mildenhall et al. 2020, "NeRF: Representing Scenes as Neural Radiance Fields for View Synthesis".
The model assembles a field (``field``: ``pe``, ``fourier`` or ``siren``, see
:mod:`vanilla_nerf_pe.fields`) with a sampler (``sampler``, see :mod:`vanilla_nerf_pe.samplers`):

- ``hierarchical`` (the paper): ``num_coarse_samples`` stratified bins through a coarse field, whose
  weights give ``num_importance_samples`` more for the fine field (coarse + new, sorted); both
  renderings are trained against the pixel colour.
- ``proposal`` (mip-NeRF 360): small density-only proposal networks choose the
  ``num_nerf_samples`` bins of the one NeRF field; they learn from the interlevel loss.
- ``occupancy`` (Instant-NGP / nerfacc): bins of ``render_step_size`` in occupied cells of a grid,
  packed, with early ray termination; one field.

Outputs (each ``[num_rays, C]``): ``rgb``, ``depth``, ``accumulation`` of the final pass (the names
nerfstudio's viewer and ``ns-render`` use by default); ``rgb_coarse``, ``depth_coarse``,
``accumulation_coarse`` with the hierarchical sampler; ``num_samples`` (bins rendered per ray).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Tuple, Type

import torch
from nerfstudio.cameras.rays import RayBundle
from nerfstudio.configs.config_utils import to_immutable_dict
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackAttributes, TrainingCallbackLocation
from nerfstudio.models.base_model import Model, ModelConfig
from nerfstudio.utils import colormaps
from nerfstudio.utils.rich_utils import CONSOLE
from torch import Tensor
from torch.nn import Parameter

from vanilla_nerf_pe import metrics, stepfun
from vanilla_nerf_pe.errors import InputError
from vanilla_nerf_pe.fields import FIELD_KINDS, PRECISIONS, DensityActivation, FieldKind, NeRFField, Precision, make_nerf_field
from vanilla_nerf_pe.render import (
    background_rgb,
    composite_depth,
    composite_depth_packed,
    composite_packed,
    composite_rgb,
    compute_weights,
    compute_weights_packed,
)
from vanilla_nerf_pe.guard import TrainingGuard
from vanilla_nerf_pe.samplers import OccupancySampler, PDFSampler, ProposalSampler, StratifiedSampler, bin_positions, near_far

SamplerKind = Literal["hierarchical", "proposal", "occupancy"]
SAMPLER_KINDS: Tuple[str, ...] = ("hierarchical", "proposal", "occupancy")


@dataclass
class VanillaNeRFPEModelConfig(ModelConfig):
    """NeRF with positional encoding; the defaults are the paper's."""

    _target: Type = field(default_factory=lambda: VanillaNeRFPEModel)
    collider_params: Optional[Dict[str, float]] = to_immutable_dict({"near_plane": 2.0, "far_plane": 6.0})
    """near and far distance of every ray (NeRF's Blender scenes: 2 and 6)."""
    loss_coefficients: Dict[str, float] = to_immutable_dict({"rgb_loss_coarse": 1.0, "rgb_loss_fine": 1.0})
    """weights of the coarse and fine photometric losses."""
    field: FieldKind = "pe"
    """how positions reach the MLP: "pe" (positional encoding), "fourier" (Gaussian Fourier
    features), "siren" (sine layers on raw coordinates)."""
    sampler: SamplerKind = "hierarchical"
    """"hierarchical" (NeRF's coarse + fine fields), "proposal" (mip-NeRF 360's proposal networks)
    or "occupancy" (occupancy-grid marching with early termination)."""
    num_coarse_samples: int = 64
    """hierarchical: stratified samples per ray for the coarse field."""
    num_importance_samples: int = 128
    """hierarchical: samples per ray drawn from the coarse weights; the fine field sees coarse + these."""
    position_frequencies: int = 10
    """pe: L of the positional encoding of x; 0 feeds raw coordinates (the no-encoding baseline)."""
    direction_frequencies: int = 4
    """L of the positional encoding of the view direction."""
    fourier_features: int = 256
    """fourier: number m of random frequencies (the encoding has 2 m features)."""
    fourier_sigma: float = 2.0
    """fourier: standard deviation of the frequencies, in cycles per half-width of the scene box
    (lego_100, 150 s: sigma 2 23.6 dB, 4 23.0 dB; 8 did not train in 60 s)."""
    fourier_seed: int = 0
    """fourier: seed of the draw of B (B is saved in the checkpoint)."""
    siren_first_omega_0: float = 30.0
    """siren: frequency factor of the first sine layer (the paper's 30)."""
    siren_hidden_omega_0: float = 30.0
    """siren: frequency factor of the other sine layers."""
    num_layers: int = 8
    """hidden layers of the trunk."""
    hidden_dim: int = 256
    """width of the trunk."""
    skip_connections: Tuple[int, ...] = (4,)
    """trunk layers that see the encoded input again (pe and fourier; SIREN has none)."""
    color_hidden_dim: int = 128
    """width of the view-dependent colour layer."""
    coarse_num_layers: Optional[int] = None
    """hierarchical: trunk depth of the coarse field; None: the same as the fine field (the paper)."""
    coarse_hidden_dim: Optional[int] = None
    """hierarchical: trunk width of the coarse field; None: the same as the fine field (the paper)."""
    density_activation: DensityActivation = "softplus"
    """"relu" (the paper) or "softplus" (no dead density units early in training)."""
    density_bias: float = 0.0
    """added to the raw density before the activation; mip-NeRF's -1 with softplus starts from a
    thinner fog. 0 is the paper."""
    precision: Precision = "float32"
    """dtype of the fields' matrix products: "float32"; "bfloat16" (autocast around the MLPs; the
    encodings, the rendering and the weights stay float32); "auto": bfloat16 for a PE or Fourier
    field on a CPU with native bfloat16 (AVX512-BF16, AMX), else float32."""
    background_color: Literal["white", "black", "random", "last_sample"] = "white"
    """colour behind the scene. "random" trains on a random colour per ray and needs RGBA images
    (blender-data --alpha-color None); white matches nerfstudio's Blender dataparser."""
    num_proposal_samples_per_ray: Tuple[int, ...] = (64,)
    """proposal: bins per ray of each proposal network (one network per entry)."""
    num_nerf_samples_per_ray: int = 32
    """proposal: bins per ray of the NeRF field."""
    proposal_num_layers: int = 2
    """proposal: trunk depth of each proposal network."""
    proposal_hidden_dim: int = 64
    """proposal: trunk width of each proposal network."""
    interlevel_loss_mult: float = 1.0
    """proposal: weight of the interlevel loss that trains the proposal networks."""
    distortion_loss_mult: float = 0.0
    """weight of mip-NeRF 360's distortion loss on the final weights (0: off)."""
    grid_resolution: int = 64
    """occupancy: cells per side of the grid over the scene box."""
    render_step_size: float = 0.01
    """occupancy: marching step in world units (Blender's box is 3 units wide)."""
    grid_update_every: int = 16
    """occupancy: training steps between grid updates."""
    grid_warmup_steps: int = 256
    """occupancy: steps during which every cell is re-evaluated (afterwards a random half)."""
    grid_occupancy_threshold: float = 0.01
    """occupancy: a cell is empty below this opacity (sigma * render_step_size)."""
    early_stop_eps: float = 1e-4
    """occupancy: transmittance below which a ray stops (0: no early termination)."""
    alpha_threshold: float = 0.0
    """occupancy: samples with a smaller opacity are skipped (0: none)."""
    collapse_check_step: int = 500
    """end of the warm-up after which a training whose mean accumulated opacity (moving average over
    the training batches) is below collapse_min_accumulation stops as collapsed to an empty scene
    (0: no check)."""
    collapse_min_accumulation: float = 1e-3
    """see collapse_check_step."""

    def check(self) -> None:
        """Raise ValueError with a one-line reason if the options do not fit together."""
        if self.field not in FIELD_KINDS:
            raise ValueError(f"--pipeline.model.field {self.field!r}: choose one of {', '.join(FIELD_KINDS)}")
        if self.sampler not in SAMPLER_KINDS:
            raise ValueError(f"--pipeline.model.sampler {self.sampler!r}: choose one of {', '.join(SAMPLER_KINDS)}")
        if self.collider_params is None or not self.enable_collider:
            raise ValueError("vanilla-nerf-pe samples between near and far: keep enable_collider and collider_params")
        if self.sampler == "occupancy" and self.background_color == "last_sample":
            raise ValueError(
                "--pipeline.model.background-color last_sample needs a last sample on every ray, but the occupancy "
                "sampler gives rays that miss the scene none: use white, black or random"
            )
        if self.sampler == "proposal" and not self.num_proposal_samples_per_ray:
            raise ValueError("--pipeline.model.sampler proposal needs at least one entry in num-proposal-samples-per-ray")
        if self.sampler == "occupancy" and self.distortion_loss_mult > 0:
            raise ValueError(
                "--pipeline.model.distortion-loss-mult needs the dense bins of the hierarchical or proposal sampler, "
                "not the occupancy sampler's packed ones"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(f"--pipeline.model.precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")
        if self.field == "siren" and self.precision == "bfloat16":
            raise ValueError(
                "--pipeline.model.precision bfloat16 does not suit SIREN: its sine arguments (~30) keep only steps of "
                "0.125 rad in bfloat16; use float32 or auto (float32 for SIREN)"
            )
        if self.field == "pe" and self.position_frequencies < 0:
            raise ValueError(f"--pipeline.model.position-frequencies must be >= 0, got {self.position_frequencies}")
        if self.field == "fourier" and (self.fourier_features < 1 or self.fourier_sigma <= 0):
            raise ValueError("--pipeline.model.fourier-features must be >= 1 and --pipeline.model.fourier-sigma > 0")


class VanillaNeRFPEModel(Model):
    """See the module docstring."""

    config: VanillaNeRFPEModelConfig

    def populate_modules(self) -> None:
        super().populate_modules()
        cfg = self.config
        try:
            cfg.check()
        except ValueError as exc:  # under ns-train: one line, no traceback
            raise InputError(str(exc)) from None
        self._guard: Optional[TrainingGuard] = None
        aabb = self.scene_box.aabb

        def make_field(num_layers: int, width: int, color: bool = True) -> NeRFField:
            return make_nerf_field(
                cfg.field,
                aabb,
                num_layers=num_layers,
                width=width,
                skip_connections=cfg.skip_connections,
                color_width=cfg.color_hidden_dim if color else None,
                position_frequencies=cfg.position_frequencies,
                direction_frequencies=cfg.direction_frequencies,
                fourier_features=cfg.fourier_features,
                fourier_sigma=cfg.fourier_sigma,
                fourier_seed=cfg.fourier_seed,
                siren_first_omega_0=cfg.siren_first_omega_0,
                siren_hidden_omega_0=cfg.siren_hidden_omega_0,
                density_activation=cfg.density_activation,
                density_bias=cfg.density_bias,
                precision=cfg.precision,
            )

        self.field_fine = make_field(cfg.num_layers, cfg.hidden_dim)
        if cfg.sampler == "hierarchical":
            self.field_coarse = make_field(cfg.coarse_num_layers or cfg.num_layers, cfg.coarse_hidden_dim or cfg.hidden_dim)
            self.sampler_stratified = StratifiedSampler(cfg.num_coarse_samples)
            self.sampler_pdf = PDFSampler(cfg.num_importance_samples)
        elif cfg.sampler == "proposal":
            networks = [
                make_field(cfg.proposal_num_layers, cfg.proposal_hidden_dim, color=False)
                for _ in cfg.num_proposal_samples_per_ray
            ]
            self.sampler_proposal = ProposalSampler(networks, cfg.num_proposal_samples_per_ray, cfg.num_nerf_samples_per_ray)
        else:
            self.sampler_occupancy = OccupancySampler(
                aabb, cfg.grid_resolution, cfg.render_step_size, cfg.early_stop_eps, cfg.alpha_threshold
            )

    def get_param_groups(self) -> Dict[str, List[Parameter]]:
        return {"fields": [p for p in self.parameters() if p.requires_grad]}

    def get_training_callbacks(self, training_callback_attributes: TrainingCallbackAttributes) -> List[TrainingCallback]:
        cfg = self.config
        trainer = training_callback_attributes.trainer if training_callback_attributes is not None else None
        # "auto" depends on the machine: say what it became, since config.yml only says "auto".
        dtype = str(self.field_fine.compute_dtype(self.device)).replace("torch.", "")
        CONSOLE.print(f"vanilla-nerf-pe: field MLPs in {dtype} (--pipeline.model.precision {cfg.precision}, {self.device.type})")
        self._guard = TrainingGuard(self, trainer)
        callbacks = self._guard.callbacks()
        if cfg.sampler == "occupancy":

            def update_grid(step: int) -> None:
                with torch.no_grad():
                    self.sampler_occupancy.update_grid(
                        self.field_fine.density, all_cells=step < cfg.grid_warmup_steps, threshold=cfg.grid_occupancy_threshold
                    )

            callbacks.append(
                TrainingCallback(
                    where_to_run=[TrainingCallbackLocation.BEFORE_TRAIN_ITERATION],
                    update_every_num_iters=cfg.grid_update_every,
                    func=update_grid,
                )
            )
        return callbacks

    # rendering ----------------------------------------------------------------------------------
    def _background(self):
        """Background used when compositing outputs; "random" is applied in the loss instead."""
        return None if self.config.background_color == "random" else self.config.background_color

    def _render_dense(self, field: NeRFField, ray_bundle: RayBundle, t: Tensor) -> Dict[str, Tensor]:
        """Render bins t [num_rays, n + 1] with ``field``."""
        sigma, feature = field.density_and_feature(bin_positions(ray_bundle, t))
        directions = ray_bundle.directions[..., None, :].expand(feature.shape[:-1] + (3,))
        rgb = field.color(feature, directions)
        w, _ = compute_weights(sigma[..., 0], t)
        return {
            "rgb": composite_rgb(w, rgb, self._background()),
            "depth": composite_depth(w, t),
            "accumulation": torch.sum(w, dim=-1, keepdim=True),
            "num_samples": torch.full_like(t[..., :1], t.shape[-1] - 1),
            "weights": w,
            "t": t,
        }

    def _render_occupancy(self, ray_bundle: RayBundle) -> Dict[str, Tensor]:
        """Render the packed bins of the occupancy sampler with the one field."""
        field = self.field_fine
        ray_indices, t_starts, t_ends, marched = self.sampler_occupancy(ray_bundle, field.density)
        num_rays = ray_bundle.origins.shape[0]
        directions = ray_bundle.directions[ray_indices]
        positions = ray_bundle.origins[ray_indices] + directions * (0.5 * (t_starts + t_ends))[:, None]
        sigma, feature = field.density_and_feature(positions)
        rgb = field.color(feature, directions)
        w, _ = compute_weights_packed(sigma[:, 0], t_starts, t_ends, ray_indices)
        color = composite_packed(w, rgb, ray_indices, num_rays)
        accumulation = composite_packed(w, torch.ones_like(w)[:, None], ray_indices, num_rays)
        background = self._background()
        if background is not None:
            color = color + (1.0 - accumulation) * background_rgb(background, color[:, None, :])
        _, far = near_far(ray_bundle)
        samples = torch.zeros(num_rays, 1, device=w.device).index_add_(0, ray_indices, torch.ones_like(w)[:, None])
        outputs = {
            "rgb": color,
            "depth": composite_depth_packed(w, t_starts, t_ends, ray_indices, far),
            "accumulation": accumulation,
            "num_samples": samples,
            "num_marched": marched,
        }
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
        background = self._background()
        if background == "last_sample":
            return torch.cat((rgb, torch.ones_like(rgb[..., :1])), dim=-1)
        if background is not None:  # rgb = colour + (1 - accumulation) * background
            rgb = rgb - (1.0 - accumulation) * background_rgb(background, rgb[..., None, :])
        return torch.cat(((rgb / accumulation.clamp_min(1e-10)).clamp(0.0, 1.0), accumulation), dim=-1)

    def get_outputs(self, ray_bundle: RayBundle) -> Dict[str, Tensor]:  # type: ignore[override]
        cfg = self.config
        if cfg.sampler == "occupancy":
            outputs = self._render_occupancy(ray_bundle)
        elif cfg.sampler == "proposal":
            t, levels = self.sampler_proposal(ray_bundle)
            fine = self._render_dense(self.field_fine, ray_bundle, t)
            outputs = {k: fine[k] for k in ("rgb", "depth", "accumulation", "num_samples")}
            if self.training:
                outputs["t_and_w"] = [(fine["t"], fine["weights"])] + levels  # type: ignore[assignment]
        else:
            t_coarse = self.sampler_stratified(ray_bundle)
            coarse = self._render_dense(self.field_coarse, ray_bundle, t_coarse)
            t_fine = self.sampler_pdf(t_coarse, coarse["weights"])
            fine = self._render_dense(self.field_fine, ray_bundle, t_fine)
            outputs = {k: fine[k] for k in ("rgb", "depth", "accumulation")}
            outputs.update({f"{k}_coarse": coarse[k] for k in ("rgb", "depth", "accumulation")})
            outputs["num_samples"] = coarse["num_samples"] + fine["num_samples"]
            if self.training:
                outputs["t_and_w"] = [(fine["t"], fine["weights"])]  # type: ignore[assignment]
        if not self.training:
            for key in [k for k in outputs if k.startswith("rgb")]:
                outputs[key] = torch.nan_to_num(outputs[key]).clamp(0.0, 1.0)
        return outputs

    # losses and metrics ---------------------------------------------------------------------------
    def _target_rgb(self, image: Tensor, background: Optional[Tensor]) -> Tensor:
        """Ground truth [..., 3] composited on ``background`` [..., 3] if it has an alpha channel."""
        if image.shape[-1] == 4:
            alpha = image[..., 3:]
            if background is None:
                # Like nerfstudio's blend_background: "random" and "last_sample" evaluate on black.
                background = torch.full_like(image[..., :3], 1.0 if self.config.background_color == "white" else 0.0)
            return image[..., :3] * alpha + background * (1.0 - alpha)
        return image[..., :3]

    def _loss_pairs(self, outputs: Dict[str, Tensor], batch: Dict[str, Tensor]) -> Dict[str, Tuple[Tensor, Tensor]]:
        """(prediction, target) per rendered pass ("fine", and "coarse" if hierarchical), both on the
        same background."""
        image = batch["image"].to(self.device)
        background = None
        if self.config.background_color == "random" and self.training:
            if image.shape[-1] != 4:
                raise ValueError(
                    "background_color 'random' needs RGBA training images, but the datamanager gives RGB: "
                    "load the data with `blender-data --alpha-color None`, or use a fixed background."
                )
            background = torch.rand_like(image[..., :3])
        target = self._target_rgb(image, background)
        pairs = {}
        for name, suffix in (("fine", ""), ("coarse", "_coarse")):
            if "rgb" + suffix not in outputs:
                continue
            pred = outputs["rgb" + suffix]
            if background is not None:
                pred = pred + (1.0 - outputs["accumulation" + suffix]) * background
            pairs[name] = (pred, target)
        return pairs

    def get_metrics_dict(self, outputs, batch) -> Dict[str, Tensor]:
        pred, target = self._loss_pairs(outputs, batch)["fine"]
        samples = outputs["num_samples"].mean()
        out = {
            "psnr": metrics.psnr(pred.detach(), target),
            "samples_per_ray": samples,
            # nerfstudio's DynamicBatchPipeline sizes the next batch from this (never 0: it divides).
            "num_samples_per_batch": outputs["num_samples"].sum().clamp(min=1.0),
        }
        # Field evaluations per ray: the final bins, plus the proposal networks' bins or the
        # occupancy sampler's no-gradient pass over every marched bin.
        if self.config.sampler == "proposal":
            out["evaluations_per_ray"] = samples + sum(self.config.num_proposal_samples_per_ray)
        elif "num_marched" in outputs:
            out["marched_per_ray"] = outputs["num_marched"].mean()
            out["occupied_fraction"] = torch.tensor(self.sampler_occupancy.grid.occupied_fraction())
            early_pass = self.config.early_stop_eps > 0 or self.config.alpha_threshold > 0
            out["evaluations_per_ray"] = samples + (out["marched_per_ray"] if early_pass else 0.0)
        else:
            out["evaluations_per_ray"] = samples
        return out

    def get_loss_dict(self, outputs, batch, metrics_dict=None) -> Dict[str, Tensor]:
        cfg = self.config
        coef = cfg.loss_coefficients
        losses = {
            f"rgb_loss_{name}": coef.get(f"rgb_loss_{name}", 1.0) * torch.mean((pred - target) ** 2)
            for name, (pred, target) in self._loss_pairs(outputs, batch).items()
        }
        if self.training and "t_and_w" in outputs:
            (t, w), *proposals = outputs["t_and_w"]
            if proposals and cfg.interlevel_loss_mult > 0:
                losses["interlevel_loss"] = cfg.interlevel_loss_mult * sum(
                    torch.mean(stepfun.interlevel_loss(t, w, t_p, w_p)) for t_p, w_p in proposals
                )
            if cfg.distortion_loss_mult > 0:
                near, far = t[..., :1], t[..., -1:]
                s = (t - near) / (far - near).clamp(min=1e-6)  # normalised so the weight is scale-free
                losses["distortion_loss"] = cfg.distortion_loss_mult * torch.mean(stepfun.distortion_loss(s, w))
        if self.training and self._guard is not None:
            self._guard.check_batch(losses, outputs["accumulation"])
        return losses

    def get_image_metrics_and_images(
        self, outputs: Dict[str, Tensor], batch: Dict[str, Tensor]
    ) -> Tuple[Dict[str, float], Dict[str, Tensor]]:
        rgb = outputs["rgb"]
        target = self._target_rgb(batch["image"].to(rgb.device), None)
        metrics_dict = {"psnr": float(metrics.psnr(rgb, target)), "ssim": float(metrics.ssim(rgb, target))}
        if "rgb_coarse" in outputs:
            metrics_dict["coarse_psnr"] = float(metrics.psnr(outputs["rgb_coarse"], target))
        lpips = metrics.lpips_metric(rgb.device)
        if lpips is not None:
            metrics_dict["lpips"] = float(lpips(rgb, target))

        assert self.config.collider_params is not None
        near, far = self.config.collider_params["near_plane"], self.config.collider_params["far_plane"]
        # Images side by side: ground truth, then each pass (coarse first when there is one).
        passes = [suffix for suffix in ("_coarse", "") if "rgb" + suffix in outputs]
        images = {
            "img": torch.cat([target] + [outputs["rgb" + p] for p in passes], dim=1),
            "accumulation": torch.cat([colormaps.apply_colormap(outputs["accumulation" + p]) for p in passes], dim=1),
            "depth": torch.cat(
                [
                    colormaps.apply_depth_colormap(
                        outputs["depth" + p], accumulation=outputs["accumulation" + p], near_plane=near, far_plane=far
                    )
                    for p in passes
                ],
                dim=1,
            ),
        }
        return metrics_dict, images

"""The vanilla-nerf-pe model: coarse and fine NeRF fields, hierarchical sampling, volume rendering.

Mildenhall et al. 2020, "NeRF: Representing Scenes as Neural Radiance Fields for View Synthesis".
Per ray: ``num_coarse_samples`` stratified bins go through the coarse field; their weights define a
PDF from which ``num_importance_samples`` more distances are drawn; the fine field is evaluated on
all bins (coarse and new, sorted); both renderings are trained against the pixel colour.

Outputs (each ``[num_rays, C]``): ``rgb``, ``depth``, ``accumulation`` from the fine pass (the
names nerfstudio's viewer and ``ns-render`` use by default) and ``rgb_coarse``, ``depth_coarse``,
``accumulation_coarse``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Tuple, Type

import torch
from nerfstudio.cameras.rays import RayBundle
from nerfstudio.configs.config_utils import to_immutable_dict
from nerfstudio.field_components.field_heads import FieldHeadNames
from nerfstudio.models.base_model import Model, ModelConfig
from nerfstudio.utils import colormaps
from torch import Tensor
from torch.nn import Parameter

from vanilla_nerf_pe import metrics
from vanilla_nerf_pe.fields import DensityActivation, NeRFField
from vanilla_nerf_pe.render import composite_depth, composite_rgb, compute_weights
from vanilla_nerf_pe.samplers import PDFSampler, StratifiedSampler, ray_samples_from_t


@dataclass
class VanillaNeRFPEModelConfig(ModelConfig):
    """NeRF with positional encoding; the defaults are the paper's."""

    _target: Type = field(default_factory=lambda: VanillaNeRFPEModel)
    collider_params: Optional[Dict[str, float]] = to_immutable_dict({"near_plane": 2.0, "far_plane": 6.0})
    """near and far distance of every ray (NeRF's Blender scenes: 2 and 6)."""
    loss_coefficients: Dict[str, float] = to_immutable_dict({"rgb_loss_coarse": 1.0, "rgb_loss_fine": 1.0})
    """weights of the coarse and fine photometric losses."""
    num_coarse_samples: int = 64
    """stratified samples per ray for the coarse field."""
    num_importance_samples: int = 128
    """samples per ray drawn from the coarse weights; the fine field sees coarse + these."""
    position_frequencies: int = 10
    """L of the positional encoding of x; 0 feeds raw coordinates (the no-encoding baseline)."""
    direction_frequencies: int = 4
    """L of the positional encoding of the view direction."""
    num_layers: int = 8
    """hidden layers of the trunk."""
    hidden_dim: int = 256
    """width of the trunk."""
    skip_connections: Tuple[int, ...] = (4,)
    """trunk layers that see the encoded input again."""
    color_hidden_dim: int = 128
    """width of the view-dependent colour layer."""
    coarse_num_layers: Optional[int] = None
    """trunk depth of the coarse field; None: the same as the fine field (the paper)."""
    coarse_hidden_dim: Optional[int] = None
    """trunk width of the coarse field; None: the same as the fine field (the paper)."""
    density_activation: DensityActivation = "softplus"
    """"relu" (the paper) or "softplus" (no dead density units early in training)."""
    density_bias: float = 0.0
    """added to the raw density before the activation; mip-NeRF's -1 with softplus starts from a
    thinner fog. 0 is the paper."""
    background_color: Literal["white", "black", "random", "last_sample"] = "white"
    """colour behind the scene. "random" trains on a random colour per ray and needs RGBA images
    (blender-data --alpha-color None); white matches nerfstudio's Blender dataparser."""


class VanillaNeRFPEModel(Model):
    """See the module docstring."""

    config: VanillaNeRFPEModelConfig

    def populate_modules(self) -> None:
        super().populate_modules()
        cfg = self.config
        if cfg.collider_params is None or not cfg.enable_collider:
            raise ValueError("vanilla-nerf-pe samples between near and far: keep enable_collider and collider_params")

        def make_field(num_layers: int, width: int) -> NeRFField:
            return NeRFField(
                aabb=self.scene_box.aabb,
                position_frequencies=cfg.position_frequencies,
                direction_frequencies=cfg.direction_frequencies,
                num_layers=num_layers,
                width=width,
                skip_connections=tuple(i for i in cfg.skip_connections if i < num_layers),
                color_width=cfg.color_hidden_dim,
                density_activation=cfg.density_activation,
                density_bias=cfg.density_bias,
            )

        self.field_coarse = make_field(cfg.coarse_num_layers or cfg.num_layers, cfg.coarse_hidden_dim or cfg.hidden_dim)
        self.field_fine = make_field(cfg.num_layers, cfg.hidden_dim)
        self.sampler_stratified = StratifiedSampler(cfg.num_coarse_samples)
        self.sampler_pdf = PDFSampler(cfg.num_importance_samples)

    def get_param_groups(self) -> Dict[str, List[Parameter]]:
        return {"fields": list(self.field_coarse.parameters()) + list(self.field_fine.parameters())}

    # rendering ----------------------------------------------------------------------------------
    def _background(self):
        """Background used when compositing outputs; "random" is applied in the loss instead."""
        return None if self.config.background_color == "random" else self.config.background_color

    def _render(self, field: NeRFField, ray_bundle: RayBundle, t: Tensor) -> Dict[str, Tensor]:
        ray_samples = ray_samples_from_t(ray_bundle, t)
        out = field(ray_samples)
        sigma, rgb = out[FieldHeadNames.DENSITY][..., 0], out[FieldHeadNames.RGB]
        w, _ = compute_weights(sigma, t)
        color = composite_rgb(w, rgb, self._background())
        if not self.training:
            color = torch.nan_to_num(color).clamp(0.0, 1.0)
        return {
            "rgb": color,
            "depth": composite_depth(w, t),
            "accumulation": torch.sum(w, dim=-1, keepdim=True),
            "weights": w,
        }

    def get_outputs(self, ray_bundle: RayBundle) -> Dict[str, Tensor]:  # type: ignore[override]
        t_coarse = self.sampler_stratified(ray_bundle)
        coarse = self._render(self.field_coarse, ray_bundle, t_coarse)
        t_fine = self.sampler_pdf(t_coarse, coarse["weights"])
        fine = self._render(self.field_fine, ray_bundle, t_fine)
        return {
            "rgb": fine["rgb"],
            "depth": fine["depth"],
            "accumulation": fine["accumulation"],
            "rgb_coarse": coarse["rgb"],
            "depth_coarse": coarse["depth"],
            "accumulation_coarse": coarse["accumulation"],
        }

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
        """(prediction, target) per pass, both on the same background."""
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
            pred = outputs["rgb" + suffix]
            if background is not None:
                pred = pred + (1.0 - outputs["accumulation" + suffix]) * background
            pairs[name] = (pred, target)
        return pairs

    def get_metrics_dict(self, outputs, batch) -> Dict[str, Tensor]:
        pred, target = self._loss_pairs(outputs, batch)["fine"]
        return {"psnr": metrics.psnr(pred.detach(), target)}

    def get_loss_dict(self, outputs, batch, metrics_dict=None) -> Dict[str, Tensor]:
        pairs = self._loss_pairs(outputs, batch)
        coef = self.config.loss_coefficients
        return {
            f"rgb_loss_{name}": coef.get(f"rgb_loss_{name}", 1.0) * torch.mean((pred - target) ** 2)
            for name, (pred, target) in pairs.items()
        }

    def get_image_metrics_and_images(
        self, outputs: Dict[str, Tensor], batch: Dict[str, Tensor]
    ) -> Tuple[Dict[str, float], Dict[str, Tensor]]:
        rgb = outputs["rgb"]
        target = self._target_rgb(batch["image"].to(rgb.device), None)
        metrics_dict = {
            "psnr": float(metrics.psnr(rgb, target)),
            "coarse_psnr": float(metrics.psnr(outputs["rgb_coarse"], target)),
            "ssim": float(metrics.ssim(rgb, target)),
        }
        lpips = metrics.lpips_metric(rgb.device)
        if lpips is not None:
            metrics_dict["lpips"] = float(lpips(rgb, target))

        assert self.config.collider_params is not None
        near, far = self.config.collider_params["near_plane"], self.config.collider_params["far_plane"]
        images = {
            "img": torch.cat([target, outputs["rgb_coarse"], rgb], dim=1),
            "accumulation": torch.cat(
                [colormaps.apply_colormap(outputs[k]) for k in ("accumulation_coarse", "accumulation")], dim=1
            ),
            "depth": torch.cat(
                [
                    colormaps.apply_depth_colormap(
                        outputs[d], accumulation=outputs[a], near_plane=near, far_plane=far
                    )
                    for d, a in (("depth_coarse", "accumulation_coarse"), ("depth", "accumulation"))
                ],
                dim=1,
            ),
        }
        return metrics_dict, images

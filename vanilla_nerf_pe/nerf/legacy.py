"""Runs made before the 11-27 redesign: their config.yml holds the model's options flat (e.g.
``num_coarse_samples``, ``grid_resolution``, ``field``) and their checkpoints the old module names
(``field_fine.*``, ``sampler_occupancy.grid.*``). The model config's ``__setstate__`` and the
model's state-dict pre-hook map both to today's layout, so ``ns-eval``, ``ns-render`` and
``ns-viewer`` open such runs (tests/nerf/test_old_runs.py)."""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, List, Optional, Tuple

from torch import Tensor

# Options of the flat config before the redesign (config.yml of runs made then): old name -> (group, new name).
LEGACY_OPTIONS: Dict[str, Tuple[Optional[str], str]] = {
    "field": ("network", "kind"),
    "num_layers": ("network", "num_layers"),
    "hidden_dim": ("network", "width"),
    "skip_connections": ("network", "skip_connections"),
    "position_frequencies": ("network", "pe_num_frequencies"),
    "fourier_features": ("network", "fourier_num_features"),
    "fourier_sigma": ("network", "fourier_sigma"),
    "fourier_seed": ("network", "fourier_seed"),
    "siren_first_omega_0": ("network", "siren_first_omega_0"),
    "siren_hidden_omega_0": ("network", "siren_hidden_omega_0"),
    "color_hidden_dim": (None, "color_width"),
    "num_coarse_samples": ("hierarchical", "num_coarse_samples"),
    "num_importance_samples": ("hierarchical", "num_importance_samples"),
    "coarse_num_layers": ("hierarchical", "coarse_num_layers"),
    "coarse_hidden_dim": ("hierarchical", "coarse_width"),
    "num_proposal_samples_per_ray": ("proposal", "num_proposal_samples_per_ray"),
    "num_nerf_samples_per_ray": ("proposal", "num_nerf_samples_per_ray"),
    "proposal_num_layers": ("proposal", "num_layers"),
    "proposal_hidden_dim": ("proposal", "width"),
    "interlevel_loss_mult": ("proposal", "interlevel_loss_mult"),
    **{name: ("occupancy", name) for name in (
        "grid_resolution", "render_step_size", "grid_update_every", "grid_warmup_steps",
        "grid_occupancy_threshold", "early_stop_eps", "alpha_threshold",
    )},
}


def migrate_legacy_options(state: Dict[str, Any], defaults: Any) -> Dict[str, Any]:
    """A config's attribute dict with the flat options of :data:`LEGACY_OPTIONS` moved into their
    groups (copies of ``defaults``' groups); a state of today's layout comes back unchanged."""
    state = dict(state)
    groups: Dict[str, Any] = {}
    for old, (group, new) in LEGACY_OPTIONS.items():
        if old not in state:  # no option of today's layout has an old name
            continue
        value = state.pop(old)
        if group is None:
            state[new] = value
            continue
        if group not in groups:
            groups[group] = dataclasses.replace(state.get(group) or getattr(defaults, group))
        setattr(groups[group], new, value)
    state.update(groups)
    return state


# Checkpoint names before the redesign -> today's (regular expressions on state-dict keys).
LEGACY_STATE_KEYS: List[Tuple[str, str]] = [
    (r"^field_fine\.", "field."),
    (r"^field_coarse\.", "sampler.coarse_field."),
    (r"^sampler_proposal\.networks\.", "sampler.networks."),
    (r"^sampler_occupancy\.grid\.", "sampler.grid."),
    (r"(field|networks\.\d+)\.position_encoding\.", r"\1.network.encoding."),
    (r"(field|networks\.\d+)\.trunk\.", r"\1.network.mlp."),
]


# Buffers that checkpoints written before the scene kinds hold and today's do not: the world box of
# each field and of the grid (fields and grid now work in unit coordinates, the box is ``space.aabb``).
DROPPED_STATE_KEYS = re.compile(r"^(field|sampler\.coarse_field|sampler\.networks\.\d+|sampler\.grid)\.aabb$")


def migrate_legacy_state(state_dict: Dict[str, Tensor], prefix: str, space_state: Optional[Dict[str, Tensor]] = None) -> None:
    """Rename, in place, the keys under ``prefix`` that a checkpoint written before the redesign uses;
    drop the world boxes of fields and grid; take the scene geometry a checkpoint written before the
    scene kinds lacks from ``space_state`` (the model's own, ``prefix + "space."`` keys, built from
    the same cameras and config), and drop the space buffers a checkpoint written before the spaces
    became classes holds for the other kinds (and its ``space.kind_code``)."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        name = key[len(prefix):]
        for pattern, replacement in LEGACY_STATE_KEYS:
            name = re.sub(pattern, replacement, name)
        if DROPPED_STATE_KEYS.match(name):
            del state_dict[key]
        elif prefix + name != key:
            state_dict[prefix + name] = state_dict.pop(key)
    if space_state is None:
        return
    for key in [k for k in state_dict if k.startswith(prefix + "space.") and k not in space_state]:
        del state_dict[key]
    for key, value in space_state.items():
        state_dict.setdefault(key, value)

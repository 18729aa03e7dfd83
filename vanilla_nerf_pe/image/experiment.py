"""Experiments as YAML files (``configs/image/*.yaml``, the seed experiments): the options of
``vnp-image compare`` as keys, ``field`` a mapping of the network and fitting options, and any
section a subclass of the options adds a mapping of its options (``vnp-image``'s ``latent``: the
latent kind's, :class:`~vanilla_nerf_pe.codec.lab_kinds.LatentKindConfig`).

Keys renamed when the lab took the shared coordinate network are refused with their new name
(:data:`LEGACY_EXPERIMENT_KEYS` for the file's own keys,
:data:`~vanilla_nerf_pe.image.field.LEGACY_CONFIG_KEYS` for the ``field`` options).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, Iterable, Optional, Sequence

from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.core.network import NETWORK_KINDS
from vanilla_nerf_pe.image.field import LEGACY_CONFIG_KEYS, ImageFieldConfig
from vanilla_nerf_pe.image.runs import CompareOptions

#: Keys of an experiment YAML renamed with the shared network: old -> new.
LEGACY_EXPERIMENT_KEYS: Dict[str, str] = {"representations": "kinds"}


def renamed_hint(unknown: Iterable[str], table: Dict[str, str]) -> str:
    """`` (renamed: old -> new, ...)`` for the keys of ``unknown`` that ``table`` renamed, else ``""``."""
    renamed = [f"{key} -> {table[key]}" for key in unknown if key in table]
    return f" (renamed: {', '.join(renamed)})" if renamed else ""


def load_experiment(path: Path, output: Optional[Path] = None, options: type = CompareOptions,
                    kinds: Sequence[str] = NETWORK_KINDS) -> CompareOptions:
    """A :class:`~vanilla_nerf_pe.image.runs.CompareOptions` (or the subclass ``options``) from a YAML
    file whose keys are compare's options (``field`` a mapping of :class:`ImageFieldConfig` options,
    a section ``options`` adds a mapping of its dataclass's options) and whose ``kinds`` are among
    ``kinds``; ``output`` defaults to ``outputs/image/<file name without .yaml>``. Unknown keys or bad
    values are an :class:`InputError`; a key renamed with the shared network names its new name."""
    import yaml

    if not path.is_file():
        raise InputError(f"{path}: no such experiment file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping of compare's options")
    raw = dict(raw)
    raw.pop("description", None)
    field_options = raw.pop("field", {}) or {}
    if not isinstance(field_options, dict):
        raise InputError(f"{path}: field: expected a mapping of network and fitting options")
    base = {f.name for f in dataclasses.fields(CompareOptions)}
    sections = {f.name: f.default_factory for f in dataclasses.fields(options)
                if f.name not in base and dataclasses.is_dataclass(f.default_factory) and isinstance(f.default_factory, type)}
    known = base - {"field", "output"} | set(sections)
    unknown = sorted(set(raw) - known)
    if unknown:
        hint = renamed_hint(unknown, LEGACY_EXPERIMENT_KEYS)
        raise InputError(f"{path}: unknown option(s) {', '.join(unknown)}{hint}; known: {', '.join(sorted(known))}")
    field_known = {f.name for f in dataclasses.fields(ImageFieldConfig)} - {"kind"}
    field_unknown = sorted(set(field_options) - field_known)
    if field_unknown:
        hint = renamed_hint(field_unknown, LEGACY_CONFIG_KEYS)
        raise InputError(f"{path}: unknown field option(s) {', '.join(field_unknown)}{hint}")
    if raw.get("image") is not None:
        raw["image"] = Path(raw["image"])
    if "kinds" in raw:
        raw["kinds"] = tuple(raw["kinds"])
        bad = [k for k in raw["kinds"] if k not in kinds]
        if bad:
            raise InputError(f"{path}: unknown kind(s) {bad}; choose from {list(kinds)}")
    try:
        field_config = ImageFieldConfig(**field_options)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: {exc}") from None
    for name, section in sections.items():
        mapping = raw.get(name) or {}
        if not isinstance(mapping, dict):
            raise InputError(f"{path}: {name}: expected a mapping of its options")
        try:
            raw[name] = section(**{key: tuple(value) if isinstance(value, list) else value for key, value in mapping.items()})
        except (TypeError, ValueError) as exc:
            raise InputError(f"{path}: {name}: {exc}") from None
    out = output if output is not None else Path("outputs/image") / path.stem
    return options(output=out, field=field_config, **raw)


__all__ = ["LEGACY_EXPERIMENT_KEYS", "load_experiment", "renamed_hint"]

"""The rate model sizes every network kind from the network itself, and the header it sets aside is
the one the container writes."""

from __future__ import annotations

import dataclasses

import pytest

from vanilla_nerf_pe.codec import container, rate
from vanilla_nerf_pe.codec.container import encode_field, storable_config
from vanilla_nerf_pe.codec.rate import architecture_for_rate, network_size, siren_parameter_count
from vanilla_nerf_pe.core.errors import InputError
from vanilla_nerf_pe.image.field import ImageField, ImageFieldConfig


def budget_bits(config: ImageFieldConfig, channels: int, expected_bits_per_weight: float = 7.5) -> float:
    """The bits the file of ``config``'s network costs by the rate model: its real header, and its
    real parameters at the expected bits each."""
    tensors, parameters = network_size(config, channels)
    return 8 * container.header_bytes(tensors, channels) + expected_bits_per_weight * parameters


def test_pe_at_0_3_bpp_fits_its_budget_and_is_not_sized_as_a_siren():
    """The defect: ``--kind pe --bpp 0.3`` was sized with the SIREN formula, a file far over the rate."""
    H = W = 128
    depth, width = architecture_for_rate(H, W, 3, 0.3, 7.5, ImageFieldConfig(kind="pe"))
    pe = ImageFieldConfig(kind="pe", num_layers=depth, width=width)
    assert budget_bits(pe, 3) <= 0.3 * H * W
    assert budget_bits(dataclasses.replace(pe, width=width + 1), 3) > 0.3 * H * W  # the widest that fits
    siren_shape = architecture_for_rate(H, W, 3, 0.3, 7.5)
    assert (depth, width) != siren_shape
    siren_sized_pe = ImageFieldConfig(kind="pe", num_layers=siren_shape[0], width=siren_shape[1])
    assert budget_bits(siren_sized_pe, 3) > 0.3 * H * W  # what the SIREN formula gave does not fit


def test_siren_sizing_is_the_closed_form():
    for depth, width, channels in ((2, 1, 1), (4, 11, 3), (9, 30, 3)):
        assert network_size(ImageFieldConfig(kind="siren", num_layers=depth, width=width), channels)[1] == siren_parameter_count(depth, width, channels)


@pytest.mark.parametrize("kind", ["none", "pe", "fourier", "siren", "hash"])
def test_header_size_is_what_the_writer_writes(kind):
    config = storable_config(ImageFieldConfig(kind=kind, num_layers=3, width=6, fourier_num_features=8, hash_num_levels=2,
                                              hash_log2_table_size=4, hash_base_resolution=4, hash_max_resolution=8))
    model = ImageField(config, 3)
    encoded = encode_field(model, 16, 16, 8, "raw")
    assert container.header_bytes(network_size(config, 3)[0], 3) == encoded.header_bytes
    payload = sum(len(q.reshape(-1)) * 8 for q in encoded.symbols) // 8  # raw: 8 bits per symbol
    assert len(encoded.data) == encoded.header_bytes + payload


def test_a_rate_too_small_for_the_kind_is_one_line_input_error():
    with pytest.raises(InputError, match="too small for a hash network") as info:
        architecture_for_rate(128, 128, 3, 0.3, 7.5, ImageFieldConfig(kind="hash"))
    assert len(str(info.value).splitlines()) == 1


def test_rough_depth_is_a_named_choice():
    assert rate.ROUGH_DEPTH == 10  # the depth whose header the first budget sets aside (the old magic 22 tensors)
    assert network_size(ImageFieldConfig(kind="siren", num_layers=rate.ROUGH_DEPTH, width=1), 3)[0] == 22

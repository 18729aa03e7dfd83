"""Instant-NGP's multiresolution hash encoding against brute-force references and closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from vanilla_nerf_pe.core.encodings import HASH_PRIMES, HashEncoding, grid_resolutions, hash_grid_index, hash_grid_interpolate
from vanilla_nerf_pe.core.network import CoordinateNetwork, CoordinateNetworkConfig


def brute_force_hash(vertex, table_size):
    """Eq. 4 of Müller et al. 2022 in Python integers with the uint32 wrap-around of the paper."""
    index = 0
    for coordinate, prime in zip(vertex, HASH_PRIMES):
        index ^= (coordinate * prime) % 2**32
    return index % table_size


def test_grid_resolutions_geometric():
    levels = grid_resolutions(16, 16, 512)
    assert levels[0] == 16 and levels[-1] == 512 and len(levels) == 16
    growth = math.exp(math.log(512 / 16) / 15)
    assert levels == [math.floor(16 * growth**i + 1e-6) for i in range(16)]
    assert grid_resolutions(1, 8, 8) == [8]
    with pytest.raises(ValueError):
        grid_resolutions(4, 32, 16)


@pytest.mark.parametrize("d", [2, 3])
def test_hashed_level_matches_the_papers_hash_and_collides(d):
    resolution, table_size = 40, 2**10  # 41^d vertices > 1024 rows: hashed
    vertices = torch.cartesian_prod(*[torch.arange(resolution + 1)] * d)
    index = hash_grid_index(vertices, resolution, table_size)
    for v, i in zip(vertices[::97].tolist(), index[::97].tolist()):
        assert brute_force_hash(v, table_size) == i
    assert int(index.min()) >= 0 and int(index.max()) < table_size
    occupied = torch.unique(index).numel()
    n = vertices.shape[0]
    # Pigeonhole: collisions; and the hash spreads at least as well as a random one would
    # (expected occupied rows T (1 - (1 - 1/T)^n)).
    assert occupied < n
    expected = table_size * (1 - (1 - 1 / table_size) ** n)
    assert occupied >= 0.95 * expected
    # Two vertices that collide read the very same feature vector.
    table = torch.randn(table_size, 2)
    a, b = [j for j in range(n) if index[j] == index[0]][:2]
    assert a != b and torch.equal(table[index[a]], table[index[b]])


def test_dense_level_is_one_row_per_vertex():
    resolution = 7
    vertices = torch.cartesian_prod(torch.arange(8), torch.arange(8))
    index = hash_grid_index(vertices, resolution, 2**10)
    assert torch.unique(index).numel() == 64 and int(index.max()) == 63
    assert int(hash_grid_index(torch.tensor([3, 2]), resolution, 2**10)) == 3 + 2 * 8  # x fastest


def test_bilinear_interpolation_closed_form():
    resolution = 5
    vertices = torch.cartesian_prod(torch.arange(6), torch.arange(6)).double()
    index = hash_grid_index(vertices.long(), resolution, 64)
    table = torch.zeros(36, 3, dtype=torch.float64)
    i, j = vertices[:, 0], vertices[:, 1]
    table[index] = torch.stack([2.0 + 3.0 * i - 1.5 * j, i * j, torch.ones_like(i)], dim=-1)
    x = torch.rand(500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = hash_grid_interpolate(x, table, resolution)
    u, v = x[:, 0] * resolution, x[:, 1] * resolution
    # Bilinear interpolation reproduces affine functions and the product u v exactly; weights sum to 1.
    torch.testing.assert_close(out[:, 0], 2.0 + 3.0 * u - 1.5 * v)
    torch.testing.assert_close(out[:, 1], u * v)
    torch.testing.assert_close(out[:, 2], torch.ones(500, dtype=torch.float64))
    # At a vertex the encoding is that vertex's row; x = 1 falls in the last cell, not outside the grid.
    corner = hash_grid_interpolate(torch.tensor([[0.4, 1.0]], dtype=torch.float64), table, resolution)
    torch.testing.assert_close(corner[0], table[int(hash_grid_index(torch.tensor([2, 5]), resolution, 64))])


def test_hash_encoding_module_shapes_init_and_gradients():
    torch.manual_seed(0)
    enc = HashEncoding(2, num_levels=4, features_per_level=2, log2_table_size=8, base_resolution=4, finest_resolution=32)
    assert enc.resolutions == [4, 8, 16, 32] and enc.get_out_dim() == 8
    assert [t.shape[0] for t in enc.tables] == [25, 81, 256, 256]  # dense while (N + 1)^2 <= 256
    assert all(float(t.detach().abs().max()) <= 1e-4 for t in enc.tables)
    x = torch.rand(10, 2) * 2 - 1
    out = enc(x)
    assert out.shape == (10, 8)
    out.sum().backward()
    assert all(t.grad is not None and float(t.grad.abs().sum()) > 0 for t in enc.tables)
    net = CoordinateNetwork(CoordinateNetworkConfig(kind="hash", num_layers=2, width=16, hash_num_levels=4, hash_log2_table_size=8,
                                                    hash_base_resolution=4, hash_max_resolution=32), in_dim=2, out_dim=3)
    assert isinstance(net.encoding, HashEncoding) and net(x).shape == (10, 3)

"""The library's seeded random sources (minidl.backend.random)."""
from __future__ import annotations

import numpy as np

import minidl as md
from minidl.backend import module_for
from minidl.backend import random as R


def test_manual_seed_reseeds_the_generator(backend):
    xp = module_for(backend)
    md.manual_seed(7)
    a = R.generator(xp).standard_normal(4)
    seeds_a = [R.derive_seed() for _ in range(3)]
    md.manual_seed(7)
    b = R.generator(xp).standard_normal(4)
    seeds_b = [R.derive_seed() for _ in range(3)]
    assert (a == b).all() and seeds_a == seeds_b
    assert all(isinstance(s, int) and s >= 0 for s in seeds_a)


def test_numpy_generator_follows_the_seed():
    md.manual_seed(2024)
    assert isinstance(R.generator(np), np.random.Generator)
    assert R.generator() is R.generator(np)
    expected = np.random.default_rng(2024).standard_normal(3)
    assert np.array_equal(R.generator(np).standard_normal(3), expected)


def test_successive_draws_differ():
    md.manual_seed(0)
    assert not np.array_equal(md.randn(4).numpy(), md.randn(4).numpy())

"""The library's seeded random sources (minidl.backend.random)."""
from __future__ import annotations

import numpy as np
import pytest

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


# ---- manual_seed's argument, as torch.manual_seed takes it -----------------------------------
# torch 2.13: manual_seed(-1) is accepted and means 2**64 - 1 (initial_seed() == 18446744073709551615),
# -2**63 means 2**63; 2**64 and -2**63 - 1 raise (overflow); NumPy integers are accepted.

def _draw(seed):
    md.manual_seed(seed)
    return R.generator(np).standard_normal(3)


@pytest.mark.parametrize("seed, same_as", [(-1, 2**64 - 1), (-(2**63), 2**63), (np.int64(-5), 2**64 - 5),
                                           (np.int64(11), 11), (np.uint64(12), 12), (np.int8(3), 3)])
def test_negative_and_numpy_integer_seeds_are_accepted_deterministically(seed, same_as):
    a, b = _draw(seed), _draw(seed)
    assert np.array_equal(a, b)
    assert np.array_equal(a, _draw(same_as))


def test_negative_seed_differs_from_its_absolute_value():
    assert not np.array_equal(_draw(-1), _draw(1))


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 10**30])
def test_seed_out_of_range_raises_value_error_naming_the_call(seed):
    before = R.generator(np).bit_generator.state
    with pytest.raises(ValueError, match=r"manual_seed.*-9223372036854775808.*18446744073709551615"):
        md.manual_seed(seed)
    assert R.generator(np).bit_generator.state == before  # nothing changed


@pytest.mark.parametrize("seed, type_name", [("abc", "str"), (None, "NoneType"), (2.5, "float"),
                                             (np.float64(2.0), "float64"), ([1], "list")])
def test_non_integer_seed_raises_type_error_naming_the_call_and_type(seed, type_name):
    before = R.generator(np).bit_generator.state
    with pytest.raises(TypeError, match=rf"manual_seed.*integer.*{type_name}"):
        md.manual_seed(seed)
    assert R.generator(np).bit_generator.state == before

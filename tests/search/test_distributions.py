"""Distributions: membership, enumeration, sampling (uniform / log / quantised) and snapping."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sweepnet.search import Categorical, Float, Int

seeds = st.integers(0, 2**32 - 1)


@st.composite
def quantised_floats(draw: st.DrawFn) -> Float:
    log = draw(st.booleans())
    q = draw(st.floats(0.01, 10.0))
    low = draw(st.floats(1e-3, 50.0) if log else st.floats(-50.0, 50.0))
    high = low + draw(st.floats(1e-3, 100.0))
    assume(math.floor(high / q) >= math.ceil(low / q) + 1)  # at least two multiples, clear of rounding
    return Float(low, high, log=log, q=q)


@given(st.floats(-1e6, 1e6), st.floats(1e-6, 1e6), st.booleans(), seeds)
def test_float_samples_lie_in_range(low: float, width: float, log: bool, seed: int) -> None:
    low = abs(low) + 1e-9 if log else low
    high = low + width
    assume(low < high)
    distribution = Float(low, high, log=log)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        value = distribution.sample(rng)
        assert type(value) is float and distribution.contains(value)


@given(quantised_floats(), seeds)
def test_quantised_float_samples_are_multiples_of_q_in_range(distribution: Float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = set(distribution.values())
    for _ in range(20):
        value = distribution.sample(rng)
        assert distribution.contains(value) and value in values
        assert distribution.low - 1e-9 <= value <= distribution.high + 1e-9
        assert math.isclose(value / distribution.q, round(value / distribution.q), abs_tol=1e-9)


@given(st.integers(-1000, 1000), st.integers(1, 1000), st.integers(1, 20), seeds)
def test_int_samples_are_inclusive_multiples(low: int, width: int, q: int, seed: int) -> None:
    distribution = Int(low, low + width, q)
    assume(distribution.values())
    rng = np.random.default_rng(seed)
    for _ in range(20):
        value = distribution.sample(rng)
        assert type(value) is int and distribution.contains(value) and value % q == 0


def test_randint_includes_both_ends() -> None:
    distribution = Int(0, 2)
    rng = np.random.default_rng(0)
    assert {distribution.sample(rng) for _ in range(200)} == {0, 1, 2}
    assert distribution.values() == (0, 1, 2)


def test_quantised_values_are_the_multiples_of_q_without_float_noise() -> None:
    assert Float(0.05, 0.5, q=0.1).values() == (0.1, 0.2, 0.3, 0.4, 0.5)
    assert Float(0.3, 0.9, q=0.3).values() == (0.3, 0.6, 0.9)  # 0.9 / 0.3 == 2.9999999999999996
    assert Int(1, 10, 3).values() == (3, 6, 9)
    assert Float(1.0, 100.0, log=True, q=25.0).values() == (25.0, 50.0, 75.0, 100.0)


def test_loguniform_is_uniform_in_the_exponent() -> None:
    rng = np.random.default_rng(0)
    samples = [Float(1e-4, 1.0, log=True).sample(rng) for _ in range(4000)]
    # a quarter of the decades each: 1e-4..1e-3, ..., 1e-1..1
    counts = np.histogram(np.log10(samples), bins=[-4, -3, -2, -1, 0])[0]
    assert np.all(np.abs(counts / len(samples) - 0.25) < 0.03)


def test_contains_rejects_wrong_types_and_values() -> None:
    assert not Float(0.0, 1.0).contains(True)
    assert not Float(0.0, 1.0).contains("0.5")
    assert not Float(0.0, 1.0).contains(float("nan"))
    assert not Float(0.0, 1.0).contains(1.5)
    assert not Float(0.0, 1.0, q=0.25).contains(0.3)
    assert Int(0, 10).contains(np.int64(3))
    assert not Int(0, 10).contains(3.0)
    assert not Int(0, 10, 2).contains(3)
    assert Categorical(("a", [1, 2]), ("a", [1, 2])).contains([1, 2])


def test_nearest_clips_and_rounds() -> None:
    assert Float(0.0, 1.0).nearest(1.7) == 1.0
    assert Float(0.05, 0.5, q=0.1).nearest(0.0) == 0.1
    assert Float(0.05, 0.5, q=0.1).nearest(0.26) == 0.3
    assert Int(1, 10, 3).nearest(10) == 9


def test_continuous_distribution_has_no_values() -> None:
    assert not Float(0.0, 1.0).is_finite
    with pytest.raises(TypeError, match="continuous"):
        Float(0.0, 1.0).values()


def test_keywords_and_log_flag_for_tracking() -> None:
    assert [(d.keyword, d.is_log) for d in (Float(1, 2), Float(1, 2, log=True), Float(1, 2, q=1), Int(1, 2))] == [
        ("uniform", False),
        ("loguniform", True),
        ("quniform", False),
        ("randint", False),
    ]
    assert str(Float(1e-4, 0.1, log=True, q=1e-4)) == "qloguniform[0.0001, 0.1, 0.0001]"
    assert str(Categorical((1, 2), (1, 2), "grid")) == "grid[1, 2]"


def test_categorical_samples_every_option_uniformly() -> None:
    distribution = Categorical(("a", "b", "c"), ("a", "b", "c"))
    rng = np.random.default_rng(0)
    samples = [distribution.sample(rng) for _ in range(3000)]
    assert all(abs(samples.count(label) / 3000 - 1 / 3) < 0.03 for label in "abc")


@given(
    st.one_of(
        st.builds(Int, st.integers(-50, 50), st.integers(50, 120), st.integers(1, 7)),
        st.builds(
            lambda low, width, q: Float(low, low + width, q=q),
            st.floats(-5, 5),
            st.floats(0.5, 20),
            st.sampled_from([0.1, 0.25, 1.0, 3.0]),
        ),
        st.builds(lambda n: Categorical(tuple(range(n)), tuple(range(n))), st.integers(1, 9)),
    )
)
def test_size_and_value_at_agree_with_the_listed_values(distribution) -> None:
    values = distribution.values()
    assert distribution.size == len(values)
    assert [distribution.value_at(i) for i in range(len(values))] == list(values)


def test_size_counts_without_listing() -> None:
    assert Int(0, 10**15).size == 10**15 + 1
    assert Int(0, 10**15).value_at(10**15) == 10**15
    assert Float(0.0, 1.0, q=1e-9).size == 10**9 + 1
    assert Float(0.0, 1.0).size is None
    with pytest.raises(IndexError):
        Int(0, 3).value_at(4)

"""Tests of sweepnet.core.gradient_check against functions with known derivatives."""

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.core.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_rel_error_values():
    assert rel_error(1.0, 3.0) == pytest.approx(0.5)
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(0.0, 0.0) == 0.0  # the 1e-8 floor avoids 0 / 0
    assert rel_error(np.array([1.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(1.0)  # the max entry
    assert rel_error(1e-9, 0.0) == pytest.approx(0.1)


def test_eval_numerical_gradient_of_cubic(rng):
    x = rng.standard_normal((3, 4))
    original = x.copy()
    grad = eval_numerical_gradient(lambda x: np.sum(x**3), x, verbose=False)
    assert grad.shape == x.shape
    assert rel_error(grad, 3 * x**2) < 1e-7
    np.testing.assert_array_equal(x, original)


def test_eval_numerical_gradient_verbose_prints_each_index(capsys):
    x = np.array([1.0, 2.0])
    eval_numerical_gradient(lambda x: np.sum(x**2), x)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("(0,) 2.0") and lines[1].startswith("(1,) 4.0")


def test_eval_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])

    def explode(x):
        if x[0] != 1.0:
            raise RuntimeError("boom")
        return 0.0

    with pytest.raises(RuntimeError):
        eval_numerical_gradient(explode, x, verbose=False)
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_eval_numerical_gradient_array_backpropagates_df(rng):
    a, x, df = rng.standard_normal((5, 3)), rng.standard_normal((3, 2)), rng.standard_normal((5, 2))
    grad = eval_numerical_gradient_array(lambda x: a @ x, x, df)
    assert rel_error(grad, a.T @ df) < 1e-8


def test_eval_numerical_gradient_array_copes_with_reused_output_buffer(rng):
    x, df = rng.standard_normal(4), rng.standard_normal(4)
    buffer = np.empty(4)

    def square_into_buffer(x):
        np.multiply(x, x, out=buffer)  # returns the same array every call
        return buffer

    grad = eval_numerical_gradient_array(square_into_buffer, x, df)
    assert rel_error(grad, 2 * x * df) < 1e-8


def test_grad_check_sparse_reports_errors(rng, capsys):
    x = rng.standard_normal((6, 7))
    original = x.copy()
    f = lambda x: np.sum(np.sin(x))  # noqa: E731
    errors = grad_check_sparse(f, x, np.cos(x), num_checks=5, seed=1)
    assert errors.shape == (5,)
    assert np.all(errors < 1e-8)
    np.testing.assert_array_equal(x, original)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("numerical: ") and " analytic: " in lines[0] and ", relative error: " in lines[0]
    wrong = grad_check_sparse(f, x, -np.cos(x), num_checks=5, seed=1)
    assert np.all(wrong > 0.99)


def test_grad_check_sparse_is_reproducible_and_leaves_global_state_alone(rng, capsys):
    x = rng.standard_normal(50)
    wrong = np.arange(50.0)  # each entry's error identifies which index was checked
    state = np.random.get_state()[1].copy()
    first = grad_check_sparse(lambda x: np.sum(x), x, wrong, num_checks=8, seed=7)
    second = grad_check_sparse(lambda x: np.sum(x), x, wrong, num_checks=8, seed=7)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(np.random.get_state()[1], state)

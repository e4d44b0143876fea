from __future__ import annotations

import numpy as np
import pytest

from sweepnet.core.classifiers.softmax import softmax_loss_naive, softmax_loss_vectorized
from sweepnet.core.gradient_check import eval_numerical_gradient, rel_error

Problem = tuple[np.ndarray, np.ndarray, np.ndarray]


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_naive_and_vectorized_agree(small_problem: Problem, reg: float) -> None:
    W, X, y = small_problem
    loss_naive, grad_naive = softmax_loss_naive(W, X, y, reg)
    loss_vec, grad_vec = softmax_loss_vectorized(W, X, y, reg)
    assert loss_vec == pytest.approx(loss_naive, rel=1e-12)
    assert rel_error(grad_vec, grad_naive) < 1e-12


@pytest.mark.parametrize("loss_fn", [softmax_loss_naive, softmax_loss_vectorized])
@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_gradient_matches_numerical_gradient(small_problem: Problem, loss_fn, reg: float) -> None:
    W, X, y = small_problem
    _, grad = loss_fn(W, X, y, reg)
    grad_numerical = eval_numerical_gradient(lambda w: loss_fn(w, X, y, reg)[0], W, verbose=False)
    assert rel_error(grad, grad_numerical) < 1e-8


def test_zero_weights_give_log_num_classes(small_problem: Problem) -> None:
    _, X, y = small_problem
    for loss_fn in (softmax_loss_naive, softmax_loss_vectorized):
        loss, _ = loss_fn(np.zeros((6, 4)), X, y, reg=10.0)
        assert loss == pytest.approx(np.log(4))


@pytest.mark.parametrize("loss_fn", [softmax_loss_naive, softmax_loss_vectorized])
def test_huge_scores_stay_finite(small_problem: Problem, loss_fn) -> None:
    W, X, y = small_problem
    # Scores of order 1e4 overflow a naive exp; the loss must equal the hinge-like limit instead.
    loss, grad = loss_fn(W, 1e4 * X, y, 0.0)
    scores = 1e4 * X @ W
    expected = np.mean(np.max(scores, axis=1) - scores[np.arange(len(y)), y])
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx(expected, rel=1e-6)


def test_matches_torch_cross_entropy_plus_l2(small_problem: Problem) -> None:
    torch = pytest.importorskip("torch")
    W, X, y = small_problem
    reg = 0.1
    W_t = torch.tensor(W, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(torch.tensor(X) @ W_t, torch.tensor(y)) + reg * torch.sum(W_t * W_t)
    expected.backward()
    loss, grad = softmax_loss_vectorized(W, X, y, reg)
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(grad, W_t.grad.numpy(), rtol=1e-10, atol=1e-12)

from __future__ import annotations

import numpy as np
import pytest

from sweepnet.core.classifiers.linear_svm import svm_loss_naive, svm_loss_vectorized
from sweepnet.core.gradient_check import eval_numerical_gradient, rel_error

Problem = tuple[np.ndarray, np.ndarray, np.ndarray]


@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_naive_and_vectorized_agree(small_problem: Problem, reg: float) -> None:
    W, X, y = small_problem
    loss_naive, grad_naive = svm_loss_naive(W, X, y, reg)
    loss_vec, grad_vec = svm_loss_vectorized(W, X, y, reg)
    assert loss_vec == pytest.approx(loss_naive, rel=1e-12)
    assert rel_error(grad_vec, grad_naive) < 1e-12


@pytest.mark.parametrize("loss_fn", [svm_loss_naive, svm_loss_vectorized])
@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_gradient_matches_numerical_gradient(small_problem: Problem, loss_fn, reg: float) -> None:
    W, X, y = small_problem
    _, grad = loss_fn(W, X, y, reg)
    grad_numerical = eval_numerical_gradient(lambda w: loss_fn(w, X, y, reg)[0], W, verbose=False)
    assert rel_error(grad, grad_numerical) < 1e-8


def test_zero_weights_give_num_classes_minus_one(small_problem: Problem) -> None:
    _, X, y = small_problem
    # Every score is 0, so each of the C - 1 wrong classes violates the margin by exactly 1.
    loss, _ = svm_loss_vectorized(np.zeros((6, 4)), X, y, reg=10.0)
    assert loss == pytest.approx(3.0)


def test_regularisation_is_reg_times_squared_norm(small_problem: Problem) -> None:
    W, X, y = small_problem
    loss0, grad0 = svm_loss_vectorized(W, X, y, 0.0)
    loss1, grad1 = svm_loss_vectorized(W, X, y, 0.5)
    assert loss1 - loss0 == pytest.approx(0.5 * np.sum(W * W))
    np.testing.assert_allclose(grad1 - grad0, W, atol=1e-12)


def test_matches_torch_multi_margin_loss(small_problem: Problem) -> None:
    torch = pytest.importorskip("torch")
    W, X, y = small_problem
    reg = 0.1
    W_t = torch.tensor(W, requires_grad=True)
    scores = torch.tensor(X) @ W_t
    # torch divides each sample's hinge sum by the number of classes; the classic loss does not.
    data_loss = torch.nn.functional.multi_margin_loss(scores, torch.tensor(y), margin=1.0) * W.shape[1]
    (data_loss + reg * torch.sum(W_t * W_t)).backward()
    loss, grad = svm_loss_vectorized(W, X, y, reg)
    assert loss == pytest.approx((data_loss + reg * torch.sum(W_t * W_t)).item(), rel=1e-12)
    np.testing.assert_allclose(grad, W_t.grad.numpy(), rtol=1e-10, atol=1e-12)

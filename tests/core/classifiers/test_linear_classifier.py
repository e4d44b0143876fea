from __future__ import annotations

import numpy as np
import pytest

from sweepnet.core.classifiers import LinearClassifier, LinearSVM, Softmax

Data = dict[str, np.ndarray]


@pytest.mark.parametrize("cls", [LinearSVM, Softmax])
def test_training_on_digits_lowers_the_loss_and_classifies_well(digits: Data, cls: type[LinearClassifier]) -> None:
    classifier = cls()
    loss_history = classifier.train(
        digits["X_train"], digits["y_train"], learning_rate=0.1, reg=1e-3, num_iters=300, seed=0
    )
    assert len(loss_history) == 300
    assert np.mean(loss_history[-20:]) < 0.5 * np.mean(loss_history[:5])
    y_pred = classifier.predict(digits["X_val"])
    assert y_pred.shape == digits["y_val"].shape
    assert np.mean(y_pred == digits["y_val"]) > 0.85  # chance is 0.1


def test_weights_are_created_lazily_with_small_random_values(digits: Data) -> None:
    classifier = Softmax()
    assert classifier.W is None
    assert classifier.train(digits["X_train"], digits["y_train"], num_iters=0, seed=0) == []
    assert classifier.W.shape == (65, 10)  # (D, max(y) + 1)
    assert 0.0008 < np.std(classifier.W) < 0.0012
    # A second call keeps training the same weights instead of starting over.
    W = classifier.W
    classifier.train(digits["X_train"], digits["y_train"], num_iters=1, seed=1)
    assert classifier.W is W


def test_seeded_training_ignores_and_keeps_the_global_state(digits: Data) -> None:
    def train(global_seed: int) -> tuple[list[float], np.ndarray]:
        np.random.seed(global_seed)
        _, keys, position, *_ = np.random.get_state()
        classifier = LinearSVM()
        history = classifier.train(digits["X_train"], digits["y_train"], num_iters=20, batch_size=50, seed=7)
        _, keys_after, position_after, *_ = np.random.get_state()
        assert position_after == position and np.array_equal(keys_after, keys)  # nothing drawn globally
        return history, classifier.W

    history_a, W_a = train(global_seed=1)
    history_b, W_b = train(global_seed=2)
    assert history_a == history_b
    np.testing.assert_array_equal(W_a, W_b)


def test_unseeded_training_follows_the_global_state_like_the_classic_code(digits: Data) -> None:
    def train() -> list[float]:
        return Softmax().train(digits["X_train"], digits["y_train"], num_iters=10, batch_size=50)

    np.random.seed(3)
    first = train()
    np.random.seed(3)
    assert train() == first
    assert train() != first


def test_verbose_prints_every_hundred_iterations(digits: Data, capsys: pytest.CaptureFixture[str]) -> None:
    LinearSVM().train(digits["X_train"], digits["y_train"], num_iters=201, batch_size=10, verbose=True, seed=0)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"iteration {i} / 201" for i in (0, 100, 200)]


def test_predict_before_train_and_the_abstract_base_raise() -> None:
    with pytest.raises(RuntimeError, match="train"):
        Softmax().predict(np.zeros((2, 3)))
    with pytest.raises(TypeError):
        LinearClassifier()

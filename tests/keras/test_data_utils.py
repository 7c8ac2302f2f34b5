"""keras.datasets.mnist and keras.utils."""
from __future__ import annotations

import numpy as np
import pytest

import minidl as md
from minidl import keras


def test_mnist_load_data_offline_warns_and_gives_the_documented_split(shared_data, monkeypatch, tmp_path):
    monkeypatch.setenv("MINIDL_DATA", str(shared_data))
    monkeypatch.setenv("MINIDL_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no cached train split
    with pytest.warns(UserWarning, match="first 8,000 test images"):
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    assert x_train.shape == (8000, 28, 28) and x_test.shape == (2000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8 and y_test.shape == (2000,)
    images, labels = md.datasets.load_mnist("test", root=shared_data / "mnist", download=False)
    np.testing.assert_array_equal(x_test, images[8000:])
    np.testing.assert_array_equal(y_train, labels[:8000])


def test_to_categorical_as_keras():
    np.testing.assert_array_equal(keras.utils.to_categorical([0, 2, 1]),
                                  np.eye(3, dtype=np.float32)[[0, 2, 1]])
    out = keras.utils.to_categorical(np.array([[1], [3]]), num_classes=5)
    assert out.shape == (2, 5) and out.dtype == np.float32 and out[1, 3] == 1
    assert keras.utils.to_categorical(np.array([[0, 1], [1, 1]])).shape == (2, 2, 2)
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        keras.utils.to_categorical([0, 2], num_classes=2)


def test_set_random_seed_makes_models_repeatable():
    keras.utils.set_random_seed(3)
    a = keras.Sequential([keras.layers.Dense(4, input_shape=(3,))]).get_weights()
    keras.utils.set_random_seed(3)
    b = keras.Sequential([keras.layers.Dense(4, input_shape=(3,))]).get_weights()
    np.testing.assert_array_equal(a[0], b[0])
    assert keras.backend.image_data_format() == "channels_last" and keras.backend.epsilon() == 1e-7


def test_a_cut_down_test_file_still_gives_a_test_split(monkeypatch):
    from minidl.keras.datasets import mnist

    images, labels = np.zeros((1000, 28, 28), np.uint8), np.arange(1000) % 10

    def splits(root, log):
        return images, labels, images[8000:], labels[8000:], "offline"
    monkeypatch.setattr(mnist, "load_mnist_splits", splits)
    with pytest.warns(UserWarning, match="only 1,000 images: training on the first 800"):
        (x_train, _), (x_test, y_test) = mnist.load_data()
    assert len(x_train) == 800 and len(x_test) == 200 and y_test[0] == 0

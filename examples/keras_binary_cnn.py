"""The seed's binary image classifier in Keras, on two MNIST digits: 4 against 9.

    python examples/keras_binary_cnn.py                  # 64x64x3 inputs, 8 epochs
    python examples/keras_binary_cnn.py --size 150       # the seed's 150x150x3 (much slower on a CPU)

The seed's model is unchanged: Conv2D 32/64/128 each followed by MaxPooling2D, Flatten,
Dense(512, relu), Dropout(0.5), Dense(1, sigmoid), binary cross-entropy, RMSprop. Its
data (cat and dog photographs, 150x150 RGB) is not reachable here, so it gets the two
MNIST digits models confuse most, 4 and 9 (a shared upper loop and stem: a real two-class
problem, not a solved one), scaled up to --size pixels by nearest neighbour and repeated
over 3 channels to make the RGB input the seed's first layer expects. Offline, MNIST's
train split is the first 8,000 test images (see keras.datasets.mnist.load_data).

Writes --out/curves.png (train and validation loss and accuracy per epoch) and
--out/summary.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from minidl import keras
from minidl.keras import layers


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--digits", type=int, nargs=2, default=(4, 9), help="label 0, label 1")
    p.add_argument("--size", type=int, default=64, help="image side after scaling (the seed: 150)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/keras_binary_cnn"))
    return p.parse_args(argv)


def two_digits(images: np.ndarray, labels: np.ndarray, digits: tuple[int, int], size: int):
    """The images of the two digits as (N, size, size, 3) floats in [0, 1], labels 0./1."""
    keep = np.isin(labels, digits)
    rows = np.arange(size) * 28 // size  # nearest-neighbour scaling
    x = images[keep][:, rows][:, :, rows].astype(np.float32) / 255.0
    return np.repeat(x[..., None], 3, axis=-1), (labels[keep] == digits[1]).astype(np.float32)


def build_model(size: int) -> keras.Sequential:
    return keras.Sequential([
        layers.Conv2D(32, (3, 3), activation="relu", input_shape=(size, size, 3)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(128, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Flatten(),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(1, activation="sigmoid"),
    ])


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    x_train, y_train = two_digits(x_train[:args.limit], y_train[:args.limit], args.digits, args.size)
    x_test, y_test = two_digits(x_test, y_test, args.digits, args.size)
    print(f"digits {args.digits[0]} (label 0) and {args.digits[1]} (label 1): {len(y_train)} training "
          f"images ({len(y_train) - int(0.2 * len(y_train))} fit, the last 20% validate), "
          f"{len(y_test)} test images, {args.size}x{args.size}x3")

    model = build_model(args.size)
    model.summary()
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        validation_split=0.2, verbose=2)
    seconds = time.perf_counter() - start
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"test accuracy {test_accuracy:.4f} (loss {test_loss:.4f}) after {seconds:.0f} s of training")

    args.out.mkdir(parents=True, exist_ok=True)
    history.plot(args.out / "curves.png", title=f"digits {args.digits[0]} vs {args.digits[1]}, "
                                                f"{args.size}x{args.size}x3")
    summary = {"digits": list(args.digits), "size": args.size, "train_images": int(len(y_train)),
               "test_images": int(len(y_test)), "test_accuracy": test_accuracy, "test_loss": test_loss,
               "train_seconds": seconds, "history": history.history}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {args.out / 'curves.png'} and {args.out / 'summary.json'}")
    return summary


if __name__ == "__main__":
    main()

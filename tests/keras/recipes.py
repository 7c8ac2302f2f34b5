"""Models, data and training runs written once for BOTH Keras 3 and minidl.keras.

Every function takes the Keras module to use as its first argument and never imports one:
`tests/keras/make_expected.py` runs them with Keras 3 (KERAS_BACKEND=torch, by hand) to
produce the numbers pinned in tests/keras/expected.py; the tests run them with minidl.keras.
Weights are set from a seeded NumPy generator in Keras's layouts, so both start equal.
Everything runs with shuffle=False (and no dropout in training), so both are deterministic.
"""
from __future__ import annotations

import numpy as np


def set_weights(model, seed: int) -> None:
    """Deterministic weights for every layer, in Keras's layouts and order."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        shapes = [w.shape for w in layer.get_weights()]
        values = [rng.uniform(-0.5, 0.5, size=s).astype("float32") for s in shapes]
        if type(layer).__name__ == "BatchNormalization":  # gamma, beta, moving mean, moving var
            values[0] += 1.0
            values[3] = np.abs(values[3]) + 0.75
        layer.set_weights(values)


def images(n: int = 40, seed: int = 0, size: int = 8, channels: int = 1, classes: int = 3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, size, size, channels)).astype("float32")
    y = rng.integers(0, classes, size=n)
    return x, y


def vectors(n: int = 48, features: int = 6, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    w = rng.normal(size=(features,))
    y_bin = (x @ w > 0).astype("float32")
    y_reg = (x @ w + 0.1 * rng.normal(size=n)).astype("float32")[:, None]
    return x, y_bin, y_reg


def sequences(n: int = 32, steps: int = 7, vocab: int = 12, seed: int = 2):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, size=(n, steps))
    y = (ids.sum(axis=1) % 2).astype("int64")
    return ids, y


def seed_cnn(keras):
    L = keras.layers
    return keras.Sequential([
        L.Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1)),
        L.MaxPooling2D((2, 2)),
        L.Flatten(),
        L.Dense(5, activation="relu"),
        L.Dense(3, activation="softmax"),
    ])


def run_seed_cnn(keras):
    """The seed program's model, compile and fit, small: adam, sparse labels, accuracy,
    validation_split (the last quarter, before shuffling)."""
    x, y = images()
    model = seed_cnn(keras)
    set_weights(model, 10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, shuffle=False, verbose=0)
    return {"history": history.history, "epoch": history.epoch,
            "evaluate": model.evaluate(x, y, batch_size=16, verbose=0),
            "predict": model.predict(x[:4], verbose=0).tolist(),
            "weight_sums": [float(w.sum()) for w in model.get_weights()]}


def run_binary_sgd_schedule(keras):
    """Sigmoid output, binary_crossentropy on (N,) labels, SGD with momentum under a
    LearningRateScheduler (Keras keeps the learning rate inside the velocity), metrics
    accuracy (binary, threshold 0.5) and mae."""
    x, y, _ = vectors()
    L = keras.layers
    model = keras.Sequential([keras.Input((6,)), L.Dense(4, activation="tanh"),
                              L.Dense(1, activation="sigmoid")])
    set_weights(model, 11)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.2, momentum=0.9),
                  loss="binary_crossentropy", metrics=["accuracy", "mae"])
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch else lr)
    history = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0, callbacks=[schedule],
                        validation_data=(x[:16], y[:16]))
    return {"history": history.history, "evaluate": model.evaluate(x, y, verbose=0),
            "predict": model.predict(x[:5], verbose=0).tolist(),
            "weight_sums": [float(w.sum()) for w in model.get_weights()]}


def run_rmsprop_categorical(keras):
    """One-hot labels with categorical_crossentropy and Keras's RMSprop (epsilon inside the
    square root), plus EarlyStopping(restore_best_weights) that stops after epoch 2."""
    x, y = images(seed=3)
    onehot = keras.utils.to_categorical(y, 3)
    L = keras.layers
    model = keras.Sequential([L.Flatten(input_shape=(8, 8, 1)), L.Dense(6, activation="relu"),
                              L.Dense(3, activation="softmax")])
    set_weights(model, 12)
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=1,
                                         restore_best_weights=True)
    history = model.fit(x, onehot, epochs=6, batch_size=10, shuffle=False, verbose=0, callbacks=[stop])
    return {"history": history.history, "epoch": history.epoch, "stopped_epoch": stop.stopped_epoch,
            "evaluate": model.evaluate(x, onehot, verbose=0),
            "weight_sums": [float(w.sum()) for w in model.get_weights()]}


def run_regression(keras):
    """mse with metrics mae and mse, Adam, ReduceLROnPlateau cutting the rate each epoch."""
    x, _, y = vectors(seed=4)
    L = keras.layers
    model = keras.Sequential([L.Dense(8, activation="relu", input_shape=(6,)), L.Dense(1)])
    set_weights(model, 13)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), loss="mse", metrics=["mae", "mse"])
    plateau = keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0)
    history = model.fit(x, y, epochs=3, batch_size=12, shuffle=False, verbose=0, callbacks=[plateau],
                        initial_epoch=1)
    return {"history": history.history, "epoch": history.epoch,
            "evaluate": model.evaluate(x, y, verbose=0),
            "predict": model.predict(x[:3], verbose=0).tolist()}


def run_recurrent(keras):
    """Embedding -> GRU(return_sequences) -> LSTM -> Dense(2, softmax) with AdamW."""
    ids, y = sequences()
    L = keras.layers
    model = keras.Sequential([keras.Input((7,), dtype="int64"), L.Embedding(12, 4),
                              L.GRU(5, return_sequences=True), L.LSTM(3),
                              L.Dense(2, activation="softmax")])
    set_weights(model, 14)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=0.02), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(ids, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    return {"history": history.history, "evaluate": model.evaluate(ids, y, verbose=0),
            "predict": model.predict(ids[:3], verbose=0).tolist(),
            "weight_sums": [float(w.sum()) for w in model.get_weights()]}


def run_conv_zoo(keras):
    """padding='same' (odd and even kernels, strides 2), BatchNormalization, average
    pooling, global average pooling, gelu and leaky_relu, an Activation layer."""
    x, y = images(n=24, seed=5, size=9, channels=2, classes=4)
    L = keras.layers
    model = keras.Sequential([
        L.Conv2D(3, (2, 2), padding="same", activation="gelu", input_shape=(9, 9, 2)),
        L.BatchNormalization(),
        L.AveragePooling2D((2, 2), padding="same"),
        L.Conv2D(4, 3, strides=2, padding="same", activation="leaky_relu"),
        L.MaxPooling2D((2, 2), strides=1, padding="same"),
        L.GlobalAveragePooling2D(),
        L.Dense(4),
        L.Activation("softmax"),
    ])
    set_weights(model, 15)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    return {"history": history.history, "evaluate": model.evaluate(x, y, verbose=0),
            "predict": model.predict(x[:3], verbose=0).tolist(),
            "weights": [w.tolist() for w in model.layers[1].get_weights()],
            "weight_sums": [float(w.sum()) for w in model.get_weights()]}


def run_probabilities_without_softmax(keras):
    """from_logits=False with an output that is not a softmax: Keras normalises and clips
    the outputs (here a sigmoid layer); and from_logits=True on a linear output."""
    x, y = images(n=16, seed=6)
    L = keras.layers
    results = {}
    for name, activation, loss in (
            ("sigmoid_probs", "sigmoid", "sparse_categorical_crossentropy"),
            ("logits", None, keras.losses.SparseCategoricalCrossentropy(from_logits=True))):
        model = keras.Sequential([L.Flatten(input_shape=(8, 8, 1)), L.Dense(3, activation=activation)])
        set_weights(model, 16)
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
        history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        results[name] = {"history": history.history, "evaluate": model.evaluate(x, y, verbose=0)}
    return results


RUNS = {
    "seed_cnn": run_seed_cnn,
    "binary_sgd_schedule": run_binary_sgd_schedule,
    "rmsprop_categorical": run_rmsprop_categorical,
    "regression": run_regression,
    "recurrent": run_recurrent,
    "conv_zoo": run_conv_zoo,
    "probabilities_without_softmax": run_probabilities_without_softmax,
}


def run_callback_trace(keras):
    """Every hook with its argument and the logs it gets (keys, and the loss when there is
    one), through fit with validation, then evaluate and predict."""
    events = []

    class Trace(keras.callbacks.Callback):
        pass

    def recorder(hook):
        def record(self, *args, **kwargs):
            logs = kwargs.get("logs", args[-1] if args and not isinstance(args[-1], int) else None)
            arg = args[0] if args and isinstance(args[0], int) else None
            entry = [hook, arg, None if logs is None else sorted(logs)]
            if logs and "loss" in logs:
                entry.append(float(logs["loss"]))
            events.append(entry)
        return record

    for hook in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
                 "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
                 "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
                 "on_predict_batch_begin", "on_predict_batch_end"):
        setattr(Trace, hook, recorder(hook))
    x, y, _ = vectors(n=12)
    L = keras.layers
    model = keras.Sequential([L.Dense(3, activation="relu", input_shape=(6,)), L.Dense(1, activation="sigmoid")])
    set_weights(model, 17)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    trace = Trace()
    history = model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0, callbacks=[trace],
                        validation_data=(x[:5], y[:5]))
    fit_events = list(events)
    events.clear()
    model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[trace])
    evaluate_events = list(events)
    events.clear()
    model.predict(x, batch_size=8, verbose=0, callbacks=[trace])
    return {"fit": fit_events, "evaluate": evaluate_events, "predict": events,
            "params": dict(trace.params), "history_params": dict(history.params)}


def run_optimizers(keras):
    """The weights after four full-batch steps of each Keras optimizer (learning rate halved
    after step two, which tells Keras's momentum rules from PyTorch's)."""
    x, _, y = vectors(n=10, features=4, seed=7)
    O = keras.optimizers
    configs = {
        "adam": lambda: O.Adam(learning_rate=0.1),
        "adam_wd": lambda: O.Adam(learning_rate=0.1, weight_decay=0.1, epsilon=1e-3),
        "adamw": lambda: O.AdamW(learning_rate=0.1),
        "sgd": lambda: O.SGD(learning_rate=0.1),
        "sgd_momentum": lambda: O.SGD(learning_rate=0.1, momentum=0.9),
        "sgd_nesterov_wd": lambda: O.SGD(learning_rate=0.1, momentum=0.5, nesterov=True, weight_decay=0.2),
        "rmsprop": lambda: O.RMSprop(learning_rate=0.1),
        "rmsprop_centered_momentum": lambda: O.RMSprop(learning_rate=0.1, momentum=0.8, centered=True),
        "by_name_rmsprop": lambda: "rmsprop",
        "by_name_sgd": lambda: "sgd",
    }
    out = {}
    for name, make in configs.items():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        set_weights(model, 18)
        model.compile(optimizer=make(), loss="mse")
        halve = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch == 2 else lr)
        model.fit(x, np.repeat(y, 2, axis=1), epochs=4, batch_size=10, shuffle=False, verbose=0,
                  callbacks=[halve])
        out[name] = [w.tolist() for w in model.get_weights()]
    return out


def run_summaries(keras):
    """summary() text: declared input, built from data (the batch size shows), after fit
    (the optimizer's variables are counted), and unbuilt."""
    texts = {}

    def capture(key):
        return lambda text, *args, **kwargs: texts.__setitem__(key, texts.get(key, "") + text)
    model = seed_cnn(keras)
    model.summary(line_length=76, print_fn=capture("declared"))
    x, y = images(n=16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    model.summary(line_length=88, print_fn=capture("fitted"))
    L = keras.layers
    lazy = keras.Sequential([L.Embedding(10, 3), L.LSTM(4), L.Dense(2)])
    lazy.summary(line_length=60, print_fn=capture("unbuilt"))
    lazy.predict(np.zeros((5, 7), dtype="int64"), verbose=0)
    lazy.summary(line_length=60, print_fn=capture("built_from_data"))
    return texts


RUNS.update({"callback_trace": run_callback_trace, "optimizers": run_optimizers,
             "summaries": run_summaries})


def run_checkpoint_and_csv(keras, folder):
    """ModelCheckpoint(save_best_only) with a formatted file name, and CSVLogger's rows."""
    import csv
    import os
    x, y_bin, _ = vectors(n=40, seed=8)
    L = keras.layers
    model = keras.Sequential([L.Dense(4, activation="relu", input_shape=(6,)), L.Dense(1, activation="sigmoid")])
    set_weights(model, 19)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=2.0), loss="binary_crossentropy",
                  metrics=["accuracy"])
    checkpoint = keras.callbacks.ModelCheckpoint(os.path.join(folder, "m-{epoch:02d}-{val_loss:.3f}.keras"),
                                                 monitor="val_loss", save_best_only=True)
    log = os.path.join(folder, "log.csv")
    history = model.fit(x, y_bin, epochs=6, batch_size=8, shuffle=False, verbose=0, validation_split=0.25,
                        callbacks=[checkpoint, keras.callbacks.CSVLogger(log)])
    with open(log) as f:
        rows = list(csv.reader(f))
    return {"files": sorted(n for n in os.listdir(folder) if n.endswith(".keras")),
            "header": rows[0], "rows": [[float(v) for v in row] for row in rows[1:]],
            "val_loss": history.history["val_loss"]}

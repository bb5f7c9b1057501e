"""Keras 3 on TensorFlow (tensorflow-cpu): Sequential Dense layers, compile, fit.

Configured as Keras's guides show: ``compile(optimizer=Adam(lr), loss="mse")``,
``fit(x, x, batch_size, epochs, shuffle=True)``; everything else (glorot_uniform
init, jit_compile="auto", which Keras resolves to off on CPU-only machines) is the
default. ``verbose=0`` because no contestant prints per step. Training time runs
from on_train_begin to on_train_end; the test MSE comes from ``predict``.
"""

from __future__ import annotations

import os
import time

import numpy as np

from benchmarks import data
from benchmarks.contestants import Measurement, register
from benchmarks.spec import Task


@register("keras", requires=("keras", "tensorflow"), peer_env=True)
def run(task: Task) -> Measurement:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(task.threads)
    keras.utils.set_random_seed(task.seed)
    train, test = data.load(task.data_dir, task.n_train, task.n_test, task.seed)

    dense = keras.layers.Dense
    model = keras.Sequential(
        [
            keras.Input(shape=(task.input_dim,)),
            *[dense(w, activation="relu") for w in task.widths],
            dense(task.latent),
            *[dense(w, activation="relu") for w in reversed(task.widths)],
            dense(task.input_dim, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=task.lr), loss="mse")

    class Timer(keras.callbacks.Callback):
        start = end = 0.0

        def on_train_begin(self, logs=None) -> None:
            Timer.start = time.perf_counter()

        def on_train_end(self, logs=None) -> None:
            Timer.end = time.perf_counter()

    model.fit(
        train, train, batch_size=task.batch_size, epochs=task.epochs, shuffle=True, verbose=0, callbacks=[Timer()]
    )
    train_s = Timer.end - Timer.start

    pred = model.predict(test, batch_size=2048, verbose=0)
    mse = float(np.mean((pred.astype(np.float64) - test) ** 2))
    samples = len(train) * task.epochs
    return Measurement(samples / train_s, train_s, mse, {"keras": keras.__version__, "tensorflow": tf.__version__})

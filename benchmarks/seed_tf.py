"""The source document's reference program (seed/000_d2d77a1ee9da5ee0.txt, section 4), as written.

A dense autoencoder on N(0,1) data, 1000 x 100: encoder Dense(32, relu) -> Dense(100),
decoder the same, Adam 1e-3, batch 32, 50 epochs, MSE, trained by an eager
GradientTape loop (31 steps per epoch: the last partial batch is dropped).
The benchmark times it as a whole process (`python benchmarks/seed_tf.py`)
against `aegrad train --preset seed-reference`.

The code below is the document's (comments translated, quotes normalised by the
formatter). The only addition: an optional first argument overrides the epochs,
so `--quick` can run it briefly.
"""

# ruff: noqa: I001, UP008 - the document's code, kept as written
import sys

import tensorflow as tf
import numpy as np


# Data generation
def generate_data(num_samples, dim):
    return np.random.randn(num_samples, dim)


# Encoder
class Encoder(tf.keras.Model):
    def __init__(self, input_dim, hidden_dim, output_dim):
        super(Encoder, self).__init__()
        self.dense1 = tf.keras.layers.Dense(hidden_dim, activation="relu")
        self.dense2 = tf.keras.layers.Dense(output_dim)

    def call(self, x):
        x = self.dense1(x)
        z = self.dense2(x)
        return z


# Decoder
class Decoder(tf.keras.Model):
    def __init__(self, input_dim, hidden_dim, output_dim):
        super(Decoder, self).__init__()
        self.dense1 = tf.keras.layers.Dense(hidden_dim, activation="relu")
        self.dense2 = tf.keras.layers.Dense(output_dim)

    def call(self, x):
        x = self.dense1(x)
        x = self.dense2(x)
        return x


# Autoencoder
class Autoencoder(tf.keras.Model):
    def __init__(self, input_dim, hidden_dim, output_dim):
        super(Autoencoder, self).__init__()
        self.encoder = Encoder(input_dim, hidden_dim, output_dim)
        self.decoder = Decoder(output_dim, hidden_dim, input_dim)

    def call(self, x):
        z = self.encoder(x)
        x_reconstructed = self.decoder(z)
        return x_reconstructed


# Train the autoencoder
def train_autoencoder(autoencoder, data, epochs, batch_size, learning_rate):
    optimizer = tf.keras.optimizers.Adam(learning_rate=learning_rate)
    autoencoder.compile(optimizer=optimizer, loss="mse")

    num_batches = int(data.shape[0] / batch_size)
    for epoch in range(epochs):
        for batch in range(num_batches):
            x = data[batch * batch_size : (batch + 1) * batch_size]
            with tf.GradientTape() as tape:
                x_reconstructed = autoencoder(x)
                loss = tf.reduce_mean(tf.keras.losses.mse(x, x_reconstructed))
            gradients = tape.gradient(loss, autoencoder.trainable_variables)
            optimizer.apply_gradients(zip(gradients, autoencoder.trainable_variables))


# Main program
if __name__ == "__main__":
    input_dim = 100
    hidden_dim = 32
    output_dim = input_dim
    num_samples = 1000
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 50  # the document's 50; argv added for --quick
    batch_size = 32
    learning_rate = 0.001

    data = generate_data(num_samples, input_dim)
    autoencoder = Autoencoder(input_dim, hidden_dim, output_dim)
    train_autoencoder(autoencoder, data, epochs, batch_size, learning_rate)

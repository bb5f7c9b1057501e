"""Autoencoder models: registries of activations, inits, norms and model kinds, and their builders.

``create_model(cfg, sample_shape)`` builds a registered kind; ``save_model`` /
``load_model`` move one through safetensors with its config.
"""

from aegrad.models.activations import (
    ActivationSpec,
    activation_family,
    activation_gain,
    create_activation,
    get_activation,
    list_activations,
    register_activation,
)
from aegrad.models.base import Autoencoder, create_model, list_models, register_model
from aegrad.models.blocks import Block, ConvBlock, ConvTransposeBlock, DenseBlock
from aegrad.models.conv import ConvAutoencoder  # importing mlp and conv registers them
from aegrad.models.inits import init_layer, list_inits, register_init
from aegrad.models.mlp import MLPAutoencoder
from aegrad.models.norms import list_norms, register_norm
from aegrad.models.saving import load_model, save_model
from aegrad.models.unet import UNetAutoencoder  # registers model.kind=unet (skip connections, denoising)
from aegrad.models.variational import Variational, gaussian_kl, log_likelihood, reparameterize

# The variational family trains on the ELBO: register that objective whenever the model registry exists.
import aegrad.apps.vae.objective  # noqa: E402,F401  isort: skip

import aegrad.apps.compress  # noqa: E402,F401  registers model.kind=codec (apps/compress), last: it imports models.base
import aegrad.apps.text  # noqa: E402,F401  registers model.kind=seq, objective masked_ce, data.source=text (apps/text)

__all__ = [
    "ActivationSpec",
    "Autoencoder",
    "Block",
    "ConvAutoencoder",
    "ConvBlock",
    "ConvTransposeBlock",
    "DenseBlock",
    "MLPAutoencoder",
    "UNetAutoencoder",
    "Variational",
    "activation_family",
    "activation_gain",
    "create_activation",
    "create_model",
    "gaussian_kl",
    "get_activation",
    "init_layer",
    "list_activations",
    "list_inits",
    "list_models",
    "list_norms",
    "load_model",
    "log_likelihood",
    "register_activation",
    "register_init",
    "register_model",
    "register_norm",
    "reparameterize",
    "save_model",
]

"""Autoencoder models: registries of activations, inits, norms and model kinds, and one folder per family.

``create_model(cfg, sample_shape)`` builds a registered kind; ``save_model`` /
``load_model`` move one through safetensors with its config. Each family folder
(mlp, conv, unet, variational, codec, seq) holds its model, its default objective,
its detectors and remedies and its end-of-run files, and registers them with the
registries when it is imported — here, as timm's ``models/__init__`` imports its models.
"""

from aegrad.models import codec, conv, mlp, seq, unet, variational  # the families: importing one registers it
from aegrad.models.activations import (
    ActivationSpec,
    activation_family,
    activation_gain,
    create_activation,
    get_activation,
    list_activations,
    register_activation,
)
from aegrad.models.base import (
    Autoencoder,
    family_callbacks,
    create_model,
    list_models,
    register_family_callback,
    register_model,
)
from aegrad.models.blocks import Block, ConvBlock, ConvTransposeBlock, DenseBlock
from aegrad.models.conv import ConvAutoencoder
from aegrad.models.inits import init_layer, list_inits, register_init
from aegrad.models.mlp import MLPAutoencoder
from aegrad.models.norms import list_norms, register_norm
from aegrad.models.saving import load_model, save_model
from aegrad.models.unet import UNetAutoencoder
from aegrad.models.variational import Variational, gaussian_kl, log_likelihood, reparameterize

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
    "family_callbacks",
    "codec",
    "conv",
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
    "mlp",
    "register_activation",
    "register_family_callback",
    "register_init",
    "register_model",
    "register_norm",
    "reparameterize",
    "save_model",
    "seq",
    "unet",
    "variational",
]

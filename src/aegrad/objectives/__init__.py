"""Objectives: what a model family is trained to minimise, as named terms with a ``"loss"`` key.

``base`` holds the registry (``register_objective`` / ``create_objective`` / ``list_objectives``) and
the ``Objective`` base class; ``reconstruction`` the plain autoencoder's MSE and BCE. A model family
registers its own objective from its folder (``models/variational/objective.py``: the ELBO,
``models/codec``: rate-distortion, ``models/seq``: masked cross-entropy).
"""

from aegrad.objectives import reconstruction as _reconstruction  # noqa: F401  (registers mse, bce)
from aegrad.objectives.base import (
    OBJECTIVES,
    LatentL1,
    Objective,
    ObjectiveBuilder,
    Terms,
    create_objective,
    latent_l1,
    list_objectives,
    register_objective,
)
from aegrad.objectives.reconstruction import BCE, MSE

__all__ = [
    "BCE",
    "MSE",
    "OBJECTIVES",
    "LatentL1",
    "Objective",
    "ObjectiveBuilder",
    "Terms",
    "create_objective",
    "latent_l1",
    "list_objectives",
    "register_objective",
]

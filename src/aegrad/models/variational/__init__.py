"""The variational wrapper (``model.variational: true`` on mlp or conv): a Gaussian encoder and prior N(0, I).

model.py wraps a family's stages (Kingma & Welling 2014); objective.py registers the ELBO
(``train.objective: auto`` picks it); generate.py draws prior samples and interpolations;
artifacts.py writes them into the run folder when training ends; findings.py: its detector (posterior
collapse) and remedies.
"""

from aegrad.models.variational import artifacts as _artifacts  # noqa: F401  (registers the end-of-run images)
from aegrad.models.variational import findings as _findings  # noqa: F401  (registers posterior collapse)
from aegrad.models.variational.generate import interpolate, sample_prior
from aegrad.models.variational.model import (
    LOG_2PI,
    Variational,
    gaussian_kl,
    log_likelihood,
    make_variational,
    reparameterize,
    variational_class,
)
from aegrad.models.variational.objective import ELBO, active_units, kl_weight, latent_kl

__all__ = [
    "ELBO",
    "LOG_2PI",
    "Variational",
    "active_units",
    "gaussian_kl",
    "interpolate",
    "kl_weight",
    "latent_kl",
    "log_likelihood",
    "make_variational",
    "reparameterize",
    "sample_prior",
    "variational_class",
]

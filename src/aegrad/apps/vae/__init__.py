"""Variational autoencoders: the ELBO objective, prior samples and interpolations, the IWAE bound, posterior collapse.

The model is ``model.variational: true`` on the mlp or conv family (models/variational.py);
``train.objective: auto`` then trains it on the ELBO (objective.py). ``aegrad sample`` and
``aegrad interpolate`` (command.py) draw from a trained run; ``iwae_bound`` scores it in nats;
the posterior-collapse detector lives in aegrad/diagnose/collapse.py
(``collapse_findings(run_dir)`` here runs it on a run directory, with the per-dimension KL).
"""

from aegrad.apps.vae.diagnosis import collapse_findings
from aegrad.apps.vae.generate import interpolate, sample_prior
from aegrad.apps.vae.iwae import iwae_bounds
from aegrad.apps.vae.objective import ELBO, active_units, kl_weight, latent_kl

__all__ = [
    "ELBO",
    "active_units",
    "collapse_findings",
    "interpolate",
    "iwae_bounds",
    "kl_weight",
    "latent_kl",
    "sample_prior",
]

"""Uses of a trained VAE: prior samples and interpolations (the sample / interpolate commands), the IWAE bound
(``nll``), and posterior collapse measured on a run directory.

The model, the ELBO, the posterior-collapse detector and the end-of-run images are aegrad/models/variational/.
"""

from aegrad.apps.vae.diagnosis import collapse_findings
from aegrad.apps.vae.iwae import iwae_bounds
from aegrad.models.variational import interpolate, sample_prior

__all__ = ["collapse_findings", "interpolate", "iwae_bounds", "sample_prior"]

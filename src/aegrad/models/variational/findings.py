"""Posterior collapse: a VAE whose latent code carries nothing, found in its logged terms.

When the KL term wins, q(z|x) falls onto the prior N(0, I) for every x: the KL of
those dimensions is ~0, the decoder ignores z and reconstructs the data mean
(Bowman et al. 2016, §3.1; Lucas et al. 2019). The measure is Burda et al. (2016,
§5.2)'s *active units*: dimension j is active when Cov_x(E_q[z_j|x]) > 0.01. The ELBO
objective (objective.py) logs ``active_units`` and ``kl`` for every epoch on the
test split (``test_active_units``, ``test_kl``, ``test_recon`` in metrics.jsonl), so

    posterior_collapse(metrics, config, trivial_mse=..., test_mse=...)

is a pure function of a run's files; ``detect_posterior_collapse`` is the registered
detector (``diagnose`` hands it the run's metrics), and ``apps.vae.collapse_findings`` adds
each dimension's KL. It reports a finding when most dimensions are inactive (fewer than
ACTIVE_FRACTION of them, in at least half of the epochs of the run's second half and the
last) while the reconstruction stalls (the test reconstruction term improved by less than
RECON_STALL over the second half, or the test MSE is within STALL_FRACTION of the trivial
predictor's). The remedies are config patches, registered like every remedy, ranked: free
bits, lower beta, KL warm-up, a weaker decoder.
"""

from __future__ import annotations

import math
from typing import Any

from aegrad.diagnose.catalogue import Finding, advice, detector, remedy, sig
from aegrad.diagnose.configview import ConfigView
from aegrad.diagnose.kinds import Kind, Severity, Target
from aegrad.diagnose.patches import Patch
from aegrad.diagnose.view import RunView

# Below this share of active dimensions "most" have collapsed. Measured on scikit-learn digits
# (latent 16, 15 epochs, dynamic binarisation): beta 4 and 8 runs sit at 0/16 from the first
# epoch; beta 1 ends at 16/16, and free bits / warm-up keep 16/16 all along.
ACTIVE_FRACTION = 0.5
# The reconstruction "stalls": the test reconstruction term (nats) fell by less than this share
# over the second half of the epochs, or the test MSE is at least STALL_FRACTION of the trivial
# MSE (predicting the training mean). Collapsed runs: 0.0% and 1.16x; healthy runs 0.51-0.65x.
RECON_STALL = 0.01
STALL_FRACTION = 0.9

FREE_BITS = 0.5  # nats per dimension the remedy leaves unpenalised (Kingma et al. 2016 used 0.5-2 per group)



def _epochs(metrics: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [m for m in metrics or () if m.get("kind") == "epoch" and m.get("test_active_units") is not None]


@remedy(
    "free_bits",
    f"the first {FREE_BITS} nats of KL per dimension cost nothing, so the encoder has no reason to shut a "
    "dimension (Kingma et al. 2016)",
    treats={Target.POSTERIOR_COLLAPSE: 0},
)
def _free_bits(cfg: ConfigView) -> Patch | None:
    fb = cfg.model.vae.free_bits
    return None if fb is not None and fb >= FREE_BITS else {"model.vae.free_bits": FREE_BITS}


@remedy(
    "lower_beta",
    "beta > 1 weighs the KL above the ELBO's own balance and pushes q(z|x) onto the prior (Higgins et al. 2017); "
    "beta = 1 is the ELBO",
    treats={Target.POSTERIOR_COLLAPSE: 1},
)
def _lower_beta(cfg: ConfigView) -> Patch | None:
    beta = cfg.model.vae.beta
    return None if beta is not None and beta <= 1.0 else {"model.vae.beta": 1.0}


@remedy(
    "kl_warmup",
    "the KL weight ramps from 0 over 1000 steps, so the decoder learns to use z before the KL pulls it to the "
    "prior (Bowman et al. 2016)",
    treats={Target.POSTERIOR_COLLAPSE: 2},
)
def _kl_warmup(cfg: ConfigView) -> Patch | None:
    if cfg.model.vae.kl_warmup_steps:
        return None
    return {"model.vae.kl_warmup_steps": 1000}


@remedy(
    "weaker_decoder",
    "a decoder a quarter as wide cannot model the data without z, so it must read the code (Chen et al. 2017)",
    treats={Target.POSTERIOR_COLLAPSE: 3},
)
def _weaker_decoder(cfg: ConfigView) -> Patch | None:
    if cfg.model.kind not in (None, "mlp") or cfg.model.vae.decoder_widths:
        return None  # conv decoders keep their stages; a decoder already chosen is the user's
    depth = cfg.model.depth
    hidden = [cfg.model.width] * int(depth) if depth else cfg.model.widths or [256]
    return {"model.vae.decoder_widths": [max(8, int(w) // 4) for w in hidden]}


def posterior_collapse(
    metrics: list[dict[str, Any]] | None,
    config: Any = None,
    trivial_mse: float | None = None,
    test_mse: float | None = None,
    kl_per_dim: list[float] | None = None,
    patches: bool = True,
) -> list[Finding]:
    """A one-element list with the posterior-collapse finding, or [] (see the module docstring).

    `kl_per_dim`: the final test KL of each latent dimension (``latent_kl``), added to the evidence when given.
    """
    epochs = _epochs(metrics)
    cfg = ConfigView(config)
    latent = cfg.model.latent
    if not epochs or not latent:
        return []
    au = [float(e["test_active_units"]) for e in epochs]
    tail = au[len(au) // 2 :]
    low = [a < ACTIVE_FRACTION * latent for a in tail]
    if not low[-1] or 2 * sum(low) < len(low):
        return []
    recon = [float(e["test_recon"]) for e in epochs if e.get("test_recon") is not None]
    mid = recon[len(recon) // 2] if recon else math.nan
    improvement = (mid - recon[-1]) / abs(mid) if recon and mid else math.nan
    test_mse = test_mse if test_mse is not None else epochs[-1].get("test_mse")
    ratio = test_mse / trivial_mse if test_mse is not None and trivial_mse else None
    near_trivial = ratio is not None and ratio >= STALL_FRACTION
    if not (near_trivial or (math.isfinite(improvement) and improvement < RECON_STALL)):
        return []
    evidence: dict[str, Any] = {
        "active_units": f"{au[-1]:.0f}/{latent}",
        "active_units_per_epoch": [round(a, 1) for a in au],
        "kl_nats_per_epoch": [sig(e.get("test_kl")) for e in epochs],
        "recon_improvement_second_half": sig(improvement),
    }
    if kl_per_dim is not None:
        evidence["kl_per_dim_nats"] = [sig(k, 2) for k in kl_per_dim]
    if ratio is not None:
        evidence["mse_over_trivial"] = sig(ratio)
    for key in ("beta", "kl_warmup_steps", "free_bits"):
        value = getattr(cfg.model.vae, key)
        if value is not None:
            evidence[key] = value
    severity = Severity.ERROR if au[-1] == 0 or near_trivial else Severity.WARNING
    explanation = (
        f"Posterior collapse: only {au[-1]:.0f} of {latent} latent dimensions are active (their posterior mean "
        "varies across inputs, Burda et al. 2016) and the KL of the others is ~0, while the reconstruction "
        + ("stays at the trivial baseline (the data mean)" if near_trivial else "has stopped improving")
        + ": q(z|x) sits on the prior, so the decoder ignores z and samples carry little of the data."
    )
    remedies = advice((Target.POSTERIOR_COLLAPSE,), config, patches)
    return [Finding(Kind.POSTERIOR_COLLAPSE, severity, [], evidence, explanation, remedies)]


@detector(Kind.POSTERIOR_COLLAPSE, order=7, every_window=True)
def detect_posterior_collapse(view: RunView) -> list[Finding]:
    """A VAE's collapse, from the run's metrics (its gradients do not show it).

    Its remedies are patches whatever `view.patches` says: the metrics it reads come from an aegrad VAE.
    """
    return posterior_collapse(view.metrics, view.config, view.trivial_mse, view.test_mse)

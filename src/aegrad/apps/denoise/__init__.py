"""Denoising: PSNR/SSIM of denoising autoencoders against scikit-image's classical filters."""

from aegrad.apps.denoise.evaluate import evaluate_denoising, picture_grid
from aegrad.apps.denoise.noise import add_noise, list_eval_noises
from aegrad.apps.denoise.runs import DEFAULT_PRESET, denoise_study

__all__ = ["DEFAULT_PRESET", "add_noise", "denoise_study", "evaluate_denoising", "list_eval_noises", "picture_grid"]

"""Applications of trained autoencoders, one sub-package each (anomaly, denoise, probe, ...).

Each app uses models through ``encode`` / ``decode`` / ``forward(x)["x_hat"]``
only, has a CLI command module (``apps/<name>/command.py``: ``add_parser`` and
``run``) and, where it learns, a scikit-learn estimator.
"""

"""Applications of trained autoencoders, one sub-package each (anomaly, denoise, probe, ...).

Each app uses models through ``encode`` / ``decode`` / ``forward(x)["x_hat"]``
only, has a CLI command module (``apps/<name>/command.py``: ``add_parser`` and
``COMMANDS``) and, where it learns, a scikit-learn estimator. A command several families
share asks the run's family for its own form of it (family.py).
"""

from aegrad.apps.text import command as _text_command  # noqa: E402,F401  (text's sample/interpolate/probe for seq)

"""Reports drawn from run directories alone: PNG plots and one self-contained HTML file.

`aegrad report RUN_DIR` calls ``write_report``: ``write_plots`` then ``write_run_report``.
matplotlib is imported only when a plot is drawn, so importing this package is cheap. The
report reads files only: it imports neither ``aegrad.models`` nor ``aegrad.data``.
"""

from aegrad.report.html import render_run_report, write_report, write_run_report
from aegrad.report.plots import loss_figure, plot_loss, plot_lr, plot_reconstructions, write_plots

__all__ = [
    "loss_figure",
    "plot_loss",
    "plot_lr",
    "plot_reconstructions",
    "render_run_report",
    "write_plots",
    "write_report",
    "write_run_report",
]

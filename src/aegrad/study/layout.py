"""The study folder's file names, in one place: the runner and results write them, the report reads them.

    studies/<name>/
      spec.yaml                 SPEC: the spec as run (after --quick)
      tune/<bundle>-<key><v>/   TUNE: the sweeps' run directories
      trials/<id>/              TRIALS: one run directory per trial (+ FAILED if it failed)
      lr_sweep.csv/json         SWEEP_CSV / SWEEP_JSON: every sweep trial, its score and the chosen value
      results.csv/json          RESULTS_CSV / RESULTS_JSON: one row per trial
      report.html               run.REPORT: the study report (aegrad.report.study)

This module imports nothing, so ``aegrad.report`` reads these names without depending on the runner.
"""

SPEC = "spec.yaml"
TUNE = "tune"
TRIALS = "trials"
FAILED = "failed.json"  # in a trial folder: {"error": "..."} when the trial failed
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
SWEEP_JSON = "lr_sweep.json"
SWEEP_CSV = "lr_sweep.csv"

"""Studies: grids of trainings over config keys, remedy bundles and seeds, compared in one report.

    spec = load_spec(builtin="vanishing", quick=True)
    result = run_study(spec, out="studies/vanishing-quick", jobs=2, progress=print)
    result.path / "results.csv"

The spec format and the override order are documented in ``aegrad.study.spec``;
the study folder's layout in ``aegrad.study.runner``.
"""

from aegrad.study.builtin import list_builtin
from aegrad.study.results import grad_ratio, grad_ratios
from aegrad.study.runner import StudyResult, run_study
from aegrad.study.spec import (
    Bundle,
    Spec,
    Trial,
    Tune,
    expand_trials,
    expand_tune_trials,
    load_spec,
    parse_spec,
    shrink,
)

__all__ = [
    "Bundle",
    "Spec",
    "StudyResult",
    "Trial",
    "Tune",
    "expand_trials",
    "expand_tune_trials",
    "grad_ratio",
    "grad_ratios",
    "list_builtin",
    "load_spec",
    "parse_spec",
    "run_study",
    "shrink",
]

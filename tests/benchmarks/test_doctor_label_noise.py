"""benchmarks.doctor_corpus --label-seeds: the label-noise summary, on constructed per-seed labels."""

from __future__ import annotations

import pytest

from benchmarks.doctor_corpus import _misses, label_noise, majority_label


def _cases() -> dict:
    return {
        # flips class: undertrained at the official seed, healthy at the two others; aegrad says nothing
        "a": {"split": "t", "official": "undertrained", "kinds": [], "labels": ["undertrained", "healthy", "healthy"],
              "r": [0.54, 0.26, 0.31]},
        # healthy at every seed, and aegrad fires: a false alarm whichever label is used
        "b": {"split": "t", "official": "healthy", "kinds": ["dead_units"], "labels": ["healthy"] * 3,
              "r": [0.30, 0.38, 0.35]},
        # failing at every seed, but the kind flips: class-stable, not label-stable
        "c": {"split": "t", "official": "stalled_loss", "kinds": ["stalled_loss"],
              "labels": ["stalled_loss", "vanishing_gradient", "stalled_loss"], "r": [1.9, 2.0, None]},
        # healthy at the official seed, undertrained at the two others; aegrad calls it undertrained
        "d": {"split": "h", "official": "healthy", "kinds": ["undertrained"],
              "labels": ["healthy", "undertrained", "undertrained"], "r": [0.47, 0.52, 0.55]},
    }


def test_per_case_stability_majority_and_spread():
    per = label_noise(_cases())["cases"]
    assert [per[n]["stable"] for n in "abcd"] == [False, True, False, False]
    assert [per[n]["stable_class"] for n in "abcd"] == [False, True, True, False]
    assert [per[n]["majority"] for n in "abcd"] == ["healthy", "healthy", "stalled_loss", "undertrained"]
    assert per["a"]["r_min"] == 0.26 and per["a"]["r_max"] == 0.54
    assert per["a"]["r_spread"] == pytest.approx(0.28)
    assert per["c"]["r_spread"] is None  # a non-finite seed: no spread, the range of the finite ones
    assert per["c"]["r_max"] == 2.0


def test_recall_and_false_alarms_official_stable_and_majority():
    splits = label_noise(_cases())["splits"]
    assert list(splits) == ["t", "h", "all"]
    every = splits["all"]
    assert every["cases"] == 4 and every["label_flips"] == 3 and every["class_flips"] == 2
    # official labels: failing a, c (c found) | healthy b, d (both with findings)
    assert every["official"] == {"recall": [1, 2], "false_alarms": [2, 2]}
    # class-stable cases only: b and c
    assert every["stable"] == {"recall": [1, 1], "false_alarms": [1, 1]}
    # majority labels: a healthy (no finding), b healthy (finding), c and d failing (both found)
    assert every["majority"] == {"recall": [2, 2], "false_alarms": [1, 2]}
    assert splits["t"]["official"] == {"recall": [1, 2], "false_alarms": [1, 1]}
    assert splits["h"]["majority"] == {"recall": [1, 1], "false_alarms": [0, 0]}


def test_stable_cases_are_scored_by_their_seeds_labels():
    # a sensitivity run whose seeds all disagree with the official label: failing at every seed, and found
    case = {"split": "t", "official": "healthy", "kinds": ["undertrained"], "labels": ["undertrained"] * 3,
            "r": [0.52, 0.54, 0.52]}
    every = label_noise({"e": case})["splits"]["all"]
    assert every["official"] == {"recall": [0, 0], "false_alarms": [1, 1]}
    assert every["stable"] == every["majority"] == {"recall": [1, 1], "false_alarms": [0, 0]}


@pytest.mark.parametrize(
    ("labels", "official", "want"),
    [
        (["healthy", "undertrained"], "undertrained", "undertrained"),  # a class tie goes to the official label
        (["healthy", "undertrained"], "healthy", "healthy"),
        (["healthy", "stalled_loss", "vanishing_gradient"], "healthy", "stalled_loss"),  # failing wins 2-1,
                                                                                         # earliest kind
        (["healthy", "vanishing_gradient", "stalled_loss", "stalled_loss"], "healthy", "stalled_loss"),
        (["ambiguous", "healthy", "ambiguous"], "healthy", "ambiguous"),
    ],
)
def test_majority_label(labels, official, want):
    assert majority_label(labels, official) == want


def test_misses_are_the_official_detection_and_fix_misses():
    assert _misses({"label": "healthy", "kinds": ["dead_units"]})
    assert not _misses({"label": "healthy", "kinds": []})
    assert _misses({"label": "undertrained", "kinds": [], "winner_r": None})
    assert _misses({"label": "vanishing_gradient", "kinds": ["vanishing_gradient"], "winner_r": 0.59})
    assert not _misses({"label": "vanishing_gradient", "kinds": ["vanishing_gradient"], "winner_r": 0.35})
    assert not _misses({"label": "ambiguous", "kinds": []})

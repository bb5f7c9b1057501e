"""The doctor: probe a config and remedies for it in short parallel runs, rank them, prove the winner.

It runs trainings, so it sits above ``train`` (beside ``study``, whose trial runner it uses)."""

from aegrad.doctor.doctor import DoctorResult, doctor
from aegrad.doctor.probes import ProbeResult

__all__ = ["DoctorResult", "ProbeResult", "doctor"]

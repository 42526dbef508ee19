"""hal.conformance: the backend conformance kit.

``python -m hal.conformance --device D`` runs, for every op hal offers (every function
of the namespace, of hal.linalg, hal.fft and hal.nn, and indexing), a battery of cases
on device D and compares each result with the same call on the cpu (NumPy) reference:
pass, fail or unsupported per op, and whether it ran natively, through the host or not
at all. A backend vendor runs it against a new backend (README, "Conformance kit").

- cases.py: the battery; data.py: its inputs; measures.py: the error measures;
  runner.py: running and judging cases; report.py: table, CSV and JSON.
"""
from .runner import OpReport, Outcome, run  # noqa: F401

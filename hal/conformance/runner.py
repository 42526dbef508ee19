"""Running the battery on a device against the reference (the same calls on the cpu
device, NumPy underneath) and summing each op's cases up.

A case is
- ``pass``: the device's result conforms (measures.compare) and lives on the device;
- ``fail``: a wrong result, a result where the reference raises, or another error;
- ``missing``: the device has no implementation (NotImplementedError, or a dtype the
  device says it lacks: hal.UnsupportedDTypeError);
- ``n/a``: the reference and the device both raise the same error type (the arguments
  are outside the op's domain, e.g. a float for a bitwise op).
A case that passes ran ``native`` (kernels on the device) or through the ``host``
(it emitted hal.HostFallbackWarning).
"""
from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

import hal
from hal import errors

from .cases import Case, battery
from .measures import compare, compare_layout


@dataclass
class Outcome:
    case: Case
    status: str              # pass | fail | missing | n/a
    path: str = ""           # native | host, for cases that ran
    detail: str = ""
    error: float = 0.0       # the measure (NMSE, or the count of wrong elements)


@dataclass
class OpReport:
    op: str
    outcomes: list = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def status(self) -> str:
        if self.count("fail"):
            return "fail"
        return "pass" if self.count("pass") else "unsupported"

    @property
    def coverage(self) -> str:
        """native, host fallback, missing, or partial (some dtypes missing)."""
        ran = [o for o in self.outcomes if o.status in ("pass", "fail") and o.path]
        if not ran:
            return "missing" if self.count("missing") else "-"
        kind = "host fallback" if any(o.path == "host" for o in ran) else "native"
        return f"{kind}, partial" if self.count("missing") else kind

    @property
    def worst_error(self) -> float:
        return max((o.error for o in self.outcomes if o.status in ("pass", "fail") and np.isfinite(o.error)),
                   default=0.0)

    @property
    def first_problem(self) -> str:
        bad = next((o for o in self.outcomes if o.status == "fail"), None) or \
            next((o for o in self.outcomes if o.status == "missing"), None)
        return f"{bad.case.label}: {bad.detail}" if bad else ""


def run(device, ops: str | None = None, small: bool = False, progress=None, jobs: int = 1) -> list[OpReport]:
    """Every case (of the ops matching the regex ``ops``) on ``device``, per op; with
    ``jobs`` > 1 in that many worker processes (see ``parallel``)."""
    device, reference = hal.device(device), hal.device("cpu")
    by_op = _cases_by_op(device, ops, small)
    if jobs > 1 and len(by_op) > 1:
        from .parallel import run_in_workers
        return run_in_workers(device, ops, small, by_op, jobs, progress)
    reports = []
    for op, cases in by_op.items():
        reports.append(OpReport(op, [run_case(case, device, reference) for case in cases]))
        if progress:
            for case in cases:
                progress(case)
    return reports


def _cases_by_op(device, ops: str | None, small: bool) -> dict[str, list[Case]]:
    """The battery's cases of the ops matching ``ops``, per op in the battery's order
    (the same in every process: the battery is seeded)."""
    pattern = re.compile(ops) if ops else None
    by_op: dict[str, list[Case]] = {}
    for case in battery(device.dtypes, small):
        if not pattern or pattern.search(case.op):
            by_op.setdefault(case.op, []).append(case)
    return by_op


def run_case(case: Case, device, reference) -> Outcome:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's invalid-value warnings on special values
        expected, ref_error = _call(case, reference)
    with _fallback_warnings() as fallbacks:
        actual, dev_error = _call(case, device)
    if ref_error is not None:
        if dev_error is not None and (isinstance(dev_error, type(ref_error)) or isinstance(ref_error, type(dev_error))):
            return Outcome(case, "n/a", detail=f"{type(ref_error).__name__} on both")
        if isinstance(dev_error, NotImplementedError):
            return Outcome(case, "n/a", detail=str(dev_error))
        got = "a result" if dev_error is None else repr(dev_error)
        return Outcome(case, "fail", detail=f"the reference raises {ref_error!r}, the device gave {got}")
    if isinstance(dev_error, (NotImplementedError, hal.UnsupportedDTypeError)):
        return Outcome(case, "missing", detail=f"{type(dev_error).__name__}: {dev_error}".splitlines()[0])
    if dev_error is not None:
        return Outcome(case, "fail", detail=f"{type(dev_error).__name__}: {dev_error}".splitlines()[0])
    path = "host" if fallbacks else "native"
    problem, error = _compare(actual, expected, device, case.values)
    return Outcome(case, "fail" if problem else "pass", path, problem or "", error)


def _call(case: Case, device):
    """(result as a list of (host value, on which device), None) or (None, the exception)."""
    try:
        arrays = [hal.asarray(x, device=device, copy=True) for x in case.inputs]
        result = case.call(device, *arrays)
        device.synchronize()
        return [(np.asarray(leaf), getattr(leaf, "device", device)) for leaf in _leaves(result)], None
    except Exception as e:  # what the case is judged on
        return None, e


def _leaves(result) -> list:
    if isinstance(result, (tuple, list)):
        return [leaf for item in result for leaf in _leaves(item)]
    return [result]


def _compare(actual: list, expected: list, device, values: bool) -> tuple[str | None, float]:
    if len(actual) != len(expected):
        return f"{len(actual)} results, expected {len(expected)}", np.inf
    worst = 0.0
    for i, ((got, where), (want, _)) in enumerate(zip(actual, expected)):
        if where != device:
            return f"result {i} is on {where}, not on {device}", np.inf
        problem, error = compare(got, want) if values else compare_layout(got, want)
        if problem:
            return (f"result {i}: {problem}" if len(actual) > 1 else problem), error
        worst = max(worst, error)
    return None, worst


@contextlib.contextmanager
def _fallback_warnings():
    """The HostFallbackWarnings raised inside, including those hal already gave once
    for an (op, device) earlier in this process."""
    warned = set(errors._fallbacks_warned)
    errors._fallbacks_warned.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = []
        yield found
        found.extend(w for w in caught if issubclass(w.category, hal.HostFallbackWarning))
    errors._fallbacks_warned.update(warned)

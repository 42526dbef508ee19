"""hal's exception and warning types (DESIGN.md, "Errors").

Where the array API standard names an exception type (TypeError for bad dtypes,
ValueError for bad shapes and devices), hal raises a subclass of it, so code written
for the standard catches hal's errors unchanged.
"""
import warnings


class DeviceError(ValueError):
    """A device string that names no device, or arrays on two different devices."""


class UnsupportedDTypeError(TypeError):
    """A dtype the device cannot hold, such as float64 on a device without fp64."""


class OutOfMemoryError(MemoryError):
    """A device allocation failed; the message names the device and the bytes asked for."""

    def __init__(self, device: str, nbytes: int, detail: str = ""):
        self.device, self.nbytes = device, nbytes
        super().__init__(f"out of memory on {device}: could not allocate {nbytes} bytes"
                         + (f" ({detail})" if detail else ""))


class CompileError(RuntimeError):
    """A kernel failed to compile; carries the compiler log and the source."""

    def __init__(self, target: str, log: str, source: str):
        self.target, self.log, self.source = target, log, source
        numbered = "\n".join(f"{i:4d} | {line}" for i, line in enumerate(source.splitlines(), 1))
        super().__init__(f"{target} kernel failed to compile:\n{log.strip()}\n--- source ---\n{numbered}")


class HostFallbackWarning(UserWarning):
    """An op ran through the host because the device has no native implementation."""


_fallbacks_warned: set = set()


def warn_host_fallback(op: str, device) -> None:
    """Say once per (op, device) that ``op`` copies its operands to the host, runs
    there (NumPy) and copies the result back (DESIGN.md, "Ops": never silently)."""
    key = (op, device.name)
    if key in _fallbacks_warned:
        return
    _fallbacks_warned.add(key)
    warnings.warn(f"{op} has no kernel on {device.name}: it runs on the host (NumPy), "
                  f"with its operands and result copied between host and device",
                  HostFallbackWarning, stacklevel=4)

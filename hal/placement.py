"""One model over several devices: contiguous groups of layers per device (a pipeline
split, llama.cpp's ``--split-mode layer`` / ``--tensor-split``), its activations passed
from one device to the next once per group boundary.

    model = hal.llama.Llama.load(path, devices=["opencl:0", "cpu"], split=[3, 1])

The token embedding lives on the first device; the final norm and the output projection
on the last (a tied output projection is loaded there too). Each layer's KV cache lives
on its layer's device. What crosses a boundary is the residual stream as hal.llama's
blocks leave it: ``x`` and the block output ``delta`` still to add to it (the next norm
adds it), both float32, copied through the host unchanged. Every hal device computes
the same bits for the same op (tools/llama-cpp-compare.py), so the logits of a split
model equal those of the model on any one of its devices, bit for bit — llama.cpp's
layer split agrees across vendors only within a tolerance.

A decode step replays one captured step per device (``Device.capture``), as
``Llama.decode_batch`` does on one device, with the boundary's two arrays written into
the next device's captured inputs between the replays.
"""
from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass

import numpy as np

import hal
from hal import gguf, nn

from .kvcache import KVBlocks
from .llama import Config, DecodeStep, Llama, read_weights


@dataclass(frozen=True)
class Placement:
    """Which device holds which layers: ``groups`` [(device, range of layers)], in order."""
    groups: tuple

    @property
    def devices(self) -> list:
        return [device for device, _ in self.groups]

    def device_of(self, name: str):
        """The device of a GGUF tensor: a block's is its layer's; the embedding the first
        device's; the output norm and projection the last's."""
        if name.startswith("blk."):
            layer = int(name.split(".")[1])
            return next(device for device, layers in self.groups if layer in layers)
        return self.groups[0][0] if name == "token_embd.weight" else self.groups[-1][0]

    def describe(self) -> str:
        return ", ".join(f"layers {r.start}-{r.stop - 1} on {d.name}" for d, r in self.groups)


def plan(n_layers: int, devices, split=None, *, one_each: bool = False) -> Placement:
    """Contiguous groups of ``n_layers`` layers over ``devices`` in proportion to
    ``split`` (one positive weight per device; None: equal), rounded by largest
    remainder. Every device must get a layer; ``one_each`` gives each one first and
    shares out the rest (a measured split, which the user did not choose)."""
    devices, weights = _checked(devices, split)
    if len(devices) > n_layers:
        raise ValueError(f"{len(devices)} devices for {n_layers} layers: each device needs at least one layer")
    first = 1 if one_each else 0
    exact = weights / weights.sum() * (n_layers - first * len(devices))
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[:n_layers - first * len(devices) - counts.sum()]:
        counts[i] += 1
    counts += first
    if np.any(counts == 0):
        zero = [d.name for d, n in zip(devices, counts) if n == 0]
        raise ValueError(f"split {list(weights)} leaves {', '.join(zero)} without a layer of {n_layers}")
    starts = np.concatenate([[0], np.cumsum(counts)])
    return Placement(tuple((d, range(int(a), int(b))) for d, a, b in zip(devices, starts[:-1], starts[1:])))


def _checked(devices, split) -> tuple:
    """(the Devices, the split's weights), or the error that names what is wrong."""
    devices = [hal.device(d) for d in devices]  # hal.DeviceError for a name that is no device
    if isinstance(split, str):
        raise ValueError(f"split {split!r}: give one number per device (or 'measure' to Llama.load)")
    if not devices:
        raise ValueError("devices is empty: name at least one device")
    if len(set(devices)) != len(devices):
        raise ValueError(f"devices {[d.name for d in devices]} name a device twice")
    weights = np.ones(len(devices)) if split is None else np.asarray(split, dtype=np.float64)
    if weights.shape != (len(devices),) or not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        raise ValueError(f"split {split!r} must be one positive number per device ({len(devices)})")
    return devices, weights


def load_split(source, device, devices, split, progress=None) -> "SplitLlama":
    """``Llama.load(source, devices=..., split=...)``: the placement of ``plan``, checked
    against each device's memory before any tensor moves (hal.OutOfMemoryError)."""
    if device is not None:
        raise TypeError("Llama.load takes device or devices, not both")
    measure = isinstance(split, str) and split == "measure"
    _checked(devices, None if measure else split)  # (before the file is read: a long vocabulary takes seconds)
    file = source if isinstance(source, gguf.GGUFFile) else gguf.read(source)
    if measure:
        split = measured_split(file, devices)
    placement = plan(Config.from_gguf(file).n_layers, devices, split, one_each=measure)
    _check_fits(file, placement)
    file, config, tokenizer, weights = read_weights(file, placement.device_of, progress)
    last = placement.devices[-1]
    if "output.weight" not in weights and placement.device_of("token_embd.weight") != last:
        weights["output.weight"] = gguf.load_tensor(file.tensor("token_embd.weight"), last)  # tied
    return SplitLlama(config, weights, tokenizer, placement, file.metadata.get("general.name", file.path))


def measured_split(file, devices, repeat: int = 5) -> list:
    """``split="measure"``: each device's share in proportion to its speed at the
    model's largest product of one row (layer 0's largest matrix), the median of
    ``repeat`` runs after one: a decode step is such products, reading every weight once."""
    name = max((t for t in file.tensors.values() if t.name.startswith("blk.0.") and len(t.shape) == 2),
               key=lambda t: t.nbytes).name
    speeds = []
    for device in (hal.device(d) for d in devices):
        weight = gguf.load_tensor(file.tensor(name), device)
        x = hal.asarray(np.ones((1, weight.shape[1]), np.float32), device=device)
        times = []
        for _ in range(repeat + 1):
            start = time.perf_counter()
            np.asarray(nn.linear(x, weight))  # (reading the result back waits for the device)
            times.append(time.perf_counter() - start)
        speeds.append(1.0 / statistics.median(times[1:]))
    return speeds


def _check_fits(file, placement: Placement) -> None:
    needed = {}
    for tensor in file.tensors.values():
        device = placement.device_of(tensor.name)
        needed[device] = needed.get(device, 0) + tensor.nbytes
    for device, layers in placement.groups:
        if needed.get(device, 0) > device.info.memory:
            raise hal.OutOfMemoryError(device.name, needed[device], f"the weights of layers {layers.start}-"
                                                                   f"{layers.stop - 1}: choose another split")


@dataclass
class _Stage:
    """The layers one device runs: ``model`` is the split model as that device sees it
    (its Plan), so hal.llama's blocks run there unchanged."""
    device: object
    layers: range
    model: Llama


class SplitLlama(Llama):
    """A ``hal.llama.Llama`` whose layers live on several devices (``Placement``).
    ``device`` is the last device, where the logits come out."""

    def __init__(self, config, weights, tokenizer, placement: Placement, name: str = ""):
        super().__init__(config, weights, tokenizer, placement.devices[-1], name)
        self.placement = placement
        self._stages = [_Stage(device, layers, self._as_seen_by(device)) for device, layers in placement.groups]

    def _as_seen_by(self, device) -> Llama:
        view = copy.copy(self)
        view.device, view._plan = device, nn.Plan.of(device)
        return view

    @property
    def devices(self) -> list:
        return self.placement.devices

    def layer_devices(self) -> list:
        """Each layer's device: its KV pools live there."""
        return [device for device, layers in self.placement.groups for _ in layers]

    # ------------------------------------------------------------ the forward pass

    def _logits(self, inputs, rows: int, pool: KVBlocks, segments, all_logits: bool = False):
        """``Llama._logits`` device by device (a prefill: its inputs read back once)."""
        host, boundary = np.asarray(inputs), ()
        for stage in self._stages:
            stage_inputs = [hal.asarray(h, device=stage.device) for h in (host, *boundary)]
            outputs = self._run_stage(stage, stage_inputs, rows, pool, segments, all_logits)
            boundary = [np.asarray(a) for a in outputs]
        return outputs[0]

    def _run_stage(self, stage: _Stage, inputs: list, rows: int, pool: KVBlocks, segments, all_logits: bool) -> tuple:
        """The stage's layers on ``inputs`` ([Llama._split's inputs, x, delta], x and delta
        but on the first stage): (x, delta) for the next stage, or (logits,) on the last."""
        model = stage.model
        tokens, *where = model._split(inputs[0], rows)
        x, delta = (model._embed(tokens), None) if stage is self._stages[0] else (inputs[1], inputs[2])
        for i in stage.layers:
            x, delta = model._block(i, x, delta, where, pool, segments)
        return (model._head(x, delta, segments, all_logits),) if stage is self._stages[-1] else (x, delta)

    def _replay(self, steps: list, host: np.ndarray) -> hal.Array:
        """``Llama.decode_batch``'s replay: one captured step per device, the boundary
        arrays copied between the replays."""
        boundary = ()
        for step in steps:
            outputs = step([host, *boundary])
            boundary = [np.asarray(a) for a in outputs]
        return outputs[0]

    def _plain_or_capture(self, b: int, host: np.ndarray, pool: KVBlocks) -> hal.Array:
        """A plain step of b sequences the first time (its kernels compile and tune), then
        one captured on each device that can capture (the rest run plain each step)."""
        capture = b in self._warm and all(stage.device.capture is not None for stage in self._stages)
        self._warm.add(b)
        if not capture:
            return self._logits(host, b, pool, None, all_logits=True)
        boundary, captured = (), []
        for stage in self._stages:
            inputs = [hal.asarray(h, device=stage.device) for h in (host, *boundary)]
            with stage.device.capture() as graph:
                outputs = self._run_stage(stage, inputs, b, pool, None, True)
            captured.append(DecodeStep(graph, stage.model._plan, inputs, outputs))
            boundary = [np.asarray(a) for a in outputs]
        pool.steps[b] = captured
        return self._plan.copy(outputs[0])

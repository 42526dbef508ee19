"""Reading GGUF model files (the llama.cpp format) with the ``gguf`` package's reader.

``read(path)`` parses the header, the metadata and the tensor table, and checks every
tensor's bytes are inside the file; ``load_tensor`` moves one tensor to a device,
keeping quantized weights quantized (``hal.nn.QuantizedWeight``). A truncated, corrupt
or unsupported file is a ``GGUFError`` (a ``ValueError``) naming the field or tensor.
"""
from dataclasses import dataclass

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFReader, GGUFValueType

import hal

# The tensor types hal.nn computes with (quantized ones stay quantized on the device).
SUPPORTED_TYPES = frozenset(getattr(GGMLQuantizationType, name) for name in hal.nn.GGML_TYPES)


class GGUFError(ValueError):
    """A GGUF file that is truncated, corrupt, or holds something hal cannot run."""


@dataclass(frozen=True)
class Tensor:
    """One tensor of the file: ``shape`` in row-major order (GGUF lists dimensions
    innermost first, so a (rows, cols) matrix is stored as [cols, rows]); ``raw`` the
    file's bytes (a read-only memory map)."""
    name: str
    ggml_type: GGMLQuantizationType
    shape: tuple
    raw: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.raw.nbytes


@dataclass(frozen=True)
class GGUFFile:
    path: str
    metadata: dict
    tensors: dict

    def field(self, key: str, default=KeyError):
        """The metadata value ``key``; a missing required field is a GGUFError naming it."""
        if key in self.metadata:
            return self.metadata[key]
        if default is KeyError:
            raise GGUFError(f"{self.path}: the metadata field '{key}' is missing")
        return default

    def tensor(self, name: str) -> Tensor:
        if name not in self.tensors:
            raise GGUFError(f"{self.path}: the tensor '{name}' is missing")
        return self.tensors[name]


class _Truncated(Exception):
    def __init__(self, end: int, key):
        self.end, self.key = end, key


class _CheckedReader(GGUFReader):
    """GGUFReader that stops at the first read past the end of the file and remembers
    which metadata key it was reading, so errors can name it (the stock reader reports
    a NumPy reshape error instead)."""

    def __init__(self, path):
        self._key, self._depth = None, 0
        super().__init__(path)

    def _get(self, offset, dtype, count=1, override_order=None):
        end = int(offset) + np.dtype(dtype).itemsize * int(count)
        if end > len(self.data):
            raise _Truncated(end, self._key)
        return super()._get(offset, dtype, count, override_order)

    def _get_str(self, offset):
        length, data = super()._get_str(offset)
        if self._depth == 0:  # outside a value, a string is the next field's key
            self._key = f"the metadata field '{bytes(data).decode('utf-8', 'replace')}'"
        return length, data

    def _get_field_parts(self, orig_offs, raw_type):
        if self._depth == 0 and raw_type not in GGUFValueType._value2member_map_:
            raise GGUFError(f"{self._key} has the unknown value type {raw_type}")
        self._depth += 1
        try:
            return super()._get_field_parts(orig_offs, raw_type)
        finally:
            self._depth -= 1

    def _build_tensor_info(self, offs, count):
        self._key = "the tensor table"
        return super()._build_tensor_info(offs, count)

    def _build_tensors(self, start_offs, fields):
        for field in fields:
            _check_tensor_info(field, start_offs, len(self.data))
        super()._build_tensors(start_offs, fields)


def _check_tensor_info(field, start_offs: int, file_size: int) -> None:
    """The tensor's type is known and its bytes lie inside the file."""
    name, dims, raw_type, offset = field.name, field.parts[3], int(field.parts[4][0]), int(field.parts[5][0])
    if raw_type not in GGMLQuantizationType._value2member_map_:
        raise GGUFError(f"tensor '{name}' has the unknown type {raw_type}")
    ggml_type = GGMLQuantizationType(raw_type)
    block, block_bytes = GGML_QUANT_SIZES[ggml_type]
    n = int(np.prod(dims.astype(np.int64)))
    if int(dims[0]) % block:
        raise GGUFError(f"tensor '{name}' ({ggml_type.name}): its row of {int(dims[0])} values "
                        f"is not a whole number of {block}-value blocks")
    end = start_offs + offset + n // block * block_bytes
    if end > file_size:
        shape = "x".join(str(int(d)) for d in reversed(dims))
        raise GGUFError(f"tensor '{name}' ({ggml_type.name}, {shape}) ends at byte {end} "
                        f"but the file has {file_size} bytes: the file is truncated")


def read(path) -> GGUFFile:
    """Parse the GGUF file at ``path`` (tensor data stays memory-mapped, not read)."""
    path = str(path)
    try:
        reader = _CheckedReader(path)
    except GGUFError as e:
        raise GGUFError(f"{path}: {e}") from None
    except _Truncated as e:
        where = f"in {e.key}" if e.key else "in the header"
        raise GGUFError(f"{path}: the file is truncated: it ends {where} "
                        f"(a read up to byte {e.end} went past its end)") from None
    except (ValueError, KeyError, UnicodeDecodeError) as e:  # bad magic, version, duplicates
        raise GGUFError(f"{path}: not a valid GGUF file: {e}") from None
    except OSError as e:
        raise GGUFError(f"{path}: cannot read: {e}") from None
    metadata = {key: _value(f) for key, f in reader.fields.items() if not key.startswith("GGUF.")}
    tensors = {t.name: Tensor(t.name, t.tensor_type, tuple(int(d) for d in reversed(t.shape)),
                              t.data.view(np.uint8).reshape(-1)) for t in reader.tensors}
    return GGUFFile(path, metadata, tensors)


def _value(field):
    """A metadata value as Python (numbers, str, lists; token arrays become lists)."""
    if field.types and field.types[0] == GGUFValueType.ARRAY and field.types[-1] != GGUFValueType.STRING:
        return np.concatenate([field.parts[i] for i in field.data]).tolist() if field.data else []
    return field.contents()


def load_tensor(tensor: Tensor, device):
    """``tensor`` on ``device``: vectors (norm weights) as float32 arrays, matrices as
    ``hal.nn.QuantizedWeight`` in their file type."""
    if tensor.ggml_type not in SUPPORTED_TYPES:
        raise GGUFError(f"tensor '{tensor.name}' has the type {tensor.ggml_type.name}, which hal "
                        f"does not support (supported: {', '.join(sorted(t.name for t in SUPPORTED_TYPES))})")
    if len(tensor.shape) == 1:
        return hal.asarray(_vector(tensor), device=device)
    if len(tensor.shape) != 2:
        raise GGUFError(f"tensor '{tensor.name}' has {len(tensor.shape)} dimensions; hal loads vectors and matrices")
    raw = np.ascontiguousarray(tensor.raw).reshape(tensor.shape[0], -1)
    return hal.nn.QuantizedWeight.from_raw(raw, tensor.ggml_type, tensor.shape, device)


def _vector(tensor: Tensor) -> np.ndarray:
    if tensor.ggml_type == GGMLQuantizationType.F32:
        return tensor.raw.view(np.float32).copy()
    if tensor.ggml_type == GGMLQuantizationType.F16:
        return tensor.raw.view(np.float16).astype(np.float32)
    from gguf.quants import dequantize
    return dequantize(tensor.raw, tensor.ggml_type).astype(np.float32).reshape(-1)

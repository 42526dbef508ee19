"""Random numbers as hal arrays, with NumPy's APIs: ``default_rng`` (``Generator``,
https://numpy.org/doc/stable/reference/random/generator.html) and ``RandomState``
(the legacy one).

hal has no device generator yet: NumPy draws on the host and the numbers are copied
to the default device, which a ``hal.HostFallbackWarning`` says once per device where
it is a copy (buffer devices; on the cpu the NumPy array is the hal array's data).
Distribution parameters are host numbers or NumPy arrays; a hal array among them is a
TypeError (NumPy would pull it to the host behind the caller's back).

Dask finds this module through its generators' bit generator: ``da.random.default_rng``
under the "hal" array backend (hal/dask.py) holds a ``hal.random.PCG64``, and Dask draws
each chunk with ``hal.random.default_rng(bit_generator)``, as it does with CuPy's
(``dask.array.random._rng_from_bitgen``).
"""
from __future__ import annotations

import functools

import numpy as np

import hal
from hal.errors import warn_host_fallback

__all__ = ["PCG64", "Generator", "RandomState", "default_rng"]


class PCG64(np.random.PCG64):
    """NumPy's PCG64 bit generator, named in hal so that Dask's generators draw with
    ``hal.random.default_rng``."""


def _on_device(draw):
    """``draw`` (a NumPy sampler) returning a hal array on the default device."""
    @functools.wraps(draw)
    def sample(*args, **kwargs):
        if any(isinstance(v, hal.Array) for v in (*args, *kwargs.values())):
            raise TypeError(f"random {draw.__name__} takes host numbers or NumPy arrays as parameters, "
                            f"not hal arrays")
        host = np.asarray(draw(*args, **kwargs))
        x = hal.asarray(host, device=hal.get_default_device())
        if x._data is not host:  # drawn on the host, then copied to the device
            warn_host_fallback("random", x.device)
        return x
    return sample


class _Sampler:
    """The samplers of a NumPy generator (``_numpy``), each giving hal arrays."""
    _numpy = None

    def __getattr__(self, name):
        draw = getattr(self._numpy, name)
        return _on_device(draw) if callable(draw) else draw


class Generator(_Sampler):
    """NumPy's ``Generator`` over ``bit_generator``, its samplers giving hal arrays."""

    def __init__(self, bit_generator):
        self._numpy = np.random.Generator(bit_generator)
        self.bit_generator = bit_generator


class RandomState(_Sampler):
    """NumPy's legacy ``RandomState(seed)``, its samplers giving hal arrays."""

    def __init__(self, seed=None):
        self._numpy = np.random.RandomState(seed)


def default_rng(seed=None) -> Generator:
    """A ``Generator`` over ``seed`` if it is a bit generator (or a NumPy generator's),
    else over a ``hal.random.PCG64`` seeded by it (numpy.random.default_rng's rules)."""
    if isinstance(seed, Generator):
        return seed
    if isinstance(seed, np.random.Generator):
        seed = seed.bit_generator
    return Generator(seed if isinstance(seed, np.random.BitGenerator) else PCG64(seed))

"""matmul: NumPy (BLAS) on the cpu; on buffer backends a tiled kernel in which each
work-item computes a WPT x WPT block of a TS x TS output tile from tiles staged in
local memory. Operands are read through their strides, so transposed views need no
copy. (TS, WPT) is what the autotuner varies. Complex operands are four real products
of their real and imaginary parts (``Strided.components`` views, no copy)."""
from __future__ import annotations

import math

import numpy as np

from hal.dispatch import register
from hal.shapes import broadcast_shapes

from .copy import copy
from .templates import C_TYPE, program, run_elementwise

MATMUL = """
KERNEL void matmul(GLOBAL T *c, i64 c_off, GLOBAL const T *a, i64 a_off, i64 sab, i64 sam, i64 sak,
                   GLOBAL const T *b, i64 b_off, i64 sbb, i64 sbk, i64 sbn, i64 M, i64 N, i64 K) {
    LOCAL T ta[TS][TS + 1];
    LOCAL T tb[TS][TS + 1];
    const i64 LS = TS / WPT;
    i64 lx = LOCAL_ID(0), ly = LOCAL_ID(1), lid = ly * LS + lx;
    i64 col0 = GROUP_ID(0) * TS, row0 = GROUP_ID(1) * TS, batch = GROUP_ID(2);
    a += a_off + batch * sab;
    b += b_off + batch * sbb;
    T acc[WPT][WPT];
    for (int i = 0; i < WPT; i++)
        for (int j = 0; j < WPT; j++) acc[i][j] = 0;
    for (i64 k0 = 0; k0 < K; k0 += TS) {
        for (i64 t = lid; t < TS * TS; t += LS * LS) {
            i64 r = t / TS, q = t % TS;
            ta[r][q] = (row0 + r < M && k0 + q < K) ? a[(row0 + r) * sam + (k0 + q) * sak] : (T)0;
            tb[r][q] = (k0 + r < K && col0 + q < N) ? b[(k0 + r) * sbk + (col0 + q) * sbn] : (T)0;
        }
        BARRIER();
        for (int k = 0; k < TS; k++)
            for (int i = 0; i < WPT; i++)
                for (int j = 0; j < WPT; j++) acc[i][j] += ta[ly + i * LS][k] * tb[k][lx + j * LS];
        BARRIER();
    }
    for (int i = 0; i < WPT; i++)
        for (int j = 0; j < WPT; j++) {
            i64 row = row0 + ly + i * LS, col = col0 + lx + j * LS;
            if (row < M && col < N) c[c_off + (batch * M + row) * N + col] = acc[i][j];
        }
}
"""
DEFAULT_TILE = (16, 2)   # (TS, WPT): 8x8 work-items, each computing 2x2 outputs


@register("matmul", on=("cpu",), kind="library")
def matmul_cpu(device, a, b):
    return np.matmul(a, b)


@register("matmul", on=("buffer",))
def matmul(device, a, b):
    """``a`` (..., M, K) @ ``b`` (..., K, N), both at least 2-D, batch dims broadcast."""
    if a.dtype.kind == "c":
        return _complex_matmul(device, a, b)
    batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    (m, k), n = a.shape[-2:], b.shape[-1]
    a, b = (_batched(device, x, batch) for x in (a, b))
    nbatch = math.prod(batch)
    out = device.empty((nbatch, m, n), a.dtype)
    if out.size and k == 0:
        run_elementwise(device, "x0", out, [0], [a.dtype])
    elif out.size:
        ts, wpt = DEFAULT_TILE
        ls = ts // wpt
        grid = (-(-n // ts) * ls, -(-m // ts) * ls, nbatch)
        prog = program(device, MATMUL, "matmul", T=C_TYPE[a.dtype], TS=ts, WPT=wpt)
        prog(grid, (ls, ls, 1), out.buf, out.offset, a.buf, a.offset, *a.strides,
             b.buf, b.offset, *b.strides, m, n, k)
    return out.reshaped(batch + (m, n))


def _batched(device, x, batch):
    """``x`` as a 3-D (prod(batch), rows, cols) view, copying only when the batch
    dimensions cannot be flattened."""
    x = x.broadcast(batch + x.shape[-2:])
    if len(batch) == 1:
        return x
    if len(batch) == 0:
        return x.view((1,) + x.shape, (0,) + x.strides, x.offset)
    if not x.contiguous:
        x = copy(device, x)
    return x.reshaped((math.prod(batch),) + x.shape[-2:])



def _parts(x):
    """The real and imaginary parts of the complex ``x`` as real strided views."""
    comps = x.components()
    whole = (slice(None),) * x.ndim
    return comps.getitem(whole + (0,)), comps.getitem(whole + (1,))


def _complex_matmul(device, a, b):
    """(ar + i ai)(br + i bi) = (ar br - ai bi) + i (ar bi + ai br): four real matmuls
    combined into the real and imaginary parts of the result."""
    (ar, ai), (br, bi) = _parts(a), _parts(b)
    real = matmul(device, ar, br), matmul(device, ai, bi)
    imag = matmul(device, ar, bi), matmul(device, ai, br)
    out = device.empty(real[0].shape, a.dtype)
    out_re, out_im = _parts(out)
    run_elementwise(device, "x0 - x1", out_re, list(real), [ar.dtype, ar.dtype])
    run_elementwise(device, "x0 + x1", out_im, list(imag), [ar.dtype, ar.dtype])
    return out

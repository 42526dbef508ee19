"""Every op hal dispatches, declared once (``hal.dispatch.Op``): the parameters its
implementations take after ``device``, what it returns, and the reference every device
is tested against. The elementwise functions are declared from their own table
(ops/elementwise.py). Payloads are NumPy arrays on the cpu and ``Strided`` views on
buffer devices; "contiguous" means C-contiguous."""
import numpy as np

from hal.dispatch import Op, declare

_REDUCE = ("x", "axes", "keepdims", "dtype")
_SORT = ("x", "axis", "descending", "stable")
_SCAN = ("x", "axis", "dtype", "include_initial")

declare(
    # memory and creation (ops/copy.py, ops/half.py)
    Op("copy", ("x",), "a contiguous copy", np.copy),
    Op("astype", ("x", "dtype"), "x converted", np.ndarray.astype),
    Op("astype_float16", ("x", "dtype"), "float16 to or from float32/float64, nearest even", np.ndarray.astype),
    Op("assign", ("target", "value"), "None: value broadcast into the view target", np.copyto),
    Op("full", ("shape", "dtype", "value"), "a new array", np.full),
    Op("full_float16", ("shape", "value"), "a new float16 array", np.full),
    Op("arange", ("n", "start", "step", "dtype"), "n values start + i * step", np.arange),
    Op("eye", ("n_rows", "n_cols", "k", "dtype"), "ones on diagonal k", np.eye),
    # elementwise selection (ops/elementwise.py)
    Op("where", ("dtype", "shape", "condition", "x1", "x2"), "x1 where condition else x2", np.where),
    # reductions and scans (ops/reduction.py, ops/scan.py): axes a tuple, dtype the accumulator
    *(Op(name, _REDUCE, "the reduction over axes", getattr(np, name)) for name in ("sum", "prod", "max", "min",
                                                                                   "all", "any")),
    Op("count_nonzero", ("x", "axes", "keepdims"), "int64 counts", np.count_nonzero),
    *(Op(name, ("x", "axis", "keepdims"), "int64 index of the first extreme", getattr(np, name))
      for name in ("argmax", "argmin")),
    Op("cumulative_sum", _SCAN, "running sums", np.cumsum),
    Op("cumulative_prod", _SCAN, "running products", np.cumprod),
    # sorting and searching (ops/sorting.py): NaNs last, stable on request
    Op("sort", _SORT, "sorted along axis", np.sort),
    Op("argsort", _SORT, "int64 order along axis", np.argsort),
    Op("searchsorted", ("x1", "x2", "side", "sorter"), "int64 insertion points", np.searchsorted),
    Op("isin", ("x1", "x2", "invert"), "bool membership", np.isin),
    # indexing and selection (ops/selection.py, ops/manipulation.py)
    Op("nonzero", ("x",), "int64 (ndim, count) coordinates", np.nonzero),
    Op("unique", ("x",), "sorted values, first indices, inverse, counts", np.unique),
    Op("gather", ("x", "idx"), "x (outer, n, inner) read at idx (outer, m, inner)", np.take_along_axis),
    Op("scatter", ("x", "idx", "value"), "None: value written into x at idx", np.put_along_axis),
    Op("where_into", ("x", "condition", "value"), "None: value written where condition", np.copyto),
    Op("flat_index", ("shape", "parts", "sizes"), "int64 flat indices of integer-array parts",
       np.ravel_multi_index),
    Op("repeat", ("x", "counts", "axis"), "x's elements repeated counts times", np.repeat),
    Op("concat", ("xs", "axis", "dtype"), "xs joined along axis, in dtype", np.concatenate, optional=True),
    Op("getitem_integer", ("x", "indices"), "x[indices] (integer arrays)", "NumPy advanced indexing",
       optional=True),
    Op("setitem_integer", ("x", "indices", "value"), "None: x[indices] = value", "NumPy advanced indexing",
       optional=True),
    # linear algebra (ops/linalg.py)
    Op("matmul", ("a", "b"), "a @ b, batch dims broadcast", np.matmul),
    Op("gemm_blas", ("out", "a", "b"), "None: out = a @ b through the host's BLAS", np.matmul, optional=True),
    # hal.nn (ops/nn.py), as llama.cpp's CPU backend rounds: float32 in and out
    Op("nn_rms_norm", ("x", "weight", "eps"), "x / sqrt(mean(x^2) + eps) * weight per row", "ggml_rms_norm"),
    Op("nn_add_rms_norm", ("x", "delta", "weight", "eps"), "x += delta in place, then nn_rms_norm(x)",
       "ggml_add then ggml_rms_norm"),
    Op("nn_softmax", ("x", "half_out"), "softmax over the last axis", "ggml_soft_max"),
    Op("nn_rope", ("x", "positions", "theta", "neox"), "rotary embedding, normal or NeoX mode", "ggml_rope"),
    Op("nn_rope_store", ("q", "k", "v", "k_cache", "v_cache", "positions", "rows", "theta", "neox"),
       "rope(q); rope(k) and v stored as float16 at cache rows", "ggml_rope, ggml_cpy to f16"),
    Op("nn_silu_mul", ("gate", "up"), "silu(gate) * up", "ggml_swiglu"),
    Op("nn_gelu_mul", ("gate", "up"), "gelu_tanh(gate) * up through ggml's float16 GELU table", "ggml_geglu"),
    Op("nn_scale", ("x", "factor"), "x * factor", "ggml_scale"),
    Op("nn_add_rows", ("x", "bias"), "x + bias, bias (cols,) added to every row", "ggml_add"),
    Op("nn_to_half", ("x",), "float16 bits as uint16, nearest even", "numpy astype(float16)"),
    Op("nn_attention", ("q", "k_cache", "v_cache", "n_past", "scale", "window"),
       "causal grouped-query attention, in a sliding window where window > 0",
       "ggml_flash_attn_ext (f16 cache)"),
    Op("nn_attention_step", ("q", "k_cache", "v_cache", "positions", "blocks", "scale", "window", "scores"),
       "nn_attention of row s at positions[s] over the cache blocks of its table blocks[s], read on the device; "
       "scores: a workspace or None",
       "ggml_flash_attn_ext (f16 cache)"),
    # quantized weights (ops/quant.py, ops/qdot.py, ops/qdot_k.py)
    Op("quant_dequantize", ("w",), "float32 (rows, cols)", "gguf.quants.dequantize"),
    Op("quant_embedding", ("w", "ids"), "float32 rows of w at ids", "gguf.quants.dequantize rows"),
    Op("quant_linear", ("x", "weights"), "x @ w.T per weight, float32", "x @ dequantize(w).T"),
    Op("quant_linear_q8", ("x", "weights"), "x @ w.T per weight, x in 8 bits per 32", "ggml_vec_dot_q*_q8"),
    Op("quant_linear_q8k", ("x", "weights", "alike"), "x @ w.T per weight, x in 8 bits per 256; alike: each "
       "row as it alone", "ggml_vec_dot_q*_K_q8_K"),
)

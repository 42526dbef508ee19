"""CUDA C kernels as CuPy users write them (``cupy.RawKernel`` sources), for
tests/test_user_kernels.py: each is checked against NumPy on every hal device and
compiled unchanged by NVRTC. Written for hal after the well-known CUDA patterns (the
CUDA C++ Programming Guide's shared-memory matrix product, NVIDIA's "An Efficient Matrix
Transpose in CUDA C/C++", GPU Gems 3 ch. 39 for the scan)."""

SGEMM = r"""
#define TILE 16
// C = A (M x K) * B (K x N), row-major, one TILE x TILE tile of C per block
extern "C" __global__ void sgemm(const float* __restrict__ A, const float* __restrict__ B,
                                 float* __restrict__ C, int M, int N, int K) {
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE];
    int tx = threadIdx.x, ty = threadIdx.y;
    int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
    float acc = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TILE) {
        As[ty][tx] = (row < M && k0 + tx < K) ? A[row * K + k0 + tx] : 0.0f;
        Bs[ty][tx] = (col < N && k0 + ty < K) ? B[(k0 + ty) * N + col] : 0.0f;
        __syncthreads();
#pragma unroll
        for (int k = 0; k < TILE; ++k)
            acc += As[ty][k] * Bs[k][tx];
        __syncthreads();
    }
    if (row < M && col < N)
        C[row * N + col] = acc;
}
"""

HISTOGRAM = r"""
#define BINS 64
extern "C" __global__ void histogram(const unsigned char* data, int n, unsigned int* bins) {
    __shared__ unsigned int local[BINS];
    for (int b = threadIdx.x; b < BINS; b += blockDim.x) local[b] = 0;
    __syncthreads();
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        atomicAdd(&local[data[i] % BINS], 1u);
    __syncthreads();
    for (int b = threadIdx.x; b < BINS; b += blockDim.x)
        if (local[b]) atomicAdd(&bins[b], local[b]);
}
"""

SCAN = r"""
// Inclusive scan of each block's blockDim.x elements (Hillis-Steele, double-buffered in
// dynamic shared memory: 2 * blockDim.x floats), and each block's total.
extern "C" __global__ void block_scan(const float* x, float* y, float* sums, int n) {
    extern __shared__ float buf[];
    int t = threadIdx.x, i = blockIdx.x * blockDim.x + threadIdx.x;
    int in = 1, out = 0;
    buf[t] = i < n ? x[i] : 0.0f;
    __syncthreads();
    for (int offset = 1; offset < blockDim.x; offset <<= 1) {
        in = 1 - in; out = 1 - out;
        float v = buf[in * blockDim.x + t];
        if (t >= offset) v += buf[in * blockDim.x + t - offset];
        buf[out * blockDim.x + t] = v;
        __syncthreads();
    }
    if (i < n) y[i] = buf[out * blockDim.x + t];
    if (t == blockDim.x - 1) sums[blockIdx.x] = buf[out * blockDim.x + t];
}
"""

TRANSPOSE = r"""
#define TILE_DIM 32
#define BLOCK_ROWS 8
// out (cols x rows) = in (rows x cols)^T through a padded tile: no shared-memory bank conflicts
extern "C" __global__ void transpose(float* out, const float* in, int rows, int cols) {
    __shared__ float tile[TILE_DIM][TILE_DIM + 1];
    int x = blockIdx.x * TILE_DIM + threadIdx.x;
    int y = blockIdx.y * TILE_DIM + threadIdx.y;
    for (int j = 0; j < TILE_DIM; j += BLOCK_ROWS)
        if (x < cols && y + j < rows)
            tile[threadIdx.y + j][threadIdx.x] = in[(y + j) * cols + x];
    __syncthreads();
    x = blockIdx.y * TILE_DIM + threadIdx.x;
    y = blockIdx.x * TILE_DIM + threadIdx.y;
    for (int j = 0; j < TILE_DIM; j += BLOCK_ROWS)
        if (x < rows && y + j < cols)
            out[(y + j) * rows + x] = tile[threadIdx.x][threadIdx.y + j];
}
"""

SOFTMAX = r"""
__device__ float block_reduce(float* s, float v, bool take_max) {
    s[threadIdx.x] = v;
    return v;
}

// One block per row; shared memory (dynamic: blockDim.x floats) folds the row's max and sum.
extern "C" __global__ void softmax_rows(const float* __restrict__ x, float* __restrict__ y, int cols) {
    extern __shared__ float s[];
    const float* xr = x + (size_t)blockIdx.x * cols;
    float* yr = y + (size_t)blockIdx.x * cols;
    float m = -__int_as_float(0x7f800000);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, xr[c]);
    block_reduce(s, m, true);
    __syncthreads();
    for (unsigned int step = blockDim.x / 2; step > 0; step >>= 1) {
        if (threadIdx.x < step) s[threadIdx.x] = fmaxf(s[threadIdx.x], s[threadIdx.x + step]);
        __syncthreads();
    }
    m = s[0];
    __syncthreads();
    float sum = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) sum += expf(xr[c] - m);
    s[threadIdx.x] = sum;
    __syncthreads();
    for (unsigned int step = blockDim.x / 2; step > 0; step >>= 1) {
        if (threadIdx.x < step) s[threadIdx.x] += s[threadIdx.x + step];
        __syncthreads();
    }
    float inv = 1.0f / s[0];
    for (int c = threadIdx.x; c < cols; c += blockDim.x) yr[c] = expf(xr[c] - m) * inv;
}
"""

STENCIL = r"""
#define BX 16
#define BY 8
#define IDX(r, c) ((r) * cols + (c))
// One Jacobi step of the 5-point Laplace stencil; a (BY+2) x (BX+2) tile with its halo in
// shared memory; boundary cells are copied.
__device__ __forceinline__ float load(const float* u, int r, int c, int rows, int cols) {
    r = min(max(r, 0), rows - 1);
    c = min(max(c, 0), cols - 1);
    return u[IDX(r, c)];
}

extern "C" __global__ void jacobi(const float* __restrict__ u, float* __restrict__ v, int rows, int cols) {
    __shared__ float tile[BY + 2][BX + 2];
    int c = blockIdx.x * BX + threadIdx.x, r = blockIdx.y * BY + threadIdx.y;
    int tx = threadIdx.x + 1, ty = threadIdx.y + 1;
    tile[ty][tx] = load(u, r, c, rows, cols);
    if (threadIdx.x == 0) tile[ty][0] = load(u, r, c - 1, rows, cols);
    if (threadIdx.x == BX - 1) tile[ty][BX + 1] = load(u, r, c + 1, rows, cols);
    if (threadIdx.y == 0) tile[0][tx] = load(u, r - 1, c, rows, cols);
    if (threadIdx.y == BY - 1) tile[BY + 1][tx] = load(u, r + 1, c, rows, cols);
    __syncthreads();
    if (r >= rows || c >= cols) return;
    if (r == 0 || c == 0 || r == rows - 1 || c == cols - 1) {
        v[IDX(r, c)] = tile[ty][tx];
        return;
    }
    v[IDX(r, c)] = 0.25f * (tile[ty - 1][tx] + tile[ty + 1][tx] + tile[ty][tx - 1] + tile[ty][tx + 1]);
}
"""

HALF_SCALE = r"""
#include <cuda_fp16.h>
// y = a * x + b in float, stored as half; also the sum of each pair of inputs as float
extern "C" __global__ void half_axpb(const __half* x, __half* y, float* pair, float a, float b, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float v = __half2float(x[i]);
    y[i] = __float2half(a * v + b);
    if (i % 2 == 0 && i + 1 < n) pair[i / 2] = __half2float(x[i]) + __half2float(x[i + 1]);
}
"""

ATOMICS = r"""
// out: [max, min, exch, cas winner, winners, wrapping counter]; fsum: the float sum
extern "C" __global__ void atomics(const int* x, int n, int* out, float* fsum) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    atomicMax(&out[0], x[i]);
    atomicMin(&out[1], x[i]);
    atomicExch(&out[2], 7);
    if (atomicCAS(&out[3], 0, i + 1) == 0) atomicAdd(&out[4], 1);
    atomicAdd(fsum, 0.5f * x[i]);
    atomicInc((unsigned int*)&out[5], 9u);
}
"""

MATH = r"""
#define SQR(v) ((v) * (v))
__device__ inline double twice(double v) { return 2.0 * v; }
__device__ float clamp(float v, float lo, float hi) { return fminf(fmaxf(v, lo), hi); }  // (an OpenCL builtin's name)

extern "C" __global__ void math(const float* x, float* y, double* z, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float v = x[i];
        y[i] = sqrtf(fabsf(v)) + __expf(-SQR(v)) + tanhf(v) + powf(fabsf(v), 1.5f) + rsqrtf(1.0f + SQR(v))
             + fminf(v, 0.5f) + max(i, 3) + static_cast<float>(min(i, 2)) + float(i % 3) + floorf(v) + erff(v)
             + clamp(v, -1.0f, 1.0f);
        z[i] = twice(log1p((double)fabsf(v))) + atan2((double)v, 2.0) + fma((double)v, 3.0, 1.0);
    }
}
"""

RACY = r"""
// Reverses a block's values through shared memory but forgets the __syncthreads() between
// the write and the read of another thread's element: a race.
extern "C" __global__ void racy(const float* x, float* out) {
    __shared__ float s[64];
    int t = threadIdx.x;
    s[t] = x[t];
    out[t] = s[blockDim.x - 1 - t];
}
"""

MISC = r"""
#include <cuda_fp16.h>
__device__ float dot3(const float* a, const float* b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

// A shared scalar, helpers taking private and global pointers, half intrinsics, and
// 64-bit and double atomics. count: [items, largest block count]
extern "C" __global__ void misc(const float* x, const __half* h, unsigned long long* count, double* total,
                                float* out, __half* hout, int n) {
    __shared__ int seen;
    if (threadIdx.x == 0) seen = 0;
    __syncthreads();
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float w[3] = {1.0f, 2.0f, 3.0f};
        float v[3] = {x[i], x[i] * 2, -x[i]};
        out[i] = dot3(w, v) + dot3(x, w);
        hout[i] = __hadd(h[i], __float2half(1.0f));
        atomicAdd(count, 1ull);
        atomicAdd(total, (double)x[i]);
        atomicAdd(&seen, 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) atomicMax((unsigned long long*)count + 1, (unsigned long long)seen);
}
"""

VECTORS = r"""
// float4 loads through a reinterpret_cast, components, make_float2 and a float3 array
extern "C" __global__ void vectors(const float* x, float2* out2, float3* out3, int n4) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n4) return;
    float4 v = reinterpret_cast<const float4*>(x)[i];
    out2[i] = make_float2(v.x + v.y, v.z * v.w);
    float3 t;
    t.x = v.w; t.y = v.z; t.z = v.x;
    out3[i] = t;
    out3[i].y -= 1.0f;
}
"""

LAYERNORM = r"""
// Row layer norm, one block per row: a block-wide sum in a __device__ function that
// synchronizes (its barriers split the cpu's thread loops like the kernel's own).
__device__ float block_sum(float* s, float v) {
    s[threadIdx.x] = v;
    __syncthreads();
    for (unsigned int step = blockDim.x / 2; step > 0; step >>= 1) {
        if (threadIdx.x < step) s[threadIdx.x] += s[threadIdx.x + step];
        __syncthreads();
    }
    float total = s[0];
    __syncthreads();
    return total;
}

extern "C" __global__ void layernorm(const float* x, float* y, int cols, float eps) {
    __shared__ float s[128];
    const float* row = x + blockIdx.x * cols;
    float part = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) part += row[c];
    float mean = block_sum(s, part) / cols;
    part = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) part += (row[c] - mean) * (row[c] - mean);
    float var;
    var = block_sum(s, part) / cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        y[blockIdx.x * cols + c] = (row[c] - mean) * rsqrtf(var + eps);
}
"""

CONVOLVE = r"""
#define RADIUS 2
// 1-D convolution with its weights in __constant__ memory (set by their initializer)
__constant__ float weights[2 * RADIUS + 1] = {0.0625f, 0.25f, 0.375f, 0.25f, 0.0625f};
__constant__ int radius = RADIUS;

extern "C" __global__ void convolve(const float* x, float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float acc = 0.0f;
    for (int k = -radius; k <= radius; ++k) {
        int j = min(max(i + k, 0), n - 1);
        acc += weights[k + radius] * x[j];
    }
    y[i] = acc;
}
"""

COMPLEX = r"""
#include <cupy/complex.cuh>
// CuPy's complex<float> (its RawKernel documentation's second example, extended)
extern "C" __global__
void complex_ops(const complex<float>* x1, const complex<float>* x2, complex<float>* y, float* mag, float a, int n) {
    int tid = blockDim.x * blockIdx.x + threadIdx.x;
    if (tid >= n) return;
    complex<float> z = x1[tid] + a * x2[tid];
    z -= complex<float>(0.5f, -1.0f);
    y[tid] = z * conj(x2[tid]) / complex<float>(2.0f);
    mag[tid] = abs(z) + z.real() - imag(x1[tid]);
}
"""

ARGMAX = r"""
// argmax through a struct of (value, index) in shared memory, named the C++ way
struct ValIdx { float v; int i; };
typedef struct { float lo, hi; } Range;

__device__ ValIdx better(ValIdx a, ValIdx b) { return (b.v > a.v || (b.v == a.v && b.i < a.i)) ? b : a; }

extern "C" __global__ void argmax(const float* x, int n, float* out_v, int* out_i, Range* range) {
    __shared__ ValIdx s[64];
    ValIdx best = {-__int_as_float(0x7f800000), -1};
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        ValIdx c;
        c.v = x[i];
        c.i = i;
        best = better(best, c);
    }
    s[threadIdx.x] = best;
    __syncthreads();
    for (int step = blockDim.x / 2; step > 0; step >>= 1) {
        if (threadIdx.x < step) s[threadIdx.x] = better(s[threadIdx.x], s[threadIdx.x + step]);
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        out_v[0] = s[0].v;
        out_i[0] = s[0].i;
        range->lo = -1.0f;
        range[0].hi = (float)sizeof(ValIdx);
    }
}
"""

LOOP_EXITS = r"""
// break and continue in loops with __syncthreads(): a uniform break (every thread reads
// the same shared value), a per-thread continue after the iteration's last barrier, a
// continue inside a switch, an inner loop's own break, and a do-while left by break
extern "C" __global__ void loop_exits(const int* x, int* out) {
    __shared__ int s[32];
    int t = threadIdx.x;
    const int* rows = x + blockIdx.x * 8 * 32;
    int acc = 0;
    for (int i = 0; ; i++) {
        s[t] = rows[i * 32 + t];
        __syncthreads();
        if (s[0] < 0) break;
        int right = s[(t + 1) % 32];
        __syncthreads();
        if (right % 3 == 0) continue;
        switch (right % 4) {
            case 1: acc += right; break;
            case 2: continue;
            default: acc -= 1;
        }
        for (int k = 0; k < 8; k++) {
            if (k == right % 5) break;
            acc += rows[i * 32 + k];
        }
    }
    int rounds = 0;
    do {
        rounds++;
        __syncthreads();
        if (rounds == 3) break;
    } while (rounds < 10);
    out[blockIdx.x * 32 + t] = acc * 100 + rounds;
}
"""

VOTES = r"""
// __syncthreads_count/_and/_or: in a declaration, an assignment, and loop and if conditions
extern "C" __global__ void votes(const float* x, int* out, int n) {
    int t = threadIdx.x + blockDim.x * threadIdx.y;
    int i = blockIdx.x * blockDim.x * blockDim.y + t;
    float v = i < n ? x[i] : 0.0f;
    int positive = __syncthreads_count(v > 0.0f);
    int all_small, rounds = 0;
    all_small = __syncthreads_and(fabsf(v) < 2.0f);
    while (__syncthreads_or(fabsf(v) > 0.25f)) {
        v *= 0.5f;
        rounds++;
    }
    if (__syncthreads_or(t == 3) && !__syncthreads_and(i < n)) rounds += 100;
    out[i * 3] = positive;
    out[i * 3 + 1] = all_small;
    out[i * 3 + 2] = rounds;
}
"""

BY_VALUE = r"""
// complex and struct arguments by value
#include <cupy/complex.cuh>
struct Affine { float scale[2]; int offset; complex<float> twist; };

extern "C" __global__ void by_value(const float* x, complex<float>* y, complex<float> z, Affine a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float v = x[i] * a.scale[i % 2] + a.offset;
    y[i] = z * v + a.twist;
}
"""

MODULE = r"""
// a RawModule's source: two kernels sharing a helper and a -D macro
#ifndef SCALE
#define SCALE 2
#endif
__device__ float plus_one(float v) { return v + 1.0f; }

extern "C" __global__ void scaled(const float* x, float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = plus_one(x[i] * SCALE);
}

extern "C" __global__ void shifted(float* y, float by, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] += by;
}
"""

BITS_AND_NORMALS = r"""
// Bit intrinsics and the normal distribution function, one row of outputs per thread.
extern "C" __global__ void bits(const unsigned int* x, const unsigned long long* w, const float* v,
                                unsigned int* u, unsigned long long* ull, int* s, float* f, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned int a = x[i];
    u[i * 2] = __brev(a);
    u[i * 2 + 1] = __umulhi(a, 0x9E3779B9u);
    ull[i * 2] = __brevll(w[i]);
    ull[i * 2 + 1] = __umul64hi(w[i], 0x9E3779B97F4A7C15ull);
    s[i * 3] = __ffs(a);
    s[i * 3 + 1] = __ffsll((long long)w[i]);
    s[i * 3 + 2] = __mulhi((int)a, -7919);
    f[i * 3] = normcdff(v[i]);
    f[i * 3 + 1] = rhypotf(v[i], 2.0f);
    f[i * 3 + 2] = rcbrtf(v[i] + 4.0f);
}
"""

RANGE_PREAMBLE = r"""
// A ReductionKernel's preamble: a struct as its reduce_type (CuPy puts the preamble first).
struct Range { float lo; float hi; };
__device__ Range make_range(float lo, float hi) { Range r; r.lo = lo; r.hi = hi; return r; }
__device__ Range join(Range a, Range b) { return make_range(fminf(a.lo, b.lo), fmaxf(a.hi, b.hi)); }
"""

TEMPLATES = r"""
// Function templates, instantiated through RawModule(name_expressions=[...]) as in CuPy:
// a __device__ helper template called with explicit arguments, a type and a value parameter.
template<typename T>
__device__ __forceinline__ T square(T v) { return v * v; }

template<typename T, int THREADS>
__global__ void sum_squares(const T* __restrict__ x, T* out, int n) {
    __shared__ T partial[THREADS];
    int t = threadIdx.x, i = blockIdx.x * THREADS + t;
    partial[t] = i < n ? square<T>(x[i]) : T(0);
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if (t < s) partial[t] += partial[t + s];
        __syncthreads();
    }
    if (t == 0) atomicAdd(out, partial[0]);
}

template<typename T>
__global__ void axpy(T a, const T* x, T* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}
"""
TEMPLATE_INSTANCES = ["sum_squares<float, 64>", "sum_squares<double,32>", "axpy<int>", "axpy<float>"]

CONSTANTS = r"""
// C++ constants as array sizes and values: constexpr and const integers (file scope and
// local), const tables and scalars at file scope, a using alias; a 3-point smoothing
// stencil through a shared tile with a halo.
using real = float;
constexpr int TILE = 16;
const int HALF = TILE / 2;
__device__ const real weights[3] = {0.25f, 0.5f, 0.25f};
static const real SCALE = 2.0f;

extern "C" __global__ void smooth(const real* x, real* y, int n) {
    const int K = 4;
    const unsigned STEP = K * 2u;
    __shared__ real s[TILE + 2];
    real ramp[K] = {0};
    int t = threadIdx.x, i = blockIdx.x * TILE + t;
    s[t + 1] = i < n ? x[i] : 0.0f;
    if (t == 0) {
        s[0] = blockIdx.x > 0 ? x[i - 1] : 0.0f;
        s[TILE + 1] = i + TILE < n ? x[i + TILE] : 0.0f;
    }
    __syncthreads();
    for (int k = 0; k < K; k++) ramp[k] = s[t + 1] * k;
    if (i < n)
        y[i] = SCALE * (weights[0] * s[t] + weights[1] * s[t + 1] + weights[2] * s[t + 2]) + ramp[K - 1] + STEP + HALF;
}
"""

WRAPPING = r"""
// Signed integer arithmetic that overflows: CUDA's instructions wrap (two's complement),
// as NumPy's int32/int64 arrays do; C and OpenCL C leave it undefined and their compilers
// fold (a * 2) / 2 to a and a + 1 > a to 1. A hash, a multiply-shift and negation too.
extern "C" __global__ void wrapping(const int* x, const long long* w, int* y, long long* z, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int a = x[i];
    y[4 * i] = (a * 2) / 2;
    y[4 * i + 1] = a + 1 > a;
    int h = a;
    h *= 31; h += 7; h <<= 3; h -= -2147483647 - 1;
    y[4 * i + 2] = h;
    y[4 * i + 3] = -a > 0;
    long long v = w[i];
    z[i] = (v * 4) / 4 + (v + 1 > v);
}
"""

COMPLEX_ALIASES = r"""
// complex<T> named by a typedef and a using alias, constructed through them: cf(re, im)
#include <cupy/complex.cuh>
typedef complex<float> cf;
using cd = complex<double>;
extern "C" __global__ void rotate(const cf* x, cd* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = cd(x[i].real(), x[i].imag()) * cd(0.0, 1.0) + cd(2.0) + cd(cf(0.5f, -1.0f) * x[i]);
}
"""

GRID_STRIDE = r"""
// Grid-stride loops over size_t indices, const __restrict__ pointers, __ldg and a
// cache-hint load, #pragma unroll, and a 2-D grid whose rows are blockIdx.y.
extern "C" __global__ void saxpy(const float* __restrict__ const x, float* __restrict__ y, const float a,
                                 const size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)blockDim.x * gridDim.x)
        y[i] = a * __ldg(&x[i]) + __ldcs(y + i);
}

extern "C" __global__ void scale_rows(const double* m, double* out, unsigned int rows, unsigned int cols) {
    unsigned int col = blockIdx.x * blockDim.x + threadIdx.x;
    for (unsigned int row = blockIdx.y; row < rows; row += gridDim.y) {
        if (col >= cols) continue;
        double acc = 0.0;
        #pragma unroll 4
        for (int k = 0; k < 4; k++) acc += m[row * cols + col] * (k + 1);
        out[row * cols + col] = acc / (row + 1);
    }
}
"""

CAS_ATOMICS = r"""
// Atomics built on atomicCAS as CUDA code writes them (a float maximum through the bits,
// double addition as before sm_60), and the block- and system-scoped atomicAdd.
__device__ float atomicMaxFloat(float* address, float val) {
    int* address_as_int = (int*)address;
    int old = *address_as_int, assumed;
    do {
        assumed = old;
        old = atomicCAS(address_as_int, assumed, __float_as_int(fmaxf(val, __int_as_float(assumed))));
    } while (assumed != old);
    return __int_as_float(old);
}

__device__ double atomicAddDouble(double* address, double val) {
    unsigned long long int* address_as_ull = (unsigned long long int*)address;
    unsigned long long int old = *address_as_ull, assumed;
    do {
        assumed = old;
        old = atomicCAS(address_as_ull, assumed, __double_as_longlong(val + __longlong_as_double(assumed)));
    } while (assumed != old);
    return __longlong_as_double(old);
}

extern "C" __global__ void cas_atomics(const float* x, float* max_out, double* sum_out, int* count, int n) {
    __shared__ int block_count;
    if (threadIdx.x == 0) block_count = 0;
    __syncthreads();
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        atomicMaxFloat(max_out, x[i]);
        atomicAddDouble(sum_out, (double)x[i]);
        atomicAdd_block(&block_count, 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) atomicAdd_system(count, block_count);
}
"""

CONVERSIONS = r"""
// __sincosf and the conversion and rounding intrinsics of double and unsigned values.
extern "C" __global__ void conversions(const float* x, const unsigned int* u, double* y, long long* z, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float s, c;
        __sincosf(x[i], &s, &c);
        y[3 * i] = __dadd_rn(__int2double_rn(i), __dmul_rn((double)s, (double)c));
        y[3 * i + 1] = __uint2float_rn(u[i]) + __uint2double_rn(u[i]);
        y[3 * i + 2] = __fma_rn(__dsqrt_rn(4.0), __drcp_rn(8.0), __ll2double_rn(-3));
        z[i] = __double2ll_rn(x[i] * 100.0);
    }
}
"""

COMPLEX_DIRECT = r"""
// complex values declared by C++ direct initialization, several to a declaration and
// through a typedef; a __device__ helper returning one.
#include <cupy/complex.cuh>
typedef complex<double> cd;
__device__ complex<float> rot90(complex<float> z) { complex<float> j(0.0f, 1.0f); return z * j; }
extern "C" __global__ void direct(const complex<float>* z, const double* re, cd* w, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        complex<float> r(rot90(z[i]));
        cd a(re[i], 1.0), b(2.0);
        w[i] = a * b + cd(r.real(), r.imag());
    }
}
"""

/* Read by the CUDA front end (hal/cuda_kernels/source.py) before every source: CUDA's
   declaration words become C99 words that pycparser keeps in its tree, and the CUDA
   type names it must know are typedefs. */
/* what NVRTC defines (CuPy compiles with NVRTC): sources test these to pick device code */
#define __CUDACC__ 1
#define __CUDACC_RTC__ 1
#define __CUDA_ARCH__ 700
#define __global__ _Noreturn
#define __shared__ _Thread_local
#define __constant__ register
#define __device__
#define __host__
#define __forceinline__ inline
#define __inline__ inline
#define __noinline__
#define __restrict__ restrict
#define __launch_bounds__(...)
#define constexpr const
#define true 1
#define false 0
#define NULL 0
typedef unsigned char bool;
typedef unsigned short half;
typedef unsigned short __half;
typedef signed char int8_t; typedef unsigned char uint8_t;
typedef short int16_t; typedef unsigned short uint16_t;
typedef int int32_t; typedef unsigned int uint32_t;
typedef long long int64_t; typedef unsigned long long uint64_t;
typedef unsigned long long size_t; typedef long long ptrdiff_t;
/* complex<float>, complex<double> (cupy/complex.cuh), as the token pass renames them */
typedef struct { float re, im; } hal_c64;
typedef struct { double re, im; } hal_c128;
typedef struct { unsigned int x, y, z; } dim3;
/* CUDA's vector types: names pycparser must know (ctype.py gives their layout) */
typedef struct { int x; } char2;
typedef struct { int x; } char3;
typedef struct { int x; } char4;
typedef struct { int x; } uchar2;
typedef struct { int x; } uchar3;
typedef struct { int x; } uchar4;
typedef struct { int x; } short2;
typedef struct { int x; } short3;
typedef struct { int x; } short4;
typedef struct { int x; } ushort2;
typedef struct { int x; } ushort3;
typedef struct { int x; } ushort4;
typedef struct { int x; } int2;
typedef struct { int x; } int3;
typedef struct { int x; } int4;
typedef struct { int x; } uint2;
typedef struct { int x; } uint3;
typedef struct { int x; } uint4;
typedef struct { int x; } longlong2;
typedef struct { int x; } longlong3;
typedef struct { int x; } longlong4;
typedef struct { int x; } ulonglong2;
typedef struct { int x; } ulonglong3;
typedef struct { int x; } ulonglong4;
typedef struct { int x; } float2;
typedef struct { int x; } float3;
typedef struct { int x; } float4;
typedef struct { int x; } double2;
typedef struct { int x; } double3;
typedef struct { int x; } double4;
/* math.h, float.h and math_constants.h values kernels use */
#define INFINITY __int_as_float(0x7f800000)
#define NAN __int_as_float(0x7fffffff)
#define HUGE_VALF INFINITY
#define FLT_MAX 3.402823466e+38f
#define FLT_MIN 1.175494351e-38f
#define FLT_EPSILON 1.192092896e-07f
#define DBL_MAX 1.7976931348623158e+308
#define INT_MAX 2147483647
#define INT_MIN (-INT_MAX - 1)
#define UINT_MAX 4294967295u
#define CUDART_INF_F INFINITY
#define CUDART_NAN_F NAN
#define M_PI 3.14159265358979323846
#define M_PI_F 3.141592654f

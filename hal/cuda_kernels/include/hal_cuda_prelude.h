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
#define nullptr 0
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
/* math_constants.h (CUDART_*), limits.h and math.h's M_* */
#define CUDART_PI_F 3.141592654e+00f
#define CUDART_PI 3.141592653589793
#define CUDART_PIO2_F 1.570796327e+00f
#define CUDART_PIO2 1.5707963267948966
#define CUDART_PIO4_F 7.853981634e-01f
#define CUDART_PIO4 0.7853981633974483
#define CUDART_2PI_F 6.283185307e+00f
#define CUDART_2PI 6.283185307179586
#define CUDART_2_OVER_PI_F 6.366197724e-01f
#define CUDART_2_OVER_PI 0.6366197723675814
#define CUDART_SQRT_2PI_F 2.506628275e+00f
#define CUDART_SQRT_2PI 2.5066282746310002
#define CUDART_SQRT_HALF_F 7.071067812e-01f
#define CUDART_SQRT_HALF 0.7071067811865476
#define CUDART_SQRT_TWO_F 1.414213562e+00f
#define CUDART_SQRT_TWO 1.4142135623730951
#define CUDART_L2E_F 1.442695041e+00f
#define CUDART_L2E 1.4426950408889634
#define CUDART_L2T_F 3.321928095e+00f
#define CUDART_L2T 3.321928094887362
#define CUDART_LG2_F 3.010299957e-01f
#define CUDART_LG2 0.3010299956639812
#define CUDART_LNT_F 2.302585093e+00f
#define CUDART_LNT 2.302585092994046
#define CUDART_LN2_F 6.931471806e-01f
#define CUDART_LN2 0.6931471805599453
#define CUDART_THIRD_F 3.333333333e-01f
#define CUDART_THIRD 0.3333333333333333
#define CUDART_ZERO_F 0.0f
#define CUDART_ONE_F 1.0f
#define CUDART_ZERO 0.0
#define CUDART_ONE 1.0
#define CUDART_MAX_NORMAL_F FLT_MAX
#define CUDART_INF ((double)INFINITY)
#define CUDART_NAN ((double)NAN)
#define DBL_MIN 2.2250738585072014e-308
#define DBL_EPSILON 2.220446049250313e-16
#define CHAR_BIT 8
#define SCHAR_MAX 127
#define SCHAR_MIN (-128)
#define UCHAR_MAX 255
#define SHRT_MAX 32767
#define SHRT_MIN (-32768)
#define USHRT_MAX 65535
#define LLONG_MAX 9223372036854775807LL
#define LLONG_MIN (-LLONG_MAX - 1)
#define ULLONG_MAX 18446744073709551615ULL
#define LONG_MAX LLONG_MAX
#define LONG_MIN LLONG_MIN
#define M_E 2.718281828459045
#define M_LOG2E 1.4426950408889634
#define M_LOG10E 0.4342944819032518
#define M_LN2 0.6931471805599453
#define M_LN10 2.302585092994046
#define M_PI_2 1.5707963267948966
#define M_PI_4 0.7853981633974483
#define M_1_PI 0.3183098861837907
#define M_2_PI 0.6366197723675814
#define M_2_SQRTPI 1.1283791670955126
#define M_SQRT2 1.4142135623730951
#define M_SQRT1_2 0.7071067811865476

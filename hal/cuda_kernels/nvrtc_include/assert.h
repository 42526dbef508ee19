/* assert.h for NVRTC, which has no C/C++ standard library: libcudacxx's (hal/cuda_kernels/native.py) */
#include <cuda/std/cassert>

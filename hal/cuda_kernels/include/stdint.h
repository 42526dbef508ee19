/* stdint.h: the CUDA front end needs nothing from it (hal/cuda_kernels/include/hal_cuda_prelude.h) */

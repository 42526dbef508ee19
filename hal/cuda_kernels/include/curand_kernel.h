#error the cuRAND device API (curand_kernel.h) is not supported by hal

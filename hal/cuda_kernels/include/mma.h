#error tensor cores (mma.h, WMMA) are not supported by hal

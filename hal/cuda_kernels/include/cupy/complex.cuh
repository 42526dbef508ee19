/* cupy/complex.cuh: complex<float> and complex<double> are translated by hal (hal/cuda_kernels/source.py) */

/* float.h: its constants are in hal_cuda_prelude.h */

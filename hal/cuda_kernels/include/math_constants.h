/* math_constants.h: its constants are in hal_cuda_prelude.h */

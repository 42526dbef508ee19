/* stddef.h: nothing a translated kernel needs (types and constants: hal_cuda_prelude.h) */

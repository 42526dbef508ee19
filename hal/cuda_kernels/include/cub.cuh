#error CUB is not supported by hal (its block primitives use warp intrinsics)

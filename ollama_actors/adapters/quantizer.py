"""``LlamaCppQuantizer``: the ``Quantizer`` port on llama.cpp's own quantizer.

``llama_model_quantize`` with ``llama_model_quantize_default_params`` is what
``llama-quantize`` (and Ollama, through cgo) runs: it reads a GGUF and writes it
again with its weight matrices quantized; tensors whose rows do not fit a k-quant
block fall back to a compatible type, as in llama.cpp. It runs in this process,
on the calling thread, with llama.cpp's log kept quiet (one line per tensor
otherwise). Imported lazily so that importing this module loads no native code.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ollama_actors.domain.errors import QuantizationError

__all__ = ["LLAMA_FILE_TYPES", "LlamaCppQuantizer"]

# llama.cpp's ``enum llama_ftype`` for the types /api/create accepts.
LLAMA_FILE_TYPES: dict[str, int] = {
    "F32": 0,
    "F16": 1,
    "Q8_0": 7,
    "Q4_K_S": 14,
    "Q4_K_M": 15,
    "BF16": 32,
}
# Ollama's words when llama.cpp's quantizer returns an error (llama/llama.go).
_FAILED = (
    "failed to quantize model. This model architecture may not supported, "
    "or you may need to upgrade Ollama to the latest version"
)


class LlamaCppQuantizer:
    """Quantizes with llama-cpp-python's binding of ``llama_model_quantize``."""

    def __init__(self, *, threads: int = 0) -> None:
        self._threads = threads  # 0: llama.cpp uses every hardware thread

    def quantize(self, source: Path, target: Path, file_type: str) -> None:
        """Write ``source`` quantized to ``file_type`` into ``target`` (overwritten).

        Raises:
            QuantizationError: an unknown ``file_type``, or llama.cpp returned an error.
        """
        ftype = LLAMA_FILE_TYPES.get(file_type)
        if ftype is None:
            raise QuantizationError(f"unsupported quantization type {file_type}")
        import llama_cpp

        # llama-cpp-python's log callback prints unless its logger is above INFO.
        logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = ftype
        params.nthread = self._threads
        rc = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
        if rc != 0:
            raise QuantizationError(_FAILED)

"""``format`` → a GBNF grammar llama.cpp enforces while sampling.

The JSON-schema → GBNF conversion is llama-cpp-python's own (a pure function
in ``llama_cpp.llama_grammar``); writing another would only drift from what
the sampler accepts.
"""

from __future__ import annotations

import json

from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

from ollama_actors.domain.errors import InvalidRequestError

__all__ = ["format_grammar"]


def format_grammar(fmt: object) -> str:
    """``"json"`` → a grammar for a JSON object (Ollama's "json" is an object at the
    root: llama-cpp-python's ``JSON_GBNF`` has ``root ::= object``); a schema object →
    a grammar for that schema."""
    if fmt == "json":
        return JSON_GBNF
    if isinstance(fmt, dict):
        try:
            return json_schema_to_gbnf(json.dumps(fmt))
        except Exception as error:  # the converter raises plain exceptions on bad schemas
            raise InvalidRequestError(f"invalid JSON schema in format: {error}") from None
    raise InvalidRequestError(f'invalid format: "{fmt}"; expected "json" or a valid JSON Schema object')

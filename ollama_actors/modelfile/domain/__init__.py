"""The Modelfile's pure domain: parsing, writing back, and typing parameters."""

from ollama_actors.modelfile.domain.instructions import (
    COMMANDS,
    MESSAGE_ROLES,
    Instruction,
    Modelfile,
    ModelfileError,
)
from ollama_actors.modelfile.domain.parameters import (
    DEPRECATED_PARAMETERS,
    PARAMETER_TYPES,
    DeprecatedParameterError,
    parameter_value,
    parameter_warnings,
    parameters_dict,
)
from ollama_actors.modelfile.domain.parser import format_modelfile, parse_modelfile

__all__ = [
    "COMMANDS",
    "DEPRECATED_PARAMETERS",
    "DeprecatedParameterError",
    "Instruction",
    "MESSAGE_ROLES",
    "Modelfile",
    "ModelfileError",
    "PARAMETER_TYPES",
    "format_modelfile",
    "parameter_value",
    "parameter_warnings",
    "parameters_dict",
    "parse_modelfile",
]

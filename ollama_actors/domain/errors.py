"""The one error hierarchy of ollama-actors, each class carrying its HTTP status.

Raise these at the source; the edge renders any of them as Ollama's
``{"error": "<message>"}`` with ``status``. Messages reuse Ollama's exact wording
where it has one, because clients match on the text.

    OllamaError (500)
    ├── BadRequestError (400)
    │   ├── InvalidModelNameError        "invalid model name"
    │   ├── InvalidDigestError           "invalid digest format"
    │   ├── DigestMismatchError          "digest mismatch, expected …, got …"
    │   ├── InvalidOptionError           "option \"k\" must be of type …"
    │   ├── InvalidRequestError          any other malformed request
    │   └── UnsupportedCapabilityError   "\"m\" does not support generate"
    ├── NotFoundError (404)
    │   ├── ModelNotFoundError           "model 'x' not found"
    │   └── BlobNotFoundError            "blob \"sha256:…\" not found"
    ├── RequestCanceledError (499)       "request canceled"
    ├── ServerBusyError (503)            queue full
    ├── ServiceUnavailableError (503)    shutting down
    ├── TimeoutError_ (504)              an actor did not answer in time
    ├── InvalidManifestError (500)       corrupt stored manifest / bad registry manifest
    ├── QuantizationError (500)          llama.cpp's quantizer failed during create
    └── RunnerError (500)                runner crashed / failed to load / decode error
"""

from __future__ import annotations

__all__ = [
    "BadRequestError",
    "BlobNotFoundError",
    "DigestMismatchError",
    "InvalidDigestError",
    "InvalidManifestError",
    "InvalidModelNameError",
    "InvalidOptionError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "NotFoundError",
    "OllamaError",
    "QuantizationError",
    "ActorTimeoutError",
    "RequestCanceledError",
    "RunnerError",
    "ServerBusyError",
    "ServiceUnavailableError",
    "UnsupportedCapabilityError",
]


class OllamaError(Exception):
    """Base of every error a client may see; ``status`` is the HTTP status code."""

    status: int = 500

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return self.message


class BadRequestError(OllamaError):
    status = 400


class InvalidModelNameError(BadRequestError):
    def __init__(self, message: str = "invalid model name") -> None:
        super().__init__(message)


class InvalidDigestError(BadRequestError):
    def __init__(self, message: str = "invalid digest format") -> None:
        super().__init__(message)


class DigestMismatchError(BadRequestError):
    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f'digest mismatch, expected "{expected}", got "{actual}"')
        self.expected = expected
        self.actual = actual


class InvalidOptionError(BadRequestError):
    pass


class InvalidRequestError(BadRequestError):
    pass


class UnsupportedCapabilityError(BadRequestError):
    pass


class NotFoundError(OllamaError):
    status = 404


class ModelNotFoundError(NotFoundError):
    pass


class BlobNotFoundError(NotFoundError):
    def __init__(self, digest: str) -> None:
        super().__init__(f'blob "{digest}" not found')


class RequestCanceledError(OllamaError):
    status = 499

    def __init__(self, message: str = "request canceled") -> None:
        super().__init__(message)


class ServerBusyError(OllamaError):
    status = 503

    def __init__(
        self,
        message: str = "server busy, please try again.  maximum pending requests exceeded",
    ) -> None:
        super().__init__(message)


class ServiceUnavailableError(OllamaError):
    status = 503


class ActorTimeoutError(OllamaError):
    status = 504


class InvalidManifestError(OllamaError):
    """A manifest or config blob that does not parse or names an invalid digest.

    500, not 400: it comes from the store or a registry, never from the client's
    request, and means that data is corrupt or hostile.
    """

    status = 500


class QuantizationError(OllamaError):
    """llama.cpp could not quantize a model during ``/api/create``."""


class RunnerError(OllamaError):
    status = 500

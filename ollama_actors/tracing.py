"""Optional OpenTelemetry tracing: off and free by default, on when the OTEL_* variables ask.

``Settings.traces_exporter`` (from the standard variables, see ``settings.py``)
decides: ``"none"`` and ``open_tracing`` returns None without importing anything
from OpenTelemetry, so the daemon pays nothing; ``"otlp"`` or ``"console"`` and
it builds a tracer provider of its own (never the process-global one, so two
daemons in one process stay apart) exporting through a batch processor. The
exporter reads its own standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
headers, ``OTEL_SERVICE_NAME``…); that is the OpenTelemetry SDK reading them,
not us. The packages are the ``[otel]`` extra; when they are missing the start
stops with one line naming the extra.

Spans: one SERVER span per HTTP request (``edge.tracing``), the child of an
incoming W3C ``traceparent`` when there is one; one INTERNAL span per actor
message handled for that request, the child of the span that was current where
the message was sent (``Tracing`` is the kernel's ``TraceHook``), so a request
becomes HTTP → scheduler → runner supervisor … in one trace.

This is the only module that imports OpenTelemetry, and only inside
``open_tracing`` and the ``Tracing`` it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ollama_actors.kernel.trace import install_trace_hook
from ollama_actors.settings import TRACES_EXPORTERS, Settings

__all__ = ["RequestSpan", "Tracing", "open_tracing"]

SERVICE_NAME = "ollama-actors"


def open_tracing(settings: Settings, *, exporter: Any = None) -> Tracing | None:  # Any: a SpanExporter
    """A ``Tracing`` when ``settings`` ask for one (or an ``exporter`` is given), else None.

    ``exporter`` (tests: the SDK's ``InMemorySpanExporter``) is exported to
    synchronously, so a span is visible as soon as it ends.

    Raises:
        ValueError: tracing is asked for but the ``[otel]`` packages are missing,
            or the exporter is not one we know.
    """
    if exporter is None and settings.traces_exporter == "none":
        return None
    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as error:
        raise ValueError(_missing(error)) from None
    provider = TracerProvider(resource=_resource())
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(_exporter(settings.traces_exporter)))
    return Tracing(provider)


def _missing(error: ImportError) -> str:
    return (
        f"tracing was asked for by OTEL_* variables but OpenTelemetry is not installed ({error.name}): "
        "pip install 'ollama-actors[otel]', or unset OTEL_TRACES_EXPORTER"
    )


def _resource() -> Any:  # Any: an opentelemetry Resource
    """The SDK's resource from OTEL_SERVICE_NAME/OTEL_RESOURCE_ATTRIBUTES; our name when unnamed."""
    from opentelemetry.sdk.resources import Resource

    detected = Resource.create()
    if str(detected.attributes.get("service.name", "")).startswith("unknown_service"):
        return detected.merge(Resource({"service.name": SERVICE_NAME}))
    return detected


def _exporter(name: str) -> Any:  # Any: a SpanExporter
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as error:
            raise ValueError(_missing(error)) from None
        return OTLPSpanExporter()
    raise ValueError(f"unknown traces exporter {name!r} (allowed: {', '.join(TRACES_EXPORTERS)})")


@dataclass
class RequestSpan:
    """The SERVER span of one HTTP request, current in its task until ``end``."""

    span: Any  # Any: an opentelemetry Span
    _detach: Callable[[], None]

    def set_status(self, status: int, route: str) -> None:
        """Record the response status (5xx marks the span as failed)."""
        self.span.set_attribute("http.response.status_code", status)
        self.span.set_attribute("http.route", route)
        if status >= 500:
            from opentelemetry.trace import Status, StatusCode

            self.span.set_status(Status(StatusCode.ERROR))

    def end(self, error: BaseException | None) -> None:
        """End the span and make the previous context current again (same task only)."""
        if error is not None:
            self.span.record_exception(error)
        self.span.end()
        self._detach()


class Tracing:
    """One daemon's tracer; also the kernel's ``TraceHook`` while ``activate``d."""

    def __init__(self, provider: Any) -> None:  # Any: an opentelemetry TracerProvider
        from opentelemetry import context, propagate, trace

        self._provider = provider
        self._tracer = provider.get_tracer("ollama_actors")
        self._context, self._propagate, self._trace = context, propagate, trace
        self._previous: Any = None
        self._active = False

    # -- lifecycle ----------------------------------------------------------------

    def activate(self) -> None:
        """Install as the kernel's trace hook: actor messages get child spans."""
        if not self._active:
            self._previous = install_trace_hook(self)
            self._active = True

    def close(self) -> None:
        """Uninstall the hook, then flush and stop the exporter (bounded by the SDK)."""
        if self._active:
            install_trace_hook(self._previous)
            self._active = False
        self._provider.shutdown()

    # -- the HTTP edge ------------------------------------------------------------

    def start_request(self, method: str, route: str, path: str, headers: Mapping[str, str]) -> RequestSpan:
        """Start the SERVER span of a request (child of its ``traceparent``, if any)
        and make it current in the calling task, so that messages sent from the
        handler carry it."""
        parent = self._propagate.extract(headers)
        span = self._tracer.start_span(
            f"{method} {route}",
            context=parent,
            kind=self._trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        )
        token = self._context.attach(self._trace.set_span_in_context(span, parent))
        return RequestSpan(span, lambda: self._context.detach(token))

    # -- the kernel's TraceHook -----------------------------------------------------

    def capture(self) -> object | None:
        """The sender's OpenTelemetry context, if a span is current in it."""
        current = self._context.get_current()
        if self._trace.get_current_span(current).get_span_context().is_valid:
            return current
        return None

    def enter(self, carried: object, actor: str, message: object) -> Callable[[BaseException | None], None]:
        """Start the span of ``actor`` handling ``message``, current until the returned end."""
        kind = type(message).__name__
        span = self._tracer.start_span(
            f"{actor} {kind}", context=carried, attributes={"actor.name": actor, "actor.message": kind}
        )
        token = self._context.attach(self._trace.set_span_in_context(span, carried))

        def end(error: BaseException | None) -> None:
            if error is not None:
                span.record_exception(error)
                span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, str(error)))
            span.end()
            self._context.detach(token)

        return end

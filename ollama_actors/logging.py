"""structlog, configured once: JSON lines off a terminal (journald), console on one.

Library loggers (Hypercorn, pykka, quart) go through the same formatter so that
every line of the daemon has one shape. Loggers are fetched at call time
(``structlog.get_logger()``), never cached at import, so tests can capture logs.

``log_info`` is the hot path of the edge's per-request line: the same line as
``structlog.get_logger(name).info(event, **fields)``, rendered by the same
processors, but without the trip through a stdlib ``LogRecord`` (and its copy
in ``ProcessorFormatter``) while the configuration is the one installed here.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any

import structlog

__all__ = ["configure_logging", "log_info"]


@dataclass(frozen=True)
class _Installed:
    """What ``configure_logging`` installed: the fast path is taken only while it still holds."""

    processors: list[structlog.typing.Processor]  # structlog's chain (identity checked)
    shared: tuple[structlog.typing.Processor, ...]  # the chain without ``wrap_for_formatter``
    formatting: tuple[structlog.typing.Processor, ...]  # the formatter's processors
    handler: logging.StreamHandler  # type: ignore[type-arg]


_installed: _Installed | None = None
_loggers: dict[str, logging.Logger] = {}


def configure_logging(*, debug: bool = False, json: bool | None = None) -> None:
    """Set up structlog and the stdlib root logger; idempotent."""
    global _installed
    if json is None:
        json = not sys.stderr.isatty()
    level = logging.DEBUG if debug else logging.INFO
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    processors: list[structlog.typing.Processor] = [
        *shared,
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ]
    structlog.configure(
        processors=processors,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatting: list[structlog.typing.Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info if json else _identity,
        renderer,
    ]
    formatter = structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=formatting)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("hypercorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # ``remove_processors_meta`` only strips what ``ProcessorFormatter`` adds; the fast path adds nothing.
    _installed = _Installed(processors, tuple(shared), tuple(formatting[1:]), handler)


def log_info(name: str, event: str, **fields: Any) -> None:
    """``structlog.get_logger(name).info(event, **fields)``, the same line, cheaper.

    While structlog and the root logger are as ``configure_logging`` left them
    (one handler, no filters, the logger's own chain up to the root without
    handlers of its own), the event dict goes through the very same processors
    (context variables, level, logger name, timestamp, renderer) and the line is
    written by the root handler under its lock, as ``StreamHandler.emit`` would.
    Otherwise (tests capturing logs, pytest's handlers, another configuration)
    it is exactly the structlog call.
    """
    logger = _loggers.get(name)
    if logger is None:
        logger = _loggers[name] = logging.getLogger(name)
    installed = _installed
    if (
        installed is None
        or logger.disabled
        or structlog.get_config()["processors"] is not installed.processors
        or not _plain_route(logger, installed.handler)
    ):
        structlog.get_logger(name).info(event, **fields)
        return
    if not logger.isEnabledFor(logging.INFO):
        return
    handler = installed.handler
    try:
        event_dict: Any = fields
        event_dict["event"] = event
        for processor in installed.shared:
            event_dict = processor(logger, "info", event_dict)
        for processor in installed.formatting:
            event_dict = processor(logger, "info", event_dict)
        line = str(event_dict) + handler.terminator
    except structlog.DropEvent:
        return
    handler.acquire()
    try:
        stream = handler.stream
        stream.write(line)
        if hasattr(stream, "flush"):
            stream.flush()
    except Exception:  # as StreamHandler.emit: report, never raise into the request
        handler.handleError(logging.makeLogRecord({"name": name, "msg": line, "levelno": logging.INFO}))
    finally:
        handler.release()


def _plain_route(logger: logging.Logger, handler: logging.Handler) -> bool:
    """Would a record of ``logger`` reach only ``handler``, unfiltered?"""
    root = logging.root
    if handler.filters or root.filters or root.handlers != [handler]:
        return False
    current: logging.Logger | None = logger
    while current is not None and current is not root:
        if current.handlers or current.filters or not current.propagate:
            return False
        current = current.parent
    return True


def _identity(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    return event

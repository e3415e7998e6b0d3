"""Chat messages and tool calls as the domain sees them (Ollama's Message / ToolCall).

Frozen, pure data; the HTTP edge converts JSON to these and back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ChatMessage", "ToolCall", "ToolFunctionCall"]


@dataclass(frozen=True)
class ToolFunctionCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)  # JSON object, key order kept
    index: int = 0


@dataclass(frozen=True)
class ToolCall:
    function: ToolFunctionCall
    id: str = ""


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation; ``role`` is lower-case (system/user/assistant/tool)."""

    role: str
    content: str = ""
    thinking: str = ""
    images: tuple[bytes, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_name: str = ""
    tool_call_id: str = ""

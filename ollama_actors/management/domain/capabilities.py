"""Capabilities derived as Ollama derives them (show, tags, request checks). Pure."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["derive_capabilities"]


def derive_capabilities(
    *,
    has_pooling: bool,
    template_uses_tools: bool = False,
    template_uses_suffix: bool = False,
    template_renders_thinking: bool = False,
    jinja_template: str | None = None,
    has_go_template: bool = False,
    extra: Iterable[str] = (),
) -> tuple[str, ...]:
    """``completion`` or ``embedding`` from the GGUF, then tools/insert/thinking from the
    Go template (or, without one, from the GGUF's Jinja chat template), plus config extras."""
    caps: list[str] = ["embedding" if has_pooling else "completion"]
    jinja = jinja_template or ""
    if not has_pooling:
        if template_uses_tools or (not has_go_template and ("tools" in jinja or "tool_call" in jinja)):
            caps.append("tools")
        if template_uses_suffix:
            caps.append("insert")
        if template_renders_thinking or (not has_go_template and "<think>" in jinja and "</think>" in jinja):
            caps.append("thinking")
    for cap in extra:
        if cap not in caps:
            caps.append(cap)
    return tuple(caps)

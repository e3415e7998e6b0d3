"""Pure rendering of API replies into Ollama's exact CLI text (reference §2.4).

Every function here turns data into a string and nothing else: no I/O, no clock
(``now`` is a parameter), no terminal queries (``width`` is a parameter). The
formats are Ollama's byte for byte, including its quirks, because people and
scripts compare the output: tables come from Go's ``tablewriter`` v0.0.5 as the
Ollama CLI configures it (no borders, 4-space padding after *every* cell, so lines
carry trailing blanks; the last header cell gets a single blank), sizes from
``format.HumanBytes``, times from ``format.HumanTime``, durations from Go's
``time.Duration.String``.

We re-implement tablewriter's layout rather than use a Python table library
because none reproduces its padding and minimal-raggedness wrapping exactly.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

__all__ = [
    "THINKING_CLOSE",
    "THINKING_OPEN",
    "WrapState",
    "display_width",
    "go_duration",
    "go_float_g",
    "go_value",
    "human_bytes",
    "human_duration",
    "human_number",
    "human_time",
    "parse_timestamp",
    "processor",
    "progress_line",
    "render_list",
    "render_metrics",
    "render_ps",
    "render_show",
    "render_show_field",
    "render_table",
    "spinner_clear",
    "spinner_frame",
    "thinking_close",
    "thinking_open",
    "tool_calls_text",
    "wrap_stream",
    "wrap_words",
]

GREY = "\x1b[38;5;245m"
BOLD = "\x1b[1m"
DEFAULT = "\x1b[0m"
THINKING_OPEN = "Thinking...\n"
THINKING_CLOSE = "...done thinking.\n\n"
TABLE_PADDING = "    "
SPINNER_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"  # Ollama's progress.Spinner
_HIDE_CURSOR, _SHOW_CURSOR, _CLEAR_LINE = "\x1b[?25l", "\x1b[?25h", "\x1b[2K\x1b[1G"
_PENALTY = 100_000  # tablewriter's cost for a line longer than the limit
_GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=timezone.utc)


# --- numbers, sizes, durations, times ---------------------------------------------


def human_bytes(size: int) -> str:
    """``format.HumanBytes``: decimal units; ≥10 truncated, <10 one decimal unless whole."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            value = size / scale
            if value >= 10 or value == math.trunc(value):
                return f"{int(value)} {unit}"
            return f"{value:.1f} {unit}"
    return f"{size} B"


def human_number(count: int) -> str:
    """``format.HumanNumber`` (parameter counts): ``8B``, ``1.2B``, ``133.70M``, ``500K``."""
    if count >= 10**9:
        value = count / 10**9
        return f"{value:.0f}B" if value == math.floor(value) else f"{value:.1f}B"
    if count >= 10**6:
        value = count / 10**6
        return f"{value:.0f}M" if value == math.floor(value) else f"{value:.2f}M"
    if count >= 10**3:
        return f"{count / 10**3:.0f}K"
    return str(count)


def _frac(value: int, digits: int) -> str:
    """``value / 10**digits`` written with trailing zeros (and a bare point) removed."""
    whole, frac = divmod(value, 10**digits)
    tail = f"{frac:0{digits}d}".rstrip("0")
    return f"{whole}.{tail}" if tail else str(whole)


def go_duration(nanoseconds: int) -> str:
    """Go's ``time.Duration.String`` for a count of nanoseconds (``1.5s``, ``2m3s``, ``12ms``)."""
    if nanoseconds == 0:
        return "0s"
    sign, u = ("-" if nanoseconds < 0 else ""), abs(nanoseconds)
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{_frac(u, 3)}µs"
    if u < 1_000_000_000:
        return f"{sign}{_frac(u, 6)}ms"
    seconds = u // 10**9
    out = f"{seconds % 60}{_frac(u % 10**9, 9)[1:]}s"
    if seconds >= 60:
        out = f"{seconds // 60 % 60}m{out}"
    if seconds >= 3600:
        out = f"{seconds // 3600}h{out}"
    return sign + out


def go_float_g(value: float) -> str:
    """Go's ``%g`` / ``%v`` for a float64: shortest digits, exponent when < -4 or ≥ 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # position of the decimal point
    prefix = "-" if sign else ""
    exp = point - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def _go_float_f(value: float | int) -> str:
    # strconv.FormatFloat(f, 'f', -1, 64): shortest digits, never an exponent.
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return format(Decimal(repr(float(value))), "f")


def _round_half_away(value: float) -> int:
    # Go's math.Round; Python's round() rounds half to even.
    return int(math.floor(abs(value) + 0.5)) * (1 if value >= 0 else -1)


def _trunc_div(a: int, b: int) -> int:
    # Go's integer division truncates toward zero.
    q = abs(a) // b
    return q if a >= 0 else -q


def human_duration(delta: timedelta) -> str:
    """Go's ``format.humanDuration`` for a non-negative span."""
    total = delta.total_seconds()
    seconds = int(total)
    if seconds < 1:
        return "Less than a second"
    if seconds == 1:
        return "1 second"
    if seconds < 60:
        return f"{seconds} seconds"
    minutes = int(total / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = _round_half_away(total / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(total / 3600) // 24 // 365} years"


def human_time(moment: datetime | None, now: datetime, zero: str = "Never") -> str:
    """Go's ``format.HumanTime``: ``2 weeks ago``, ``4 minutes from now``, ``Forever``."""
    if moment is None:
        return zero
    delta = now - moment
    if _trunc_div(_trunc_div(int(delta.total_seconds() / 3600), 24), 365) < -20:
        return "Forever"
    if delta < timedelta(0):
        return human_duration(-delta) + " from now"
    return human_duration(delta) + " ago"


def parse_timestamp(text: object) -> datetime | None:
    """An RFC 3339 API timestamp as an aware datetime; ``None`` when absent or Go's zero time.

    Dates Python cannot hold (year > 9999) count as the far future.
    """
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return datetime.max.replace(tzinfo=timezone.utc)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return None if parsed == _GO_ZERO_TIME else parsed


def processor(size: int, size_vram: int) -> str:
    """The PROCESSOR column of ``ps``: how the model's memory splits between CPU and GPU."""
    if size_vram == 0:
        return "100% CPU"
    if size_vram == size:
        return "100% GPU"
    if size_vram > size or size == 0:
        return "Unknown"
    cpu = _round_half_away((size - size_vram) / size * 100)
    return f"{cpu}%/{100 - cpu}% CPU/GPU"


# --- tables (tablewriter v0.0.5 as Ollama configures it) ---------------------------


def display_width(text: str) -> int:
    """Terminal columns of ``text`` (wide East Asian characters count two, combining zero)."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def wrap_words(words: Sequence[str], limit: int) -> list[list[str]]:
    """tablewriter's ``WrapWords``: split words into lines with minimal raggedness.

    Cost of a line is the square of its slack; a line over ``limit`` (one long
    word) costs an extra penalty. Dynamic programming from the last word back.
    """
    n = len(words)
    widths = [display_width(w) for w in words]
    cost = [0] * (n + 1)
    breaks = [n] * n
    for i in range(n - 1, -1, -1):
        length = sum(widths[i:]) + (n - 1 - i)
        if length <= limit:
            cost[i], breaks[i] = 0, n
            continue
        best, length = math.inf, widths[i]
        for j in range(i + 1, n):
            slack = limit - length
            candidate = slack * slack + cost[j] + (_PENALTY if length > limit else 0)
            if candidate < best:
                best, breaks[i] = candidate, j
            length += 1 + widths[j]
        cost[i] = int(best)
    lines, i = [], 0
    while i < n:
        lines.append(list(words[i : breaks[i]]))
        i = breaks[i]
    return lines


def _cell_lines(text: str, max_width: int) -> tuple[list[str], int]:
    """tablewriter's ``parseDimension``: the cell's wrapped lines and its width."""
    paragraphs = text.split("\n")
    width = min(max(display_width(p) for p in paragraphs), max_width)
    lines: list[str] = []
    new_width = width
    for index, paragraph in enumerate(paragraphs):
        words = paragraph.split(" ")
        limit = max([width] + [display_width(w) for w in words])
        wrapped = [" ".join(line) for line in wrap_words(words, limit)]
        new_width = max([new_width] + [display_width(line) for line in wrapped])
        if index > 0:
            lines.append(" ")
        lines.extend(wrapped)
    return lines, new_width


def _pad_right(text: str, width: int) -> str:
    return text + " " * max(width - display_width(text), 0)


def render_table(
    rows: Sequence[Sequence[str]],
    headers: Sequence[str] | None = None,
    *,
    max_width: int = 30,
) -> str:
    """Lay out ``rows`` as Ollama's borderless tables (column widths from the widest cell).

    Cells wider than ``max_width`` wrap at spaces; a multi-line cell pads the other
    cells of its row with two-blank lines, as tablewriter does.
    """
    widths: dict[int, int] = {}
    for col, header in enumerate(headers or ()):
        widths[col] = max(widths.get(col, 0), _cell_lines(header, max_width)[1])
    cells: list[list[list[str]]] = []
    for row in rows:
        row_cells = []
        for col, text in enumerate(row):
            lines, width = _cell_lines(text, max_width)
            widths[col] = max(widths.get(col, 0), width)
            row_cells.append(lines)
        cells.append(row_cells)
    out: list[str] = []
    if headers:
        last = len(widths) - 1
        heads = [
            _pad_right(h.upper(), widths[i]) + (" " if i == last else TABLE_PADDING) for i, h in enumerate(headers)
        ]
        out.append("".join(heads) + "\n")
    for row_cells in cells:
        height = max((len(lines) for lines in row_cells), default=0)
        for x in range(height):
            parts = [
                _pad_right(lines[x] if x < len(lines) else "  ", widths[col]) + TABLE_PADDING
                for col, lines in enumerate(row_cells)
            ]
            out.append("".join(parts) + "\n")
    return "".join(out)


# --- list / ps ---------------------------------------------------------------------


def _int(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def render_list(models: Sequence[Mapping[str, Any]], now: datetime, prefix: str = "") -> str:
    """``ollama list``: NAME ID SIZE MODIFIED; ``prefix`` filters names case-insensitively."""
    rows = [
        [
            str(m.get("name", "")),
            str(m.get("digest", ""))[:12],
            "-" if m.get("remote_model") else human_bytes(_int(m.get("size"))),
            human_time(parse_timestamp(m.get("modified_at")), now, "Never"),
        ]
        for m in models
        if str(m.get("name", "")).lower().startswith(prefix.lower())
    ]
    return render_table(rows, ["NAME", "ID", "SIZE", "MODIFIED"])


def _until(expires: datetime | None, now: datetime) -> str:
    if expires is None or now - expires > timedelta(0):
        return "Stopping..."
    return human_time(expires, now, "Never")


def render_ps(models: Sequence[Mapping[str, Any]], now: datetime, prefix: str = "") -> str:
    """``ollama ps``: NAME ID SIZE PROCESSOR CONTEXT UNTIL; ``prefix`` is case-sensitive."""
    rows = [
        [
            str(m.get("name", "")),
            str(m.get("digest", ""))[:12],
            human_bytes(_int(m.get("size"))),
            processor(_int(m.get("size")), _int(m.get("size_vram"))),
            str(_int(m.get("context_length"))),
            _until(parse_timestamp(m.get("expires_at")), now),
        ]
        for m in models
        if str(m.get("name", "")).startswith(prefix)
    ]
    return render_table(rows, ["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"])


# --- show --------------------------------------------------------------------------


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _block(title: str, rows: Sequence[Sequence[str]]) -> str:
    width = 100 if title in ("Template", "System", "License") else 30
    return f"  {title}\n" + render_table(rows, max_width=width) + "\n"


def _model_rows(resp: Mapping[str, Any]) -> list[list[str]]:
    details = resp.get("details") or {}
    rows: list[list[str]] = []
    if resp.get("remote_host"):
        rows += [["", "Remote model", str(resp.get("remote_model", ""))]]
        rows += [["", "Remote URL", str(resp["remote_host"])]]
    info = resp.get("model_info")
    if info is not None:
        arch = info.get("general.architecture")
        arch = arch if isinstance(arch, str) else ""
        if arch:
            rows.append(["", "architecture", arch])
        params = details.get("parameter_size") or ""
        if not params and _is_number(info.get("general.parameter_count")):
            params = human_number(int(info["general.parameter_count"]))
        if params:
            rows.append(["", "parameters", params])
        for key, label in (("context_length", "context length"), ("embedding_length", "embedding length")):
            if _is_number(info.get(f"{arch}.{key}")):
                rows.append(["", label, _go_float_f(info[f"{arch}.{key}"])])
    else:
        rows.append(["", "architecture", str(details.get("family", ""))])
        rows.append(["", "parameters", str(details.get("parameter_size", ""))])
    rows.append(["", "quantization", str(details.get("quantization_level", ""))])
    if resp.get("requires"):
        rows.append(["", "requires", str(resp["requires"])])
    return rows


def _projector_rows(info: Mapping[str, Any]) -> list[list[str]]:
    arch = info.get("general.architecture")
    arch = arch if isinstance(arch, str) else ""
    rows = [["", "architecture", arch]] if arch else []
    if _is_number(info.get("general.parameter_count")):
        rows.append(["", "parameters", human_number(int(info["general.parameter_count"]))])
    for suffix, label in (("embedding_length", "embedding length"), ("projection_dim", "dimensions")):
        for modality in ("vision", "audio"):
            value = info.get(f"{arch}.{modality}.{suffix}")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                rows.append(["", label, _go_float_f(value)])
                break
    return rows


def go_value(value: object) -> str:
    """Go's ``%v`` of a decoded JSON value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return go_float_g(float(value))  # type: ignore[arg-type]
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(v)}" for k, v in sorted(value.items())) + "]"
    return "<nil>"


def _metadata_value(value: object) -> str:
    if not isinstance(value, list):
        return go_value(value) if isinstance(value, (bool, int, float, str)) else _go_type(value)
    shown, total_width = 0, 1  # 1 for the opening bracket
    for index, item in enumerate(value):
        width = display_width(go_value(item)) + (2 if index > 0 else 0)
        if total_width + width > 10 and index > 0:
            break
        total_width += width
        shown += 1
    if shown < len(value):
        return go_value(value[:shown])[:-1] + f" ...+{len(value) - shown} more]"
    return go_value(value)


def _go_type(value: object) -> str:
    return "map[string]interface {}" if isinstance(value, dict) else "<nil>"


def _head(text: str, count: int) -> list[list[str]]:
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    rows = [["", line] for line in lines[:count]]
    return rows + [["", "..."]] if len(lines) > count else rows


def render_show(resp: Mapping[str, Any], verbose: bool = False) -> str:
    """``ollama show``'s default view: titled blocks, each followed by a blank line."""
    out = _block("Model", _model_rows(resp))
    if resp.get("capabilities"):
        out += _block("Capabilities", [["", str(c)] for c in resp["capabilities"]])
    if resp.get("projector_info") is not None:
        out += _block("Projector", _projector_rows(resp["projector_info"]))
    if resp.get("parameters"):
        lines = str(resp["parameters"]).split("\n")
        out += _block("Parameters", [["", *line.split()] for line in lines if line])
    info = resp.get("model_info")
    if info is not None and verbose:
        out += _block("Metadata", [["", k, _metadata_value(info[k])] for k in sorted(info)])
    if resp.get("tensors") and verbose:
        rows = [
            ["", str(t.get("name", "")), str(t.get("type", "")), go_value(t.get("shape") or [])]
            for t in resp["tensors"]
        ]
        out += _block("Tensors", rows)
    if resp.get("system"):
        out += _block("System", _head(str(resp["system"]), 2))
    if resp.get("license"):
        out += _block("License", _head(str(resp["license"]), 2))
    return out


def render_show_field(resp: Mapping[str, Any], field: str) -> str:
    """One raw field for ``show --license/--modelfile/--parameters/--system/--template``.

    Ollama prints the first three with a trailing newline and the last two as is.
    """
    value = str(resp.get(field) or "")
    return value + "\n" if field in ("license", "modelfile", "parameters") else value


# --- run ---------------------------------------------------------------------------


def render_metrics(final: Mapping[str, Any]) -> str:
    """``--verbose`` statistics after a generation (Ollama's ``Metrics.Summary``)."""
    total, load = _int(final.get("total_duration")), _int(final.get("load_duration"))
    p_count, p_dur = _int(final.get("prompt_eval_count")), _int(final.get("prompt_eval_duration"))
    e_count, e_dur = _int(final.get("eval_count")), _int(final.get("eval_duration"))
    out = ""
    if total > 0:
        out += f"total duration:       {go_duration(total)}\n"
    if load > 0:
        out += f"load duration:        {go_duration(load)}\n"
    if p_count > 0:
        out += f"prompt eval count:    {p_count} token(s)\n"
    if p_dur > 0:
        out += f"prompt eval duration: {go_duration(p_dur)}\n"
        out += f"prompt eval rate:     {p_count / (p_dur / 1e9):.2f} tokens/s\n"
    if e_count > 0:
        out += f"eval count:           {e_count} token(s)\n"
    if e_dur > 0:
        out += f"eval duration:        {go_duration(e_dur)}\n"
        out += f"eval rate:            {e_count / (e_dur / 1e9):.2f} tokens/s\n"
    return out


def spinner_frame(index: int) -> str:
    """Redraw the spinner's line with frame ``index`` (cursor hidden, as Ollama's progress does)."""
    return _HIDE_CURSOR + _CLEAR_LINE + SPINNER_FRAMES[index % len(SPINNER_FRAMES)] + "\x1b[K"


def spinner_clear() -> str:
    """Erase the spinner's line and show the cursor again (Ollama's ``StopAndClear``)."""
    return _CLEAR_LINE + _SHOW_CURSOR


def thinking_open(plain: bool) -> str:
    """The line that opens a model's reasoning (grey and bold on a terminal)."""
    return THINKING_OPEN if plain else GREY + BOLD + THINKING_OPEN + DEFAULT + GREY


def thinking_close(plain: bool) -> str:
    """The line that closes a model's reasoning, followed by a blank line."""
    return THINKING_CLOSE if plain else GREY + BOLD + THINKING_CLOSE + DEFAULT


def tool_calls_text(calls: Sequence[Mapping[str, Any]], plain: bool) -> str:
    """Tool calls the model made; the CLI registers no tools, so each is "non-existent"."""
    explain, values = ("", "") if plain else (GREY + BOLD, DEFAULT)
    lines = []
    for call in calls:
        function = call.get("function") or {}
        arguments = json.dumps(function.get("arguments") or {}, separators=(",", ":"), ensure_ascii=False)
        name = str(function.get("name", ""))
        lines.append(
            "  Model called a non-existent function "
            f"'{values}{name}{explain}()' with arguments: {values}{arguments}{explain}"
        )
    return explain + "\n".join(lines) + ("" if plain else DEFAULT)


@dataclass(frozen=True)
class WrapState:
    """Where a streamed answer stands on the current terminal line."""

    line_length: int = 0
    word: str = ""


def wrap_stream(state: WrapState, text: str, width: int) -> tuple[WrapState, str]:
    """Word-wrap streamed text at ``width - 5`` columns, as Ollama's ``displayResponse``.

    Returns the new state and what to print. When a word would cross the margin
    the cursor moves back over it (ANSI ``CSI n D``), clears to the end of line
    and reprints it on the next line; a word too long to move just breaks.
    """
    if width < 10:
        return WrapState(), text
    length, word, out = state.line_length, state.word, []
    for ch in text:
        ch_width = display_width(ch)
        if length + 1 > width - 5:
            if display_width(word) > width - 10:
                out.append("\n" + ch)
                length, word = ch_width, "" if ch in " \t" else ch
                continue
            if word:
                out.append(f"\x1b[{display_width(word)}D")
            out.append("\x1b[K\n" + word + ch)
            length = display_width(word) + ch_width
            word = "" if ch in " \t" else word + ch
            continue
        out.append(ch)
        length += ch_width
        if ch_width >= 2 or ch in " \t":
            word = ""
        elif ch in "\r\n":
            length, word = 0, ""
        else:
            word += ch
    return WrapState(length, word), "".join(out)


def progress_line(message: str, completed: int, total: int, width: int = 80, *, rate: float = 0.0) -> str:
    """A transfer line like Ollama's ``progress.Bar``:
    ``pulling 6a0746a1ec1a:  42% ▕███   ▏ 2.0 GB/4.7 GB   40 MB/s   1m5s``.

    ``rate`` is bytes per second (0: unknown yet); speed and time left show only
    while the transfer runs. Columns are fixed (sizes 13, speed 10, time 8) so
    the bar does not jump, and the line is ``width - 1`` wide so it never wraps.
    """
    percent = completed / total * 100 if total > 0 else 0.0
    head = f"{message.strip()} {percent:3.0f}%"
    running = completed < total
    if running:
        tail = f"{human_bytes(completed):>6}/{human_bytes(total):>6}"
    else:
        tail = f"{human_bytes(total):>6}       "
    if running and rate > 0:
        left = go_duration(int((total - completed) / rate) * 10**9)
        tail += f"  {human_bytes(int(rate)):>6}/s  {left:>6}"
    else:
        tail += " " * 18
    room = max(width - len(head) - len(tail) - 5, 0)
    filled = int(room * percent / 100)
    return f"{head} ▕{'█' * filled}{' ' * (room - filled)}▏ {tail}"

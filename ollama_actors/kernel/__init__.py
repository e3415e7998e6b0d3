"""The actor kernel: OTP's gen_server, supervisors, links and timers on top of pykka.

Generic and small: it imports no bounded context. See ``docs/design.md`` (BEAM
mirror) for the rules it enforces.
"""

from __future__ import annotations

from ollama_actors.kernel.errors import (
    ActorCrashedError,
    ChildNotFoundError,
    DuplicateChildError,
    ForbiddenExitError,
    RestartIntensityError,
    ShutdownTimeoutError,
    StartError,
    StartTimeoutError,
    UnknownMessageError,
)
from ollama_actors.kernel.intensity import (
    RestartWindow,
)
from ollama_actors.kernel.introspect import (
    TreeNode,
    snapshot_tree,
    tree_node,
)
from ollama_actors.kernel.link import (
    CallbackLink,
    Link,
    SupervisorLink,
)
from ollama_actors.kernel.messages import (
    Call,
    Cast,
    ChildExited,
    ChildInfo,
    ExitKind,
    ExitReason,
    Info,
    StartChild,
    TerminateChild,
    WhichChildren,
    call,
    cast,
    send_info,
)
from ollama_actors.kernel.names import (
    Names,
)
from ollama_actors.kernel.reply import (
    ActorReply,
    BlockingReply,
    Replied,
    ReplyTo,
)
from ollama_actors.kernel.root import (
    start_root,
    stop_root,
)
from ollama_actors.kernel.server import (
    GenServer,
    Holdable,
    handle_call,
    handle_cast,
    handle_info,
)
from ollama_actors.kernel.specs import (
    WORKER_SHUTDOWN_S,
    ChildKind,
    ChildSpec,
    Restart,
    Strategy,
    SupFlags,
    validate_children,
)
from ollama_actors.kernel.strategy import (
    RestartPlan,
    plan_restart,
    should_restart,
)
from ollama_actors.kernel.supervisor import (
    ReportEvent,
    Supervisor,
    SupervisorReport,
)
from ollama_actors.kernel.timers import (
    TimerRef,
    send_after,
)
from ollama_actors.kernel.trace import (
    TraceContext,
    TraceHook,
    capture_trace,
    handling,
    install_trace_hook,
)

__all__ = [
    "ActorCrashedError",
    "ActorReply",
    "BlockingReply",
    "Call",
    "CallbackLink",
    "Cast",
    "ChildExited",
    "ChildInfo",
    "ChildKind",
    "ChildNotFoundError",
    "ChildSpec",
    "DuplicateChildError",
    "ExitKind",
    "ExitReason",
    "ForbiddenExitError",
    "GenServer",
    "Holdable",
    "Info",
    "Link",
    "Names",
    "Replied",
    "ReplyTo",
    "ReportEvent",
    "Restart",
    "RestartIntensityError",
    "RestartPlan",
    "RestartWindow",
    "ShutdownTimeoutError",
    "StartChild",
    "StartError",
    "StartTimeoutError",
    "Strategy",
    "SupFlags",
    "Supervisor",
    "SupervisorLink",
    "SupervisorReport",
    "TerminateChild",
    "TimerRef",
    "TraceContext",
    "TraceHook",
    "TreeNode",
    "UnknownMessageError",
    "WORKER_SHUTDOWN_S",
    "WhichChildren",
    "call",
    "capture_trace",
    "cast",
    "handle_call",
    "handle_cast",
    "handle_info",
    "handling",
    "install_trace_hook",
    "plan_restart",
    "send_after",
    "send_info",
    "should_restart",
    "snapshot_tree",
    "start_root",
    "stop_root",
    "tree_node",
    "validate_children",
]

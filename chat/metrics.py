"""What the server measures about itself, for Prometheus: `GET /metrics`.

One process alone keeps its values in memory. Several server processes of one site
share a directory named by PROMETHEUS_MULTIPROC_DIR: each writes its values to files
of its own there, and any process's `/metrics` sums them all, so scrape one
address (nginx picks a process), not each process. prometheus_client picks its
storage when it is first imported, so the variable must be in the environment
when the process starts (deploy/systemd/chatsite@.service sets it).

The directory looks after itself: the first process of a site starting afresh
(no live process owns files there) empties it, and a dead process's share of
`chatsite_streams_running` is dropped at the next scrape. Counters of processes
that died stay in the sums, so totals never go backwards while the site runs.

The hooks are cheap on purpose: an answer's frame costs one counter increment and
one histogram observation, whatever the number of tokens in it (bench/README.md).
"""

import atexit
import contextlib
import fcntl
import os
import re
import time

from asgiref.sync import sync_to_async
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from chat.private import private_only

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")

# prometheus_client names its files <kind>_<pid>.db (gauges: gauge_<mode>_<pid>.db).
_OWNER = re.compile(r"_(\d+)\.db$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _owners(path: str) -> set[int]:
    """The processes that have written values in the directory."""
    return {
        int(match[1]) for name in os.listdir(path) if (match := _OWNER.search(name))
    }


def forget_dead_processes(path: str) -> None:
    """Drop the running-streams share of processes that are gone (killed, say)."""
    for pid in _owners(path):
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, path)


@contextlib.contextmanager
def _claimed(path: str):
    """Hold the directory while this process makes its files, so that two
    processes starting together do not empty it under each other."""
    if not path:
        yield
        return
    os.makedirs(path, mode=0o700, exist_ok=True)
    with open(os.path.join(path, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        others = {pid for pid in _owners(path) if pid != os.getpid() and _alive(pid)}
        if not others:  # the site starts afresh: totals start from zero
            for name in os.listdir(path):
                if name.endswith(".db"):
                    os.remove(os.path.join(path, name))
        forget_dead_processes(path)
        # A file left by an earlier process with this pid must not lend its
        # streams count to this one.
        multiprocess.mark_process_dead(os.getpid(), path)
        yield
    atexit.register(_exited, os.getpid(), path)


def _exited(pid: int, path: str) -> None:
    if os.getpid() == pid:  # not in a forked child
        multiprocess.mark_process_dead(pid, path)


with _claimed(MULTIPROC_DIR):
    STREAMS_RUNNING = Gauge(
        "chatsite_streams_running",
        "Answers streaming now.",
        multiprocess_mode="livesum",
    )
    REPLIES = Counter(
        "chatsite_replies",
        "Answers ended by their run, by final status.",
        ["status"],
    )
    TIME_TO_FIRST_TOKEN = Histogram(
        "chatsite_time_to_first_token_seconds",
        "From an answer's start to its first token from the model.",
        buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60),
    )
    FRAME_ADDED_LATENCY = Histogram(
        "chatsite_frame_added_latency_seconds",
        "From the oldest token of a frame reaching the run to the frame handed "
        "to the channel layer (the coalescing window included).",
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
    )
    TOKENS_RELAYED = Counter(
        "chatsite_tokens_relayed",
        "Deltas from the model (about a token each) sent on to the pages.",
    )
    RESYNCS = Counter(
        "chatsite_resyncs",
        "Snapshots pages asked for after a gap in offsets (channel-layer drops).",
        ["transport"],
    )
    REPLIES_REAPED = Counter(
        "chatsite_replies_reaped",
        "Answers marked interrupted because their process died.",
    )
    LIMIT_REFUSALS = Counter(
        "chatsite_limit_refusals",
        "Requests refused by a limit, by reason.",
        ["reason"],
    )

# Bound once: the per-frame hook makes no attribute lookups on the metrics.
_count_tokens = TOKENS_RELAYED.inc
_observe_frame = FRAME_ADDED_LATENCY.observe


def frame_sent(tokens: int, oldest_arrival: float) -> None:
    """Count a frame of `tokens` deltas whose oldest reached the run at
    `oldest_arrival` (time.monotonic), as it is handed to the layer."""
    _count_tokens(tokens)
    _observe_frame(time.monotonic() - oldest_arrival)


def reply_finished(status: str, ttft_ms: int | None) -> None:
    REPLIES.labels(status).inc()
    if ttft_ms is not None:
        TIME_TO_FIRST_TOKEN.observe(ttft_ms / 1000)


def resynced(transport: str, answers: int = 1) -> None:
    if answers:
        RESYNCS.labels(transport).inc(answers)


def reaped() -> None:
    REPLIES_REAPED.inc()


def refused(reason: str) -> None:
    LIMIT_REFUSALS.labels(reason).inc()


def exposition() -> bytes:
    """Every metric in Prometheus's text format: of all processes, or this one."""
    if not MULTIPROC_DIR:
        return generate_latest(REGISTRY)
    forget_dead_processes(MULTIPROC_DIR)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=MULTIPROC_DIR)
    return generate_latest(registry)


@never_cache
@private_only
async def metrics_view(request):
    """Serve the metrics to this host and private networks."""
    # Reading every process's files is file work: off the loop and the DB thread.
    body = await sync_to_async(exposition, thread_sensitive=False)()
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)

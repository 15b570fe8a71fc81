"""The built-in executors (local, process, ray), registered like any plugin.

Registering them imports none of the run machinery: each ``create`` imports its executor.
"""

from __future__ import annotations

import importlib.util

from mtrec import Executor, ExecutorSpec, hookimpl

RAY_EXTRA_HINT = "install the extra: pip install 'mtrec-harness[ray]'"


def ray_unavailable() -> str | None:
    """None when ray can be imported, else what to do (``mtrec plugins`` asks; imports no ray)."""
    if importlib.util.find_spec("ray") is None:
        return f"the ray executor needs ray; {RAY_EXTRA_HINT}"
    return None


def _local_executor() -> Executor:
    from mtrec import LocalExecutor

    return LocalExecutor()


def _process_executor() -> Executor:
    from mtrec import ProcessExecutor

    return ProcessExecutor()


def _ray_executor() -> Executor:
    from mtrec.plugins.ray_executor import RayExecutor

    return RayExecutor()


@hookimpl
def mtrec_register_executors() -> list[ExecutorSpec]:
    return [
        ExecutorSpec(
            name="local",
            create=_local_executor,
            description="in this process, one combination after the other (default)",
        ),
        ExecutorSpec(
            name="process",
            create=_process_executor,
            description="a child process per combination: crashes recorded, clean peak memory",
        ),
        ExecutorSpec(
            name="ray",
            create=_ray_executor,
            description="each combination a Ray task with the suite's resources (ray extra)",
            available=ray_unavailable,
        ),
    ]

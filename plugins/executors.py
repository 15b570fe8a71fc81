"""The built-in executors (local, process, ray), registered like any plugin."""

from __future__ import annotations

from mtrec import hookimpl
from mtrec.contracts import ExecutorSpec
from mtrec.run.executors import LocalExecutor, ProcessExecutor


def _ray_executor() -> object:
    from mtrec.plugins.ray_executor import RayExecutor

    return RayExecutor()


def _ray_missing() -> str | None:
    from mtrec.plugins.ray_executor import ray_unavailable

    return ray_unavailable()


@hookimpl
def mtrec_register_executors() -> list[ExecutorSpec]:
    return [
        ExecutorSpec(
            name="local",
            create=LocalExecutor,
            description="in this process, one combination after the other (default)",
        ),
        ExecutorSpec(
            name="process",
            create=ProcessExecutor,
            description="a child process per combination: crashes recorded, clean peak memory",
        ),
        ExecutorSpec(
            name="ray",
            create=_ray_executor,  # type: ignore[arg-type]
            description="each combination a Ray task with the suite's resources (ray extra)",
            available=_ray_missing,
        ),
    ]

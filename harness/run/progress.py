"""Rich progress bars over combinations and epochs (``mtrec run`` in a terminal)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from mtrec.config import learning_rates
from mtrec.contracts import Combination, variant_label
from mtrec.printable import printable


class RichReporter:
    """One bar for the sweep, one for the epochs of the running combination."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=True,
            # Bars only in a terminal: a live display on a pipe or file draws nothing but
            # leaves a line break behind (an empty line before a one-line error).
            disable=not console.is_terminal,
        )
        self._sweep: TaskID | None = None
        self._epochs: TaskID | None = None

    def __enter__(self) -> RichReporter:
        # The display starts with the sweep (sweep_started), after every input check: an
        # input error is printed on a clean line.
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def sweep_started(self, total: int) -> None:
        self.progress.start()
        self._sweep = self.progress.add_task("combinations", total=total, status="")

    def combination_started(self, combination: Combination) -> None:
        if self._epochs is not None:
            self.progress.remove_task(self._epochs)
        self._epochs = self.progress.add_task(
            f"  {escape(printable(combination.label, one_line=True))}",
            # a learning-rate list trains every rate in turn
            total=combination.training.epochs * len(learning_rates(combination.training.lr)),
            status="training",
        )

    def epoch_finished(self, epoch: int, train_loss: float, score: float) -> None:
        if self._epochs is not None:
            self.progress.update(
                self._epochs,
                completed=epoch,
                status=f"loss {train_loss:.3f}  val score {score:+.1f}",
            )

    def combination_finished(self, record: dict[str, Any]) -> None:
        if self._sweep is not None:
            self.progress.advance(self._sweep)
        if self._epochs is not None:
            self.progress.remove_task(self._epochs)
            self._epochs = None
        status = "[green]ok[/green]" if record["status"] == "ok" else "[red]failed[/red]"
        training = record.get("config", {}).get("training", {})
        backbone = variant_label(record["backbone"], training if isinstance(training, dict) else {})
        label = f"{backbone} x {record['head_set']} x {record['domain']}"
        self.progress.console.print(
            f"{status} {escape(printable(label, one_line=True))} "
            f"(seed {record['seed']}) in {record['duration_s']:.1f}s"
        )

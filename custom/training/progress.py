"""A progress bar for a bundle's training engine."""

from __future__ import annotations

from ignite.engine import Engine


class ProgressBarHandler:
    """Ignite's tqdm progress bar with the running loss, attachable from a bundle's handler list."""

    def __init__(self, output_transform=lambda output: {"loss": output["loss"]}, persist: bool = True):
        self.output_transform = output_transform
        self.persist = persist

    def attach(self, engine: Engine) -> None:
        from ignite.handlers import ProgressBar

        ProgressBar(persist=self.persist).attach(engine, output_transform=self.output_transform)

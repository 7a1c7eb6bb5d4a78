"""A progress bar per trained model (epoch, step, ETA, last validation score) instead of log dicts.

The Trainer's own per-epoch dictionaries stay available behind `storyml build --verbose`.
"""

from __future__ import annotations

from tqdm.auto import tqdm
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback


class TrainingProgress(TrainerCallback):
    """One tqdm bar over the optimizer steps of one model, showing the epoch and its best metric."""

    def __init__(self, name: str, metric: str):
        self.name, self.metric = name, metric
        self.bar: tqdm | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = tqdm(
                total=state.max_steps,
                initial=state.global_step,
                desc=self.name,
                unit="step",
                dynamic_ncols=True,
                mininterval=2.0,
            )

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.bar is not None and metrics:
            value = metrics.get(f"eval_{self.metric}")
            self.bar.set_postfix(
                epoch=f"{state.epoch:.0f}/{args.num_train_epochs:.0f}",
                **({self.metric: f"{value:.3f}"} if value is not None else {}),
            )

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def quiet_log_printing(trainer) -> None:
    """Drop the Trainer's printing of raw log dictionaries (a progress bar says it instead)."""
    trainer.remove_callback(PrinterCallback)

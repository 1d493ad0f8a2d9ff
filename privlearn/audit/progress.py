"""Progress display: one bar over the audit's stages, epoch bars under it."""

from __future__ import annotations

from skorch.callbacks import Callback

__all__ = ["Progress", "EpochBar"]


class Progress:
    """One progress bar over the audit's stages, with ETA, plus epoch bars."""

    def __init__(self, stages, enabled):
        from tqdm.auto import tqdm

        self.enabled = enabled
        self.bar = tqdm(total=len(stages), desc="audit", unit="stage",
                        disable=not enabled, dynamic_ncols=True)

    def stage(self, text):
        self.bar.set_description_str(f"audit: {text}")

    def done(self, text=None):
        self.bar.update(1)
        if text:
            self.bar.set_postfix_str(text)

    def write(self, text):
        if self.enabled:
            self.bar.write(text)

    def close(self):
        self.bar.close()


class EpochBar(Callback):
    """A skorch callback that shows per-epoch progress under the stage bar."""

    def __init__(self, label, epochs, enabled=True):
        self.label, self.epochs, self.enabled = label, epochs, enabled

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(total=self.epochs, desc=f"  {self.label}", unit="epoch",
                         leave=False, position=1, disable=not self.enabled,
                         dynamic_ncols=True)

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1].get("train_loss")
        if loss is not None:
            self.bar_.set_postfix_str(f"loss {loss:.3f}")
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()

    def __getstate__(self):  # the bar is not picklable; checkpoints drop it
        state = dict(self.__dict__)
        state.pop("bar_", None)
        return state



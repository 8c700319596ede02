"""The base of a trainer's ingredients: batch mixers and feature regularisers."""

import torch


class Ingredient:
    """One part of a training method that `keras_lt.trainers.ERMTrainer` composes with others.

    An ingredient is a batch mixer (`mix`: what the network sees and the two labels it is scored
    against) or a regulariser (`loss`: a term added to the classification loss). The trainer calls,
    in order: `prepare(network)` (an ingredient may change the network, e.g. add a layer), then
    `build(trainer)`, which creates the ingredient's state (non-trainable variables, covariance
    estimators, metrics) on the trainer, where its backups carry it; `epoch_callbacks(trainer)` are
    the switches and ramps that drive the ingredient from the epoch number (so a resumed run gets
    them back); `write_summary(output_dir, class_names)` leaves what the ingredient learned beside
    the checkpoint. Every hook has a no-op default. An ingredient belongs to the one trainer it was
    built with (it keeps references to that trainer's state).

    Randomness comes from `trainer.step_generators(stream)` with the ingredient's own stream
    number (`keras_lt.random_keys`), so ingredients never share draws and a resumed run draws what an uninterrupted one does.

    Attributes:
        name: the ingredient's name in a recipe (`{"name": ..., **get_config()}`).
        needs_training_set: why the trainer must be fitted on `keras_lt.data` batches (the
            ingredient draws training images), or None.
        needs_features: whether `loss` needs the network's feature maps (a latent-category view).

    Example:
    >>> class Nothing(Ingredient):
    ...     name = "nothing"
    >>> ERMTrainer(network, regularizers=[Nothing()])
    """

    name = None
    needs_training_set = None
    needs_features = False

    def prepare(self, network):
        """The network to train (default: `network` itself)."""
        return network

    def build(self, trainer):
        """Creates the ingredient's state on `trainer` (default: none)."""

    def epoch_callbacks(self, trainer):
        """Callbacks that drive the ingredient from the epoch number (default: none)."""
        return []

    def write_summary(self, output_dir, class_names):
        """Writes what the ingredient learned into `output_dir` (default: nothing)."""

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def spec(self):
        """`{"name": ..., **config}`: the ingredient as a recipe names it."""
        return {"name": self.name, **self.get_config()}


def check_alpha(alpha):
    """`alpha` as a float; a `ValueError` unless it is a valid Beta parameter (> 0)."""
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}.")
    return float(alpha)


def beta_lam(rng, alpha, size, per_sample, device):
    """`(size,)` float32 `lam ~ Beta(alpha, alpha)` on `device`: one per sample, or one for all (NumPy `rng`)."""
    lam = rng.beta(alpha, alpha, size if per_sample else 1)
    return torch.as_tensor(lam, dtype=torch.float32, device=device).expand(size)


"""The LatentReconstruction regulariser: the network it trains, its term and logs, its settings."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from keras_lt.errors import KerasLTError
from keras_lt.layers import LatentCategoryReconstruction
from keras_lt.models import cifar_resnet
from keras_lt.models.latent import training_view
from keras_lt.trainers import ERMTrainer
from keras_lt.trainers import LatentReconstruction


def trainer_with(reconstruction, seed=0):
    keras.utils.set_random_seed(seed)
    trainer = ERMTrainer(cifar_resnet(8, 3, input_shape=(8, 8, 3)), regularizers=[reconstruction])
    trainer.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return trainer


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


@pytest.mark.parametrize("fusion", ["residual", "replace"])
def test_the_term_is_the_weighted_reconstruction_loss_of_eq_4(fusion):
    trainer = trainer_with(LatentReconstruction(5, fusion=fusion, weight=0.3))
    layer = trainer.latent
    assert isinstance(layer, LatentCategoryReconstruction) and layer.num_latents == 5
    rng = np.random.default_rng(0)
    x, y = torch.tensor(rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)), torch.tensor([0, 1, 2, 0, 1, 2])
    loss, logits = trainer.training_loss(x, y)
    out, f, f_hat, _ = (t.detach().numpy().astype(np.float64) for t in training_view(trainer.network)(x, training=True))
    np.testing.assert_allclose(logits.detach().numpy(), out, rtol=1e-4, atol=1e-5)
    ce = -np.mean(log_softmax(out)[np.arange(6), y.numpy()])
    # eq. 4 in NumPy: C = f^T f over the HW positions (per image), CE of each row against its own position
    a, b = f_hat.reshape(6, f.shape[1], -1), f.reshape(6, f.shape[1], -1)
    correlation = np.einsum("ncp,ncq->npq", a, b)
    recon = -np.mean(np.diagonal(log_softmax(correlation), axis1=1, axis2=2))
    np.testing.assert_allclose(float(loss.detach()), ce + 0.3 * recon, rtol=1e-4)
    np.testing.assert_allclose(float(trainer.cls_tracker.result()), ce, rtol=1e-4)
    np.testing.assert_allclose(float(trainer.recon_tracker.result()), recon, rtol=1e-4)


def test_network_checks_and_settings():
    with pytest.raises(KerasLTError, match="latent_categories"):
        trainer_with(LatentReconstruction())
    trainer = trainer_with(LatentReconstruction(4))
    again = ERMTrainer(trainer.network, regularizers=[LatentReconstruction()])  # already has the layer: kept
    assert again.network is trainer.network
    with pytest.raises(KerasLTError, match="has 4 latent categories, latent_categories asks 5"):
        ERMTrainer(trainer.network, regularizers=[LatentReconstruction(5)])
    with pytest.raises(KerasLTError, match="reduction must be one of mean, sum"):
        LatentReconstruction(4, reduction="max")
    settings = {"latent_categories": 4, "fusion": "replace", "weight": 0.2, "reduction": "sum"}
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(LatentReconstruction(**settings)))
    assert again.get_config() == settings and again.spec() == {"name": "latent_reconstruction", **settings}

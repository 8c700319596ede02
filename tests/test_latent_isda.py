"""The LatentISDA regulariser: its covariance state, its term, its ramp, and what it needs."""

import keras_lt  # noqa: F401  (selects the torch backend before keras is imported)
import keras
import numpy as np
import pytest
import torch

from keras_lt.callbacks import ISDARamp
from keras_lt.errors import KerasLTError
from keras_lt.models import cifar_resnet
from keras_lt.models.latent import training_view
from keras_lt.trainers import ERMTrainer
from keras_lt.trainers import LatentISDA
from keras_lt.trainers import LatentReconstruction


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def latent_isda_reference(layer, covariance, lam):
    """ISDA's surrogate loss of the latent classifier on the latents, written out: `z_mj + lam/2 (w_j - w_m)^T S_m (w_j - w_m)`."""
    z = keras.ops.convert_to_numpy(layer.latent_logits()).astype(np.float64)
    w = layer.latent_kernel.numpy().T.astype(np.float64)
    for m in range(len(z)):
        for j in range(len(z)):
            z[m, j] += lam / 2 * (w[j] - w[m]) @ covariance[m] @ (w[j] - w[m])
    return -np.mean(np.diag(log_softmax(z)))


def test_the_term_is_isda_on_the_latents_with_the_covariance_of_their_features():
    keras.utils.set_random_seed(0)
    isda = LatentISDA(lam0=0.5, weight=0.2)
    trainer = ERMTrainer(
        cifar_resnet(8, 3, input_shape=(8, 8, 3)), regularizers=[LatentReconstruction(4, weight=0.0), isda]
    )
    trainer.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert trainer.estimator is isda.estimator and any(v is isda.estimator.covariance for v in trainer.non_trainable_weights)
    assert [type(c) for c in trainer.epoch_callbacks()][1:] == [ISDARamp]
    x = torch.tensor(np.random.default_rng(1).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    isda.isda_lambda = 0.4
    loss, logits = trainer.training_loss(x, y)

    out, f, _, weights = (t.detach().numpy().astype(np.float64) for t in training_view(trainer.network)(x, training=True))
    features = np.transpose(f, (0, 2, 3, 1)).reshape(-1, f.shape[1])
    assignment = np.transpose(weights, (0, 2, 3, 1)).reshape(-1, 4).argmax(1)
    covariance = np.zeros((4, f.shape[1], f.shape[1]))
    for m in np.unique(assignment):
        covariance[m] = np.cov(features[assignment == m], rowvar=False, bias=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(isda.estimator.covariance), covariance, rtol=1e-3, atol=1e-4)
    aug = latent_isda_reference(trainer.latent, covariance, 0.4)
    ce = -np.mean(log_softmax(out)[np.arange(6), y.numpy()])
    np.testing.assert_allclose(float(loss.detach()), ce + 0.2 * aug, rtol=1e-4)
    np.testing.assert_allclose(float(trainer.aug_tracker.result()), aug, rtol=1e-4)


def test_it_needs_latent_categories_and_round_trips_its_settings():
    with pytest.raises(KerasLTError, match="latent ISDA needs latent categories"):
        ERMTrainer(cifar_resnet(8, 3, input_shape=(8, 8, 3)), regularizers=[LatentISDA()])
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(LatentISDA(lam0=0.3, weight=0.05)))
    assert again.get_config() == {"lam0": 0.3, "weight": 0.05}

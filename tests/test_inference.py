"""`inference_batch_size` and `predict_logits`: small batches for low memory, the values of `predict`."""

import keras
import numpy as np

from imagenet_lt_tree import write_tree
from keras_lt.data import load_image_files
from keras_lt.data.eval_transform import EvalTransform
from keras_lt.inference import inference_batch_size
from keras_lt.inference import predict_logits
from keras_lt.models import cifar_resnet


def test_the_batch_follows_the_pixels_of_an_image():
    sizes = ((32, 32), (8, 8), (64, 64), (32, 64), (224, 224), (1024, 1024))
    assert [inference_batch_size(s) for s in sizes] == [392, 6272, 98, 196, 8, 1]


def test_predict_logits_are_those_of_keras_predict_in_any_batches():
    keras.utils.set_random_seed(0)
    network = cifar_resnet(8, 3, input_shape=(8, 8, 3))
    images = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    expected = network.predict(images, verbose=0)
    for batch_size in (None, 3):
        logits = predict_logits(network, images, batch_size)
        assert isinstance(logits, np.ndarray) and logits.shape == (10, 3)
        np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)
    assert predict_logits(network, images[:0]).shape == (0, 3)


def test_predict_logits_streams_image_files_through_the_evaluation_transform(tmp_path):
    keras.utils.set_random_seed(0)
    network = cifar_resnet(8, 3, input_shape=(16, 16, 3))
    write_tree(tmp_path)
    files, _, _ = load_image_files("imagenet_lt", "test", str(tmp_path), image_size=16, workers=1)
    expected = network.predict(np.stack([EvalTransform(16)(path) for path in files.paths]), verbose=0)
    for batch_size in (None, 4):
        np.testing.assert_allclose(predict_logits(network, files, batch_size), expected, rtol=1e-5, atol=1e-6)

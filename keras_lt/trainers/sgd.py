"""SGD with momentum and coupled weight decay, exactly as `torch.optim.SGD(weight_decay=wd)`."""

import keras
import torch


@keras.saving.register_keras_serializable(package="keras_lt")
class SGD(keras.optimizers.Optimizer):
    """SGD as the reference PyTorch code runs it.

    For every variable (BatchNorm included): `g = grad + weight_decay * w`,
    `buf = momentum * buf + g`, `w = w - lr * buf`. Keras' own SGD differs twice: its weight decay is
    decoupled, and its momentum buffer holds `lr * g`, which changes the step when the learning rate
    changes.

    Args:
        learning_rate: a float or a `keras.optimizers.schedules.LearningRateSchedule`.
        momentum: momentum factor.
        weight_decay: L2 coefficient added to the gradient before momentum.
        nesterov: Nesterov momentum, as torch's `nesterov=True`.
        name: optimizer name.
        **kwargs: forwarded to `keras.optimizers.Optimizer`.

    Example:
    >>> optimizer = SGD(0.1, momentum=0.9, weight_decay=2e-4)
    """

    def __init__(
        self, learning_rate=0.1, momentum=0.9, weight_decay=0.0, nesterov=False, name="sgd", **kwargs
    ):
        kwargs.pop("use_ema", None)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.momentum = momentum
        self.coupled_weight_decay = weight_decay
        self.nesterov = nesterov

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        lr = keras.ops.cast(learning_rate, variable.dtype)
        g = keras.ops.cast(gradient, variable.dtype)
        if self.coupled_weight_decay:
            g = g + self.coupled_weight_decay * variable
        buf = self.momentums[self._get_variable_index(variable)]
        self.assign(buf, self.momentum * buf + g)
        step = g + self.momentum * buf if self.nesterov else buf
        self.assign_sub(variable, lr * step)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        """Updates every variable at once with torch's multi-tensor (`_foreach`) kernels.

        The same arithmetic as `update_step`, as torch's own SGD runs it on a GPU: a handful of
        kernel launches per step instead of several per variable. The learning rate stays a tensor,
        so the step never waits for the device.
        """
        params = [v.value for v in trainable_variables]
        bufs = [self.momentums[self._get_variable_index(v)].value for v in trainable_variables]
        lr = keras.ops.convert_to_tensor(learning_rate, dtype=params[0].dtype).to(params[0].device)
        with torch.no_grad():
            grads = [g.to(p.dtype) for g, p in zip(grads, params)]
            if self.coupled_weight_decay:
                grads = torch._foreach_add(grads, params, alpha=self.coupled_weight_decay)
            torch._foreach_mul_(bufs, self.momentum)
            torch._foreach_add_(bufs, grads)
            step = torch._foreach_add(grads, bufs, alpha=self.momentum) if self.nesterov else bufs
            torch._foreach_sub_(params, torch._foreach_mul(step, lr))

    def get_config(self):
        config = super().get_config()
        config.update(
            momentum=self.momentum, weight_decay=self.coupled_weight_decay, nesterov=self.nesterov
        )
        return config

"""AdamW for F folds stacked in one model: a fold moves only in the steps it takes.

In the fold-batched engine a step may hold no cell of a fold (its epoch has fewer mini-batches
than the largest fold's), and an early-stopped fold takes no more steps. Under plain SGD such a
fold has zero gradient and stays put; under Adam its momentum would still move it, and its bias
correction would count steps it never took. ``FoldAdamW`` therefore updates fold f's slice of
every variable (its moments too) only where fold f took the step, and counts each fold's own
steps for the bias correction. Fold f's trajectory is then that of Keras' ``AdamW`` (same
hyperparameters) on fold f alone, with weight decay on the variables Keras' would decay after
``exclude_from_weight_decay(var_names=NOT_DECAYED)``.

Which folds took a step reaches the optimizer as a gradient: the stage adds
``Σ_f gate_f · took_f`` to its loss, ``gate`` a trainable (F,) variable held at 0, so the loss is
unchanged and ``∂loss/∂gate_f = took_f`` (1 or 0). That works inside every backend's compiled,
and JAX's stateless, train step; ``gate`` itself is never updated.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

NOT_DECAYED = ("bias", "gamma", "beta")
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7


def decays(variable: Any) -> bool:
    """Whether AdamW decays ``variable``: not biases or layer-norm parameters (by name, as
    Keras' ``exclude_from_weight_decay(var_names=NOT_DECAYED)``)."""
    return not any(name in variable.name for name in NOT_DECAYED)


def keras_adamw(learning_rate: float, weight_decay: float) -> keras.optimizers.AdamW:
    """Keras' own AdamW with the decay exclusions of ``FoldAdamW``: the sequential reference's."""
    optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, beta_1=BETA_1,
                                       beta_2=BETA_2, epsilon=EPSILON)
    optimizer.exclude_from_weight_decay(var_names=list(NOT_DECAYED))
    return optimizer


class FoldAdamW(keras.optimizers.Optimizer):
    """AdamW over variables with a leading fold axis (F, ...), each fold stepping on its own.

    Args:
        learning_rate: Step size.
        weight_decay: Decoupled weight decay (0: Adam); applied as Keras' AdamW does, before the
            Adam step, ``w ← w − w · weight_decay · learning_rate``, to variables that ``decays``.
        gate: The stage's (F,) trainable gate variable (module docstring); its gradient says
            which folds take the step.
    """

    def __init__(self, learning_rate: float, weight_decay: float, gate: keras.Variable,
                 name: str = "fold_adamw", **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.fold_weight_decay = float(weight_decay)
        # The gate's key and size, not the gate: an attribute variable would become one of the
        # optimizer's own.
        self._gate_key, self._n_folds = self._var_key(gate), int(gate.shape[0])
        # While a step is applied: (F,) which folds take it, and each fold's Adam step size
        # (bias-corrected with its own step count).
        self._took: Any = None
        self._alpha: Any = None

    def build(self, variables: list[keras.Variable]) -> None:
        if self.built:
            return
        super().build(variables)
        self._momentums, self._velocities = self.add_optimizer_variables(
            variables, ["momentum", "velocity"])
        self.fold_steps = self.add_variable(shape=(self._n_folds,), initializer="zeros",
                                            dtype="float32", name="fold_steps")

    def apply(self, grads: list[Any], trainable_variables: list[Any] | None = None) -> None:
        """Applies one step: takes the gate's gradient out, updates the other variables."""
        variables = (list(trainable_variables) if trainable_variables is not None
                     else self._trainable_variables)
        if not self.built:
            self.build(variables)
        at = [i for i, v in enumerate(variables) if self._var_key(v) == self._gate_key]
        if len(at) != 1:
            raise ValueError("FoldAdamW: the stage's gate variable is not among the trained "
                             "variables (is it trainable and in the loss?)")
        took = ops.cast(grads[at[0]], "float32")
        step = self.fold_steps + took
        safe = ops.maximum(step, 1.0)  # a fold that never stepped: no 0/0 (it does not move)
        lr = ops.cast(self.learning_rate, "float32")
        self._took = took
        self._alpha = lr * ops.sqrt(1 - ops.power(BETA_2, safe)) / (1 - ops.power(BETA_1, safe))
        rest = [i for i in range(len(variables)) if i != at[0]]
        super().apply([grads[i] for i in rest], [variables[i] for i in rest])
        self.fold_steps.assign(step)

    def update_step(self, gradient: Any, variable: keras.Variable, learning_rate: Any) -> None:
        dtype = variable.dtype
        along = (-1,) + (1,) * (len(variable.shape) - 1)  # broadcast (F,) over a variable
        took = ops.reshape(self._took, along) > 0
        alpha = ops.cast(ops.reshape(self._alpha, along), dtype)
        gradient = ops.cast(gradient, dtype)
        m_variable = self._momentums[self._get_variable_index(variable)]
        v_variable = self._velocities[self._get_variable_index(variable)]
        m, v, old = (ops.convert_to_tensor(x) for x in (m_variable, v_variable, variable))
        m_new = m + ops.multiply(ops.subtract(gradient, m), 1 - BETA_1)
        v_new = v + ops.multiply(ops.subtract(ops.square(gradient), v), 1 - BETA_2)
        value = old
        if self.fold_weight_decay and decays(variable):
            lr = ops.cast(learning_rate, dtype)
            value = value - value * ops.cast(self.fold_weight_decay, dtype) * lr
        value = value - ops.divide(ops.multiply(m_new, alpha), ops.add(ops.sqrt(v_new), EPSILON))
        self.assign(m_variable, ops.where(took, m_new, m))
        self.assign(v_variable, ops.where(took, v_new, v))
        self.assign(variable, ops.where(took, value, old))

"""The two players' optimizers, over a batch of independent rows, each row with its own learning rate and betas.

Rows are separate training runs stacked along the first axis. Every update is elementwise, so a row's trajectory
does not depend on the other rows; only the step sizes are per row.

* :class:`BatchedAdam` is torch.optim.Adam with AMSGrad (state kept across steps) with per-row learning rates and
  betas: the generator's optimizer with ``optimizer.state: persistent``.
* :class:`RestartedAdam` is qiskit's ``ADAM`` called with ``maxiter=1``, as qiskit's ``QuantumGenerator.train``
  calls it every step: the generator's optimizer with ``optimizer.state: per_step`` (the default).
* :func:`discriminator_adam` is torch's own fused Adam with AMSGrad, as qiskit's ``PyTorchDiscriminator`` builds it
  (``torch.optim.Adam(..., amsgrad=True)``), for the discriminator, whose rows share their learning rate and betas
  (the trainer batches them so): one kernel over the flat weights per step.

Each keeps its state as per-row arrays (:func:`optimizer_state`, :func:`load_optimizer_state`) for checkpoints.
"""

from __future__ import annotations

import numpy as np
import torch

#: qiskit's QuantumGenerator builds its default ADAM with noise_factor=1e-6 (ADAM's own default is 1e-8).
QISKIT_NOISE_FACTOR = 1e-6
STATES = ("per_step", "persistent")


def _check_rows(params: list[torch.Tensor], lr: torch.Tensor, betas: torch.Tensor) -> None:
    rows = params[0].shape[0]
    if lr.shape != (rows,) or betas.shape != (rows, 2):
        raise ValueError(f"lr must have shape ({rows},) and betas ({rows}, 2); got {lr.shape}, {betas.shape}")


def _per_row(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A (rows,) tensor shaped to broadcast over a (rows, ...) parameter."""
    return values.view((-1,) + (1,) * (like.dim() - 1))


class BatchedAdam:
    """Adam (Kingma and Ba 2015, arXiv:1412.6980) with per-row hyperparameters; mirrors torch.optim.Adam.

    ``amsgrad`` (Reddi, Kale, Kumar 2018) divides by the running maximum of v instead of v, as qiskit's QGAN
    optimizers do for both players; it is our default for that reason.

    .. math:: m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t,\\; v_t = \\beta_2 v_{t-1} + (1-\\beta_2) g_t^2,\\;
              p_t = p_{t-1} - \\frac{\\eta}{1-\\beta_1^t} \\frac{m_t}{\\sqrt{v_t}/\\sqrt{1-\\beta_2^t} + \\epsilon}
    """

    def __init__(self, params: list[torch.Tensor], *, lr: torch.Tensor, betas: torch.Tensor, eps: float = 1e-8,
                 amsgrad: bool = True):
        _check_rows(params, lr, betas)
        self.params = params
        self._lr, self._b1, self._b2, self._eps = lr, betas[:, 0], betas[:, 1], eps
        self._m = [torch.zeros_like(p) for p in params]
        self._v = [torch.zeros_like(p) for p in params]
        self._v_max = [torch.zeros_like(p) for p in params] if amsgrad else None
        self.steps = 0

    def state(self) -> tuple[dict[str, np.ndarray], int]:
        """Per-row moments (rows first) and the step count."""
        moments = {"m": self._m, "v": self._v, **({"v_max": self._v_max} if self._v_max is not None else {})}
        return {f"{name}.{i}": t.cpu().numpy().copy() for name, ts in moments.items() for i, t in enumerate(ts)}, \
            self.steps

    def moments(self) -> list[torch.Tensor]:
        """m, v and AMSGrad's max of v of the one parameter (what the compiled step updates in place)."""
        if len(self.params) != 1 or self._v_max is None:
            raise ValueError("moments are for one parameter with AMSGrad")
        return [self._m[0], self._v[0], self._v_max[0]]

    def load(self, arrays: dict[str, np.ndarray], step: int) -> None:
        for name, ts in (("m", self._m), ("v", self._v), ("v_max", self._v_max or [])):
            for i, t in enumerate(ts):
                t.copy_(torch.as_tensor(arrays[f"{name}.{i}"]))
        self.steps = step

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        correction1 = 1 - self._b1**self.steps
        root_correction2 = (1 - self._b2**self.steps).sqrt()
        for i, (p, m, v) in enumerate(zip(self.params, self._m, self._v)):
            b1, b2 = _per_row(self._b1, p), _per_row(self._b2, p)
            m.mul_(b1).add_((1 - b1) * p.grad)
            v.mul_(b2).add_((1 - b2) * p.grad.square())
            if self._v_max is not None:
                v = torch.maximum(self._v_max[i], v, out=self._v_max[i])
            denom = (v.sqrt() / _per_row(root_correction2, p)).add_(self._eps)
            p.sub_(_per_row(self._lr / correction1, p) * m / denom)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


class RestartedAdam:
    """qiskit's ADAM with ``maxiter=1``: every step starts from t = 0 and m = v = v_eff = 0.

    qiskit-aqua 0.9 (``qiskit/aqua/components/optimizers/adam_amsgrad.py``, ``ADAM.minimize``) resets t, m, v and
    v_eff at the start of every ``minimize`` call, and ``QuantumGenerator.train`` calls it once per training step
    with ``maxiter=1`` (qiskit-machine-learning 0.2 sets ``_t = 0`` before each call to the same effect). One call
    with gradient g is therefore, elementwise, with the noise factor :math:`\\nu`:

    .. math:: m = (1-\\beta_1) g,\\; v = (1-\\beta_2) g^2,\\;
              \\eta_{eff} = \\eta \\frac{\\sqrt{1-\\beta_2}}{1-\\beta_1},\\;
              p \\leftarrow p - \\eta_{eff} \\frac{m}{\\sqrt{v} + \\nu}
              = p - \\eta \\frac{g}{|g| + \\nu / \\sqrt{1-\\beta_2}}

    a sign step of size close to the learning rate for every parameter whose gradient is not tiny. AMSGrad's
    v_eff = max(0, v) = v changes nothing within one iteration. The operations follow qiskit's order.
    """

    def __init__(self, params: list[torch.Tensor], *, lr: torch.Tensor, betas: torch.Tensor,
                 noise_factor: torch.Tensor):
        _check_rows(params, lr, betas)
        self.params = params
        self._lr, self._b1, self._b2, self._noise = lr, betas[:, 0], betas[:, 1], noise_factor
        self.steps = 0  # counted only: every step starts afresh

    def state(self) -> tuple[dict[str, np.ndarray], int]:
        """Nothing is kept between steps."""
        return {}, 0

    def load(self, arrays: dict[str, np.ndarray], step: int) -> None:
        pass

    def moments(self) -> list[torch.Tensor]:
        return []

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        lr_eff = self._lr * (1 - self._b2).sqrt() / (1 - self._b1)
        for p in self.params:
            b1, b2 = _per_row(self._b1, p), _per_row(self._b2, p)
            m = (1 - b1) * p.grad
            v = (1 - b2) * p.grad * p.grad
            p.sub_(_per_row(lr_eff, p) * m / (v.sqrt() + _per_row(self._noise, p)))

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


def generator_optimizer(state: str, params: list[torch.Tensor], *, lr: torch.Tensor, betas: torch.Tensor,
                        noise_factor: torch.Tensor) -> BatchedAdam | RestartedAdam:
    """The generator's optimizer for ``optimizer.state``: qiskit's per-step restart, or Adam with kept state."""
    if state == "per_step":
        return RestartedAdam(params, lr=lr, betas=betas, noise_factor=noise_factor)
    if state == "persistent":
        return BatchedAdam(params, lr=lr, betas=betas)
    raise ValueError(f"optimizer.state: got {state!r}; allowed: {', '.join(STATES)}")


def discriminator_adam(params: list[torch.Tensor], grads: list[torch.Tensor], *, lr: float,
                       betas: tuple[float, float]) -> torch.optim.Adam:
    """torch's Adam with AMSGrad (qiskit's ``PyTorchDiscriminator`` optimizer), fused, over `params` whose
    gradients the caller writes into `grads` (bound once as ``.grad``)."""
    for p, g in zip(params, grads):
        p.grad = g
    return torch.optim.Adam(params, lr=lr, betas=betas, amsgrad=True, fused=True)


def adam_buffers(opt: torch.optim.Adam) -> list[torch.Tensor]:
    """The moments of a one-parameter torch Adam with AMSGrad (exp_avg, exp_avg_sq, max_exp_avg_sq), made as torch
    makes them before its first step, so that another implementation of the same update can write them."""
    (p,) = opt.param_groups[0]["params"]
    if not opt.state.get(p):
        opt.state[p] = {"step": torch.zeros((), dtype=torch.float32, device=p.device),
                        **{name: torch.zeros_like(p, memory_format=torch.preserve_format) for name in
                           ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")}}
    state = opt.state[p]
    return [state[name] for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")]


def adam_state(opt: torch.optim.Adam) -> tuple[dict[str, np.ndarray], int]:
    """A torch Adam's moments per parameter (rows first) and its step count (0 before the first step)."""
    arrays, step = {}, 0
    for i, p in enumerate(opt.param_groups[0]["params"]):
        state = opt.state.get(p)
        if not state:
            return {}, 0
        step = int(state["step"])
        for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            arrays[f"{name}.{i}"] = state[name].cpu().numpy().copy()
    return arrays, step


def load_adam_state(opt: torch.optim.Adam, arrays: dict[str, np.ndarray], step: int) -> None:
    """Put moments saved by :func:`adam_state` back (a fresh optimizer when `step` is 0)."""
    if step == 0:
        return
    for i, p in enumerate(opt.param_groups[0]["params"]):
        opt.state[p] = {"step": torch.tensor(float(step), device=p.device),
                        **{name: torch.as_tensor(arrays[f"{name}.{i}"]).to(p) for name in
                           ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")}}

"""Joint policy of AgentMixer: individual policies reshaped by the Policy Modifier output h.

Shapes use B = batch, N = agents, A = discrete actions, D = continuous action dims.
The joint policy keeps the individual modes (Individual-Global-Consistency, IGC):
the PM only changes how the team explores around them.
"""

import math

import torch
import torch.nn.functional as F

from onpolicy.algorithms.utils.distributions import UNAVAILABLE_LOGIT
STRICT_MARGIN = 1e-2  # how far (in logits) the strict variant keeps non-mode actions below the mode


def masked_log_probs(logits: torch.Tensor, avail: torch.Tensor | None) -> torch.Tensor:
    """Normalised log-probabilities of the individual categorical policies.

    logits (B, N, A), avail (B, N, A) with 1/True = available, or None -> log_probs (B, N, A).
    """
    if avail is not None:
        logits = logits.masked_fill(~avail.bool(), UNAVAILABLE_LOGIT)
    return F.log_softmax(logits, dim=-1)


def pm_policy_input(log_probs: torch.Tensor, avail: torch.Tensor | None, floor: float = -20.0) -> torch.Tensor:
    """The PM's discrete policy input: finite, detached log-probabilities.

    log_probs (B, N, A) -> (B, N, A) with values >= floor. Unavailable actions read
    exactly `floor`: feeding -1e10 into a Linear layer would swamp every other feature.
    """
    policy_input = log_probs.detach().clamp(min=floor)
    if avail is not None:
        policy_input = policy_input.masked_fill(~avail.bool(), floor)
    return policy_input


def discrete_joint_logits(
    log_probs: torch.Tensor,
    h: torch.Tensor,
    avail: torch.Tensor | None,
    sigmoid_gain: float,
    y: float,
    temperature: float,
    strict: bool = False,
    mode_preserving: bool = False,
    gumbel: torch.Tensor | None = None,
) -> torch.Tensor:
    """Joint-policy logits in the Gumbel form: (log_probs + eps) / T.

    log_probs (B, N, A) from the actors, h (B, N, A) from the PM -> joint logits (B, N, A).
    u = sigmoid(g * h) * y with y in (0, 1) and eps = -log(-log u). Gradient flows to
    both log_probs (the actors) and h (the PM). Unavailable actions get -1e10.

    strict=False (the paper's form) may move the argmax away from the individual mode;
    measure it with `igc_violation_rate`.

    strict=True keeps the argmax on the individual mode m = argmax_a log_probs over
    available actions, for any h. With z = (log_probs + eps) / T the mode keeps z_m and
    every other action gets a smooth minimum of z_a and the cap c = z_m - STRICT_MARGIN:
        z'_a = c - softplus(c - z_a).
    Proof idea: softplus >= 0, so z'_a <= c < z_m for every a != m, whatever h is, and
    unavailable actions are forced to -1e10; hence argmax z' = m. Subtracting a
    non-negative number never rounds upwards, so this holds in floating point too as
    long as STRICT_MARGIN exceeds half an ulp of z_m (|z_m| < ~8e4 in float32).
    Where z_a << c, softplus(c - z_a) ~ c - z_a and z'_a ~ z_a: the cap only bites on
    actions the PM would lift above the mode, and stays differentiable in z_a and z_m.

    mode_preserving=True (`--igc_mode_preserving`) replaces eps by a bounded one that scales the
    individual margins instead of adding to them: with m the individual mode, δ_a = log π_m - log π_a
    >= 0 and κ_a = exp(asinh(g * h_a)) > 0,
        eps_a = (1 - κ_a) δ_a,   so   log π_a + eps_a = log π_m - κ_a δ_a,
    i.e. eps_a - eps_m < δ_a: the PM multiplies each action's margin below the mode by κ_a
    (sharpening where κ > 1, flattening where κ < 1, per action: reshaping) and can never close it.
    The logits are computed relative to the mode, z_a = -κ_a δ_a / T and z_m = 0, so the mode stays
    the argmax in floating point too (a positive product never rounds to 0 short of underflow;
    ties keep the individual mode because it is the lowest-index maximum). h = 0 gives the
    individual policy at temperature T. See `mode_preserving_eps` for the choice of κ.

    gumbel (B, N, A), a stored Gumbel(0, 1) draw (`--pm_gumbel_noise`), makes the noise genuinely
    sampled: z = (log π + G + T · eps) / T, with eps that of the form chosen above at T = 1
    (the authors', the strict cap's or the mode-preserving one). As T -> 0 the sampled action tends
    to argmax(log π + G), which is distributed exactly as π_i (the Gumbel-max trick), for any h; the PM's
    weight grows with T. Averaged over draws, agent i's joint marginal has its mode at
    argmax(log π + T · eps), the argmax of these logits with G = 0 (proof: sampling from softmax(z)
    is argmax(z + G') with G' another Gumbel draw, and argmax(x + W) with W i.i.d. over actions
    picks a more often than b whenever x_a > x_b, by swapping W_a and W_b); hence at the individual
    mode for T <= 1 with the strict or mode-preserving eps (log π and log π + eps share their argmax,
    so every convex combination of them does).
    """
    _check_same_shape("h", h, "log_probs", log_probs)
    _check_mix_coefficient(y)
    _check_temperature(temperature)
    if strict and mode_preserving:
        raise ValueError("strict and mode_preserving are two different joint forms; choose one")
    if gumbel is not None:
        _check_same_shape("gumbel", gumbel, "log_probs", log_probs)
        eps = joint_eps(log_probs, h, avail, sigmoid_gain, y, strict, mode_preserving)
        joint_logits = (log_probs + gumbel) / temperature + eps
    elif mode_preserving:
        margin, kappa = _margins(log_probs, avail), _margin_scale(sigmoid_gain * h)
        joint_logits = -(kappa * margin) / temperature
    else:
        joint_logits = (log_probs + authors_eps(h, sigmoid_gain, y)) / temperature
        if strict:
            joint_logits = _cap_below_individual_mode(joint_logits, log_probs, avail)
    if avail is not None:
        joint_logits = joint_logits.masked_fill(~avail.bool(), UNAVAILABLE_LOGIT)
    return joint_logits


def authors_eps(h: torch.Tensor, sigmoid_gain: float, y: float) -> torch.Tensor:
    """The paper's eps = -log(-log u), u = sigmoid(g * h) * y: (B, N, A) -> (B, N, A)."""
    # log u computed as logsigmoid + log y stays finite where sigmoid would underflow to 0.
    log_u = F.logsigmoid(sigmoid_gain * h) + math.log(y)
    return -torch.log(-log_u)


def mode_preserving_eps(log_probs: torch.Tensor, h: torch.Tensor, avail: torch.Tensor | None,
                        sigmoid_gain: float) -> torch.Tensor:
    """The mode-preserving eps_a = (1 - κ_a) δ_a (B, N, A), δ_a = log π_m - log π_a, κ_a = exp(asinh(g h_a)).

    Why κ = exp(asinh(x)) = x + sqrt(1 + x²): it is positive for every x (so no margin is ever
    closed), equals 1 at x = 0 (the PM's neutral start gives back the individual policy),
    behaves like exp(x) near 0, and is symmetric in log scale (κ(-x) = 1 / κ(x): sharpening and
    flattening are equally easy). Its log-derivative 1 / sqrt(1 + x²) decays only polynomially,
    so the gradient w.r.t. h stays nonzero for any h float32 can square (|g h| < 1e19), where a
    tanh's gradient is an exact 0 in float32 beyond |x| ~ 10, a sigmoid's or a softplus cap's beyond
    |x| ~ 100. The mode's own
    entry has δ_m = 0: a shift common to all actions would cancel in the softmax, so h_m has no
    effect. Unavailable actions get 0 (they are masked afterwards).
    """
    return (1 - _margin_scale(sigmoid_gain * h)) * _margins(log_probs, avail)


def joint_eps(log_probs, h, avail, sigmoid_gain: float, y: float, strict: bool = False,
              mode_preserving: bool = False) -> torch.Tensor:
    """eps of the chosen form at T = 1, i.e. (joint logits at T = 1) - log π: (B, N, A)."""
    if mode_preserving:
        return mode_preserving_eps(log_probs, h, avail, sigmoid_gain)
    eps = authors_eps(h, sigmoid_gain, y)
    if strict:
        eps = _cap_below_individual_mode(log_probs + eps, log_probs, avail) - log_probs
    return eps


def sample_gumbel(shape, device=None) -> torch.Tensor:
    """A Gumbel(0, 1) draw -log(E), E ~ Exp(1), of the given shape (finite: E is floored at 1e-30)."""
    return -torch.log(torch.empty(shape, device=device).exponential_().clamp_min(1e-30))


def _margins(log_probs: torch.Tensor, avail: torch.Tensor | None) -> torch.Tensor:
    """δ_a = log π_m - log π_a >= 0 (B, N, A) below the individual mode m; 0 for unavailable actions.
    Continuous in log_probs, also where the mode switches (δ of the two tied actions is 0)."""
    mode_log_prob = log_probs.gather(-1, individual_mode(log_probs, avail).unsqueeze(-1))
    margin = mode_log_prob - log_probs
    return margin if avail is None else torch.where(avail.bool(), margin, torch.zeros_like(margin))


def _margin_scale(x: torch.Tensor) -> torch.Tensor:
    """κ = exp(asinh(x)) > 0, κ(0) = 1, κ(-x) = 1 / κ(x)."""
    return torch.exp(torch.asinh(x))


def _cap_below_individual_mode(
    joint_logits: torch.Tensor, log_probs: torch.Tensor, avail: torch.Tensor | None
) -> torch.Tensor:
    """Smoothly cap every non-mode joint logit below the individual mode's (B, N, A)."""
    mode = individual_mode(log_probs, avail)  # (B, N)
    is_mode = F.one_hot(mode, log_probs.shape[-1]).bool()
    mode_logit = joint_logits.gather(-1, mode.unsqueeze(-1))  # (B, N, 1)
    cap = mode_logit - STRICT_MARGIN
    capped = cap - F.softplus(cap - joint_logits)
    return torch.where(is_mode, joint_logits, capped)


def individual_mode(log_probs: torch.Tensor, avail: torch.Tensor | None) -> torch.Tensor:
    """Argmax of the individual policies over available actions: (B, N, A) -> (B, N)."""
    if avail is not None:
        log_probs = log_probs.masked_fill(~avail.bool(), float("-inf"))
    return log_probs.argmax(dim=-1)


def continuous_joint(
    mean: torch.Tensor, h: torch.Tensor, sigmoid_gain: float, y: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint Gaussian N(mean, sigmoid(g * h) * y) per agent.

    mean (B, N, D) from the actors (kept with its gradient, so the mode is exactly the
    individual mean), h (B, N, D) from the PM -> (mean (B, N, D), std (B, N, D)).
    """
    _check_same_shape("h", h, "mean", mean)
    if not y > 0:
        raise ValueError(f"y (mix_std_y_coef) must be > 0 for the continuous joint policy, got {y}")
    std = torch.sigmoid(sigmoid_gain * h) * y
    return mean, std


def consistency_kl(joint_logits: torch.Tensor, log_probs: torch.Tensor) -> torch.Tensor:
    """KL(stop-grad π_joint,i ‖ π_i) per (sample, agent): joint_logits, log_probs (B, N, A) -> (B, N).

    The IGC consistency term (`--igc_consistency_coef`): it pulls each individual policy toward its
    agent's joint policy, so the decentralized policies learn what the joint policy does. The joint
    side is detached, so the gradient reaches log_probs (the actors) and never the Policy Modifier.
    Unavailable actions have zero joint probability and add nothing.
    """
    _check_same_shape("joint_logits", joint_logits, "log_probs", log_probs)
    joint_log_probs = F.log_softmax(joint_logits.detach(), dim=-1)
    return (joint_log_probs.exp() * (joint_log_probs - log_probs)).sum(-1)


IGC_TIE_TOLERANCE = 1e-4  # nats: a joint mode this close to the individual mode's log-prob is a tie


def _igc_counted(log_probs: torch.Tensor, avail: torch.Tensor | None, active: torch.Tensor | None) -> torch.Tensor:
    """(B, N) bool: the pairs IGC is measured on, active agents with at least two available actions.
    A dead agent (only no-op available) can never violate IGC and would dilute the rate."""
    n_available = log_probs.shape[-1] if avail is None else avail.sum(-1)
    counted = torch.as_tensor(n_available >= 2, device=log_probs.device).expand(log_probs.shape[:-1])
    return counted if active is None else counted & active.reshape(counted.shape).bool()


def _masked_average(values: torch.Tensor, counted: torch.Tensor) -> torch.Tensor:
    """Mean of values (B, N) over counted pairs; NaN (skipped by the logs' averages) when none is."""
    n = counted.sum()
    return (values * counted).sum() / n if n > 0 else torch.full((), float("nan"), device=values.device)


@torch.no_grad()
def igc_violation_rate(
    joint_logits: torch.Tensor,
    log_probs: torch.Tensor,
    avail: torch.Tensor | None,
    active: torch.Tensor | None = None,
) -> torch.Tensor:
    """Share of counted (sample, agent) pairs whose joint mode is not an individual mode.

    joint_logits, log_probs, avail (B, N, A); active (B, N) or (B, N, 1), 1 = active. Counted:
    active agents with a choice (>= 2 available actions). A joint mode whose individual log-prob
    is within IGC_TIE_TOLERANCE of the individual mode's is a tie, not a violation. Returns a
    scalar tensor; NaN when no pair is counted.
    """
    _check_same_shape("joint_logits", joint_logits, "log_probs", log_probs)
    masked = log_probs if avail is None else log_probs.masked_fill(~avail.bool(), float("-inf"))
    joint_mode = individual_mode(joint_logits, avail).unsqueeze(-1)
    shortfall = masked.max(-1).values - masked.gather(-1, joint_mode).squeeze(-1)  # (B, N), >= 0
    return _masked_average((shortfall > IGC_TIE_TOLERANCE).float(), _igc_counted(log_probs, avail, active))


@torch.no_grad()
def igc_mode_margin(log_probs: torch.Tensor, avail: torch.Tensor | None, active: torch.Tensor | None = None):
    """Mean gap (nats) between each counted agent's individual mode and its runner-up action:
    read beside the violation rate, small margins say violations are near-ties."""
    masked = log_probs if avail is None else log_probs.masked_fill(~avail.bool(), float("-inf"))
    top2 = masked.topk(2, dim=-1).values  # (B, N, 2)
    counted = _igc_counted(log_probs, avail, active)
    return _masked_average(torch.where(counted, top2[..., 0] - top2[..., 1], 0.0), counted)


def _check_same_shape(name: str, tensor: torch.Tensor, ref_name: str, ref: torch.Tensor) -> None:
    if tensor.shape != ref.shape:
        raise ValueError(f"{name} must have the shape of {ref_name} {tuple(ref.shape)}, got {tuple(tensor.shape)}")


def _check_mix_coefficient(y: float) -> None:
    # y = 1 would allow u -> 1, i.e. eps -> +inf; y <= 0 makes log u undefined.
    if not 0 < y < 1:
        raise ValueError(f"y (mix_std_y_coef) must lie in (0, 1) for the discrete joint policy, got {y}")


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")

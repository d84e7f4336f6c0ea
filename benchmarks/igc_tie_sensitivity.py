"""How far one small actor step moves AgentMixer's discrete joint policy, per IGC form.

    python benchmarks/igc_tie_sensitivity.py
    python benchmarks/igc_tie_sensitivity.py --h_scale 1 --spreads 0.05 1 --steps 0.01 0.1

Draws individual logits (B, 1, A) with spread σ (σ → 0: a near-uniform policy, as at the start of
training), perturbs them by a Gaussian step of size s (a stand-in for one PPO update of the actors),
and prints the mean KL(before ‖ after) of the individual policy and of the joint policy of each form
(the paper's ε, the strict cap `--igc_strict`, the mode-preserving ε `--igc_mode_preserving`) at the
same PM output h, T = 1. Their ratio is how much the form amplifies an actor step.

Why: with each agent's ratio clipped (`--no-joint_ratio`) the strict cap's runs logged an `approx_kl`
3–8 times that of every other form (results/README.md). The cap is discontinuous where the individual
mode changes (the mode keeps its logit, its runner-up is pushed about softplus(0) ≈ 0.7 below it), so
near a tie a tiny actor step moves the joint policy by a finite amount; the paper's ε and the
mode-preserving one are continuous there and move the joint policy as much as the actor moved.
"""
from __future__ import annotations

import argparse

import torch

from onpolicy.algorithms.agentmixer.joint_policy import discrete_joint_logits

FORMS = {"authors": {}, "strict": {"strict": True}, "mode_preserving": {"mode_preserving": True}}
GAIN, Y, TEMPERATURE = 1.0, 0.95, 1.0  # predator-prey's sigmoid_gain and mix_std_y_coef; T = 1 (the *_warm runs)


def mean_kl(logits_p: torch.Tensor, logits_q: torch.Tensor) -> float:
    """Mean over the batch of KL(softmax p ‖ softmax q); logits (B, N, A)."""
    log_p, log_q = logits_p.log_softmax(-1), logits_q.log_softmax(-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean().item()


def step_kls(spread: float, step: float, h_scale: float, samples: int, actions: int,
             generator: torch.Generator) -> dict[str, float]:
    """KL of one actor step for the individual policy and each form's joint policy at a fixed h."""
    shape = (samples, 1, actions)
    before = (spread * torch.randn(shape, generator=generator)).log_softmax(-1)
    after = (before + step * torch.randn(shape, generator=generator)).log_softmax(-1)
    h = h_scale * torch.randn(shape, generator=generator)
    kls = {"individual": mean_kl(before, after)}
    for name, form in FORMS.items():
        joint = [discrete_joint_logits(lp, h, None, GAIN, Y, TEMPERATURE, **form) for lp in (before, after)]
        kls[name] = mean_kl(*joint)
    return kls


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spreads", type=float, nargs="+", default=[0.05, 0.3, 1.0],
                        help="std of the individual logits (small: near-uniform policies)")
    parser.add_argument("--steps", type=float, nargs="+", default=[0.01, 0.03, 0.1],
                        help="std of the actor step added to the logits")
    parser.add_argument("--h_scale", type=float, default=0.0, help="std of the PM output h (0: the PM's start)")
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--actions", type=int, default=5, help="5: predator-prey's action space")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    generator = torch.Generator().manual_seed(args.seed)
    print(f"h ~ N(0, {args.h_scale}²), {args.actions} actions, T = {TEMPERATURE}; "
          "KL(before ‖ after) of one actor step, and the joint KL over the individual KL")
    print("| spread | step | individual KL | " + " | ".join(f"{f} KL (×)" for f in FORMS) + " |")
    print("|---:|---:|---:|" + "---:|" * len(FORMS))
    for spread in args.spreads:
        for step in args.steps:
            kls = step_kls(spread, step, args.h_scale, args.samples, args.actions, generator)
            cells = [f"{kls[f]:.2e} ({kls[f] / kls['individual']:.1f})" for f in FORMS]
            print(f"| {spread} | {step} | {kls['individual']:.2e} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

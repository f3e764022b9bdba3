#!/usr/bin/env python3
"""Golden values of full sampling loops computed by diffusers itself, for
tests/tests/diffusers_golden.rs. Installs nothing: run it with a Python that has torch and
diffusers (measured with diffusers 0.42.1, torch 2.15; CI does not run it):

    python3 scripts/diffusers-goldens.py

The model is diffusers' scheduler-test dummy `eps = x * t / (t + 1)` on the 768 values
k / 768; each line prints the case and mean|x| after the loop, the value the Rust test pins.
"""

import torch
import diffusers
from diffusers import DPMSolverMultistepScheduler


def run(scheduler, steps):
    scheduler.set_timesteps(steps)
    x = torch.arange(768, dtype=torch.float32) / 768
    for t in scheduler.timesteps:
        x = scheduler.step(x * t / (t + 1), t, x).prev_sample
    return x.abs().mean().item()


def main():
    print(f"diffusers {diffusers.__version__}, torch {torch.__version__}")
    linear = DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02, timestep_spacing="linspace")
    print(f"DPM-Solver++ 2M, linear, linspace, 10 steps: mean|x| = {run(linear, 10):.7f}")
    cosine = DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", timestep_spacing="linspace")
    print(f"DPM-Solver++ 2M, squaredcos_cap_v2, linspace, 20 steps: mean|x| = {run(cosine, 20):.7f}")
    print(f"  (its abar at t = 999: {cosine.alphas_cumprod[-1].item():.3e})")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Conformance cases for `edgediff conformance`, computed by diffusers itself.

Run once with a Python that has torch and diffusers (measured with diffusers 0.42.1,
torch 2.15; CI does not run it):

    python3 scripts/make-diffusers-cases.py tests/fixtures/diffusers

It writes
- cases.json: full sampling loops of diffusers' schedulers on the dummy model of diffusers'
  own scheduler tests (`eps = x * t / (t + 1)` on `dummy_sample_deter`, the 768 values k / 768
  laid out as [4, 3, 8, 8]), with `scale_model_input` and `init_noise_sigma` as in their
  full-loop tests: every scheduler x {linear, scaled_linear, squaredcos_cap_v2, zero-SNR}
  x {epsilon, v_prediction, sample} that diffusers accepts, spacings, Stable Diffusion's DDIM
  config and flow matching with shift 1 and 3;
- <name>/scheduler_config.json: configs saved by diffusers' own `save_config`, as a model
  folder holds them.

Stochastic schedulers draw their noise through `randn_tensor`; this script replaces it with
a pattern both sides can compute, and says so in the case (`"noise": "uniform-hash"`): the
n-th value edgediff draws (m = draw * 768 + k, k the flat index of `k / 768`) is
`(u - 0.5) * sqrt(12)` with `u = ((m * 2654435761) mod 2^32) / 2^32`, computed in float64 and
rounded to float32.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import diffusers
import diffusers.schedulers as schedulers_pkg
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    HeunDiscreteScheduler,
    UniPCMultistepScheduler,
)

N = 768


def layout(flat):
    """diffusers' dummy_sample_deter layout of 768 flat values."""
    return flat.reshape(3, 8, 8, 4).permute(3, 0, 1, 2)


def dummy_sample():
    return layout(torch.arange(N, dtype=torch.float32) / N)


class HashNoise:
    """The replayable noise pattern (see the module doc)."""

    def __init__(self):
        self.draws = 0

    def __call__(self, shape, generator=None, device=None, dtype=None, **_):
        assert tuple(shape) == (4, 3, 8, 8), shape
        m = np.arange(N, dtype=np.uint64) + np.uint64(self.draws * N)
        u = ((m * np.uint64(2654435761)) % np.uint64(2**32)).astype(np.float64) / 2.0**32
        z = ((u - 0.5) * math.sqrt(12.0)).astype(np.float32)
        self.draws += 1
        return layout(torch.from_numpy(z)).to(dtype or torch.float32)


def patch_noise(noise):
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(schedulers_pkg.__path__):
        try:
            mod = importlib.import_module(f"diffusers.schedulers.{info.name}")
        except Exception:
            continue
        if hasattr(mod, "randn_tensor"):
            mod.randn_tensor = noise


def run(scheduler, steps, step_kwargs, sample_scale=1.0):
    noise = HashNoise()
    patch_noise(noise)
    scheduler.set_timesteps(steps)
    x = dummy_sample() * sample_scale * getattr(scheduler, "init_noise_sigma", 1.0)
    scale = getattr(scheduler, "scale_model_input", lambda s, t: s)
    for t in scheduler.timesteps:
        inp = scale(x, t)
        out = inp * t / (t + 1)
        x = scheduler.step(out, t, x, **step_kwargs).prev_sample
    return x, [float(t) for t in scheduler.timesteps], noise.draws > 0


BETAS = {
    "linear": dict(beta_schedule="linear"),
    "scaled_linear": dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012),
    "cosine": dict(beta_schedule="squaredcos_cap_v2"),
    "zero_snr": dict(beta_schedule="linear", rescale_betas_zero_snr=True),
}
PREDICTIONS = ["epsilon", "v_prediction", "sample"]
CLASSES = {
    "DDPMScheduler": (DDPMScheduler, dict(clip_sample=False), {}),
    "DDIMScheduler": (DDIMScheduler, dict(clip_sample=False), {"eta": 0.0}),
    "DPMSolverMultistepScheduler": (DPMSolverMultistepScheduler, {}, {}),
    "EulerDiscreteScheduler": (EulerDiscreteScheduler, {}, {}),
    "EulerAncestralDiscreteScheduler": (EulerAncestralDiscreteScheduler, {}, {}),
    "HeunDiscreteScheduler": (HeunDiscreteScheduler, dict(beta_start=0.0001, beta_end=0.02), {}),
    "UniPCMultistepScheduler": (UniPCMultistepScheduler, {}, {}),
}


def case(name, cls, config, steps, step_kwargs=None, sample_scale=1.0):
    step_kwargs = step_kwargs or {}
    scheduler = cls(**config)
    x, timesteps, drew = run(scheduler, steps, step_kwargs, sample_scale)
    c = {
        "name": name,
        "scheduler": cls.__name__,
        "config": {k: v for k, v in dict(scheduler.config).items() if not k.startswith("_")},
        "steps": steps,
        "step_kwargs": step_kwargs,
        "timesteps": timesteps,
        "abs_sum": x.abs().sum().item(),
        "abs_mean": x.abs().mean().item(),
    }
    if drew:
        c["noise"] = "uniform-hash"
    if sample_scale != 1.0:
        c["sample_scale"] = sample_scale
    return c


def grid():
    cases = []
    for cname, (cls, extra, kwargs) in CLASSES.items():
        for bname, betas in BETAS.items():
            for pred in PREDICTIONS:
                config = {**extra, **betas, "prediction_type": pred}
                if cname == "HeunDiscreteScheduler" and "beta_start" in betas:
                    config.update(beta_start=betas["beta_start"], beta_end=betas["beta_end"])
                name = f"{cname}/{bname}/{pred}"
                try:
                    cases.append(case(name, cls, config, 10, kwargs))
                except Exception as e:  # diffusers rejects the combination
                    print(f"skipped {name}: {type(e).__name__}: {e}", file=sys.stderr)
    return cases


def extras():
    c = []
    for spacing in ["linspace", "leading", "trailing"]:
        for cname, (cls, extra, kwargs) in CLASSES.items():
            c.append(case(f"{cname}/spacing-{spacing}", cls, {**extra, "timestep_spacing": spacing}, 20, kwargs))
    # Stable Diffusion v1's own DDIM config.
    sd = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    c.append(case("DDIMScheduler/stable-diffusion", DDIMScheduler, sd, 50, {"eta": 0.0}))
    c.append(case("DDIMScheduler/eta-1", DDIMScheduler, dict(clip_sample=False), 20, {"eta": 1.0}))
    c.append(case("DDIMScheduler/clip", DDIMScheduler, {}, 10, {"eta": 0.0}))
    c.append(case("DDPMScheduler/clip-fixed-large", DDPMScheduler, dict(variance_type="fixed_large"), 10))
    for order in [1, 2, 3]:
        c.append(case(f"DPMSolverMultistepScheduler/order-{order}", DPMSolverMultistepScheduler, dict(solver_order=order), 10))
        c.append(case(f"UniPCMultistepScheduler/order-{order}", UniPCMultistepScheduler, dict(solver_order=order), 10))
    for steps in [5, 20]:
        c.append(case(f"DPMSolverMultistepScheduler/order-3-steps-{steps}", DPMSolverMultistepScheduler, dict(solver_order=3), steps))
        c.append(case(f"UniPCMultistepScheduler/order-3-steps-{steps}", UniPCMultistepScheduler, dict(solver_order=3), steps))
        c.append(case(f"UniPCMultistepScheduler/steps-{steps}", UniPCMultistepScheduler, {}, steps))
    c.append(case("DPMSolverMultistepScheduler/cosine-20", DPMSolverMultistepScheduler, dict(beta_schedule="squaredcos_cap_v2"), 20))
    c.append(case("DPMSolverMultistepScheduler/sigma-min", DPMSolverMultistepScheduler, dict(final_sigmas_type="sigma_min", lower_order_final=False), 10))
    c.append(case("UniPCMultistepScheduler/sigma-min", UniPCMultistepScheduler, dict(final_sigmas_type="sigma_min"), 10))
    for order in [1, 2]:
        c.append(case(f"DPMSolverMultistepScheduler/sde-order-{order}", DPMSolverMultistepScheduler, dict(algorithm_type="sde-dpmsolver++", solver_order=order), 10))
    c.append(case("DPMSolverMultistepScheduler/sde-v", DPMSolverMultistepScheduler, dict(algorithm_type="sde-dpmsolver++", prediction_type="v_prediction"), 20))
    for cname in ["DPMSolverMultistepScheduler", "UniPCMultistepScheduler", "EulerDiscreteScheduler", "HeunDiscreteScheduler"]:
        cls, extra, kwargs = CLASSES[cname]
        for spacing in ["linspace", "trailing"]:
            c.append(case(f"{cname}/karras-{spacing}", cls, {**extra, "use_karras_sigmas": True, "timestep_spacing": spacing}, 10, kwargs))
    c.append(case("DPMSolverMultistepScheduler/karras-3m", DPMSolverMultistepScheduler, dict(use_karras_sigmas=True, solver_order=3), 15))
    c.append(case("EulerDiscreteScheduler/sigma-min", EulerDiscreteScheduler, dict(final_sigmas_type="sigma_min", timestep_spacing="trailing"), 10))
    c.append(case("HeunDiscreteScheduler/clip", HeunDiscreteScheduler, dict(clip_sample=True, timestep_spacing="trailing"), 10))
    # Dynamic thresholding (Imagen): the quantile is per sample of the [4, 3, 8, 8] batch.
    # The sample is scaled by 3 ("sample_scale") so that |x0| exceeds 1 and the threshold bites.
    th = dict(thresholding=True, sample_max_value=1.5)
    v, x0 = dict(prediction_type="v_prediction"), dict(prediction_type="sample")
    c.append(case("DDPMScheduler/thresholding", DDPMScheduler, {**th, **v}, 10, sample_scale=3.0))
    c.append(case("DDIMScheduler/thresholding", DDIMScheduler, {**th, **v}, 10, {"eta": 0.0}, sample_scale=3.0))
    c.append(case("DDIMScheduler/no-thresholding", DDIMScheduler, {**v, "clip_sample": False}, 10, {"eta": 0.0}, sample_scale=3.0))
    c.append(case("DDIMScheduler/thresholding-eps", DDIMScheduler, {**th, "dynamic_thresholding_ratio": 0.9}, 20, {"eta": 0.0}, sample_scale=3.0))
    c.append(case("DPMSolverMultistepScheduler/thresholding", DPMSolverMultistepScheduler, {**th, **x0}, 10, sample_scale=3.0))
    c.append(case("UniPCMultistepScheduler/thresholding", UniPCMultistepScheduler, {**th, **x0, "sample_max_value": 2.0}, 10, sample_scale=3.0))
    for shift in [1.0, 3.0]:
        c.append(case(f"FlowMatchEulerDiscreteScheduler/shift-{shift:g}", FlowMatchEulerDiscreteScheduler, dict(shift=shift), 10))
    return c


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/diffusers")
    out.mkdir(parents=True, exist_ok=True)
    cases = grid() + extras()
    doc = {
        "generator": f"scripts/make-diffusers-cases.py, diffusers {diffusers.__version__}, torch {torch.__version__}",
        "cases": cases,
    }
    (out / "cases.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{len(cases)} cases -> {out / 'cases.json'}")
    # Scheduler configs as a diffusers model folder holds them.
    DPMSolverMultistepScheduler().save_config(out / "dpm-solver")
    DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1).save_config(out / "sd-ddim")
    print(f"scheduler configs -> {out / 'dpm-solver'}, {out / 'sd-ddim'}")


if __name__ == "__main__":
    main()

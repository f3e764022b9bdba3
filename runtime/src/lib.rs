//! edgediff runtime: reverse-diffusion sampling for microcontrollers.
//!
//! `#![no_std]` and no `alloc`: every buffer is provided by the caller, every failure is a
//! typed [`Error`], and nothing here panics on input data.
//!
//! Data flow on the device:
//! 1. A [`schedule::StepRow`] table (built on the host, stored in flash as a `const` or inside a
//!    model pack) holds, per sampling step, the timestep and every coefficient the update needs.
//!    The device evaluates no transcendental function except in the noise generator.
//! 2. A [`sampler::Sampler`] walks the table. At each step it asks a [`Denoiser`] for the network
//!    output, converts it with [`prediction::PredictionType`] and applies the update.
//! 3. Noise comes from a [`noise::NoiseSource`]: seeded ChaCha8 Gaussians, or recorded values.
//!
//! With the `std` feature, [`schedule::plan`] builds the tables from a beta schedule, a timestep
//! spacing and a sampler configuration, in `f64`.
#![no_std]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

#[cfg(feature = "std")]
extern crate std;

pub mod denoiser;
pub mod engine;
pub mod error;
pub mod kernels;
pub mod math;
pub mod noise;
pub mod ops;
pub mod pack;
pub mod prediction;
pub mod sampler;
pub mod schedule;

pub use denoiser::Denoiser;
pub use error::{Error, Result};

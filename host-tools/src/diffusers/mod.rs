//! diffusers interoperability: its scheduler configs read as they are ([`config`]) and its
//! scheduler tests' full loops replayed on the runtime's sampler ([`conformance`]).

pub mod config;
pub mod conformance;

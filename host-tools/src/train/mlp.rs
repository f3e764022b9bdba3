//! The MLP denoiser: a sinusoidal timestep embedding through a time MLP, added after the
//! input layer, SiLU hidden layers, a linear output. Optional class embedding (the last row is
//! the null label of classifier-free guidance).

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{Embedding, Linear, Module, VarBuilder, VarMap};
use edgediff_runtime::noise::{GaussianNoise, NoiseSource};

/// Sizes of an MLP denoiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MlpSpec {
    /// Data dimension.
    pub dim: usize,
    /// Hidden width.
    pub hidden: usize,
    /// Hidden layers after the input layer.
    pub depth: usize,
    /// Sinusoidal embedding width (even).
    pub temb: usize,
    /// Classes (0: unconditional).
    pub num_classes: usize,
}

impl MlpSpec {
    /// `(name, [out, in])` of every linear layer, in order.
    pub fn linears(&self) -> Vec<(String, [usize; 2])> {
        let mut v = vec![
            ("t1".to_string(), [self.hidden, self.temb]),
            ("t2".to_string(), [self.hidden, self.hidden]),
            ("in".to_string(), [self.hidden, self.dim]),
        ];
        for i in 0..self.depth {
            v.push((format!("h{i}"), [self.hidden, self.hidden]));
        }
        v.push(("out".to_string(), [self.dim, self.hidden]));
        v
    }

    /// The embedding frequencies.
    pub fn frequencies(&self) -> Vec<f32> {
        sinusoidal_frequencies(self.temb)
    }
}

/// The sinusoidal embedding frequencies `exp(-ln(10000) k / (temb / 2))`, `k = 0..temb/2`.
pub fn sinusoidal_frequencies(temb: usize) -> Vec<f32> {
    let half = temb / 2;
    (0..half)
        .map(|k| (-(10000f64.ln()) * k as f64 / half as f64).exp() as f32)
        .collect()
}

/// The model over a [`VarMap`].
pub struct MlpDenoiser {
    spec: MlpSpec,
    layers: Vec<Linear>,
    class_emb: Option<Embedding>,
    freqs: Tensor,
}

/// Fills `varmap` with a seeded initialisation: weights uniform in +-1/sqrt(fan_in) (PyTorch's
/// default for Linear), biases zero, embeddings N(0, 1).
pub fn init(varmap: &VarMap, spec: &MlpSpec, seed: u64, dev: &Device) -> Result<()> {
    let mut rng = GaussianNoise::new(seed);
    let mut data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("poisoned".into()))?;
    let mut normal =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.next_normal().unwrap_or(0.0)).collect() };
    for (name, [out, inp]) in spec.linears() {
        let bound = 1.0 / (inp as f32).sqrt();
        // A normal scaled to the uniform's standard deviation keeps one generator.
        let w: Vec<f32> = normal(out * inp)
            .iter()
            .map(|v| v * bound / 3f32.sqrt())
            .collect();
        data.insert(
            format!("{name}.weight"),
            Var::from_tensor(&Tensor::from_vec(w, (out, inp), dev)?)?,
        );
        data.insert(
            format!("{name}.bias"),
            Var::from_tensor(&Tensor::zeros(out, DType::F32, dev)?)?,
        );
    }
    if spec.num_classes > 0 {
        let rows = spec.num_classes + 1;
        let e = Tensor::from_vec(normal(rows * spec.hidden), (rows, spec.hidden), dev)?;
        data.insert("cemb.weight".into(), Var::from_tensor(&e)?);
    }
    Ok(())
}

impl MlpDenoiser {
    /// The model reading its weights from `vb`.
    pub fn new(vb: VarBuilder, spec: MlpSpec) -> Result<Self> {
        let layers = spec
            .linears()
            .into_iter()
            .map(|(name, [out, inp])| candle_nn::linear(inp, out, vb.pp(name)))
            .collect::<Result<Vec<_>>>()?;
        let class_emb = if spec.num_classes > 0 {
            Some(candle_nn::embedding(
                spec.num_classes + 1,
                spec.hidden,
                vb.pp("cemb"),
            )?)
        } else {
            None
        };
        let freqs = Tensor::from_vec(spec.frequencies(), (1, spec.temb / 2), vb.device())?;
        Ok(Self {
            spec,
            layers,
            class_emb,
            freqs,
        })
    }

    /// `x`: `[B, dim]`; `t`: `[B, 1]` timesteps as f32; `labels`: `[B]` u32 (null = classes).
    pub fn forward(&self, x: &Tensor, t: &Tensor, labels: Option<&Tensor>) -> Result<Tensor> {
        let arg = t.broadcast_mul(&self.freqs)?;
        let emb = Tensor::cat(&[arg.sin()?, arg.cos()?], 1)?;
        let [t1, t2, inp, rest @ ..] = self.layers.as_slice() else {
            return Err(candle_core::Error::Msg(
                "MLP needs at least four layers".into(),
            ));
        };
        let temb = t2.forward(&t1.forward(&emb)?.silu()?)?;
        let mut h = (inp.forward(x)? + temb)?;
        if let (Some(e), Some(l)) = (&self.class_emb, labels) {
            h = (h + e.forward(l)?)?;
        }
        h = h.silu()?;
        let (out, hidden) = rest
            .split_last()
            .ok_or(candle_core::Error::Msg("no output layer".into()))?;
        for l in hidden {
            h = l.forward(&h)?.silu()?;
        }
        out.forward(&h)
    }

    /// The sizes.
    pub fn spec(&self) -> MlpSpec {
        self.spec
    }
}

//! The model-pack parser, then a full sampling run on whatever parses.

use edgediff_runtime::engine::Engine;
use edgediff_runtime::noise::GaussianNoise;
use edgediff_runtime::pack::Pack;
use edgediff_runtime::pack::crc32::crc32;
use edgediff_runtime::pack::layout::header;
use edgediff_runtime::sampler::Sampler;

/// Largest arena and work a fuzzed pack may ask for (bigger ones are valid but slow).
const MAX_ARENA: usize = 1 << 20;
const MAX_WORK: u64 = 5_000_000;

/// Parses `data` as a pack, then a copy whose length and CRC fields are made to match (so
/// mutations reach the structural checks behind the CRC); whatever validates is sampled.
pub fn run(data: &[u8]) {
    sample(data);
    if data.len() >= header::SIZE {
        let mut fixed = data.to_vec();
        let len = (fixed.len() as u32).to_le_bytes();
        fixed[header::TOTAL_LEN..header::TOTAL_LEN + 4].copy_from_slice(&len);
        let crc = crc32(&fixed[header::CRC_START..]).to_le_bytes();
        fixed[header::CRC..header::CRC + 4].copy_from_slice(&crc);
        sample(&fixed);
    }
}

/// If `data` validates as a pack, samples one batch of two from it.
fn sample(data: &[u8]) {
    let Ok(pack) = Pack::parse(data) else { return };
    let meta = *pack.meta();
    let work = u64::from(meta.macs) * u64::from(meta.steps) * (1 + u64::from(meta.corrector_steps));
    if pack.arena_bytes() > MAX_ARENA || work > MAX_WORK {
        return;
    }
    let mut arena = vec![0i8; pack.arena_bytes()];
    let Ok(mut engine) = Engine::new(pack, &mut arena) else {
        return;
    };
    let schedule = pack.schedule();
    let cfg = meta.sampler_config();
    let n = 2 * meta.sample_len();
    let Ok(sampler) = Sampler::new(&schedule, cfg, n) else {
        return;
    };
    let sizes = sampler.state_sizes();
    let (mut x, mut out, mut hist) = (
        vec![0f32; sizes.sample],
        vec![0f32; sizes.model_output],
        vec![0f32; sizes.history],
    );
    let Ok(mut state) = sampler.state(&mut x, &mut out, &mut hist) else {
        return;
    };
    let labels: Vec<u16> = if meta.num_classes > 0 {
        vec![0, meta.num_classes - 1]
    } else {
        vec![]
    };
    let mut noise = GaussianNoise::new(7);
    if sampler.init_noise(&mut state, &mut noise).is_ok() {
        let _ = sampler.run(0, &mut state, &mut engine, &labels, &mut noise);
    }
}

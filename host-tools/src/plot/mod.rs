//! Pictures of samples: a scatter plot over the data density for 2-D models, a labelled grid
//! for digits, line plots for 1-D signals, and strips of the denoising trajectory. PNG via the
//! `image` crate.

mod font;

use crate::error::Error;
use crate::files::write_atomic;
use image::{Rgb, RgbImage};
use std::path::Path;

/// Side of a 2-D scatter plot in pixels.
const SIDE: u32 = 320;
/// Half-width of the plotted square in data units.
const EXTENT: f32 = 3.0;

fn to_px(v: f32) -> Option<u32> {
    let p = (v + EXTENT) / (2.0 * EXTENT) * SIDE as f32;
    (p >= 0.0 && p < SIDE as f32).then_some(p as u32)
}

/// Samples (interleaved x, y) as blue dots over the density of `data` in grey.
pub fn scatter(samples: &[f32], data: &[f32]) -> RgbImage {
    let mut counts = vec![0u32; (SIDE * SIDE) as usize];
    for p in data.chunks_exact(2) {
        if let (Some(x), Some(y)) = (to_px(p[0]), to_px(-p[1])) {
            counts[(y * SIDE + x) as usize] += 1;
        }
    }
    let max = counts.iter().copied().max().unwrap_or(1).max(1) as f32;
    let mut img = RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let c = counts[(y * SIDE + x) as usize] as f32 / max;
        let g = (255.0 - 120.0 * c.sqrt()) as u8;
        Rgb([g, g, g])
    });
    for p in samples.chunks_exact(2) {
        if let (Some(x), Some(y)) = (to_px(p[0]), to_px(-p[1])) {
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                if x + dx < SIDE && y + dy < SIDE {
                    img.put_pixel(x + dx, y + dy, Rgb([20, 60, 200]));
                }
            }
        }
    }
    img
}

/// Pixels per digit pixel.
const ZOOM: u32 = 4;
/// Caption height under each digit.
const CAPTION: u32 = 14;

/// 8x8 digits (values in [-1, 1]) in a grid of `cols` columns, each captioned with its label.
pub fn digit_grid(images: &[f32], labels: &[u16], cols: usize) -> RgbImage {
    let n = images.len() / 64;
    let cols = cols.clamp(1, n.max(1));
    let rows = n.div_ceil(cols);
    let cell_w = 8 * ZOOM + 4;
    let cell_h = 8 * ZOOM + CAPTION;
    let mut img = RgbImage::from_pixel(
        cols as u32 * cell_w,
        rows as u32 * cell_h,
        Rgb([255, 255, 255]),
    );
    for (i, d) in images.chunks_exact(64).enumerate() {
        let (cx, cy) = ((i % cols) as u32 * cell_w + 2, (i / cols) as u32 * cell_h);
        for (p, v) in d.iter().enumerate() {
            let g = (255.0 - ((v + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0) as u8;
            let (px, py) = (p as u32 % 8, p as u32 / 8);
            for dy in 0..ZOOM {
                for dx in 0..ZOOM {
                    img.put_pixel(cx + px * ZOOM + dx, cy + py * ZOOM + dy, Rgb([g, g, g]));
                }
            }
        }
        if let Some(l) = labels.get(i) {
            font::draw_number(
                &mut img,
                cx + 12,
                cy + 8 * ZOOM + 2,
                u32::from(*l),
                Rgb([200, 30, 30]),
            );
        }
    }
    img
}

/// Width of a signal panel in pixels.
const PANEL_W: u32 = 512;
/// Height of a signal panel in pixels.
const PANEL_H: u32 = 120;
/// The value range a panel shows.
const PANEL_RANGE: (f32, f32) = (-1.4, 1.8);

/// Trace colours, in the order a panel's traces are drawn: grey, red, blue, green.
pub const TRACE_COLOURS: [Rgb<u8>; 4] = [
    Rgb([170, 170, 170]),
    Rgb([210, 40, 40]),
    Rgb([20, 60, 200]),
    Rgb([20, 150, 60]),
];

/// 1-D signals as panels stacked vertically, each panel's traces drawn over each other in
/// [`TRACE_COLOURS`] order (later traces on top), over a zero line.
pub fn signal_panels(panels: &[Vec<&[f32]>]) -> RgbImage {
    let rows = panels.len().max(1) as u32;
    let mut img = RgbImage::from_pixel(PANEL_W, rows * (PANEL_H + 4), Rgb([255, 255, 255]));
    let (lo, hi) = PANEL_RANGE;
    for (p, traces) in panels.iter().enumerate() {
        let y0 = p as u32 * (PANEL_H + 4);
        let to_y = |v: f32| {
            let f = ((hi - v) / (hi - lo)).clamp(0.0, 1.0);
            y0 + (f * (PANEL_H - 1) as f32) as u32
        };
        for x in 0..PANEL_W {
            img.put_pixel(x, to_y(0.0), Rgb([225, 225, 225]));
        }
        for (trace, colour) in traces.iter().zip(TRACE_COLOURS.iter().cycle()) {
            let n = trace.len().max(2);
            let to_x = |i: usize| (i as u32 * (PANEL_W - 1)) / (n as u32 - 1);
            for (i, w) in trace.windows(2).enumerate() {
                line(
                    &mut img,
                    (to_x(i), to_y(w[0])),
                    (to_x(i + 1), to_y(w[1])),
                    *colour,
                );
            }
        }
    }
    img
}

/// A straight line between two pixels (both ends drawn).
fn line(img: &mut RgbImage, (x0, y0): (u32, u32), (x1, y1): (u32, u32), c: Rgb<u8>) {
    let steps = x1.abs_diff(x0).max(y1.abs_diff(y0)).max(1);
    for s in 0..=steps {
        let t = s as f32 / steps as f32;
        let x = x0 as f32 + (x1 as f32 - x0 as f32) * t;
        let y = y0 as f32 + (y1 as f32 - y0 as f32) * t;
        let (x, y) = (x.round() as u32, y.round() as u32);
        if x < img.width() && y < img.height() {
            img.put_pixel(x, y, c);
        }
    }
}

/// Frames side by side, separated by a white column.
pub fn strip(frames: &[RgbImage]) -> RgbImage {
    let w: u32 = frames.iter().map(|f| f.width() + 4).sum();
    let h = frames.iter().map(RgbImage::height).max().unwrap_or(0);
    let mut img = RgbImage::from_pixel(w.max(1), h.max(1), Rgb([255, 255, 255]));
    let mut x0 = 0;
    for f in frames {
        for (x, y, p) in f.enumerate_pixels() {
            img.put_pixel(x0 + x, y, *p);
        }
        x0 += f.width() + 4;
    }
    img
}

/// Writes a PNG atomically.
pub fn save_png(img: &RgbImage, path: &Path, force: bool) -> Result<(), Error> {
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| Error::Input(format!("{}: PNG encoding failed: {e}", path.display())))?;
    write_atomic(path, &bytes, force)
}

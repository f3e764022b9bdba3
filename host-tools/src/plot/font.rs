//! A 3x5 pixel font for the digits 0-9, drawn at twice the size.

use image::{Rgb, RgbImage};

/// Rows of each glyph, three bits per row (MSB left).
const GLYPHS: [[u8; 5]; 10] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
];

/// Draws `n` in decimal with its top-left corner at `(x, y)`.
pub fn draw_number(img: &mut RgbImage, x: u32, y: u32, n: u32, color: Rgb<u8>) {
    let text = n.to_string();
    for (k, ch) in text.bytes().enumerate() {
        let glyph = GLYPHS[usize::from(ch - b'0')];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3u32 {
                if bits & (4 >> col) != 0 {
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        let (px, py) = (x + k as u32 * 8 + col * 2 + dx, y + row as u32 * 2 + dy);
                        if px < img.width() && py < img.height() {
                            img.put_pixel(px, py, color);
                        }
                    }
                }
            }
        }
    }
}

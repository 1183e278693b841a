//! Rendering linking QR codes as PNG and SVG, so a browser or a terminal can show them.

use base64::Engine;
use qrcode::{Color, QrCode};

const SCALE: usize = 8;
const QUIET: usize = 4;

fn matrix(data: &str) -> Option<(usize, Vec<Color>)> {
    let code = QrCode::new(data.as_bytes()).ok()?;
    Some((code.width(), code.to_colors()))
}

/// An 8-bit greyscale PNG, 8 pixels per module, with the standard quiet zone.
pub fn png(data: &str) -> Option<Vec<u8>> {
    let (width, colors) = matrix(data)?;
    let side = (width + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % width + QUIET, i / width + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().ok()?;
    writer.write_image_data(&pixels).ok()?;
    writer.finish().ok()?;
    Some(out)
}

pub fn svg(data: &str) -> Option<String> {
    let code = QrCode::new(data.as_bytes()).ok()?;
    Some(code.render::<qrcode::render::svg::Color>().min_dimensions(256, 256).build())
}

pub fn png_data_url(data: &str) -> Option<String> {
    png(data).map(|bytes| format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
}

/// The QR as text for a terminal, two modules per character row.
pub fn terminal(data: &str) -> Option<String> {
    let (width, colors) = matrix(data)?;
    let dark = |x: isize, y: isize| -> bool {
        x >= 0 && y >= 0 && (x as usize) < width && (y as usize) < width && colors[y as usize * width + x as usize] == Color::Dark
    };
    let mut out = String::new();
    let q = 2isize;
    let mut y = -q;
    while y < width as isize + q {
        for x in -q..width as isize + q {
            out.push(match (dark(x, y), dark(x, y + 1)) {
                (true, true) => ' ',
                (true, false) => '▄',
                (false, true) => '▀',
                (false, false) => '█',
            });
        }
        out.push('\n');
        y += 2;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_decodable_sized_png_and_svg() {
        let data = "2@abc,def,ghi,jkl";
        let png = png(data).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(svg(data).unwrap().contains("<svg"));
        assert!(png_data_url(data).unwrap().starts_with("data:image/png;base64,"));
        assert!(terminal(data).unwrap().lines().count() > 10);
    }
}

//! PNG pictures of volumes: one slice or a montage, window/levelled to 8-bit grey.
//! Rows are drawn top to bottom as stored (DICOM's display convention: row 0 at the top).

use std::path::Path;

use clarity_core::Volume;

use crate::error::{IoError, Result};

/// A display window in voxel units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub center: f64,
    pub width: f64,
}

impl Window {
    /// The window spanning the `lo`..`hi` percentiles (0-100) of the finite values, the default
    /// for display because a few hot voxels would otherwise flatten the picture.
    /// When the two percentiles coincide (a mask that is almost all background, say) the window
    /// widens to the full finite range, so the few voxels that differ still show; a constant
    /// image gets a tiny width about its value and is drawn mid grey.
    pub fn from_percentiles(values: &[f32], lo: f64, hi: f64) -> Self {
        let pick = |p: f64| clarity_core::percentile(values, p / 100.0, |_| true);
        let (Some(mut a), Some(mut b)) = (pick(lo), pick(hi)) else {
            return Self { center: 0.0, width: 1.0 };
        };
        if b <= a {
            (a, b) = (pick(0.0).unwrap_or(a), pick(100.0).unwrap_or(b));
        }
        let (a, b) = (a as f64, b as f64);
        Self { center: (a + b) / 2.0, width: (b - a).max(1e-6) }
    }

    /// Whether the window is the degenerate one of a constant image.
    pub fn is_constant(self) -> bool {
        self.width <= 1e-6
    }

    pub fn to_u8(self, v: f32) -> u8 {
        if self.is_constant() {
            // Rounding at a width of 1e-6 would tip the constant itself to either side of grey.
            return match (v as f64).partial_cmp(&self.center) {
                Some(std::cmp::Ordering::Less) => 0,
                Some(std::cmp::Ordering::Greater) => 255,
                _ => 128,
            };
        }
        let lo = self.center - self.width / 2.0;
        (((v as f64 - lo) / self.width).clamp(0.0, 1.0) * 255.0).round() as u8
    }
}

/// Slices `k` of frame 0 laid out in a grid, `columns` wide (square-ish when `None`).
pub fn montage(
    vol: &Volume,
    slices: &[usize],
    columns: Option<usize>,
    window: Window,
) -> (usize, usize, Vec<u8>) {
    let [nx, ny, _] = vol.dims;
    let n = slices.len().max(1);
    let cols = columns.unwrap_or_else(|| (n as f64).sqrt().ceil() as usize).clamp(1, n);
    let rows = n.div_ceil(cols);
    let (w, h) = (cols * nx, rows * ny);
    let mut img = vec![0u8; w * h];
    for (t, &k) in slices.iter().enumerate() {
        let (ox, oy) = ((t % cols) * nx, (t / cols) * ny);
        let s = vol.slice(k);
        for j in 0..ny {
            for i in 0..nx {
                img[(oy + j) * w + ox + i] = window.to_u8(s[i + nx * j]);
            }
        }
    }
    (w, h, img)
}

/// Up to `max` slice indices spread evenly through the volume.
pub fn spread_slices(nz: usize, max: usize) -> Vec<usize> {
    if nz <= max {
        return (0..nz).collect();
    }
    (0..max).map(|t| ((t as f64 + 0.5) * nz as f64 / max as f64) as usize).collect()
}

/// Write an 8-bit greyscale PNG.
pub fn write_gray_png(path: &Path, width: usize, height: usize, pixels: &[u8]) -> Result<()> {
    write_png(path, width, height, pixels, png::ColorType::Grayscale)
}

/// Write an 8-bit RGB PNG (`pixels` interleaved r, g, b).
pub fn write_rgb_png(path: &Path, width: usize, height: usize, pixels: &[u8]) -> Result<()> {
    write_png(path, width, height, pixels, png::ColorType::Rgb)
}

fn write_png(
    path: &Path,
    width: usize,
    height: usize,
    pixels: &[u8],
    color: png::ColorType,
) -> Result<()> {
    let perr = |reason: String| IoError::Png { path: path.to_path_buf(), reason };
    // Encoded in memory (pictures are a few MB at most) so that writing the file ends in a
    // flush whose error is seen, not in a drop that would swallow it.
    let mut encoded = Vec::new();
    let mut enc = png::Encoder::new(&mut encoded, width as u32, height as u32);
    enc.set_color(color);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| perr(e.to_string()))?;
    w.write_image_data(pixels).map_err(|e| perr(e.to_string()))?;
    w.finish().map_err(|e| perr(e.to_string()))?;
    let werr = |source| IoError::Write { path: path.to_path_buf(), source };
    crate::write_replacing(path, |mut file| {
        use std::io::Write;
        file.write_all(&encoded).map_err(werr)?;
        file.flush().map_err(werr)
    })
}

/// A montage of up to `max_slices` slices with `window` (or the 0.5-99.5 % percentile window).
pub fn write_montage(
    vol: &Volume,
    path: &Path,
    max_slices: usize,
    window: Option<Window>,
) -> Result<Window> {
    let window = window
        .unwrap_or_else(|| Window::from_percentiles(vol.frame(0).unwrap_or(&vol.data), 0.5, 99.5));
    let slices = spread_slices(vol.dims[2], max_slices.max(1));
    let (w, h, px) = montage(vol, &slices, None, window);
    write_gray_png(path, w, h, &px)?;
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_window_ignores_outliers() {
        let mut v: Vec<f32> = (0..1000).map(|x| x as f32 / 10.0).collect();
        v.push(1e9);
        let w = Window::from_percentiles(&v, 0.5, 99.5);
        assert!(w.center - w.width / 2.0 < 1.0);
        assert!(w.center + w.width / 2.0 < 101.0);
        assert_eq!(w.to_u8(-5.0), 0);
        assert_eq!(w.to_u8(1e9), 255);
    }

    #[test]
    fn percentile_window_widens_for_sparse_and_constant_images() {
        // 0.2 % of voxels lit: both percentiles are 0, so the window must widen to the range.
        let mut mask = vec![0.0f32; 1000];
        mask[..2].fill(1.0);
        let w = Window::from_percentiles(&mask, 0.5, 99.5);
        assert_eq!((w.to_u8(0.0), w.to_u8(1.0)), (0, 255));
        assert!(!w.is_constant());
        let flat = Window::from_percentiles(&[7.0; 10], 0.5, 99.5);
        assert!(flat.is_constant());
        assert_eq!(flat.to_u8(7.0), 128);
    }

    #[test]
    fn montage_places_slices_in_a_grid() {
        let mut v = Volume::new([2, 2, 3], vec![0.0; 12]).unwrap();
        v.data[4..8].fill(10.0); // slice 1
        let (w, h, px) = montage(&v, &[0, 1, 2], Some(2), Window { center: 5.0, width: 10.0 });
        assert_eq!((w, h), (4, 4));
        assert_eq!(px[2], 255); // slice 1 at top-right
        assert_eq!(px[0], 0);
        assert_eq!(spread_slices(100, 4), vec![12, 37, 62, 87]);
    }
}

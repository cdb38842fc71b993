//! Sequential Huffman DCT JPEG (ITU-T T.81 processes 1, 2 and 4: baseline and extended) for
//! one greyscale component at 8 or 12 bits per sample.
//!
//! jpeg-decoder only handles 8-bit precision, and DICOM's "JPEG Extended (Process 2 & 4)"
//! transfer syntax exists for 12-bit images (nuclear medicine, older CT/MR). This decoder is the
//! fallback for them; colour and progressive JPEG stay with jpeg-decoder.
//!
//! The inverse DCT is computed in floating point and rounded, so results can differ from
//! libjpeg's integer IDCT by one level, within the tolerance lossy decoders are held to.

/// A decoded greyscale frame.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GreyFrame {
    pub width: usize,
    pub height: usize,
    pub precision: u8,
    pub samples: Vec<u16>,
}

/// Zig-zag order: position `k` of the coded sequence is coefficient `ZIGZAG[k]` (row-major).
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// A Huffman table as in T.81 F.2.2.3: per code length, the largest code and where its
/// symbols start.
#[derive(Debug, Clone, Default)]
struct Huffman {
    max_code: [i32; 17],
    val_ptr: [i32; 17],
    min_code: [i32; 17],
    values: Vec<u8>,
}

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>) -> Self {
        let mut h = Huffman { values, ..Default::default() };
        let (mut code, mut k) = (0i32, 0i32);
        for len in 1..=16 {
            let n = counts[len - 1] as i32;
            if n == 0 {
                h.max_code[len] = -1;
            } else {
                h.val_ptr[len] = k;
                h.min_code[len] = code;
                code += n;
                k += n;
                h.max_code[len] = code - 1;
            }
            code <<= 1;
        }
        h
    }
}

/// Entropy-coded bits, with 0xFF00 stuffing removed and markers stopping the stream.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    n: u32,
}

impl<'a> Bits<'a> {
    fn bit(&mut self) -> Result<u32, String> {
        if self.n == 0 {
            let b = *self.data.get(self.pos).ok_or("entropy-coded data ends early")?;
            if b == 0xFF {
                match self.data.get(self.pos + 1) {
                    Some(0x00) => self.pos += 2,
                    // A marker: feed zeros, as decoders do for a truncated final byte.
                    _ => return Ok(0),
                }
            } else {
                self.pos += 1;
            }
            self.acc = b as u32;
            self.n = 8;
        }
        self.n -= 1;
        Ok((self.acc >> self.n) & 1)
    }

    fn bits(&mut self, count: u32) -> Result<i32, String> {
        let mut v = 0i32;
        for _ in 0..count {
            v = (v << 1) | self.bit()? as i32;
        }
        Ok(v)
    }

    fn decode(&mut self, h: &Huffman) -> Result<u8, String> {
        let mut code = 0i32;
        for len in 1..=16 {
            code = (code << 1) | self.bit()? as i32;
            if h.max_code[len] >= 0 && code <= h.max_code[len] && code >= h.min_code[len] {
                let idx = (h.val_ptr[len] + code - h.min_code[len]) as usize;
                return h.values.get(idx).copied().ok_or_else(|| "bad Huffman table".to_string());
            }
        }
        Err("invalid Huffman code".into())
    }

    /// Skip to after the next RSTn marker (restart intervals).
    fn restart(&mut self) -> Result<(), String> {
        self.n = 0;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF && (0xD0..=0xD7).contains(&self.data[self.pos + 1]) {
                self.pos += 2;
                return Ok(());
            }
            self.pos += 1;
        }
        Err("restart marker missing".into())
    }
}

fn extend(v: i32, t: u32) -> i32 {
    if t == 0 {
        0
    } else if v < (1 << (t - 1)) {
        v - (1 << t) + 1
    } else {
        v
    }
}

fn u16_at(d: &[u8], i: usize) -> Result<usize, String> {
    d.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize).ok_or("truncated".into())
}

/// Decode a sequential Huffman JPEG stream holding one greyscale component.
pub(crate) fn decode(data: &[u8]) -> Result<GreyFrame, String> {
    if data.get(0..2) != Some(&[0xFF, 0xD8]) {
        return Err("no JPEG start-of-image marker".into());
    }
    let mut qt = [[0u16; 64]; 4];
    let mut dc: [Option<Huffman>; 4] = Default::default();
    let mut ac: [Option<Huffman>; 4] = Default::default();
    let (mut width, mut height, mut precision, mut tq) = (0usize, 0usize, 8u8, 0usize);
    let mut restart_interval = 0usize;
    let mut pos = 2;
    loop {
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1; // fill bytes
        }
        if data.get(pos) != Some(&0xFF) {
            return Err(format!("expected a marker at byte {pos}"));
        }
        let marker = *data.get(pos + 1).ok_or("truncated")?;
        let len = u16_at(data, pos + 2)?;
        let seg = data.get(pos + 4..pos + 2 + len).ok_or("segment runs past the end")?;
        match marker {
            0xC0 | 0xC1 => {
                precision = seg[0];
                height = u16_at(seg, 1)?;
                width = u16_at(seg, 3)?;
                if seg[5] != 1 {
                    return Err(format!("{} components: only greyscale is handled here", seg[5]));
                }
                tq = (seg[8] & 3) as usize;
                if precision != 8 && precision != 12 {
                    return Err(format!("sample precision {precision}"));
                }
            }
            0xC2..=0xCF if marker != 0xC4 && marker != 0xC8 && marker != 0xCC => {
                return Err(format!(
                    "JPEG process with SOF marker 0x{marker:02X} is not handled here"
                ));
            }
            0xDB => {
                let mut i = 0;
                while i < seg.len() {
                    let (pq, t) = (seg[i] >> 4, (seg[i] & 3) as usize);
                    i += 1;
                    for k in 0..64 {
                        qt[t][ZIGZAG[k]] = if pq == 0 {
                            *seg.get(i + k).ok_or("truncated DQT")? as u16
                        } else {
                            u16_at(seg, i + 2 * k)? as u16
                        };
                    }
                    i += if pq == 0 { 64 } else { 128 };
                }
            }
            0xC4 => {
                let mut i = 0;
                while i < seg.len() {
                    let (class, id) = (seg[i] >> 4, (seg[i] & 3) as usize);
                    let counts: [u8; 16] =
                        seg.get(i + 1..i + 17).ok_or("truncated DHT")?.try_into().unwrap();
                    let total: usize = counts.iter().map(|&c| c as usize).sum();
                    let values = seg.get(i + 17..i + 17 + total).ok_or("truncated DHT")?.to_vec();
                    let table = Some(Huffman::new(&counts, values));
                    if class == 0 {
                        dc[id] = table;
                    } else {
                        ac[id] = table;
                    }
                    i += 17 + total;
                }
            }
            0xDD => restart_interval = u16_at(seg, 0)?,
            0xDA => {
                let tables = *seg.get(2).ok_or("truncated SOS")?;
                let (td, ta) = ((tables >> 4) as usize & 3, (tables & 3) as usize);
                let dct = dc[td].as_ref().ok_or("DC table missing")?;
                let act = ac[ta].as_ref().ok_or("AC table missing")?;
                let bits = Bits { data: &data[pos + 2 + len..], pos: 0, acc: 0, n: 0 };
                let samples = decode_scan(
                    bits,
                    dct,
                    act,
                    &qt[tq],
                    width,
                    height,
                    precision,
                    restart_interval,
                )?;
                return Ok(GreyFrame { width, height, precision, samples });
            }
            _ => {}
        }
        pos += 2 + len;
    }
}

#[allow(clippy::too_many_arguments)]
fn decode_scan(
    mut bits: Bits,
    dct: &Huffman,
    act: &Huffman,
    q: &[u16; 64],
    width: usize,
    height: usize,
    precision: u8,
    restart_interval: usize,
) -> Result<Vec<u16>, String> {
    if width == 0 || height == 0 {
        return Err("no frame header before the scan".into());
    }
    let (bw, bh) = (width.div_ceil(8), height.div_ceil(8));
    let mut out = vec![0u16; width * height];
    let cos = idct_table();
    let max = (1i32 << precision) - 1;
    let shift = 1i32 << (precision - 1);
    let mut pred = 0i32;
    for b in 0..bw * bh {
        if restart_interval > 0 && b > 0 && b % restart_interval == 0 {
            bits.restart()?;
            pred = 0;
        }
        let mut coef = [0f32; 64];
        let t = bits.decode(dct)? as u32;
        pred += extend(bits.bits(t)?, t);
        coef[0] = pred as f32 * q[0] as f32;
        let mut k = 1;
        while k < 64 {
            let rs = bits.decode(act)?;
            let (r, s) = ((rs >> 4) as usize, (rs & 15) as u32);
            if s == 0 {
                if r == 15 {
                    k += 16;
                    continue;
                }
                break;
            }
            k += r;
            if k > 63 {
                return Err("AC run past the end of a block".into());
            }
            coef[ZIGZAG[k]] = extend(bits.bits(s)?, s) as f32 * q[ZIGZAG[k]] as f32;
            k += 1;
        }
        let block = idct(&coef, &cos);
        let (bx, by) = (b % bw * 8, b / bw * 8);
        for y in 0..8 {
            for x in 0..8 {
                let (px, py) = (bx + x, by + y);
                if px < width && py < height {
                    let v = (block[y * 8 + x].round() as i32 + shift).clamp(0, max);
                    out[py * width + px] = v as u16;
                }
            }
        }
    }
    Ok(out)
}

/// `c[u][x] = C(u)/2 · cos((2x + 1)uπ/16)`.
fn idct_table() -> [[f32; 8]; 8] {
    std::array::from_fn(|u| {
        std::array::from_fn(|x| {
            let cu = if u == 0 { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
            (cu / 2.0 * ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos()) as f32
        })
    })
}

fn idct(coef: &[f32; 64], c: &[[f32; 8]; 8]) -> [f32; 64] {
    let mut tmp = [0f32; 64];
    for v in 0..8 {
        for x in 0..8 {
            tmp[v * 8 + x] = (0..8).map(|u| c[u][x] * coef[v * 8 + u]).sum();
        }
    }
    let mut out = [0f32; 64];
    for y in 0..8 {
        for x in 0..8 {
            out[y * 8 + x] = (0..8).map(|v| c[v][y] * tmp[v * 8 + x]).sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idct_of_dc_only_block_is_flat() {
        let mut coef = [0f32; 64];
        coef[0] = 80.0; // DC of a flat block of 10 is 8 × 10
        let out = idct(&coef, &idct_table());
        assert!(out.iter().all(|v| (v - 10.0).abs() < 1e-4), "{out:?}");
    }

    #[test]
    fn extend_follows_t81() {
        assert_eq!(extend(0, 1), -1);
        assert_eq!(extend(1, 1), 1);
        assert_eq!(extend(2, 3), -5);
        assert_eq!(extend(6, 3), 6);
    }
}

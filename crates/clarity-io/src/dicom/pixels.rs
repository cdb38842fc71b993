//! Decoding pixel data into stored values, laid out as pydicom's `pixel_array`: frames, then rows,
//! then columns, then samples (colour images interleaved whatever their PlanarConfiguration).

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::PixelDecoder;

use super::header::{error_chain, get_str, transfer_syntax_name};
use crate::error::{IoError, Result};

/// The numeric type pixel samples are stored in, as pydicom would choose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    F64,
}

impl SampleType {
    /// The type pydicom stores `bits_allocated`-bit samples in (1-bit data unpacks to uint8).
    pub fn for_storage(bits_allocated: usize, signed: bool) -> Option<Self> {
        Some(match (bits_allocated, signed) {
            (1, _) | (8, false) => Self::U8,
            (8, true) => Self::I8,
            (16, false) => Self::U16,
            (16, true) => Self::I16,
            (32, false) => Self::U32,
            (32, true) => Self::I32,
            _ => return None,
        })
    }

    /// numpy's name for the type (`uint16`, `int16`, ...).
    pub fn numpy_name(self) -> &'static str {
        match self {
            Self::U8 => "uint8",
            Self::I8 => "int8",
            Self::U16 => "uint16",
            Self::I16 => "int16",
            Self::U32 => "uint32",
            Self::I32 => "int32",
            Self::F32 => "float32",
            Self::F64 => "float64",
        }
    }
}

/// Decoded stored pixel values (before RescaleSlope/Intercept).
#[derive(Debug, Clone)]
pub struct PixelArray {
    pub frames: usize,
    pub rows: usize,
    pub columns: usize,
    pub samples_per_pixel: usize,
    pub sample_type: SampleType,
    /// Photometric interpretation of `values` (YBR colour is converted to RGB by the decoders
    /// that do so, as pydicom does).
    pub photometric: String,
    /// Every sample, frame-major, then row, column, sample. f64 holds every stored type exactly.
    pub values: Vec<f64>,
}

impl PixelArray {
    /// numpy-style shape: `[frames,] rows, columns[, samples]`, singleton frames/samples dropped.
    pub fn shape(&self) -> Vec<usize> {
        let mut s = Vec::with_capacity(4);
        if self.frames > 1 {
            s.push(self.frames);
        }
        s.push(self.rows);
        s.push(self.columns);
        if self.samples_per_pixel > 1 {
            s.push(self.samples_per_pixel);
        }
        s
    }

    /// The values as little-endian bytes of [`Self::sample_type`], as numpy's `tobytes()`.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.values.len() * 4);
        for &v in &self.values {
            match self.sample_type {
                SampleType::U8 => out.push(v as u8),
                SampleType::I8 => out.push(v as i8 as u8),
                SampleType::U16 => out.extend_from_slice(&(v as u16).to_le_bytes()),
                SampleType::I16 => out.extend_from_slice(&(v as i16).to_le_bytes()),
                SampleType::U32 => out.extend_from_slice(&(v as u32).to_le_bytes()),
                SampleType::I32 => out.extend_from_slice(&(v as i32).to_le_bytes()),
                SampleType::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
                SampleType::F64 => out.extend_from_slice(&v.to_le_bytes()),
            }
        }
        out
    }

    /// One frame's samples.
    pub fn frame(&self, f: usize) -> &[f64] {
        let n = self.rows * self.columns * self.samples_per_pixel;
        &self.values[f * n..(f + 1) * n]
    }
}

/// Open `path` and decode all its frames.
pub fn decode_file(path: &Path) -> Result<PixelArray> {
    let obj = super::header::open(path, true)?;
    decode_object(path, &obj)
}

/// Decode the pixel data of an opened object.
pub fn decode_object(path: &Path, obj: &DefaultDicomObject) -> Result<PixelArray> {
    let ts = obj.meta().transfer_syntax().trim_end_matches('\0').to_string();
    let decode_err = |reason: String| IoError::PixelDecode {
        path: path.to_path_buf(),
        transfer_syntax: transfer_syntax_name(&ts),
        reason,
    };
    let has_pixels = obj.get(tags::PIXEL_DATA).is_some()
        || obj.get(tags::FLOAT_PIXEL_DATA).is_some()
        || obj.get(tags::DOUBLE_FLOAT_PIXEL_DATA).is_some();
    if !has_pixels {
        return Err(IoError::NoPixelData {
            path: path.to_path_buf(),
            sop_class: get_str(obj, tags::SOP_CLASS_UID).unwrap_or_else(|| "unknown".into()),
        });
    }
    super::header::check_pixel_module(path, obj)?;
    check_codestream_size(obj).map_err(decode_err)?;
    let ts_is_rle = ts == "1.2.840.10008.1.2.5";
    if ts_is_rle {
        return decode_rle(obj).map_err(decode_err);
    }
    let ts_is_jpeg_lossy = ts == "1.2.840.10008.1.2.4.50" || ts == "1.2.840.10008.1.2.4.51";
    if ts_is_jpeg_lossy
        && get_str(obj, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("RGB")
        && super::header::get_f64(obj, tags::SAMPLES_PER_PIXEL) == Some(3.0)
    {
        return decode_rgb_jpeg(obj).map_err(decode_err);
    }
    // dicom-pixeldata can panic on some malformed streams (slice indexing in codecs); a broken
    // file must become an error naming it, not take the whole folder scan down.
    let decoded =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| obj.decode_pixel_data()))
            .map_err(|_| decode_err("decoder panicked on malformed data".into()))?;
    let decoded = match decoded {
        Ok(d) => d,
        Err(e) if ts == "1.2.840.10008.1.2.4.80" || ts == "1.2.840.10008.1.2.4.81" => {
            let first = error_chain(&e);
            return decode_frames_with(obj, super::jpegls::decode_frame)
                .map_err(|why| decode_err(format!("{first} (second try: {why})")));
        }
        // 12-bit JPEG Extended: jpeg-decoder stops at 8 bits, so our own decoder takes it.
        Err(e) if ts == "1.2.840.10008.1.2.4.51" => {
            let first = error_chain(&e);
            let decode12 = |d: &[u8]| {
                super::jpeg12::decode(d).map(|g| {
                    (g.samples.into_iter().map(u64::from).collect::<Vec<_>>(), g.height, g.width)
                })
            };
            return decode_frames_with(obj, decode12)
                .map_err(|why| decode_err(format!("{first} (12-bit decoder: {why})")));
        }
        Err(e) => return Err(decode_err(error_chain(&e))),
    };

    let rows = decoded.rows() as usize;
    let columns = decoded.columns() as usize;
    let frames = decoded.number_of_frames() as usize;
    let spp = decoded.samples_per_pixel() as usize;
    let bits_allocated = decoded.bits_allocated();
    let bits_stored = decoded.bits_stored().min(bits_allocated);
    let signed =
        matches!(decoded.pixel_representation(), dicom_pixeldata::PixelRepresentation::Signed);
    let planar =
        matches!(decoded.planar_configuration(), dicom_pixeldata::PlanarConfiguration::PixelFirst);
    let photometric = decoded.photometric_interpretation().as_str().to_string();

    let sample_type = SampleType::for_storage(bits_allocated as usize, signed)
        .ok_or_else(|| decode_err(format!("unsupported BitsAllocated {bits_allocated}")))?;
    let data = decoded.data();
    let n = rows * columns * spp * frames;
    if photometric == "YBR_FULL_422" && spp == 3 && bits_allocated == 8 {
        return ybr_422_to_rgb(data, rows, columns, frames)
            .map(|values| PixelArray {
                frames,
                rows,
                columns,
                samples_per_pixel: 3,
                sample_type,
                photometric: "RGB".into(),
                values,
            })
            .ok_or_else(|| decode_err("YBR_FULL_422 data is shorter than the frame size".into()));
    }
    let bytes_per = (bits_allocated as usize).div_ceil(8);
    if bits_allocated == 1 {
        // dicom-pixeldata has already unpacked the bits into 0/255 bytes.
        if data.len() < n {
            return Err(decode_err("1-bit pixel data is shorter than Rows × Columns".into()));
        }
        let values = data[..n].iter().map(|&b| (b != 0) as u8 as f64).collect();
        return Ok(PixelArray {
            frames,
            rows,
            columns,
            samples_per_pixel: spp,
            sample_type,
            photometric,
            values,
        });
    }
    if data.len() < n * bytes_per {
        return Err(decode_err(format!(
            "pixel data holds {} bytes but {} frame(s) of {}×{}×{} × {} bytes need {}",
            data.len(),
            frames,
            rows,
            columns,
            spp,
            bytes_per,
            n * bytes_per
        )));
    }
    if data.len() >= 2 * n * bytes_per {
        // Padding is a byte or a few words; twice the data means the header does not describe
        // it (16-bit values under BitsAllocated 8, frames beyond NumberOfFrames), and reading
        // the first half would make an image of garbage or drop frames unsaid.
        return Err(decode_err(format!(
            "pixel data holds {} bytes, at least twice the {} that {} frame(s) of {}×{}×{} × {} \
             bytes need: BitsAllocated or NumberOfFrames does not describe it",
            data.len(),
            n * bytes_per,
            frames,
            rows,
            columns,
            spp,
            bytes_per
        )));
    }
    // Values arrive in the machine's (little-endian) order whatever the transfer syntax, except
    // that dicom-rs reads big-endian OW as 16-bit words, so 32-bit samples arrive with their
    // halves swapped.
    let swap_halves = bytes_per == 4 && ts == "1.2.840.10008.1.2.2";
    let mut values = Vec::with_capacity(n);
    for chunk in data[..n * bytes_per].chunks_exact(bytes_per) {
        let raw: u64 = match bytes_per {
            1 => chunk[0] as u64,
            2 => u16::from_le_bytes([chunk[0], chunk[1]]) as u64,
            _ => {
                let w = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                (if swap_halves { w.rotate_left(16) } else { w }) as u64
            }
        };
        values.push(stored_value(raw, bits_stored, signed));
    }
    if planar && spp > 1 {
        values = interleave_planes(&values, rows * columns, spp, frames);
    }
    Ok(finish(PixelArray {
        frames,
        rows,
        columns,
        samples_per_pixel: spp,
        sample_type,
        photometric,
        values,
    }))
}

/// Keep the low `bits_stored` bits and sign-extend them when signed, as pydicom does for
/// BitsStored < BitsAllocated (the unused high bits may hold overlays or garbage).
fn stored_value(raw: u64, bits_stored: u16, signed: bool) -> f64 {
    let mask = if bits_stored >= 64 { u64::MAX } else { (1u64 << bits_stored) - 1 };
    let v = raw & mask;
    if signed && bits_stored > 0 && (v >> (bits_stored - 1)) & 1 == 1 {
        (v as i64 - (1i64 << bits_stored)) as f64
    } else {
        v as f64
    }
}

fn interleave_planes(values: &[f64], plane: usize, spp: usize, frames: usize) -> Vec<f64> {
    let mut out = vec![0.0; values.len()];
    for f in 0..frames {
        let base = f * plane * spp;
        for s in 0..spp {
            for p in 0..plane {
                out[base + p * spp + s] = values[base + s * plane + p];
            }
        }
    }
    out
}

/// YBR_FULL to RGB as pydicom does it (ITU-R BT.601 full range, float32, round half up, clip).
fn ybr_full_to_rgb(values: &mut [f64]) {
    let m: [[f32; 3]; 3] = [
        [1.0, 1.0, 1.0],
        [0.0, -0.114 * 1.772 / 0.587, 1.772],
        [1.402, -0.299 * 1.402 / 0.587, 0.0],
    ];
    for px in values.chunks_exact_mut(3) {
        let y = px[0] as f32;
        let cb = px[1] as f32 - 128.0;
        let cr = px[2] as f32 - 128.0;
        for c in 0..3 {
            let v = y * m[0][c] + cb * m[1][c] + cr * m[2][c];
            px[c] = (v + 0.5).floor().clamp(0.0, 255.0) as f64;
        }
    }
}

/// Native YBR_FULL_422: each pair of pixels is stored as Y0 Y1 Cb Cr. Expanded to full YBR and
/// then converted to RGB.
fn ybr_422_to_rgb(data: &[u8], rows: usize, columns: usize, frames: usize) -> Option<Vec<f64>> {
    let pixels = rows * columns * frames;
    let need = pixels.div_ceil(2) * 4;
    if data.len() < need || !columns.is_multiple_of(2) {
        return None;
    }
    let mut out = Vec::with_capacity(pixels * 3);
    for quad in data[..need].chunks_exact(4) {
        let (cb, cr) = (quad[2] as f64, quad[3] as f64);
        out.extend_from_slice(&[quad[0] as f64, cb, cr, quad[1] as f64, cb, cr]);
    }
    out.truncate(pixels * 3);
    ybr_full_to_rgb(&mut out);
    Some(out)
}

/// A compressed first frame must declare the size the header's Rows and Columns say (see
/// [`super::codestream`]). Its first fragment is read in place (the size is in the frame's
/// first bytes); a fragment that declares none, or a header without the matrix, is left to the
/// decoders, which report it.
fn check_codestream_size(obj: &DefaultDicomObject) -> std::result::Result<(), String> {
    // JPEG, JPEG-LS and JPEG 2000 (RLE frames declare no size).
    let ts = obj.meta().transfer_syntax().trim_end_matches('\0');
    if !ts.starts_with("1.2.840.10008.1.2.4.") {
        return Ok(());
    }
    let first = obj.get(tags::PIXEL_DATA).and_then(|e| e.fragments()).and_then(|f| f.first());
    let Some(declared) = first.and_then(|f| super::codestream::declared_size(f)) else {
        return Ok(());
    };
    let get = |tag| super::header::get_f64(obj, tag).map(|v| v as usize);
    let (Some(rows), Some(columns)) = (get(tags::ROWS), get(tags::COLUMNS)) else { return Ok(()) };
    if declared != (rows, columns) {
        return Err(format!(
            "the compressed frame is {}×{} (rows × columns), the header says {rows}×{columns}",
            declared.0, declared.1
        ));
    }
    Ok(())
}

/// Every frame through `decode_frame` (unsigned samples, rows, columns), then BitsStored and
/// sign applied: RLE, and the second try for codecs dicom-pixeldata refused.
fn decode_frames_with(
    obj: &DefaultDicomObject,
    decode_frame: impl Fn(&[u8]) -> std::result::Result<(Vec<u64>, usize, usize), String>,
) -> std::result::Result<PixelArray, String> {
    use super::header::get_f64;
    use dicom_encoding::adapters::PixelDataObject;
    let frames = get_f64(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1.0).max(1.0) as u32;
    let bits_allocated = get_f64(obj, tags::BITS_ALLOCATED).unwrap_or(16.0) as u16;
    let bits_stored = (get_f64(obj, tags::BITS_STORED).unwrap_or(bits_allocated as f64) as u16)
        .min(bits_allocated);
    let signed = get_f64(obj, tags::PIXEL_REPRESENTATION) == Some(1.0);
    let spp = get_f64(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1.0) as usize;
    let sample_type = SampleType::for_storage(bits_allocated as usize, signed)
        .ok_or_else(|| format!("unsupported BitsAllocated {bits_allocated}"))?;
    // The header's matrix is required, as every decoder requires it: without it (lost to
    // damage before it, with Pixel Representation) a frame's own size would make an image of
    // values read with the wrong sign.
    let get = |tag| get_f64(obj, tag).map(|v| v as usize);
    let rows = get(tags::ROWS).ok_or("Rows missing")?;
    let columns = get(tags::COLUMNS).ok_or("Columns missing")?;
    let mut values = Vec::new();
    for f in 0..frames {
        let data = obj.frame_pixel_data(f).ok_or_else(|| format!("frame {f} has no data"))?;
        let (raw, r, c) = decode_frame(&data).map_err(|e| format!("frame {f}: {e}"))?;
        if (r, c) != (rows, columns) {
            return Err(format!("frame {f} is {r}×{c}, the header says {rows}×{columns}"));
        }
        values.extend(raw.into_iter().map(|v| stored_value(v, bits_stored, signed)));
    }
    Ok(finish(PixelArray {
        frames: frames as usize,
        rows,
        columns,
        samples_per_pixel: spp,
        sample_type,
        photometric: get_str(obj, tags::PHOTOMETRIC_INTERPRETATION)
            .unwrap_or_else(|| "MONOCHROME2".into()),
        values,
    }))
}

/// RLE Lossless through [`super::rle`], for every bit depth.
fn decode_rle(obj: &DefaultDicomObject) -> std::result::Result<PixelArray, String> {
    let get = |tag| super::header::get_f64(obj, tag).map(|v| v as usize);
    let rows = get(tags::ROWS).ok_or("Rows missing")?;
    let columns = get(tags::COLUMNS).ok_or("Columns missing")?;
    let spp = get(tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    let bytes_per = match get(tags::BITS_ALLOCATED).ok_or("BitsAllocated missing")? {
        b @ (8 | 16 | 32) => b / 8,
        b => return Err(format!("RLE with BitsAllocated {b} is not supported")),
    };
    decode_frames_with(obj, |fragment| {
        super::rle::decode_frame(fragment, rows, columns, spp, bytes_per)
            .map(|v| (v, rows, columns))
    })
}

/// YBR_FULL colour comes out as RGB, as pydicom's `pixel_array` gives it (whatever decoder
/// produced the samples).
fn finish(mut px: PixelArray) -> PixelArray {
    if px.samples_per_pixel == 3 && px.sample_type == SampleType::U8 && px.photometric == "YBR_FULL"
    {
        ybr_full_to_rgb(&mut px.values);
        px.photometric = "RGB".into();
    }
    px
}

/// JPEG whose DICOM PhotometricInterpretation says RGB: the components are already R, G, B, so no
/// YCbCr transform is applied whatever the JFIF/Adobe markers suggest (as pydicom does: the
/// DICOM attribute is the authority, and several encoders write RGB with no or broken markers).
fn decode_rgb_jpeg(obj: &DefaultDicomObject) -> std::result::Result<PixelArray, String> {
    use dicom_encoding::adapters::PixelDataObject;
    let frames = super::header::get_f64(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1.0).max(1.0) as u32;
    let mut values = Vec::new();
    let (mut rows, mut columns) = (0, 0);
    for f in 0..frames {
        let data = obj.frame_pixel_data(f).ok_or_else(|| format!("frame {f} has no JPEG data"))?;
        let mut dec = jpeg_decoder::Decoder::new(&data[..]);
        // `RGB` keeps the three components as they are; `None` (tried first) repeats the
        // first component in all three: `SC_rgb_dcmtk_+eb+cr.dcm` came out grey, a quarter of
        // its samples off by up to 255, unnoticed by the manifest's 16 samples.
        dec.set_color_transform(jpeg_decoder::ColorTransform::RGB);
        let px = dec.decode().map_err(|e| format!("frame {f}: {e}"))?;
        let info = dec.info().ok_or("JPEG has no frame header")?;
        if info.pixel_format != jpeg_decoder::PixelFormat::RGB24 {
            return Err(format!(
                "frame {f}: expected 3 components, JPEG has {:?}",
                info.pixel_format
            ));
        }
        rows = info.height as usize;
        columns = info.width as usize;
        values.extend(px.into_iter().map(|b| b as f64));
    }
    Ok(PixelArray {
        frames: frames as usize,
        rows,
        columns,
        samples_per_pixel: 3,
        sample_type: SampleType::U8,
        photometric: "RGB".into(),
        values,
    })
}

//! NIfTI-1 and NIfTI-2 (`.nii`, `.nii.gz`; `.hdr` + `.img` pairs read), read and write. The header is parsed here rather than
//! through a crate so that NIfTI-2 and nibabel's exact affine rules (sform, then qform, then the
//! centred fallback) are under our control and tested against nibabel's own numbers.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clarity_core::{Affine4, FrameAxis, FrameKind, Volume};

use crate::error::{IoError, Result};

/// On-disk voxel type (NIfTI `datatype` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NiftiType {
    U8 = 2,
    I16 = 4,
    I32 = 8,
    F32 = 16,
    F64 = 64,
    I8 = 256,
    U16 = 512,
    U32 = 768,
    I64 = 1024,
    U64 = 1280,
}

impl NiftiType {
    fn from_code(code: i16) -> Option<Self> {
        use NiftiType::*;
        Some(match code {
            2 => U8,
            4 => I16,
            8 => I32,
            16 => F32,
            64 => F64,
            256 => I8,
            512 => U16,
            768 => U32,
            1024 => I64,
            1280 => U64,
            _ => return None,
        })
    }

    pub fn bytes(self) -> usize {
        use NiftiType::*;
        match self {
            U8 | I8 => 1,
            I16 | U16 => 2,
            I32 | U32 | F32 => 4,
            F64 | I64 | U64 => 8,
        }
    }

    /// numpy's name, as in nibabel's manifest.
    pub fn numpy_name(self) -> &'static str {
        use NiftiType::*;
        match self {
            U8 => "uint8",
            I8 => "int8",
            I16 => "int16",
            U16 => "uint16",
            I32 => "int32",
            U32 => "uint32",
            F32 => "float32",
            F64 => "float64",
            I64 => "int64",
            U64 => "uint64",
        }
    }

    fn decode(self, b: &[u8], big: bool) -> f64 {
        macro_rules! num {
            ($t:ty, $n:expr) => {{
                let a: [u8; $n] = b[..$n].try_into().unwrap();
                (if big { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }) as f64
            }};
        }
        use NiftiType::*;
        match self {
            U8 => b[0] as f64,
            I8 => b[0] as i8 as f64,
            I16 => num!(i16, 2),
            U16 => num!(u16, 2),
            I32 => num!(i32, 4),
            U32 => num!(u32, 4),
            F32 => num!(f32, 4),
            F64 => num!(f64, 8),
            I64 => num!(i64, 8),
            U64 => num!(u64, 8),
        }
    }
}

/// A NIfTI file as stored: header values and the raw voxel bytes (converted to little-endian).
#[derive(Debug, Clone)]
pub struct NiftiImage {
    pub version: u8,
    /// `dim[1..=ndim]`.
    pub shape: Vec<usize>,
    pub datatype: NiftiType,
    /// `pixdim[1..=ndim]`.
    pub zooms: Vec<f64>,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub qform_code: i32,
    pub sform_code: i32,
    /// The RAS+ affine chosen as nibabel does.
    pub affine: Affine4,
    /// Voxel data, file order (x fastest), little-endian whatever the file's byte order.
    pub raw_le: Vec<u8>,
    /// For a `.hdr`/`.img` pair, its two files (header first); None for a single `.nii`.
    pub pair: Option<(PathBuf, PathBuf)>,
}

impl NiftiImage {
    /// Scaled voxel values (`raw * scl_slope + scl_inter`, unless the slope is 0 or NaN).
    pub fn scaled_values(&self) -> Vec<f64> {
        let n = self.datatype.bytes();
        let (slope, inter) = effective_scaling(self.scl_slope, self.scl_inter);
        self.raw_le
            .chunks_exact(n)
            .map(|c| self.datatype.decode(c, false) * slope + inter)
            .collect()
    }
}

fn effective_scaling(slope: f64, inter: f64) -> (f64, f64) {
    if slope == 0.0 || !slope.is_finite() {
        (1.0, 0.0)
    } else {
        (slope, if inter.is_finite() { inter } else { 0.0 })
    }
}

fn nifti_err(path: &Path, reason: impl Into<String>) -> IoError {
    IoError::Nifti { path: path.to_path_buf(), reason: reason.into() }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let raw =
        std::fs::read(path).map_err(|source| IoError::Read { path: path.to_path_buf(), source })?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| nifti_err(path, format!("gzip stream is corrupt: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Whether `path` names a NIfTI file by its extension: `.nii`, or either half of a pair
/// (`.hdr` / `.img`), each optionally gzipped; any case.
pub fn is_nifti_name(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".nii", ".hdr", ".img"].iter().any(|ext| name.ends_with(ext))
}

/// Whether `path` names a single-file NIfTI, the form this crate writes: `.nii` or `.nii.gz`,
/// any case.
pub fn is_single_file_name(path: &Path) -> bool {
    single_file_stem_len(&path.to_string_lossy()).is_some()
}

/// The length of `name` without its `.nii` / `.nii.gz` (any case), if it ends in one.
fn single_file_stem_len(name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    [".nii.gz", ".nii"].iter().find(|e| lower.ends_with(*e)).map(|e| name.len() - e.len())
}

/// `scan.EXT` beside `scan.nii` or `scan.nii.gz` (any case); `NAME.EXT` for any other name:
/// where the sidecar and the diffusion tables of a NIfTI go.
pub(crate) fn beside_nifti(nifti: &Path, ext: &str) -> PathBuf {
    let name = nifti.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem_len = single_file_stem_len(&name).unwrap_or(name.len());
    nifti.with_file_name(format!("{}.{ext}", &name[..stem_len]))
}

/// The header and voxel files of a NIfTI pair that `path` (either half, gzipped or not) belongs
/// to, or None when `path` is not named as half of a pair. The other half is looked for beside
/// it with the same stem, gzipped or not, in the case `path` uses; an error names what is
/// missing.
fn pair_files(path: &Path) -> Option<Result<(PathBuf, PathBuf)>> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    let lower = name.to_ascii_lowercase();
    let unzipped = lower.strip_suffix(".gz").unwrap_or(&lower);
    let is_header = unzipped.ends_with(".hdr");
    if !is_header && !unzipped.ends_with(".img") {
        return None;
    }
    let stem = &name[..unzipped.len() - 4];
    let upper = name[unzipped.len() - 3..unzipped.len()].chars().all(|c| c.is_ascii_uppercase());
    let other_ext = match (is_header, upper) {
        (true, false) => "img",
        (true, true) => "IMG",
        (false, false) => "hdr",
        (false, true) => "HDR",
    };
    let candidates: Vec<PathBuf> =
        [format!("{stem}.{other_ext}"), format!("{stem}.{other_ext}.gz")]
            .into_iter()
            .map(|n| path.with_file_name(n))
            .collect();
    let Some(other) = candidates.iter().find(|p| p.is_file()) else {
        return Some(Err(nifti_err(
            path,
            format!(
                "the {} of this .hdr/.img pair is missing: no {} or {} beside it",
                if is_header { "voxel file" } else { "header" },
                candidates[0].display(),
                candidates[1].display()
            ),
        )));
    };
    let (header, voxels) = if is_header {
        (path.to_path_buf(), other.clone())
    } else {
        (other.clone(), path.to_path_buf())
    };
    Some(Ok((header, voxels)))
}

/// Parse a NIfTI-1 or NIfTI-2 image (gzipped or not): a single `.nii` file, or a pair of
/// `.hdr` + `.img` files named by either half.
pub fn read_nifti_image(path: &Path) -> Result<NiftiImage> {
    let pair = pair_files(path).transpose()?;
    let b = read_bytes(pair.as_ref().map_or(path, |(header, _)| header))?;
    // Errors about the header name the file that holds it.
    let path = pair.as_ref().map_or(path, |(header, _)| header.as_path());
    if b.len() < 348 {
        return Err(nifti_err(
            path,
            format!("file has {} bytes, a NIfTI header needs 348", b.len()),
        ));
    }
    let h1_le = i32::from_le_bytes(b[0..4].try_into().unwrap());
    let h1_be = i32::from_be_bytes(b[0..4].try_into().unwrap());
    let (version, big) = match (h1_le, h1_be) {
        (348, _) => (1, false),
        (_, 348) => (1, true),
        (540, _) => (2, false),
        (_, 540) => (2, true),
        _ => {
            return Err(nifti_err(
                path,
                format!("sizeof_hdr is {h1_le}, not 348 (NIfTI-1) or 540 (NIfTI-2)"),
            ))
        }
    };
    if version == 2 && b.len() < 540 {
        return Err(nifti_err(path, "NIfTI-2 header is truncated"));
    }
    let r = Reader { b: &b, big };
    let (dims, datatype, pixdim, vox_offset, slope, inter, qcode, scode, quat, qoff, srow);
    if version == 1 {
        dims = (0..8).map(|i| r.i16(40 + 2 * i) as i64).collect::<Vec<_>>();
        datatype = r.i16(70);
        pixdim = (0..8).map(|i| r.f32(76 + 4 * i) as f64).collect::<Vec<_>>();
        vox_offset = r.f32(108) as f64;
        slope = r.f32(112) as f64;
        inter = r.f32(116) as f64;
        qcode = r.i16(252) as i32;
        scode = r.i16(254) as i32;
        quat = [r.f32(256) as f64, r.f32(260) as f64, r.f32(264) as f64];
        qoff = [r.f32(268) as f64, r.f32(272) as f64, r.f32(276) as f64];
        srow = std::array::from_fn::<[f64; 4], 3, _>(|row| {
            std::array::from_fn(|c| r.f32(280 + 16 * row + 4 * c) as f64)
        });
        check_magic(path, &b[344..348], 1, pair.is_some())?;
    } else {
        check_magic(path, &b[4..8], 2, pair.is_some())?;
        dims = (0..8).map(|i| r.i64(16 + 8 * i)).collect();
        datatype = r.i16(12);
        pixdim = (0..8).map(|i| r.f64(104 + 8 * i)).collect();
        vox_offset = r.i64(168) as f64;
        slope = r.f64(176);
        inter = r.f64(184);
        qcode = r.i32(344);
        scode = r.i32(348);
        quat = [r.f64(352), r.f64(360), r.f64(368)];
        qoff = [r.f64(376), r.f64(384), r.f64(392)];
        srow = std::array::from_fn(|row| std::array::from_fn(|c| r.f64(400 + 32 * row + 8 * c)));
    }
    let ndim = dims[0];
    if !(1..=7).contains(&ndim) {
        return Err(nifti_err(path, format!("dim[0] is {ndim}, must be 1..7")));
    }
    let shape: Vec<usize> = dims[1..=ndim as usize]
        .iter()
        .map(|&d| usize::try_from(d).ok().filter(|d| *d > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            nifti_err(path, format!("dimensions {:?} are not positive", &dims[1..=ndim as usize]))
        })?;
    let dt = NiftiType::from_code(datatype).ok_or_else(|| {
        let name = match datatype {
            32 => " (complex64)",
            1792 => " (complex128)",
            2048 => " (complex256)",
            128 => " (RGB24)",
            2304 => " (RGBA32)",
            1536 => " (float128)",
            _ => "",
        };
        nifti_err(
            path,
            format!(
                "datatype {datatype}{name} is not supported: only real-valued scalar voxels \
                 (integers, float32, float64) are read"
            ),
        )
    })?;
    // A pair's voxels start vox_offset bytes into the .img (0 as a rule); a single file's
    // after its header and the 4-byte extension flag.
    let header_bytes = if pair.is_some() {
        0
    } else if version == 1 {
        348
    } else {
        540
    };
    let offset = if !vox_offset.is_finite() || vox_offset < 0.0 {
        // `NaN as usize` is 0: the header itself would be read as voxels.
        return Err(nifti_err(path, format!("vox_offset is {vox_offset}")));
    } else if vox_offset < 1.0 {
        if pair.is_some() {
            0
        } else {
            header_bytes + 4
        }
    } else if vox_offset < header_bytes as f64 {
        return Err(nifti_err(
            path,
            format!("vox_offset {vox_offset} lies inside the {header_bytes}-byte header"),
        ));
    } else {
        vox_offset as usize
    };
    // Checked: 7 dimensions of 32767 overflow 64 bits (a panic in a debug build).
    let need = shape
        .iter()
        .try_fold(dt.bytes(), |acc, &d| acc.checked_mul(d))
        .and_then(|data| data.checked_add(offset))
        .ok_or_else(|| {
            nifti_err(path, format!("dimensions {shape:?} hold more bytes than can be addressed"))
        })?;
    let voxel_file;
    let (b, path) = match &pair {
        Some((_, voxels)) => {
            voxel_file = read_bytes(voxels)?;
            (&voxel_file, voxels.as_path())
        }
        None => (&b, path),
    };
    if b.len() < need {
        return Err(nifti_err(
            path,
            format!("data is truncated: {} bytes, header needs {need}", b.len()),
        ));
    }
    let mut raw_le = b[offset..need].to_vec();
    if big && dt.bytes() > 1 {
        for c in raw_le.chunks_exact_mut(dt.bytes()) {
            c.reverse();
        }
    }
    let zooms: Vec<f64> = (1..=ndim as usize).map(|i| pixdim[i]).collect();
    let spatial: Vec<usize> = (0..3).map(|i| shape.get(i).copied().unwrap_or(1)).collect();
    let (affine, source) = if scode > 0 {
        ([srow[0], srow[1], srow[2], [0.0, 0.0, 0.0, 1.0]], "the sform (srow_x/y/z)")
    } else if qcode > 0 {
        let q = qform_affine(quat, qoff, [pixdim[1], pixdim[2], pixdim[3]], pixdim[0]);
        (q, "the qform (quatern_b/c/d, qoffset_x/y/z, pixdim)")
    } else {
        // nibabel's fallback: x flipped, centred on the middle voxel.
        let z =
            [pixdim[1].abs().max(1e-12), pixdim[2].abs().max(1e-12), pixdim[3].abs().max(1e-12)];
        let z = [
            if pixdim[1] == 0.0 { 1.0 } else { z[0] },
            if pixdim[2] == 0.0 { 1.0 } else { z[1] },
            if pixdim[3] == 0.0 { 1.0 } else { z[2] },
        ];
        let c: Vec<f64> = spatial.iter().map(|&s| (s as f64 - 1.0) / 2.0).collect();
        let a = [
            [-z[0], 0.0, 0.0, c[0] * z[0]],
            [0.0, z[1], 0.0, -c[1] * z[1]],
            [0.0, 0.0, z[2], -c[2] * z[2]],
            [0.0, 0.0, 0.0, 1.0],
        ];
        (a, "pixdim (no sform or qform)")
    };
    if affine.iter().flatten().any(|v| !v.is_finite()) {
        // Said as what it is: left to the geometry check it read "column 0 has zero length".
        return Err(nifti_err(path, format!("{source} holds NaN or infinite values")));
    }
    Ok(NiftiImage {
        version,
        shape,
        datatype: dt,
        zooms,
        scl_slope: slope,
        scl_inter: inter,
        qform_code: qcode,
        sform_code: scode,
        affine,
        raw_le,
        pair: pair.clone(),
    })
}

/// The magic string of a NIfTI-`version` header (`n+1` / `n+2` for a single file, `ni1` /
/// `ni2` for a pair, NUL-terminated), and whether it fits how the file was named.
fn check_magic(path: &Path, magic: &[u8], version: u8, named_as_pair: bool) -> Result<()> {
    let single = [b'n', b'+', b'0' + version, 0];
    let paired = [b'n', b'i', b'0' + version, 0];
    let shown = String::from_utf8_lossy(&magic[..3]).into_owned();
    if magic == paired && !named_as_pair {
        return Err(nifti_err(
            path,
            format!(
                "its magic {shown:?} says the voxels are in a separate .img file: open the pair \
                 by its .hdr or .img name"
            ),
        ));
    }
    if magic == single && named_as_pair {
        return Err(nifti_err(
            path,
            format!("named as half of a .hdr/.img pair, but its magic {shown:?} says a single .nii file"),
        ));
    }
    if magic != single && magic != paired {
        let want = format!("n+{version} or ni{version}");
        if version == 1 && named_as_pair {
            // Analyze 7.5 shares the .hdr/.img names and the header size, without the magic.
            return Err(nifti_err(
                path,
                format!(
                    "magic is not {want} (it is {shown:?}): an Analyze 7.5 header? Its \
                     orientation is not defined, so it is not read"
                ),
            ));
        }
        return Err(nifti_err(path, format!("magic is not {want} (it is {shown:?})")));
    }
    Ok(())
}

/// The qform affine as nibabel computes it (quaternion b, c, d; a from unit norm; qfac in
/// pixdim[0] flips z).
fn qform_affine(q: [f64; 3], offset: [f64; 3], zooms: [f64; 3], qfac: f64) -> Affine4 {
    let [b, c, d] = q;
    let w2 = 1.0 - (b * b + c * c + d * d);
    let a = if w2 < 0.0 { 0.0 } else { w2.sqrt() };
    let rot = [
        [a * a + b * b - c * c - d * d, 2.0 * (b * c - a * d), 2.0 * (b * d + a * c)],
        [2.0 * (b * c + a * d), a * a + c * c - b * b - d * d, 2.0 * (c * d - a * b)],
        [2.0 * (b * d - a * c), 2.0 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ];
    let qfac = if qfac < 0.0 { -1.0 } else { 1.0 };
    let z = [zooms[0], zooms[1], zooms[2] * qfac];
    let mut m = [[0.0; 4]; 4];
    for r in 0..3 {
        for col in 0..3 {
            m[r][col] = rot[r][col] * z[col];
        }
        m[r][3] = offset[r];
    }
    m[3][3] = 1.0;
    m
}

struct Reader<'a> {
    b: &'a [u8],
    big: bool,
}

macro_rules! getter {
    ($name:ident, $t:ty, $n:expr) => {
        fn $name(&self, at: usize) -> $t {
            let a: [u8; $n] = self.b[at..at + $n].try_into().unwrap();
            if self.big {
                <$t>::from_be_bytes(a)
            } else {
                <$t>::from_le_bytes(a)
            }
        }
    };
}

impl Reader<'_> {
    getter!(i16, i16, 2);
    getter!(i32, i32, 4);
    getter!(i64, i64, 8);
    getter!(f32, f32, 4);
    getter!(f64, f64, 8);
}

/// Read a NIfTI file into a [`Volume`] (scaling applied, RAS affine converted to LPS). A 4th
/// dimension becomes the volume's frames; dimensions past the 4th are refused.
pub fn read_nifti(path: &Path) -> Result<Volume> {
    let img = read_nifti_image(path)?;
    if img.shape.len() > 4 && img.shape[4..].iter().any(|&d| d > 1) {
        return Err(nifti_err(
            path,
            format!("{}-D images are not supported (shape {:?})", img.shape.len(), img.shape),
        ));
    }
    let dims = [img.shape[0], *img.shape.get(1).unwrap_or(&1), *img.shape.get(2).unwrap_or(&1)];
    let frames = *img.shape.get(3).unwrap_or(&1);
    let data = img.scaled_values().into_iter().map(|v| v as f32).collect();
    let mut vol = Volume::new_4d(dims, frames, data)
        .map_err(|source| IoError::Volume { path: path.to_path_buf(), source })?;
    vol.set_ras_affine(&img.affine)
        .map_err(|source| IoError::Volume { path: path.to_path_buf(), source })?;
    if frames > 1 {
        vol.frame_axis = Some(FrameAxis {
            kind: FrameKind::Other,
            values: (0..frames).map(|t| t as f64).collect(),
        });
    }
    Ok(vol)
}

/// Write a volume as NIfTI-1 (`.nii`, or gzipped when the name ends in `.gz`), with the sform
/// (code 1, scanner) and, when the direction is orthonormal, the matching qform. Volumes whose
/// values are all integers in int16 range (most DICOM-derived data) are stored as int16, exactly
/// and at half the size; anything else as float32.
pub fn write_nifti(vol: &Volume, path: &Path) -> Result<()> {
    let mut h = vec![0u8; 352];
    let put_i16 =
        |h: &mut Vec<u8>, at: usize, v: i16| h[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put_f32 =
        |h: &mut Vec<u8>, at: usize, v: f32| h[at..at + 4].copy_from_slice(&v.to_le_bytes());
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    let ndim = if vol.frames > 1 { 4 } else { 3 };
    let dims = [ndim, vol.dims[0], vol.dims[1], vol.dims[2], vol.frames, 1, 1, 1];
    for (i, d) in dims.iter().enumerate() {
        let d = i16::try_from(*d)
            .map_err(|_| nifti_err(path, format!("dimension {d} does not fit NIfTI-1")))?;
        put_i16(&mut h, 40 + 2 * i, d);
    }
    // One pass encodes as int16 and gives up at the first value int16 cannot hold exactly
    // (fractional, out of range, NaN: the saturating cast does not round-trip).
    let data = encode_i16(&vol.data);
    let as_i16 = data.is_some();
    let data = data.unwrap_or_else(|| vol.data.iter().flat_map(|v| v.to_le_bytes()).collect());
    let (dtype, bitpix) = if as_i16 { (NiftiType::I16, 16) } else { (NiftiType::F32, 32) };
    put_i16(&mut h, 70, dtype as i16);
    put_i16(&mut h, 72, bitpix);
    let affine = vol.ras_affine();
    let (quat, qfac) = rotation_to_quaternion(&vol.direction, true);
    let pix = [qfac, vol.spacing_mm[0], vol.spacing_mm[1], vol.spacing_mm[2], 1.0, 1.0, 1.0, 1.0];
    for (i, p) in pix.iter().enumerate() {
        put_f32(&mut h, 76 + 4 * i, *p as f32);
    }
    put_f32(&mut h, 108, 352.0);
    put_f32(&mut h, 112, 1.0);
    h[123] = 10 | 8; // xyzt_units: mm, seconds
    let desc = b"clarity";
    h[148..148 + desc.len()].copy_from_slice(desc);
    if let Some(q) = quat {
        put_i16(&mut h, 252, 1);
        for (i, v) in q.iter().enumerate() {
            put_f32(&mut h, 256 + 4 * i, *v as f32);
        }
        for r in 0..3 {
            put_f32(&mut h, 268 + 4 * r, affine[r][3] as f32);
        }
    }
    put_i16(&mut h, 254, 1);
    for r in 0..3 {
        for c in 0..4 {
            put_f32(&mut h, 280 + 16 * r + 4 * c, affine[r][c] as f32);
        }
    }
    h[344..348].copy_from_slice(b"n+1\0");
    let werr = |source| IoError::Write { path: path.to_path_buf(), source };
    crate::write_replacing(path, |mut w| {
        if path.to_string_lossy().ends_with(".gz") {
            let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::fast());
            gz.write_all(&h).map_err(werr)?;
            gz.write_all(&data).map_err(werr)?;
            gz.finish().map_err(werr)?.flush().map_err(werr)
        } else {
            w.write_all(&h).map_err(werr)?;
            w.write_all(&data).map_err(werr)?;
            w.flush().map_err(werr)
        }
    })
}

fn encode_i16(values: &[f32]) -> Option<Vec<u8>> {
    use rayon::prelude::*;
    let mut out = vec![0u8; values.len() * 2];
    // Chunks are encoded in parallel; `all` stops the others early once one value fails.
    let exact = out.par_chunks_mut(1 << 16).zip(values.par_chunks(1 << 15)).all(|(dst, src)| {
        for (d, &v) in dst.chunks_exact_mut(2).zip(src) {
            let i = v as i16;
            if i as f32 != v {
                return false;
            }
            d.copy_from_slice(&i.to_le_bytes());
        }
        true
    });
    exact.then_some(out)
}

/// Quaternion (b, c, d) and qfac of the RAS rotation for an LPS direction matrix, or `None` when
/// the matrix is not orthonormal (sheared geometry has no qform).
fn rotation_to_quaternion(lps_dir: &[[f64; 3]; 3], _ras: bool) -> (Option<[f64; 3]>, f64) {
    let mut m = *lps_dir;
    for c in 0..3 {
        m[0][c] = -m[0][c];
        m[1][c] = -m[1][c];
    }
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    let qfac = if det < 0.0 { -1.0 } else { 1.0 };
    if qfac < 0.0 {
        for row in m.iter_mut() {
            row[2] = -row[2];
        }
    }
    for a in 0..3 {
        for b in 0..3 {
            let d: f64 = (0..3).map(|r| m[r][a] * m[r][b]).sum();
            let want = if a == b { 1.0 } else { 0.0 };
            if (d - want).abs() > 1e-4 {
                return (None, qfac);
            }
        }
    }
    let trace = m[0][0] + m[1][1] + m[2][2];
    let (a, b, c, d);
    if trace > 0.0 {
        let s = (trace + 1.0).sqrt() * 2.0;
        a = 0.25 * s;
        b = (m[2][1] - m[1][2]) / s;
        c = (m[0][2] - m[2][0]) / s;
        d = (m[1][0] - m[0][1]) / s;
    } else if m[0][0] > m[1][1] && m[0][0] > m[2][2] {
        let s = (1.0 + m[0][0] - m[1][1] - m[2][2]).sqrt() * 2.0;
        a = (m[2][1] - m[1][2]) / s;
        b = 0.25 * s;
        c = (m[0][1] + m[1][0]) / s;
        d = (m[0][2] + m[2][0]) / s;
    } else if m[1][1] > m[2][2] {
        let s = (1.0 + m[1][1] - m[0][0] - m[2][2]).sqrt() * 2.0;
        a = (m[0][2] - m[2][0]) / s;
        b = (m[0][1] + m[1][0]) / s;
        c = 0.25 * s;
        d = (m[1][2] + m[2][1]) / s;
    } else {
        let s = (1.0 + m[2][2] - m[0][0] - m[1][1]).sqrt() * 2.0;
        a = (m[1][0] - m[0][1]) / s;
        b = (m[0][2] + m[2][0]) / s;
        c = (m[1][2] + m[2][1]) / s;
        d = 0.25 * s;
    }
    let sign = if a < 0.0 { -1.0 } else { 1.0 };
    (Some([b * sign, c * sign, d * sign]), qfac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qform_round_trips_through_quaternion() {
        let ang: f64 = 0.4;
        let dir = Volume::direction_from_orientation(
            [ang.cos(), ang.sin(), 0.0],
            [-ang.sin(), ang.cos(), 0.0],
            None,
        );
        let (q, qfac) = rotation_to_quaternion(&dir, true);
        let aff = qform_affine(q.unwrap(), [0.0; 3], [1.0, 1.0, 1.0], qfac);
        for r in 0..3 {
            for c in 0..3 {
                let ras = if r < 2 { -dir[r][c] } else { dir[r][c] };
                assert!((aff[r][c] - ras).abs() < 1e-9, "[{r}][{c}] {} vs {ras}", aff[r][c]);
            }
        }
    }
}

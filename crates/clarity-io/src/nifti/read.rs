//! Reading: NIfTI-1 and NIfTI-2 headers in either byte order, gzipped or not, single files and
//! pairs; the affine chosen as nibabel chooses it (sform, then qform, then the centred fallback).

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use clarity_core::{Affine4, FrameAxis, FrameKind, Volume};

use super::names::pair_files;
use super::{nifti_err, NiftiImage, NiftiType};
use crate::error::{IoError, Result};

/// A file's bytes as stored (still gzipped when it is).
fn read_raw(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| IoError::Read { path: path.to_path_buf(), source })
}

/// The first `limit` bytes of the file whose stored bytes are `raw`, inflated when gzipped.
///
/// Why a limit: the header says how many bytes the image needs, and a small gzipped file can
/// inflate to gigabytes (deflate reaches ~1000:1 on zeros), so a damaged or hostile file must
/// not be inflated further than its header asks.
///
/// With `to_the_end` (the image read, not the header peek), the stream is then read on to its
/// end, where its CRC is, so that damage to the compressed bytes is an error and not a volume:
/// stopping at the image's end had let damaged streams that inflate to more bytes than the
/// undamaged one through (82 of 3000 damaged copies of the bad-input control). That read-on is
/// bounded too: a stream going on for more than the image's size (at least 1 MiB) past it is
/// refused.
fn inflate<'a>(
    path: &Path,
    raw: &'a [u8],
    limit: usize,
    to_the_end: bool,
) -> Result<Cow<'a, [u8]>> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(Cow::Borrowed(&raw[..raw.len().min(limit)]));
    }
    let corrupt = |e: std::io::Error| nifti_err(path, format!("gzip stream is corrupt: {e}"));
    let mut decoder = flate2::read::MultiGzDecoder::new(raw);
    let mut out = Vec::with_capacity(limit.min(raw.len().saturating_mul(4)));
    (&mut decoder).take(limit as u64).read_to_end(&mut out).map_err(corrupt)?;
    if to_the_end && out.len() == limit {
        let slack = limit.max(1 << 20) as u64;
        let rest = std::io::copy(&mut (&mut decoder).take(slack + 1), &mut std::io::sink())
            .map_err(corrupt)?;
        if rest > slack {
            return Err(nifti_err(
                path,
                format!(
                    "gzip stream goes on for more than {slack} bytes past the {limit} bytes \
                     its header declares"
                ),
            ));
        }
    }
    Ok(Cow::Owned(out))
}

/// Parse a NIfTI-1 or NIfTI-2 image (gzipped or not): a single `.nii` file, or a pair of
/// `.hdr` + `.img` files named by either half.
pub fn read_nifti_image(path: &Path) -> Result<NiftiImage> {
    let pair = pair_files(path).transpose()?;
    // Errors about the header name the file that holds it.
    let path = pair.as_ref().map_or(path, |(header, _)| header.as_path());
    let raw = read_raw(path)?;
    // The largest header (NIfTI-2); the voxels are inflated once it says how many there are.
    let b = inflate(path, &raw, 540, false)?;
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
    // nibabel reads a form code outside the standard's 0-5 (unknown, scanner, aligned,
    // Talairach, MNI, template) as 0, so that form is not used: a damaged code must not make
    // the srow or quatern fields, likely damaged with it, the geometry (found by
    // scripts/audit_damage.sh: sform_code 25601 made junk srow values the affine).
    let known = |code: i32| if (0..=5).contains(&code) { code } else { 0 };
    let (qcode, scode) = (known(qcode), known(scode));
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
    let voxel_raw;
    let (b, path) = match &pair {
        Some((_, voxels)) => {
            voxel_raw = read_raw(voxels)?;
            (inflate(voxels, &voxel_raw, need, true)?, voxels.as_path())
        }
        None => (inflate(path, &raw, need, true)?, path),
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
pub(super) fn qform_affine(q: [f64; 3], offset: [f64; 3], zooms: [f64; 3], qfac: f64) -> Affine4 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn a_gzipped_file_is_inflated_only_as_far_as_asked() {
        let path = Path::new("zeros.nii.gz");
        // 64 MiB of zeros stored in ~64 KiB: only the asked 1000 bytes come out.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        assert_eq!(inflate(path, &bomb, 1000, false).unwrap().len(), 1000);
        // Read on to the end, it is refused after 1 MiB more, not inflated whole.
        let err = inflate(path, &bomb, 1000, true).unwrap_err().to_string();
        assert!(err.contains("goes on for more than 1048576 bytes past the 1000"), "{err}");
        // A stream within that bound reads.
        let short = gzip(&vec![3u8; 1000 + (1 << 20)]);
        assert_eq!(inflate(path, &short, 1000, true).unwrap().len(), 1000);
        // Plain bytes pass through, cut to the limit, without a copy.
        let plain = [7u8; 10];
        assert!(matches!(inflate(path, &plain, 4, true).unwrap(), Cow::Borrowed(b) if b == [7; 4]));
    }

    /// The stream is read to its end, where its CRC is: damage there, or damage to the
    /// compressed bytes that leaves a readable header, is an error.
    #[test]
    fn a_damaged_crc_is_still_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let vol = Volume::new([4, 4, 2], (0..32).map(|v| v as f32).collect()).unwrap();
        let plain = dir.path().join("v.nii");
        crate::nifti::write_nifti(&vol, &plain).unwrap();
        let path = dir.path().join("v.nii.gz");
        // `contents` gzipped reads as `vol`; with its CRC damaged, it is an error.
        let check = |contents: &[u8]| {
            let mut gz = gzip(contents);
            std::fs::write(&path, &gz).unwrap();
            assert_eq!(crate::nifti::read_nifti(&path).unwrap().data, vol.data);
            let crc = gz.len() - 8;
            gz[crc] ^= 0xff;
            std::fs::write(&path, &gz).unwrap();
            let err = crate::nifti::read_nifti(&path).unwrap_err().to_string();
            assert!(err.contains("gzip stream is corrupt"), "{err}");
        };
        let mut contents = std::fs::read(&plain).unwrap();
        check(&contents);
        // Bytes after the image: read, and their CRC checked too.
        contents.extend_from_slice(&[9; 200]);
        check(&contents);
    }
}

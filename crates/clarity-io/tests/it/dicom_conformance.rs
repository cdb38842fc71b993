//! The whole shared DICOM corpus against pydicom 3.0.2's reference decode (`dicom/manifest.json`):
//! lossless files must decode to identical arrays (sha256 of the little-endian bytes), lossy files
//! must agree within the tolerance below, and broken files must give an error naming the file.

use clarity_io::dicom::decode_file;
use serde_json::Value;

use crate::common::{load_json, sha256_hex, shared_data};

/// Lossy decoders (libjpeg vs jpeg-decoder, OpenJPEG vs openjp2, CharLS vs CharLS) may round
/// differently (IDCT precision, chroma upsampling): each sampled value must be within this
/// fraction of the image's value range plus [`LOSSY_LSB_SLACK`] levels, and the mean within a
/// tenth of that.
const LOSSY_SAMPLE_TOLERANCE: f64 = 0.02;
const LOSSY_LSB_SLACK: f64 = 2.0;

/// Files pydicom decodes that this reader cannot yet, with why. They must still fail cleanly
/// (an error naming the file, no panic); the test fails when one starts decoding, so the entry
/// gets removed and the file is checked against pydicom like the rest.
const KNOWN_GAPS: &[(&str, &str)] = &[];

/// Files pydicom could not decode (`pixel_error`: 12-bit lossy JPEG, for which it had no
/// decoder) that Clarity decodes. Each is checked against an independent reference instead: the
/// same image decoded by pydicom from another file (`pydicom/JPGExtended.dcm` holds the image
/// of `JPEG-lossy.dcm`), or the uncompressed WG04 original, by PSNR over the original's range.
/// `(file, reference, minimum PSNR in dB; infinite = identical)`.
const DECODED_BEYOND_PYDICOM: &[(&str, &str, f64)] = &[
    ("pydicom/JPEG-lossy.dcm", "pydicom/JPGExtended.dcm", f64::INFINITY),
    ("wg04/JPLY/MR1_JPLY", "wg04/REF/MR1_UNC", 35.0),
    ("wg04/JPLY/MR2_JPLY", "wg04/REF/MR2_UNC", 35.0),
    ("wg04/JPLY/MR3_JPLY", "wg04/REF/MR3_UNC", 35.0),
    ("wg04/JPLY/MR4_JPLY", "wg04/REF/MR4_UNC", 35.0),
];

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// pydicom reports big-endian arrays as `>i2`; the manifest's sha256 is over little-endian bytes
/// whatever the dtype's byte order, so only the numeric type matters.
fn numpy_dtype(name: &str) -> &str {
    match name.trim_start_matches(['<', '>', '=', '|']) {
        "i1" => "int8",
        "u1" => "uint8",
        "i2" => "int16",
        "u2" => "uint16",
        "i4" => "int32",
        "u4" => "uint32",
        "f4" => "float32",
        "f8" => "float64",
        other => other,
    }
}

fn check_decode(entry: &Value, data: &std::path::Path) -> Result<(), String> {
    let rel = entry["file"].as_str().unwrap();
    let px =
        decode_file(&data.join("dicom").join(rel)).map_err(|e| format!("decode failed: {e}"))?;
    let shape: Vec<usize> =
        entry["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    if px.shape() != shape {
        return Err(format!("shape {:?}, pydicom {:?}", px.shape(), shape));
    }
    let dtype = numpy_dtype(entry["dtype"].as_str().unwrap());
    if px.sample_type.numpy_name() != dtype {
        return Err(format!("dtype {}, pydicom {dtype}", px.sample_type.numpy_name()));
    }
    let lossy = entry["lossy"].as_bool().unwrap_or(false);
    if !lossy {
        let sha = sha256_hex(&px.to_le_bytes());
        if sha != entry["sha256"].as_str().unwrap() {
            let first_diff = entry["samples"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| px.values[s[0].as_u64().unwrap() as usize] != f(&s[1]))
                .map(|s| {
                    format!(
                        "at {}: ours {} pydicom {}",
                        s[0],
                        px.values[s[0].as_u64().unwrap() as usize],
                        s[1]
                    )
                });
            return Err(format!("lossless decode differs from pydicom ({first_diff:?})"));
        }
        return Ok(());
    }
    let (lo, hi) = (f(&entry["min"]), f(&entry["max"]));
    let range = (hi - lo).max(1.0);
    for s in entry["samples"].as_array().unwrap() {
        let idx = s[0].as_u64().unwrap() as usize;
        let (ours, theirs) = (px.values[idx], f(&s[1]));
        if (ours - theirs).abs() > LOSSY_SAMPLE_TOLERANCE * range + LOSSY_LSB_SLACK {
            return Err(format!(
                "lossy sample {idx}: ours {ours}, pydicom {theirs} (range {range})"
            ));
        }
    }
    let mean = px.values.iter().sum::<f64>() / px.values.len() as f64;
    if (mean - f(&entry["mean"])).abs() > 0.1 * (LOSSY_SAMPLE_TOLERANCE * range + LOSSY_LSB_SLACK) {
        return Err(format!("lossy mean {mean}, pydicom {}", entry["mean"]));
    }
    Ok(())
}

fn check_error(entry: &Value, data: &std::path::Path) -> Result<(), String> {
    let rel = entry["file"].as_str().unwrap();
    let path = data.join("dicom").join(rel);
    match decode_file(&path) {
        // pydicom drops a Pixel Data element whose item sequence lacks its delimiter (the
        // "too_short" J2K file) and so reports no pixels; dicom-rs keeps every complete frame.
        // Decoding those frames is not an error, but any other success where pydicom failed is.
        Ok(px) if entry["expect"] == "no_pixels" && px.frames > 0 => Ok(()),
        Ok(px) => {
            Err(format!("decoded {:?} where pydicom could not ({})", px.shape(), entry["expect"]))
        }
        Err(e) => {
            let msg = e.to_string();
            let name = path.file_name().unwrap().to_string_lossy();
            if msg.contains(&*name) {
                Ok(())
            } else {
                Err(format!("error does not name the file: {msg}"))
            }
        }
    }
}

#[test]
fn corpus_matches_pydicom() {
    let Some(data) = shared_data() else { return };
    let manifest = load_json(&data.join("dicom/manifest.json"));
    let mut failures = Vec::new();
    let mut counts = std::collections::BTreeMap::new();
    for entry in manifest["files"].as_array().unwrap() {
        let expect = entry["expect"].as_str().unwrap();
        *counts.entry(expect.to_string()).or_insert(0) += 1;
        let rel = entry["file"].as_str().unwrap();
        let gap = KNOWN_GAPS.iter().find(|(f, _)| *f == rel);
        if DECODED_BEYOND_PYDICOM.iter().any(|(f, _, _)| *f == rel) {
            continue; // checked by twelve_bit_lossy_jpeg_matches_independent_references
        }
        let result = std::panic::catch_unwind(|| match expect {
            "decode" if gap.is_some() => check_error(entry, &data)
                .map_err(|e| format!("listed in KNOWN_GAPS ({}) but {e}", gap.unwrap().1)),
            "decode" => check_decode(entry, &data),
            _ => check_error(entry, &data),
        });
        match result {
            Ok(Ok(())) => {}
            Ok(Err(why)) => failures.push(format!("{rel} [{expect}]: {why}")),
            Err(_) => failures.push(format!("{rel} [{expect}]: PANICKED")),
        }
    }
    eprintln!("checked {counts:?}; known gaps: {KNOWN_GAPS:?}");
    assert!(
        failures.is_empty(),
        "{} of the corpus failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn twelve_bit_lossy_jpeg_matches_independent_references() {
    let Some(data) = shared_data() else { return };
    let dir = data.join("dicom");
    for &(file, reference, min_psnr) in DECODED_BEYOND_PYDICOM {
        let ours = decode_file(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let truth = decode_file(&dir.join(reference)).unwrap();
        assert_eq!(ours.shape(), truth.shape(), "{file}");
        let (lo, hi) =
            truth.values.iter().fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
        let mse = ours.values.iter().zip(&truth.values).map(|(a, b)| (a - b).powi(2)).sum::<f64>()
            / truth.values.len() as f64;
        let psnr =
            if mse == 0.0 { f64::INFINITY } else { 10.0 * ((hi - lo).powi(2) / mse).log10() };
        assert!(psnr >= min_psnr, "{file}: PSNR {psnr:.1} dB against {reference}, need {min_psnr}");
        eprintln!("{file}: PSNR {psnr:.1} dB against {reference}");
    }
}

/// The geometry attributes as pydicom reads them (the manifest's top-level
/// ImageOrientationPatient and PixelSpacing), for every file whose header parses and has them.
/// Why: an element stored with VR UN was read as its bytes, so `pydicom-data/explicit_VR-UN.dcm`
/// had a pixel spacing of 46 × 48 mm and an oblique orientation made of character codes.
#[test]
fn orientation_and_spacing_match_pydicom() {
    let Some(data) = shared_data() else { return };
    let manifest = load_json(&data.join("dicom/manifest.json"));
    let numbers =
        |v: &Value| -> Option<Vec<f64>> { v.as_array()?.iter().map(Value::as_f64).collect() };
    let mut checked = 0;
    for entry in manifest["files"].as_array().unwrap() {
        let rel = entry["file"].as_str().unwrap();
        let Ok(h) = clarity_io::dicom::read_header(&data.join("dicom").join(rel)) else { continue };
        let Some(frame) = h.frames.first() else { continue };
        if let (Some(want), Some(got)) =
            (numbers(&entry["ImageOrientationPatient"]), frame.orientation)
        {
            let off = want.iter().zip(got).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(want.len() == 6 && off < 1e-9, "{rel}: orientation {got:?}, pydicom {want:?}");
            checked += 1;
        }
        if let (Some(want), Some(got)) = (numbers(&entry["PixelSpacing"]), frame.pixel_spacing) {
            let off = want.iter().zip(got).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(want.len() == 2 && off < 1e-9, "{rel}: spacing {got:?}, pydicom {want:?}");
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} attributes compared");
}

/// Colour files whose lossless twin is in the corpus (the same picture stored losslessly:
/// `SC_rgb_rle.dcm` for the 100 × 100 ones, `SC_rgb_jpeg_dcmd.dcm` for the 256 × 256 ones), with
/// the mean absolute difference of pydicom 3.0.2's decode (pylibjpeg-libjpeg 2.5, CharLS) from
/// the twin. The manifest samples 16 values of each, which let a decode with a quarter of its
/// samples wrong pass (`+eb+cr`: the RGB JPEG decoded with jpeg-decoder's `ColorTransform::None`,
/// which repeats the first component; mean difference 50): the whole array is compared here.
const COLOUR_TWINS: &[(&str, &str, f64)] = &[
    ("SC_rgb_dcmtk_+eb+cr.dcm", "SC_rgb_rle.dcm", 0.14),
    ("SC_rgb_dcmtk_+eb+cy+n1.dcm", "SC_rgb_rle.dcm", 2.79),
    ("SC_rgb_dcmtk_+eb+cy+n2.dcm", "SC_rgb_rle.dcm", 0.57),
    ("SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_rle.dcm", 2.79),
    ("SC_rgb_dcmtk_+eb+cy+s2.dcm", "SC_rgb_rle.dcm", 0.57),
    ("SC_rgb_dcmtk_+eb+cy+s4.dcm", "SC_rgb_rle.dcm", 0.57),
    ("SC_rgb_jls_lossy_line.dcm", "SC_rgb_rle.dcm", 0.70),
    ("SC_rgb_jls_lossy_sample.dcm", "SC_rgb_rle.dcm", 0.70),
    ("SC_rgb_jpeg_dcmtk.dcm", "SC_rgb_rle.dcm", 0.57),
    ("SC_rgb_jpeg_lossy_gdcm.dcm", "SC_rgb_rle.dcm", 2.60),
    ("SC_ybr_full_422_uncompressed.dcm", "SC_rgb_rle.dcm", 0.57),
    ("SC_jpeg_no_color_transform.dcm", "SC_rgb_jpeg_dcmd.dcm", 0.00),
    ("SC_jpeg_no_color_transform_2.dcm", "SC_rgb_jpeg_dcmd.dcm", 1.84),
    ("SC_rgb_jpeg.dcm", "SC_rgb_jpeg_dcmd.dcm", 0.00),
    ("SC_rgb_jpeg_app14_dcmd.dcm", "SC_rgb_jpeg_dcmd.dcm", 1.84),
];

#[test]
fn colour_files_are_as_close_to_their_lossless_twins_as_pydicoms_decodes() {
    let Some(data) = shared_data() else { return };
    let dir = data.join("dicom/pydicom");
    let mut failures = Vec::new();
    for &(file, twin, pydicom_mean) in COLOUR_TWINS {
        let ours = decode_file(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let reference = decode_file(&dir.join(twin)).unwrap();
        assert_eq!(ours.shape(), reference.shape(), "{file}");
        let mean =
            ours.values.iter().zip(&reference.values).map(|(a, b)| (a - b).abs()).sum::<f64>()
                / ours.values.len() as f64;
        // A quarter of a level of slack: another IDCT and upsampling, not another picture.
        if mean > pydicom_mean + 0.25 {
            failures
                .push(format!("{file}: mean |Δ| {mean:.2} from {twin}, pydicom {pydicom_mean}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

//! Writing generated exams: DICOM series, a labels file, and a one-picture overview.
//!
//! Layout: `OUT/<patient id>/S<series number>/IM00001.dcm ...`. Folder names carry no class,
//! so nothing but `labels.json` / `labels.csv` says which series is which.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::exam::{Exam, SeriesClass};

/// One line of the labels file.
#[derive(Debug, Clone, Serialize)]
pub struct LabelRow {
    pub patient_id: String,
    pub series_uid: String,
    pub series_number: i64,
    /// Folder relative to the output root.
    pub folder: String,
    pub class: SeriesClass,
    pub field_t: f64,
    pub vendor: String,
    pub description: String,
}

/// Write every series of `exam` under `root/<patient>`; returns the label rows.
pub fn write_exam(exam: &Exam, root: &Path) -> clarity_io::Result<Vec<LabelRow>> {
    let mut rows = Vec::new();
    for s in &exam.series {
        let m = &s.volume.meta;
        let number = m.series_number.unwrap_or(0);
        let folder = PathBuf::from(&exam.patient_id).join(format!("S{number:02}"));
        clarity_io::dicom::write_new_series(&s.volume, &root.join(&folder))?;
        rows.push(LabelRow {
            patient_id: exam.patient_id.clone(),
            series_uid: m.series_instance_uid.clone().unwrap_or_default(),
            series_number: number,
            folder: folder.to_string_lossy().into_owned(),
            class: s.class,
            field_t: exam.field.tesla(),
            vendor: format!("{:?}", exam.vendor),
            description: m.series_description.clone().unwrap_or_default(),
        });
    }
    Ok(rows)
}

/// `labels.json` (array of rows) and `labels.csv` (`series_uid,class`) in `root`.
pub fn write_labels(rows: &[LabelRow], root: &Path) -> clarity_io::Result<()> {
    let werr =
        |path: PathBuf| move |source| clarity_io::IoError::Write { path: path.clone(), source };
    let json = serde_json::to_string_pretty(rows).expect("rows serialise");
    std::fs::write(root.join("labels.json"), json).map_err(werr(root.join("labels.json")))?;
    let mut csv = String::from("series_uid,class,patient_id,folder\n");
    for r in rows {
        csv.push_str(&format!("{},{},{},{}\n", r.series_uid, r.class.id(), r.patient_id, r.folder));
    }
    std::fs::write(root.join("labels.csv"), csv).map_err(werr(root.join("labels.csv")))
}

/// A 3 × 3 montage of one exam (classes in [`SeriesClass::ALL`] order, row by row), each tile
/// the slice nearest `z_mm` (patient head-foot position; the middle slice of coronal series),
/// resampled to `tile` pixels wide and
/// windowed on its own percentiles.
pub fn exam_montage(exam: &Exam, z_mm: f64, tile: usize) -> (usize, usize, Vec<u8>) {
    let th = tile * 3 / 4;
    let (w, h) = (3 * tile, 3 * th);
    let mut img = vec![0u8; w * h];
    for (n, class) in SeriesClass::ALL.iter().enumerate() {
        let Some(s) = exam.series.iter().find(|s| s.class == *class) else { continue };
        let v = &s.volume;
        // Axial-ish series: the slice nearest z_mm; others (coronal): the middle slice.
        let axial = v.direction[2][2].abs() > 0.7;
        let k = if !axial {
            v.dims[2] / 2
        } else {
            (0..v.dims[2])
                .min_by(|a, b| {
                    let za = v.voxel_to_world([0.0, 0.0, *a as f64])[2];
                    let zb = v.voxel_to_world([0.0, 0.0, *b as f64])[2];
                    (za - z_mm).abs().total_cmp(&(zb - z_mm).abs())
                })
                .unwrap_or(0)
        };
        let slice = v.slice(k);
        let win = clarity_io::png::Window::from_percentiles(slice, 1.0, 99.0);
        let [nx, ny, _] = v.dims;
        // Fit the slice's field of view into the tile, keeping its aspect ratio.
        let fov = [nx as f64 * v.spacing_mm[0], ny as f64 * v.spacing_mm[1]];
        let mm_per_px = (fov[0] / tile as f64).max(fov[1] / th as f64);
        let (ox, oy) = ((n % 3) * tile, (n / 3) * th);
        for ty in 0..th {
            for tx in 0..tile {
                let x =
                    (tx as f64 - tile as f64 / 2.0) * mm_per_px / v.spacing_mm[0] + nx as f64 / 2.0;
                let y =
                    (ty as f64 - th as f64 / 2.0) * mm_per_px / v.spacing_mm[1] + ny as f64 / 2.0;
                if x >= 0.0 && y >= 0.0 && (x as usize) < nx && (y as usize) < ny {
                    img[(oy + ty) * w + ox + tx] = win.to_u8(slice[y as usize * nx + x as usize]);
                }
            }
        }
    }
    (w, h, img)
}

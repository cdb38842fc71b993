//! Derived series: write → read round trip (geometry, values within the 16-bit rescale step,
//! new UIDs, DERIVED\SECONDARY, description suffix) and dcm2niix reading what we wrote, without
//! a warning.

use clarity_io::dicom::{read_header, scan, write_derived_series, SeriesOptions};

use crate::common::{dcm2niix, load_json, shared_data};
use crate::dicom_series::voxel_map;

#[test]
fn derived_series_round_trips_and_dcm2niix_agrees() {
    let Some(data) = shared_data() else { return };
    let src_dir = data.join("dicom/series/mr_brain_20");
    let report = scan(&src_dir, SeriesOptions::default()).unwrap();
    let source = &report.series[0];
    let vol = source.load().unwrap();
    // A non-integer processed volume exercises the rescale path.
    let mut processed = vol.clone();
    processed.data.iter_mut().for_each(|v| *v = *v * 0.37 + 1.5);

    let out = tempfile::tempdir().unwrap();
    let written = write_derived_series(&processed, source, out.path(), " ER").unwrap();
    assert_eq!(written.len(), 20);
    // Refuses to overwrite.
    assert!(write_derived_series(&processed, source, out.path(), " ER").is_err());

    let back_report = scan(out.path(), SeriesOptions::default()).unwrap();
    assert_eq!(back_report.series.len(), 1, "one derived series");
    let back_series = &back_report.series[0];
    let back = back_series.load().unwrap();
    assert_eq!(back.dims, vol.dims);
    let (a, b) = (vol.lps_affine(), back.lps_affine());
    for r in 0..3 {
        for c in 0..4 {
            assert!(
                (a[r][c] - b[r][c]).abs() < 1e-4,
                "affine[{r}][{c}] {} vs {}",
                a[r][c],
                b[r][c]
            );
        }
    }
    let (lo, hi) = processed.min_max();
    let step = (hi - lo) / 65535.0;
    let worst =
        processed.data.iter().zip(&back.data).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(worst <= step * 0.51 + 1e-4, "worst error {worst} > half a rescale step {step}");

    let h = read_header(&written[0]).unwrap();
    let src_h = &source.headers[0];
    assert_eq!(h.meta.image_type, vec!["DERIVED", "SECONDARY"]);
    assert_eq!(h.meta.series_description.as_deref(), Some("FSE PD AXIAL OBL ER"));
    assert_ne!(h.meta.series_instance_uid, src_h.meta.series_instance_uid);
    assert_ne!(h.sop_instance_uid, src_h.sop_instance_uid);
    assert_eq!(h.meta.study_instance_uid, src_h.meta.study_instance_uid);
    assert_eq!(h.meta.patient_id, src_h.meta.patient_id);

    // dcm2niix (Debian package, installed by .ci/run) must see the same geometry as it saw for
    // the source series.
    let Some(run) = dcm2niix(out.path(), out.path(), "derived") else { return };
    run.assert_no_warning();
    let nii = clarity_io::nifti::read_nifti_image(&run.nifti).unwrap();
    let reference = load_json(&data.join("dicom/series_dcm2niix.json"));
    let theirs = reference["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["folder"] == "series/mr_brain_20")
        .unwrap();
    for r in 0..3 {
        for c in 0..4 {
            let want = theirs["affine"][r][c].as_f64().unwrap();
            assert!(
                (nii.affine[r][c] - want).abs() < 1e-3,
                "dcm2niix affine[{r}][{c}] {} vs source {want}",
                nii.affine[r][c]
            );
        }
    }
    let shape = [nii.shape[0], nii.shape[1], nii.shape[2]];
    voxel_map(&back, &nii.affine, shape).expect("dcm2niix voxels land on ours");
}

/// A folder holding one of the names the series would take gets nothing written: no
/// half-written series beside the clash, and the error names the clashing file.
#[test]
fn a_clash_on_any_slice_writes_no_file() {
    let Some(data) = shared_data() else { return };
    let report = scan(&data.join("dicom/series/mr_brain_20"), SeriesOptions::default()).unwrap();
    let source = &report.series[0];
    let vol = source.load().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("IM00007.dcm"), b"not ours").unwrap();
    let err = write_derived_series(&vol, source, out.path(), " ER").unwrap_err().to_string();
    assert!(err.contains("IM00007.dcm"), "{err}");
    let names: Vec<_> =
        std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["IM00007.dcm"]);
    assert_eq!(std::fs::read(out.path().join("IM00007.dcm")).unwrap(), b"not ours");
    // The up-front check a long job runs before its work says the same.
    assert!(clarity_io::dicom::series_file_paths(out.path(), vol.dims[2]).is_err());
    assert_eq!(clarity_io::dicom::series_file_paths(out.path(), 6).unwrap().len(), 6);
}

/// A derived series is single-frame slices, so it must not claim the source's multi-frame
/// class: from an Enhanced CT the slices are CT Image Storage (they were written as Enhanced
/// CT, without the functional groups that IOD requires), from a SEG Secondary Capture.
#[test]
fn derived_slices_of_multi_frame_sources_take_a_single_frame_class() {
    let Some(data) = shared_data() else { return };
    for (file, class) in [
        ("pydicom-data/eCT_Supplemental.dcm", "1.2.840.10008.5.1.4.1.1.2"),
        ("pydicom-data/emri_small.dcm", "1.2.840.10008.5.1.4.1.1.4"),
        ("pydicom-data/liver.dcm", "1.2.840.10008.5.1.4.1.1.7"),
        ("series/mr_brain_20", "1.2.840.10008.5.1.4.1.1.4"),
    ] {
        let report = scan(&data.join("dicom").join(file), SeriesOptions::default()).unwrap();
        let source = &report.series[0];
        let vol = source.load().unwrap();
        let out = tempfile::tempdir().unwrap();
        let written = write_derived_series(&vol, source, out.path(), " d").unwrap();
        let h = read_header(&written[0]).unwrap();
        assert_eq!(h.sop_class_uid, class, "{file}");
        let obj = dicom_object::open_file(&written[0]).unwrap();
        assert_eq!(obj.meta().media_storage_sop_class_uid(), class, "{file}");
        // Read back whole, on the source's grid.
        let back = scan(out.path(), SeriesOptions::default()).unwrap();
        assert_eq!(back.series[0].load().unwrap().dims, vol.dims, "{file}");
    }
}

/// Slices derived from a Siemens mosaic no longer say they are mosaics: dcm2niix read them as
/// 35 × 35 slices of 10 × 10 pixels; now as the source's 64×64×35 grid.
#[test]
fn derived_slices_of_a_mosaic_are_plain_slices_to_dcm2niix() {
    let Some(data) = shared_data() else { return };
    let report = scan(&data.join("dicom/dcm_qa_ts/1.dcm"), SeriesOptions::default()).unwrap();
    let source = &report.series[0];
    let vol = source.load().unwrap();
    let out = tempfile::tempdir().unwrap();
    let dicom = out.path().join("er");
    write_derived_series(&vol, source, &dicom, " ER").unwrap();
    let back = clarity_io::dicom::read_series(&dicom, SeriesOptions::default()).unwrap();
    assert_eq!(back.dims, vol.dims);
    let (a, b) = (back.ras_affine(), vol.ras_affine());
    assert!((0..3).all(|r| (0..4).all(|c| (a[r][c] - b[r][c]).abs() < 1e-4)), "{a:?} vs {b:?}");
    let Some(run) = dcm2niix(&dicom, out.path(), "derived") else { return };
    run.assert_no_warning();
    let nii = clarity_io::nifti::read_nifti_image(&run.nifti).unwrap();
    assert_eq!(nii.shape, [64, 64, 35]);
    voxel_map(&vol, &nii.affine, [64, 64, 35]).expect("dcm2niix voxels land on ours");
    // Slice timing survives: each slice's AcquisitionTime is the mosaic's plus its offset
    // in MosaicRefAcqTimes, and dcm2niix times the slices as it times the mosaic's (to its
    // 1/64 s reading of slice times from AcquisitionTime: 0.215 s comes back 13/64).
    let alone = out.path().join("source");
    std::fs::create_dir(&alone).unwrap();
    std::fs::copy(data.join("dicom/dcm_qa_ts/1.dcm"), alone.join("1.dcm")).unwrap();
    let Some(_) = dcm2niix(&alone, out.path(), "source") else { return };
    let timing = |name: &str| -> Vec<f64> {
        let sidecar = load_json(&out.path().join(format!("{name}.json")));
        let times =
            sidecar["SliceTiming"].as_array().unwrap_or_else(|| panic!("{name}: no SliceTiming"));
        times.iter().map(|t| t.as_f64().unwrap()).collect()
    };
    let (theirs, ours) = (timing("source"), timing("derived"));
    assert_eq!(theirs.len(), 35);
    assert!(
        theirs.iter().zip(&ours).all(|(a, b)| (a - b).abs() <= 1.0 / 64.0) && ours.len() == 35,
        "slice timing {ours:?}, the mosaic's {theirs:?}"
    );
}

/// A 4D source (two echoes, one file per image) gives a 4D derived series: every frame written
/// (40 files, not the first echo's 20), each file with its own echo time, read back as the same
/// 4D volume; and dcm2niix splits it into the two echoes on the source's grid.
#[test]
fn a_4d_series_is_derived_frame_by_frame() {
    let Some(data) = shared_data() else { return };
    let study = tempfile::tempdir().unwrap();
    let src = data.join("dicom/series/mr_brain_20");
    clarity_io::dicom::bench_support::echo_copies(&src, study.path(), 2, 40.0).unwrap();
    let report = scan(study.path(), SeriesOptions::default()).unwrap();
    assert_eq!(report.series.len(), 1, "{:?}", report.errors);
    let source = &report.series[0];
    assert_eq!(source.frames, 2);
    let echoes = source.frame_axis.clone().expect("a frame axis").values;
    let vol = source.load().unwrap();
    // Each frame changed its own way, so a frame written in the other's place shows.
    let mut processed = vol.clone();
    let per_frame = vol.voxels_per_frame();
    for (i, v) in processed.data.iter_mut().enumerate() {
        *v = if i < per_frame { *v * 0.5 } else { *v * 2.0 + 3.0 };
    }

    let out = tempfile::tempdir().unwrap();
    let dicom = out.path().join("er");
    let written = write_derived_series(&processed, source, &dicom, " ER").unwrap();
    assert_eq!(written.len(), 40);
    let back_report = scan(&dicom, SeriesOptions::default()).unwrap();
    assert_eq!(back_report.series.len(), 1);
    let back_series = &back_report.series[0];
    let axis = back_series.frame_axis.clone().expect("the derived series is 4D");
    assert_eq!(axis.kind, clarity_core::FrameKind::Echo);
    assert_eq!(axis.values, echoes);
    let back = back_series.load().unwrap();
    assert_eq!((back.dims, back.frames), (vol.dims, 2));
    let (a, b) = (back.lps_affine(), vol.lps_affine());
    assert!((0..3).all(|r| (0..4).all(|c| (a[r][c] - b[r][c]).abs() < 1e-4)), "{a:?} vs {b:?}");
    let (lo, hi) = processed.min_max();
    let step = (hi - lo) / 65535.0;
    let worst =
        processed.data.iter().zip(&back.data).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(worst <= step * 0.51 + 1e-4, "worst error {worst} > half a rescale step {step}");

    // The same volume as a NIfTI read gives it (frames only numbered): its frames are still
    // the source's echoes, not made-up time points.
    let mut numbered = processed.clone();
    numbered.frame_axis = Some(clarity_core::FrameAxis {
        kind: clarity_core::FrameKind::Other,
        values: vec![0.0, 1.0],
    });
    let from_nifti = out.path().join("from_nifti");
    let written = write_derived_series(&numbered, source, &from_nifti, " ER").unwrap();
    for path in [&written[0], &written[20]] {
        let frame = &read_header(path).unwrap().frames[0];
        assert_eq!(frame.temporal_index, None, "{}: a made-up time point", path.display());
    }
    let again = scan(&from_nifti, SeriesOptions::default()).unwrap();
    assert_eq!(again.series[0].frame_axis.as_ref().map(|a| &a.values), Some(&echoes));

    // A 4D volume cannot borrow a 3D series' files for its frames: an error, nothing written.
    let three_d = scan(&data.join("dicom/series/mr_brain_20"), SeriesOptions::default()).unwrap();
    let refused = out.path().join("refused");
    let err = write_derived_series(&processed, &three_d.series[0], &refused, " ER").unwrap_err();
    assert!(err.to_string().contains("2 frames"), "{err}");
    assert!(!refused.exists());

    let Some(run) = dcm2niix(&dicom, out.path(), "derived") else { return };
    run.assert_no_warning();
    let mut niftis: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nii"))
        .collect();
    niftis.sort();
    assert_eq!(niftis.len(), 2, "one NIfTI per echo: {niftis:?}");
    for (t, path) in niftis.iter().enumerate() {
        let nii = clarity_io::nifti::read_nifti_image(path).unwrap();
        assert_eq!(nii.shape[..3], [vol.dims[0], vol.dims[1], vol.dims[2]]);
        let frame = back.frame_volume(t).unwrap();
        voxel_map(&frame, &nii.affine, [vol.dims[0], vol.dims[1], vol.dims[2]])
            .unwrap_or_else(|e| panic!("echo {t} ({}): {e}", path.display()));
        // Echo t's values, voxel by voxel at the same world position.
        let theirs = clarity_io::nifti::read_nifti(path).unwrap();
        let [nx, ny, nz] = theirs.dims;
        let mut worst = 0f32;
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    let world = theirs.voxel_to_world([i as f64, j as f64, k as f64]);
                    let ours = frame.world_to_voxel(world).unwrap().map(|c| c.round() as usize);
                    let diff = (theirs.at(i, j, k) - frame.at(ours[0], ours[1], ours[2])).abs();
                    worst = worst.max(diff);
                }
            }
        }
        assert!(worst <= step + 1e-3, "echo {t}: dcm2niix's values differ by up to {worst}");
    }
}

/// A new (generated) series says how the patient lay: PatientPosition is required for MR, and
/// dcm2niix complained of its absence ("expected Patient Position (0018,5100) to be 'HFS'").
#[test]
fn a_new_series_says_the_patient_position() {
    let mut vol =
        clarity_core::Volume::new([8, 8, 3], (0..192).map(|v| v as f32).collect()).unwrap();
    vol.meta.series_description = Some("generated".into());
    let out = tempfile::tempdir().unwrap();
    let written = clarity_io::dicom::write_new_series(&vol, out.path()).unwrap();
    let obj = dicom_object::open_file(&written[0]).unwrap();
    let position = obj.element(dicom_dictionary_std::tags::PATIENT_POSITION).unwrap();
    assert_eq!(position.to_str().unwrap().trim(), "HFS");
}

/// A generated diffusion-weighted series keeps its b-value and its direction: a trace image as
/// ISOTROPIC (zero vector back), a directional one as its gradient orientation.
#[test]
fn a_new_series_keeps_its_diffusion_direction() {
    for g in [[0.0; 3], [0.0, 0.6, 0.8]] {
        let mut vol =
            clarity_core::Volume::new([8, 8, 3], (0..192).map(|v| v as f32).collect()).unwrap();
        vol.meta.b_value_s_per_mm2 = Some(800.0);
        vol.meta.diffusion_directions_lps = vec![g];
        let out = tempfile::tempdir().unwrap();
        clarity_io::dicom::write_new_series(&vol, out.path()).unwrap();
        let back = scan(out.path(), SeriesOptions::default()).unwrap().series[0].load().unwrap();
        assert_eq!(back.meta.b_value_s_per_mm2, Some(800.0));
        assert_eq!(back.meta.diffusion_directions_lps, [g]);
    }
}

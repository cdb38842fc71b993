//! Developer aid: print the acquired matrix detected for NIfTI/DICOM inputs.
fn main() {
    for a in std::env::args().skip(1) {
        let p = std::path::Path::new(&a);
        let v = if p.is_dir() {
            clarity_io::dicom::read_series(p, Default::default()).unwrap()
        } else {
            clarity_io::nifti::read_nifti(p).unwrap()
        };
        let m = clarity_mr::fastscan::detect_acquired_matrix(&v);
        println!("{a}: dims {:?} acquired {:?} (header {:?})", v.dims, m, v.meta.acquired_matrix());
    }
}

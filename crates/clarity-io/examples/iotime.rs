// Developer aid: time the stages of reading a series (scan headers, decode, write NIfTI).
use std::time::Instant;
fn main() {
    let mut dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    if let Some(copies) = std::env::args().nth(2) {
        let out = std::env::temp_dir().join("iotime-stack");
        let _ = std::fs::remove_dir_all(&out);
        clarity_io::dicom::bench_support::stack_copies(&dir, &out, copies.parse().unwrap())
            .unwrap();
        dir = out;
    }
    for _ in 0..3 {
        let t = Instant::now();
        let r = clarity_io::dicom::scan(&dir, Default::default()).unwrap();
        let t1 = t.elapsed();
        let v = r.series[0].load().unwrap();
        let t2 = t.elapsed();
        clarity_io::nifti::write_nifti(&v, std::path::Path::new("/tmp/iotime.nii")).unwrap();
        let t3 = t.elapsed();
        println!("scan {:?} load {:?} write {:?}", t1, t2 - t1, t3 - t2);
    }
}

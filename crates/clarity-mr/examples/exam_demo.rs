//! Developer aid: time one exam and write its montage: `exam_demo OUT.png [seed]`.
use std::time::Instant;
fn main() {
    let out = std::env::args().nth(1).unwrap_or("/tmp/exam.png".into());
    let seed: u64 = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(1);
    let settings = clarity_mr::exam::ExamSettings {
        required_lesions: vec![clarity_mr::tissue::Tissue::Hcc],
        coronal_probability: std::env::var("CORONAL").map(|v| v.parse().unwrap()).unwrap_or(0.0),
        ..Default::default()
    };
    let t = Instant::now();
    let exam = clarity_mr::exam::generate_exam(&settings, seed, 0);
    println!("generated in {:?}: {:?} {:?}", t.elapsed(), exam.field, exam.vendor);
    for s in &exam.series {
        println!("  {:?} {:?} {:?}", s.class, s.volume.dims, s.volume.meta.series_description);
    }
    let z = exam.anatomy.lesions.first().map(|l| l.centre_mm[2]).unwrap_or(20.0);
    let (w, h, px) = clarity_mr::exam_output::exam_montage(&exam, z, 256);
    clarity_io::png::write_gray_png(std::path::Path::new(&out), w, h, &px).unwrap();
}

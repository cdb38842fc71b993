//! Damaged copies of DICOM files that Clarity decodes, kept for comparison with another
//! decoder: every DICOM file under a folder, damaged as `mutate_corpus` damages it (the same
//! seeds), is decoded with [`clarity_io::dicom::decode_file`]; each copy that decodes is kept
//! in OUT beside its values (`NAME.f64`, little-endian f64, frames first). Run by
//! `scripts/audit_damage.sh`, which compares them with pydicom's decodes of the same bytes.
//!
//! `cargo run --release -p clarity-io --example audit_damage -- ../shared/data/dicom 20 OUT`

use std::path::PathBuf;

use rayon::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(root), Some(per_file), Some(out)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: audit_damage DATA PER_FILE OUT");
        std::process::exit(2);
    };
    let per_file: u64 = per_file.parse().expect("PER_FILE is a count");
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out).expect("OUT can be made");
    // The same list and numbering as mutate_corpus, so that a copy's seed names the same damage.
    let list = clarity_io::damage::corpus_files(&PathBuf::from(root));
    std::panic::set_hook(Box::new(|_| {}));
    list.par_iter().enumerate().for_each(|(n, path)| {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".nii") || name.ends_with(".nii.gz") {
            return;
        }
        let Ok(bytes) = std::fs::read(path) else { return };
        for seed in 0..per_file {
            let damaged = clarity_io::damage::damage(&bytes, seed * 1_000_003 + n as u64);
            let copy = out.join(format!("{n}_{seed}_{name}"));
            std::fs::write(&copy, &damaged).expect("write the damaged copy");
            let decoded = std::panic::catch_unwind(|| clarity_io::dicom::decode_file(&copy));
            if let Ok(Ok(px)) = decoded {
                let raw: Vec<u8> = px.values.iter().flat_map(|v| v.to_le_bytes()).collect();
                let mut values = copy.clone().into_os_string();
                values.push(".f64");
                std::fs::write(values, raw).expect("write the values");
            } else {
                let _ = std::fs::remove_file(&copy);
            }
        }
    });
}

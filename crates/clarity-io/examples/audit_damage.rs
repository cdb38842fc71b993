//! Damaged copies of DICOM and NIfTI files that Clarity reads, kept for comparison with another
//! reader: every file under a folder, damaged as `mutate_corpus` damages it (the same seeds),
//! is read with [`clarity_io::dicom::decode_file`] (DICOM: the stored values, frames first) or
//! [`clarity_io::nifti::read_nifti`] (NIfTI: scaled voxels, `i` fastest, and the RAS affine in
//! `NAME.affine`); each copy that reads is kept in OUT beside its values (`NAME.f64`,
//! little-endian f64). Run by `scripts/audit_damage.sh`, which compares them with pydicom's and
//! nibabel's reading of the same bytes.
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
    // `N PATH` per line: the source of every copy named `N_SEED_NAME`.
    let sources: Vec<String> =
        list.iter().enumerate().map(|(n, p)| format!("{n} {}", p.display())).collect();
    std::fs::write(out.join("sources.txt"), sources.join("\n")).expect("write sources.txt");
    std::panic::set_hook(Box::new(|_| {}));
    list.par_iter().enumerate().for_each(|(n, path)| {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let nifti = name.ends_with(".nii") || name.ends_with(".nii.gz");
        let Ok(bytes) = std::fs::read(path) else { return };
        for seed in 0..per_file {
            let damaged = clarity_io::damage::corpus_copy(&bytes, n, seed);
            let copy = out.join(format!("{n}_{seed}_{name}"));
            std::fs::write(&copy, &damaged).expect("write the damaged copy");
            let read = std::panic::catch_unwind(|| {
                if nifti {
                    let v = clarity_io::nifti::read_nifti(&copy).ok()?;
                    let affine = v.ras_affine().iter().flatten().map(f64::to_string).collect();
                    Some((v.data.iter().map(|&x| f64::from(x)).collect(), Some(affine)))
                } else {
                    let px = clarity_io::dicom::decode_file(&copy).ok()?;
                    Some((px.values, None::<Vec<String>>))
                }
            });
            let mut stem = copy.clone().into_os_string();
            if let Ok(Some((values, affine))) = read {
                let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                stem.push(".f64");
                std::fs::write(&stem, raw).expect("write the values");
                if let Some(affine) = affine {
                    let mut path = copy.clone().into_os_string();
                    path.push(".affine");
                    std::fs::write(path, affine.join(" ")).expect("write the affine");
                }
            } else {
                let _ = std::fs::remove_file(&copy);
            }
        }
    });
}

use std::path::PathBuf;

pub use clarity_core::testdata::shared_data;

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn load_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What one dcm2niix run left: the NIfTI it wrote and what it printed.
pub struct Dcm2niix {
    /// `OUT_DIR/NAME.nii` (a run that splits a series writes more, beside it).
    pub nifti: PathBuf,
    /// Its standard output, where it prints its warnings.
    pub log: String,
}

impl Dcm2niix {
    /// Fails, quoting the log, when dcm2niix warned: what it reads from a series we wrote
    /// must not look suspicious to it.
    pub fn assert_no_warning(&self) {
        assert!(!self.log.contains("Warning"), "dcm2niix warned:\n{}", self.log);
    }
}

/// `dcm2niix -z n -f NAME -o OUT_DIR INPUT` (the Debian package `.ci/run` installs), or None,
/// said loudly, when dcm2niix is not installed. Panics, with its message, when it runs and
/// fails.
pub fn dcm2niix(
    input: &std::path::Path,
    out_dir: &std::path::Path,
    name: &str,
) -> Option<Dcm2niix> {
    let Ok(run) = std::process::Command::new("dcm2niix")
        .args(["-z", "n", "-f", name, "-o"])
        .arg(out_dir)
        .arg(input)
        .output()
    else {
        eprintln!("\n**** SKIPPED dcm2niix check: dcm2niix is not installed ****\n");
        return None;
    };
    assert!(run.status.success(), "dcm2niix: {}", String::from_utf8_lossy(&run.stderr));
    let log = String::from_utf8_lossy(&run.stdout).into_owned();
    Some(Dcm2niix { nifti: out_dir.join(format!("{name}.nii")), log })
}

use std::path::PathBuf;

/// `../shared/data` beside the repository, or `$CLARITY_SHARED_DATA`.
pub fn shared_data() -> Option<PathBuf> {
    let dir = std::env::var_os("CLARITY_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if dir.join("README.md").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "\n**** SKIPPED: shared test data not found at {} (set CLARITY_SHARED_DATA) ****\n",
            dir.display()
        );
        None
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn load_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

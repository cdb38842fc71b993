use std::path::PathBuf;

use clap::Args;
use clarity_io::png::{write_montage, Window};

#[derive(Args)]
pub struct ViewArgs {
    /// DICOM folder/file (one series) or NIfTI file.
    pub input: PathBuf,
    /// PNG file to write.
    #[arg(long)]
    pub png: PathBuf,
    /// Most slices in the montage (spread evenly through the volume).
    #[arg(long, default_value_t = 16, value_parser = super::parse_count)]
    pub max_slices: usize,
    /// Window centre and width in voxel units, e.g. `--window 400,800`; default: the 0.5-99.5
    /// percentile range.
    #[arg(long, value_parser = parse_window)]
    pub window: Option<Window>,
    /// Accept DICOM series whose slice gaps are not uniform.
    #[arg(long)]
    pub allow_gaps: bool,
    /// Replace the PNG file if it exists.
    #[arg(long)]
    pub force: bool,
}

fn parse_window(s: &str) -> Result<Window, String> {
    let (center, width) = super::parse_number_pair(s, "CENTER,WIDTH")?;
    if width <= 0.0 {
        return Err("width must be positive".into());
    }
    Ok(Window { center, width })
}

pub fn run(a: ViewArgs) -> anyhow::Result<()> {
    let vol = super::load_volume(&a.input, a.allow_gaps)?;
    super::refuse_to_replace(std::slice::from_ref(&a.png), a.force)?;
    let w = write_montage(&vol, &a.png, a.max_slices, a.window)?;
    println!("wrote {} (window centre {:.1}, width {:.1})", a.png.display(), w.center, w.width);
    Ok(())
}

use std::path::PathBuf;

use clap::Args;
use clarity_io::png::{write_montage, Window};

#[derive(Args)]
pub struct ViewArgs {
    /// DICOM folder/file (one series, or --series of several) or NIfTI file.
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
    #[command(flatten)]
    pub frame: super::FrameArg,
    #[command(flatten)]
    pub read: super::ReadArgs,
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
    let vol = super::load_volume(&a.input, &a.read)?;
    let vol = a.frame.pick(vol, &a.input, "picturing")?;
    let name = a.input.display();
    // An all-NaN picture would come out black, which reads as an image of zeros.
    if !vol.data.iter().any(|v| v.is_finite()) {
        anyhow::bail!(
            "{name}: no voxel is a finite number (all NaN or infinite); nothing to picture"
        );
    }
    super::refuse_to_replace(std::slice::from_ref(&a.png), a.force)?;
    super::create_parent_dir(&a.png)?;
    let w = write_montage(&vol, &a.png, a.max_slices, a.window)?;
    if w.is_constant() {
        println!("wrote {} (every voxel is {}: drawn mid grey)", a.png.display(), w.center);
    } else {
        println!("wrote {} (window centre {:.1}, width {:.1})", a.png.display(), w.center, w.width);
    }
    Ok(())
}

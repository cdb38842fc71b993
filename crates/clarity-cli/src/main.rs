//! `clarity`: one subcommand per job; the work lives in the library crates.

use clap::{Parser, Subcommand};

mod cmd;

/// Clarity: medical image IO, enhancement and evaluation in one binary.
#[derive(Parser)]
#[command(name = "clarity", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the image series under a DICOM folder or file (or describe a NIfTI file).
    Info(cmd::info::InfoArgs),
    /// Convert DICOM ↔ NIfTI. DICOM output needs the reference series it was derived from.
    Convert(cmd::convert::ConvertArgs),
    /// Enhance a shortened (reduced phase resolution) scan with the trained CNN.
    Enhance(cmd::enhance::EnhanceArgs),
    /// Name every series of a study: liver mpMRI class (or other) from pixels and header.
    Classify(cmd::classify::ClassifyArgs),
    /// Write a PNG montage of a volume's slices.
    View(cmd::view::ViewArgs),
    /// Run the bundled demo on the sample MR series: inspect, picture and classify it, and
    /// simulate, enhance and score a 30 % shorter scan of it.
    Demo(cmd::demo::DemoArgs),
    /// Simulate MR acquisitions: shortened scans of real images, liver exams, brain contrasts.
    #[command(subcommand)]
    Simulate(cmd::simulate::SimulateCommand),
    /// Evaluate models against the truth.
    #[command(subcommand)]
    Eval(cmd::eval::EvalCommand),
    /// Train models.
    #[command(subcommand)]
    Train(cmd::train::TrainCommand),
    /// Benchmarks that print a table.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
}

fn main() -> std::process::ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(a) => cmd::info::run(a),
        Command::Convert(a) => cmd::convert::run(a),
        Command::View(a) => cmd::view::run(a),
        Command::Enhance(a) => cmd::enhance::run(a),
        Command::Classify(a) => cmd::classify::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Simulate(c) => cmd::simulate::run(c),
        Command::Train(c) => cmd::train::run(c),
        Command::Eval(c) => cmd::eval::run(c),
        Command::Bench(c) => cmd::bench::run(c),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", error_report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Rust starts programs with SIGPIPE ignored, so a write to a closed pipe fails and `println!`
/// panics: `clarity info FOLDER | head` ended in a panic and a backtrace. With the default
/// action the process ends quietly when the reader stops, as other Unix tools do.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread starts; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// `Error: message` and the causes below it, as anyhow prints them, less every cause whose text
/// is already shown: the library errors put their cause in their own message (so a one-line
/// `Display` is complete) and also return it as `source()`, and anyhow's report printed
/// "No such file or directory (os error 2)" twice for a mistyped path.
fn error_report(e: &anyhow::Error) -> String {
    let mut shown = e.to_string();
    let mut causes = Vec::new();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !shown.contains(&text) {
            shown.push('\n');
            shown.push_str(&text);
            causes.push(text);
        }
    }
    let mut report = format!("Error: {e}");
    match causes.as_slice() {
        [] => {}
        [one] => report.push_str(&format!("\n\nCaused by:\n    {one}")),
        many => {
            report.push_str("\n\nCaused by:");
            for (i, text) in many.iter().enumerate() {
                report.push_str(&format!("\n    {i}: {text}"));
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn error_report_shows_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let read = clarity_io::IoError::Read { path: "scan.nii".into(), source: io };
        let e = anyhow::Error::new(read).context("loading the phantom");
        assert_eq!(
            super::error_report(&e),
            "Error: loading the phantom\n\nCaused by:\n    scan.nii: cannot read: no such file"
        );
        // Causes that add something are kept, numbered as anyhow numbers them.
        let e =
            anyhow::anyhow!("bad header").context("reading a.dcm").context("reading the series");
        assert_eq!(
            super::error_report(&e),
            "Error: reading the series\n\nCaused by:\n    0: reading a.dcm\n    1: bad header"
        );
    }

    /// `--help` must explain every flag and argument (clap prints a bare flag when the field has
    /// no doc comment: `simulate brain --seed` once did).
    #[test]
    fn every_argument_of_every_command_is_explained() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {} (no about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "clarity", &mut missing);
        assert!(missing.is_empty(), "no help for: {missing:?}");
    }
}

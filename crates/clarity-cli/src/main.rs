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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
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
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

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

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
    /// Run the bundled demo: inspect and picture the sample MR series.
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

//! DICOM: headers, pixel decoding, series assembly and derived-series writing.

pub mod bench_support;
mod codestream;
mod file_pixels;
pub mod header;
mod jpeg12;
mod jpegls;
pub mod mosaic;
mod native;
mod open;
pub mod pixels;
mod rewrite;
mod rle;
mod select;
pub mod series;
mod walk;
pub mod write;

pub use header::{read_header, transfer_syntax_name, DicomHeader, FrameInfo};
pub use pixels::{decode_file, decode_object, PixelArray, SampleType};
pub use series::{
    list_files, read_series, read_series_with_progress, scan, scan_with_progress, DicomSeries,
    ScanReport, SeriesOptions,
};
pub use write::{
    is_series_file_name, new_uid, series_file_name, series_file_paths, write_derived_series,
    write_new_series,
};

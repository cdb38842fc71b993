//! Picking series out of a scanned folder: the one series a reader expects, or the one a user
//! names (by SeriesNumber or SeriesInstanceUID, as `clarity info` lists them), with messages
//! that list what is there in words a user can act on.

use std::path::Path;

use super::series::{DicomSeries, ScanReport};
use crate::error::{IoError, Result};

impl DicomSeries {
    /// SeriesNumber of the series' first file, when it has one.
    pub fn series_number(&self) -> Option<i64> {
        self.headers[0].meta.series_number
    }

    /// One line naming the series for a person: number, description and UID.
    pub fn label(&self) -> String {
        let number = self.series_number().map(|n| format!("#{n} ")).unwrap_or_default();
        let desc = self.description().trim();
        let desc = if desc.is_empty() { String::new() } else { format!("'{desc}' ") };
        format!("{number}{desc}{} {}", self.modality(), self.name())
    }

    /// Whether `selector` names this series: its SeriesNumber, its SeriesInstanceUID (every
    /// part of a UID split by orientation or matrix), or its full [`DicomSeries::name`].
    pub fn is_named(&self, selector: &str) -> bool {
        let s = selector.trim();
        s == self.series_uid
            || s == self.name()
            || s.parse::<i64>().is_ok_and(|n| Some(n) == self.series_number())
    }
}

impl ScanReport {
    /// One indented line per series ([`DicomSeries::label`]), each after a line break.
    pub fn listing(&self) -> String {
        list(self.series.iter())
    }

    /// The one series found under `path`. Errors when there is none, when there are several,
    /// and when files or slice groups beside the one could not be read (they may be its own: a
    /// folder whose 20 slices split into 19 unstackable + 1 odd one once read as that 1 slice).
    pub fn into_only_series(mut self, path: &Path) -> Result<DicomSeries> {
        match self.series.len() {
            1 if self.errors.is_empty() => Ok(self.series.remove(0)),
            1 => Err(IoError::NotFound {
                path: path.to_path_buf(),
                reason: format!(
                    "besides series {}, {} file(s) or slice group(s) here could not be read, and \
                     they may belong to it; the first: {}",
                    self.series[0].name(),
                    self.errors.len(),
                    self.errors[0]
                ),
            }),
            0 => Err(self.errors.into_iter().next().unwrap_or_else(|| IoError::NotFound {
                path: path.to_path_buf(),
                reason: "no DICOM image series found".into(),
            })),
            n => Err(IoError::NotFound {
                path: path.to_path_buf(),
                reason: format!(
                    "{n} series found; pass one series folder or a single file:{}",
                    list(self.series.iter())
                ),
            }),
        }
    }

    /// The one series that `selector` names (see [`DicomSeries::is_named`]). Errors when none
    /// or several match, and when a slice group of the chosen UID could not be stacked (part
    /// of it would be missing). Broken files elsewhere in the folder do not stop it: they cannot
    /// be told apart from other series' files, and the caller lists them.
    pub fn select(&self, path: &Path, selector: &str) -> Result<&DicomSeries> {
        let matches: Vec<&DicomSeries> =
            self.series.iter().filter(|s| s.is_named(selector)).collect();
        let chosen = match matches[..] {
            [one] => one,
            [] => {
                return Err(IoError::NotFound {
                    path: path.to_path_buf(),
                    reason: format!(
                        "no series is named '{selector}' (give a SeriesNumber or \
                         SeriesInstanceUID); found:{}",
                        if self.series.is_empty() {
                            "none".into()
                        } else {
                            list(self.series.iter())
                        }
                    ),
                })
            }
            _ => {
                return Err(IoError::NotFound {
                    path: path.to_path_buf(),
                    reason: format!(
                        "'{selector}' names {} series; give the UID (with its [part]) instead:{}",
                        matches.len(),
                        list(matches.iter().copied())
                    ),
                })
            }
        };
        // A slice group of the chosen UID that could not be stacked is part of what was asked for.
        let unstacked = self.errors.iter().find_map(|e| match e {
            IoError::Geometry { path, series, problem } if *series == chosen.series_uid => {
                Some(IoError::Geometry {
                    path: path.clone(),
                    series: series.clone(),
                    problem: problem.clone(),
                })
            }
            _ => None,
        });
        match unstacked {
            Some(e) => Err(e),
            None => Ok(chosen),
        }
    }
}

/// One indented line per series, each starting a new line.
fn list<'a>(series: impl Iterator<Item = &'a DicomSeries>) -> String {
    series.map(|s| format!("\n  {}", s.label())).collect()
}

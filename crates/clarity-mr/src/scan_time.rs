//! Scan time of a Cartesian protocol, and how much a shortened acquisition saves.
//!
//! 2D multi-slice: every TR the scanner plays one echo train (`turbo_factor` PE lines) for each
//! slice that fits in that TR, so
//! `time = TR × ceil(PE lines × averages / turbo factor) × packages`, where `packages =
//! ceil(slices / slices_per_tr)` (1 when all slices interleave in one TR, as usual for TSE).
//! 3D: `time = TR × ceil(PE lines × averages / turbo factor) × partitions`.
//! Preparation, dummy scans and breath-hold pauses are left out: they are the same for the
//! full-length and the shortened scan, so the saving is what the PE-line count says.

use serde::Serialize;

use crate::acquisition::acquired_lines;

/// The timing-relevant part of a protocol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Protocol {
    pub repetition_time_ms: f64,
    /// PE lines of the full-resolution acquisition (the acquired matrix along PE).
    pub phase_lines: usize,
    pub averages: f64,
    /// Echoes per excitation used for different PE lines (1 for spin echo / gradient echo).
    pub turbo_factor: usize,
    pub slices: usize,
    /// Slices interleaved in one TR (`None`: all of them).
    pub slices_per_tr: Option<usize>,
    /// 3D partitions (`None` for 2D multi-slice).
    pub partitions: Option<usize>,
}

impl Protocol {
    /// Seconds for a scan that keeps `reduction` of the PE lines out and uses `partial_fourier`.
    pub fn scan_time_s(&self, reduction: f64, partial_fourier: f64) -> f64 {
        let lines = acquired_lines(self.phase_lines, reduction, partial_fourier).len() as f64;
        let shots = (lines * self.averages / self.turbo_factor.max(1) as f64).ceil();
        let repeats = match self.partitions {
            Some(p) => p.max(1) as f64,
            None => {
                let per = self.slices_per_tr.unwrap_or(self.slices).max(1);
                self.slices.div_ceil(per).max(1) as f64
            }
        };
        self.repetition_time_ms * shots * repeats / 1000.0
    }

    /// Full-length vs shortened time and the fraction saved.
    pub fn saving(&self, reduction: f64, partial_fourier: f64) -> ScanTimeSaving {
        let full_s = self.scan_time_s(0.0, partial_fourier);
        let short_s = self.scan_time_s(reduction, partial_fourier);
        ScanTimeSaving { full_s, short_s, saved_fraction: 1.0 - short_s / full_s }
    }
}

/// What [`Protocol::saving`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScanTimeSaving {
    pub full_s: f64,
    pub short_s: f64,
    pub saved_fraction: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t2_tse() -> Protocol {
        Protocol {
            repetition_time_ms: 4000.0,
            phase_lines: 320,
            averages: 2.0,
            turbo_factor: 16,
            slices: 25,
            slices_per_tr: None,
            partitions: None,
        }
    }

    #[test]
    fn thirty_percent_fewer_lines_saves_thirty_percent() {
        let s = t2_tse().saving(0.3, 1.0);
        assert!((s.saved_fraction - 0.3).abs() < 1e-9, "{s:?}");
        // 320 lines × 2 NEX / ETL 16 = 40 shots × 4 s = 160 s.
        assert!((s.full_s - 160.0).abs() < 1e-9);
    }

    #[test]
    fn packages_and_partitions_multiply() {
        let mut p = t2_tse();
        p.slices_per_tr = Some(10);
        assert!((p.scan_time_s(0.0, 1.0) - 480.0).abs() < 1e-9);
        p.partitions = Some(64);
        p.turbo_factor = 1;
        p.averages = 1.0;
        p.repetition_time_ms = 5.0;
        assert!((p.scan_time_s(0.0, 1.0) - 5.0 * 320.0 * 64.0 / 1000.0).abs() < 1e-9);
    }
}

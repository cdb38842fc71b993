//! Classification metrics from a confusion matrix that accumulates over batches (add as many
//! (truth, prediction) pairs as come, read the metrics at the end).
//!
//! Rows are the true class, columns the predicted one. Per class c: sensitivity (recall) =
//! TP / (TP + FN), specificity = TN / (TN + FP), precision = TP / (TP + FP), F1 = harmonic
//! mean of precision and sensitivity. A ratio whose denominator is 0 is reported as `None`
//! (and left out of the macro average: a class absent from both truth and predictions says
//! nothing). Micro-F1 pools TP/FP/FN over classes; for single-label data it equals accuracy.

use serde::Serialize;

/// Counts of (true class, predicted class).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfusionMatrix {
    pub classes: Vec<String>,
    /// `counts[truth][predicted]`.
    pub counts: Vec<Vec<u64>>,
}

/// Per-class metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    pub class: String,
    /// Series of this class in the truth.
    pub support: u64,
    pub sensitivity: Option<f64>,
    pub specificity: Option<f64>,
    pub precision: Option<f64>,
    pub f1: Option<f64>,
}

/// Everything `eval classify` reports for one decision source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassificationReport {
    pub n: u64,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub micro_f1: f64,
    pub per_class: Vec<ClassMetrics>,
    pub confusion: ConfusionMatrix,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

impl ConfusionMatrix {
    pub fn new(classes: &[&str]) -> Self {
        Self {
            classes: classes.iter().map(|c| c.to_string()).collect(),
            counts: vec![vec![0; classes.len()]; classes.len()],
        }
    }

    /// Count one decision (class indices).
    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.counts[truth][predicted] += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    fn tp_fp_fn(&self, c: usize) -> (u64, u64, u64) {
        let tp = self.counts[c][c];
        let fp = (0..self.classes.len()).map(|t| self.counts[t][c]).sum::<u64>() - tp;
        let fn_ = self.counts[c].iter().sum::<u64>() - tp;
        (tp, fp, fn_)
    }

    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.classes.len()).map(|c| self.counts[c][c]).sum();
        ratio(correct, self.total()).unwrap_or(0.0)
    }

    pub fn class_metrics(&self, c: usize) -> ClassMetrics {
        let (tp, fp, fn_) = self.tp_fp_fn(c);
        let tn = self.total() - tp - fp - fn_;
        let sensitivity = ratio(tp, tp + fn_);
        let precision = ratio(tp, tp + fp);
        // F1 = 2TP / (2TP + FP + FN): defined whenever the class occurs in truth or predictions.
        let f1 = ratio(2 * tp, 2 * tp + fp + fn_);
        ClassMetrics {
            class: self.classes[c].clone(),
            support: tp + fn_,
            sensitivity,
            specificity: ratio(tn, tn + fp),
            precision,
            f1,
        }
    }

    /// Mean F1 over classes that occur in the truth or the predictions.
    pub fn macro_f1(&self) -> f64 {
        let f1s: Vec<f64> =
            (0..self.classes.len()).filter_map(|c| self.class_metrics(c).f1).collect();
        if f1s.is_empty() {
            0.0
        } else {
            f1s.iter().sum::<f64>() / f1s.len() as f64
        }
    }

    /// F1 of TP, FP and FN pooled over classes.
    pub fn micro_f1(&self) -> f64 {
        let (mut tp, mut fp, mut fn_) = (0, 0, 0);
        for c in 0..self.classes.len() {
            let (a, b, d) = self.tp_fp_fn(c);
            tp += a;
            fp += b;
            fn_ += d;
        }
        ratio(2 * tp, 2 * tp + fp + fn_).unwrap_or(0.0)
    }

    pub fn report(&self) -> ClassificationReport {
        ClassificationReport {
            n: self.total(),
            accuracy: self.accuracy(),
            macro_f1: self.macro_f1(),
            micro_f1: self.micro_f1(),
            per_class: (0..self.classes.len()).map(|c| self.class_metrics(c)).collect(),
            confusion: self.clone(),
        }
    }

    /// The matrix as a Markdown table (rows: truth, columns: prediction).
    pub fn markdown(&self) -> String {
        let mut s = String::from("| truth \\ predicted |");
        for c in &self.classes {
            s += &format!(" {c} |");
        }
        s += "\n|---|";
        s += &"---|".repeat(self.classes.len());
        s += "\n";
        for (c, row) in self.classes.iter().zip(&self.counts) {
            s += &format!("| {c} |");
            for v in row {
                s += &format!(" {v} |");
            }
            s += "\n";
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand:
    /// ```text
    ///            pred a  pred b  pred c
    /// truth a       5       1       0
    /// truth b       2       3       1
    /// truth c       0       0       4
    /// ```
    /// a: TP 5, FP 2, FN 1, TN 8 → sens 5/6, spec 8/10, prec 5/7, F1 10/13.
    /// b: TP 3, FP 1, FN 3, TN 9 → sens 1/2, spec 9/10, prec 3/4, F1 6/10.
    /// c: TP 4, FP 1, FN 0, TN 11 → sens 1, spec 11/12, prec 4/5, F1 8/9.
    /// accuracy 12/16; macro-F1 (10/13 + 6/10 + 8/9)/3; micro-F1 = 24/(24+4+4) = 0.75.
    #[test]
    fn hand_computed_three_class_matrix() {
        let mut m = ConfusionMatrix::new(&["a", "b", "c"]);
        for (t, p, n) in [(0, 0, 5), (0, 1, 1), (1, 0, 2), (1, 1, 3), (1, 2, 1), (2, 2, 4)] {
            for _ in 0..n {
                m.add(t, p);
            }
        }
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-12;
        assert_eq!(m.total(), 16);
        assert!((m.accuracy() - 0.75).abs() < 1e-12);
        let a = m.class_metrics(0);
        assert_eq!(a.support, 6);
        assert!(close(a.sensitivity, 5.0 / 6.0) && close(a.specificity, 0.8));
        assert!(close(a.precision, 5.0 / 7.0) && close(a.f1, 10.0 / 13.0));
        let b = m.class_metrics(1);
        assert!(close(b.sensitivity, 0.5) && close(b.specificity, 0.9));
        assert!(close(b.precision, 0.75) && close(b.f1, 0.6));
        let c = m.class_metrics(2);
        assert!(close(c.sensitivity, 1.0) && close(c.specificity, 11.0 / 12.0));
        assert!(close(c.precision, 0.8) && close(c.f1, 8.0 / 9.0));
        let macro_f1 = (10.0 / 13.0 + 0.6 + 8.0 / 9.0) / 3.0;
        assert!((m.macro_f1() - macro_f1).abs() < 1e-12);
        assert!((m.micro_f1() - 0.75).abs() < 1e-12, "micro-F1 equals accuracy");
        assert!(m.markdown().contains("| b | 2 | 3 | 1 |"));
    }

    /// A class that never occurs and is never predicted has no F1 and does not drag the macro
    /// average; one that is predicted but never true has F1 0 and does.
    #[test]
    fn absent_classes() {
        let mut m = ConfusionMatrix::new(&["x", "y", "z"]);
        m.add(0, 0);
        m.add(0, 0);
        m.add(1, 1);
        assert_eq!(m.class_metrics(2).f1, None);
        assert_eq!(m.class_metrics(2).sensitivity, None);
        assert_eq!(m.macro_f1(), 1.0);
        m.add(1, 2);
        // y: TP 1, FN 1 → F1 2/3; z: FP 1 → F1 0; x: 1.
        assert!((m.macro_f1() - (1.0 + 2.0 / 3.0 + 0.0) / 3.0).abs() < 1e-12);
        assert_eq!(m.class_metrics(2).precision, Some(0.0));
    }
}

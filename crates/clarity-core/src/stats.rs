//! Order statistics shared by windowing, foreground masks and intensity normalisation.

/// The `q`-quantile (0..=1) of the finite values for which `keep` holds, by the nearest rank
/// `round((n − 1)·q)`; `None` when no value qualifies.
pub fn percentile(values: &[f32], q: f64, keep: impl Fn(f32) -> bool) -> Option<f32> {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| x.is_finite() && keep(*x)).collect();
    if v.is_empty() {
        return None;
    }
    let i = (((v.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize).min(v.len() - 1);
    Some(*v.select_nth_unstable_by(i, |a, b| a.total_cmp(b)).1)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank_and_filtering() {
        let v: Vec<f32> = (0..=100).map(|i| i as f32).collect();
        assert_eq!(percentile(&v, 0.99, |_| true), Some(99.0));
        assert_eq!(percentile(&v, 0.0, |x| x > 50.0), Some(51.0));
        assert_eq!(percentile(&[f32::NAN, 3.0], 1.0, |_| true), Some(3.0));
        assert_eq!(percentile(&[0.0, -1.0], 0.5, |x| x > 0.0), None);
    }
}

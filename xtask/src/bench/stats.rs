//! Statistics over the bench's runs.
//!
//! Ratios (traced ÷ untraced ops/s) are judged by one rule: at least
//! [`MIN_PAIRS`] interleaved pairs, the order alternated pair by pair, the
//! ratio stated as the mean of the per-pair ratios with a two-sided 90%
//! confidence interval (Student t, n − 1 degrees of freedom), and a goal
//! met only when the interval's lower end clears it. Medians, min and max
//! remain for describing noise (baselines, other load).

/// Fewest pairs a ratio may be judged on. Fewer (a `--quick` run) are
/// reported, but no goal counts as met on them.
pub const MIN_PAIRS: usize = 9;

pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

pub fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

pub fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// Half the min–max range relative to the median, in percent: the ± a
/// reader should allow for any single run.
pub fn spread_pct(v: &[f64]) -> f64 {
    (max(v) - min(v)) / 2.0 / median(v) * 100.0
}

pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.iter().sum::<f64>() / v.len() as f64
}

/// Sample standard deviation (n − 1 in the denominator); NaN below 2 values.
pub fn sample_sd(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return f64::NAN;
    }
    let m = mean(v);
    let ss: f64 = v.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / (v.len() - 1) as f64).sqrt()
}

/// t quantiles at 0.95 (the two-sided 90% interval) for 1..=30 degrees of
/// freedom, to four decimals.
const T95: [f64; 30] = [
    6.3138, 2.9200, 2.3534, 2.1318, 2.0150, 1.9432, 1.8946, 1.8595, 1.8331, 1.8125, //
    1.7959, 1.7823, 1.7709, 1.7613, 1.7531, 1.7459, 1.7396, 1.7341, 1.7291, 1.7247, //
    1.7207, 1.7171, 1.7139, 1.7109, 1.7081, 1.7056, 1.7033, 1.7011, 1.6991, 1.6973,
];
/// Beyond 30: (degrees of freedom, quantile); a df between two rows, or
/// past the last, takes the lower row's (larger) quantile, so the interval
/// is never too narrow.
const T95_TAIL: [(usize, f64); 3] = [(40, 1.6839), (60, 1.6706), (120, 1.6577)];

/// Student t quantile at 0.95 for `df` degrees of freedom (NaN for 0).
pub fn t95(df: usize) -> f64 {
    match df {
        0 => f64::NAN,
        1..=30 => T95[df - 1],
        _ => T95_TAIL
            .iter()
            .rev()
            .find(|&&(d, _)| df >= d)
            .map_or(T95[29], |&(_, t)| t),
    }
}

/// A mean with its two-sided 90% confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ci {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    pub n: usize,
}

impl Ci {
    /// Mean and Student-t interval of `v` (lo = hi = NaN below 2 values).
    pub fn of(v: &[f64]) -> Option<Ci> {
        if v.is_empty() {
            return None;
        }
        let m = mean(v);
        let half = t95(v.len() - 1) * sample_sd(v) / (v.len() as f64).sqrt();
        Some(Ci {
            mean: m,
            lo: m - half,
            hi: m + half,
            n: v.len(),
        })
    }

    /// `0.912 [0.897, 0.927]`.
    pub fn show(&self, decimals: usize) -> String {
        if self.lo.is_nan() {
            return format!("{:.decimals$} [no interval]", self.mean);
        }
        format!(
            "{:.decimals$} [{:.decimals$}, {:.decimals$}]",
            self.mean, self.lo, self.hi
        )
    }
}

/// How a measured interval stands against a goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Met,
    NotMet,
    /// Fewer than [`MIN_PAIRS`] samples: reported, not judged.
    TooFew,
    /// Not met, and out of reach here: an empty program on the same hook,
    /// measured in the same run, already misses the goal (the upper end of
    /// its interval is below it).
    BelowFloor,
}

impl Verdict {
    /// "At least `goal`": met when the lower end clears it.
    pub fn at_least(ci: &Ci, goal: f64) -> Verdict {
        if ci.n < MIN_PAIRS {
            Verdict::TooFew
        } else if ci.lo >= goal {
            Verdict::Met
        } else {
            Verdict::NotMet
        }
    }

    /// "Below `goal`" (a cost): met when the upper end stays under it.
    pub fn below(ci: &Ci, goal: f64) -> Verdict {
        if ci.n < MIN_PAIRS {
            Verdict::TooFew
        } else if ci.hi < goal {
            Verdict::Met
        } else {
            Verdict::NotMet
        }
    }

    pub fn from_bool(met: bool) -> Verdict {
        if met { Verdict::Met } else { Verdict::NotMet }
    }

    pub fn mark(self) -> &'static str {
        match self {
            Verdict::Met => "✔",
            Verdict::NotMet => "✘",
            Verdict::TooFew => "not judged (n < 9)",
            Verdict::BelowFloor => "✘ (out of reach: the empty program misses it too)",
        }
    }
}

/// Least-squares slope of `y` over `x` (NaN with fewer than two distinct x).
pub fn slope(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n < 2 {
        return f64::NAN;
    }
    let (mx, my) = (mean(&x[..n]), mean(&y[..n]));
    let sxy: f64 = (0..n).map(|i| (x[i] - mx) * (y[i] - my)).sum();
    let sxx: f64 = (0..n).map(|i| (x[i] - mx) * (x[i] - mx)).sum();
    if sxx == 0.0 { f64::NAN } else { sxy / sxx }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(spread_pct(&[90.0, 100.0, 110.0]), 10.0);
    }

    /// CDF of Student's t with `df` degrees of freedom at `t`, computed
    /// independently of the table: with x = √df·tan θ the density becomes
    /// cos^(df−1) θ on (−π/2, π/2), integrated by Simpson's rule.
    fn t_cdf(t: f64, df: usize) -> f64 {
        let f = |th: f64| th.cos().powi(df as i32 - 1);
        let simpson = |a: f64, b: f64| {
            let n = 20_000;
            let h = (b - a) / n as f64;
            let inner: f64 = (1..n)
                .map(|i| f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
                .sum();
            (f(a) + f(b) + inner) * h / 3.0
        };
        let half_pi = std::f64::consts::FRAC_PI_2;
        simpson(-half_pi, (t / (df as f64).sqrt()).atan()) / simpson(-half_pi, half_pi)
    }

    #[test]
    fn t_table_matches_the_distribution() {
        for df in (1..=30).chain([40, 60, 120]) {
            let p = t_cdf(t95(df), df);
            assert!((p - 0.95).abs() < 2e-5, "df {df}: cdf({}) = {p}", t95(df));
        }
        // Between rows and past the table: never narrower than the truth.
        for df in [35, 45, 100, 500] {
            assert!(t_cdf(t95(df), df) >= 0.95, "df {df}");
        }
        assert_eq!(t95(10_000), 1.6577);
        assert!(t95(0).is_nan());
        // Known textbook values.
        assert_eq!(t95(8), 1.8595);
        assert_eq!(t95(4), 2.1318);
    }

    #[test]
    fn interval_by_hand() {
        // mean 3, sd √2.5, se √0.5, t(4) = 2.1318: half-width 1.5074.
        let ci = Ci::of(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(ci.n, 5);
        assert!((ci.mean - 3.0).abs() < 1e-12);
        assert!((ci.lo - (3.0 - 1.50741)).abs() < 1e-4, "{ci:?}");
        assert!((ci.hi - (3.0 + 1.50741)).abs() < 1e-4, "{ci:?}");
        assert_eq!(ci.show(2), "3.00 [1.49, 4.51]");
        let one = Ci::of(&[0.9]).unwrap();
        assert!(one.lo.is_nan());
        assert_eq!(one.show(2), "0.90 [no interval]");
        assert!(Ci::of(&[]).is_none());
    }

    #[test]
    fn goals_are_judged_on_the_lower_end() {
        // Nine pairs whose mean clears 0.80 but whose interval does not.
        let wide = [0.70, 0.95, 0.72, 0.93, 0.74, 0.91, 0.76, 0.89, 0.78];
        let ci = Ci::of(&wide).unwrap();
        assert!(ci.mean > 0.80 && ci.lo < 0.80, "{ci:?}");
        assert_eq!(Verdict::at_least(&ci, 0.80), Verdict::NotMet);
        let tight = [0.84, 0.85, 0.83, 0.84, 0.86, 0.85, 0.84, 0.83, 0.85];
        let ci = Ci::of(&tight).unwrap();
        assert_eq!(Verdict::at_least(&ci, 0.80), Verdict::Met);
        assert_eq!(Verdict::below(&ci, 0.845), Verdict::NotMet);
        assert_eq!(Verdict::below(&ci, 0.90), Verdict::Met);
        // Too few pairs are never judged, however good they look.
        let few = Ci::of(&tight[..8]).unwrap();
        assert_eq!(Verdict::at_least(&few, 0.80), Verdict::TooFew);
    }

    #[test]
    fn slopes() {
        assert!((slope(&[0.0, 1.0, 2.0, 3.0], &[1.0, 3.0, 5.0, 7.0]) - 2.0).abs() < 1e-12);
        assert!(slope(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
        assert!(slope(&[1.0], &[1.0]).is_nan());
        assert_eq!(
            sample_sd(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
            32f64.sqrt() / 7f64.sqrt()
        );
    }
}

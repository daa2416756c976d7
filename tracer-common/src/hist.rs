//! log2 buckets as BCC prints them: bucket `b` holds values in
//! `[2^(b-1), 2^b - 1]`, bucket 0 holds 0.

pub const LOG2_BUCKETS: usize = 64;

#[inline(always)]
pub const fn log2_bucket(value: u64) -> usize {
    (u64::BITS - value.leading_zeros()) as usize
}

/// Inclusive value range of a bucket.
pub const fn log2_range(bucket: usize) -> (u64, u64) {
    match bucket {
        0 => (0, 0),
        64.. => (1 << 63, u64::MAX),
        b => (1 << (b - 1), (1 << b) - 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_its_range() {
        for v in [0u64, 1, 2, 3, 4, 7, 8, 1000, 1 << 40, u64::MAX] {
            let b = log2_bucket(v);
            let (lo, hi) = log2_range(b);
            assert!(lo <= v && v <= hi, "{v} not in bucket {b} = [{lo}, {hi}]");
        }
        assert_eq!(log2_bucket(1), 1);
        assert_eq!(log2_bucket(2), 2);
        assert_eq!(log2_bucket(3), 2);
    }
}

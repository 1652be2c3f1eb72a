//! The BigDL-compatible stream: MT19937 as Torch7 and BigDL's `RandomGenerator` use it.
//!
//! BigDL seeds with `seed & 0xffffffff` through the reference `init_genrand`, so the raw
//! words equal numpy's legacy `RandomState(seed)`. On top of the words:
//! - uniform `u = word * 2^-32` (in `[0, 1)`);
//! - Bernoulli(q) is true iff `u <= q`;
//! - normals by Box-Muller with a cached pair: the first call draws `x`, then `y`, and
//!   returns `rho * cos(2 pi x)`, the second returns `rho * sin(2 pi x)`, where
//!   `rho = sqrt(-2 ln(1 - y))`; all in `f64`, then `n * stddev + mean`.
//!
//! The stream is sequential, so everything drawn from it runs on one thread.

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER: u32 = 0x8000_0000;
const LOWER: u32 = 0x7fff_ffff;

/// The Mersenne Twister MT19937 (Matsumoto and Nishimura, 1998), 32-bit output.
#[derive(Clone)]
pub struct Mt19937 {
    state: Box<[u32; N]>,
    index: usize,
}

impl std::fmt::Debug for Mt19937 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mt19937")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Mt19937 {
    /// Seeds with the reference `init_genrand(seed)`.
    ///
    /// # Example
    /// ```
    /// let mut mt = dropkit::rng::Mt19937::new(5489);
    /// assert_eq!(mt.next_u32(), 3499211612); // the reference implementation's first word
    /// ```
    pub fn new(seed: u32) -> Self {
        let mut state = Box::new([0u32; N]);
        state[0] = seed;
        for i in 1..N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { state, index: N }
    }

    fn twist(&mut self) {
        let s = &mut self.state;
        for i in 0..N {
            let y = (s[i] & UPPER) | (s[(i + 1) % N] & LOWER);
            let mut v = s[(i + M) % N] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= MATRIX_A;
            }
            s[i] = v;
        }
        self.index = 0;
    }

    /// The next 32-bit word (the reference `genrand_int32`).
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }
}

/// BigDL's random stream: MT19937 words, their uniform, Bernoulli and cached normal.
#[derive(Clone, Debug)]
pub struct BigDlStream {
    seed: u64,
    mt: Mt19937,
    words: u64,
    cached: Option<f64>,
    /// Words consumed before the pair whose second normal is `cached`.
    pending_at: Option<u64>,
}

impl BigDlStream {
    /// A stream seeded as BigDL's `RNG.setSeed(seed)` (only the low 32 bits count).
    pub fn new(seed: u64) -> Self {
        BigDlStream {
            seed,
            mt: Mt19937::new(seed as u32),
            words: 0,
            cached: None,
            pending_at: None,
        }
    }

    /// The seed this stream was created with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many 32-bit words have been consumed since seeding.
    pub fn words(&self) -> u64 {
        self.words
    }

    /// Where the Box-Muller pair whose second normal is still to come starts (the words
    /// consumed before it), if one is pending.
    pub fn pending_pair(&self) -> Option<u64> {
        self.cached.and(self.pending_at)
    }

    /// Rebuilds the stream at a position: seeded with `seed`, `words` words consumed, and a
    /// pending second normal from the pair drawn at word `pending_pair` (which must satisfy
    /// `pending_pair + 2 <= words`; otherwise no normal is pending). Cost: proportional to
    /// `words`, as BigDL's stream has no jump-ahead.
    pub fn at_position(seed: u64, words: u64, pending_pair: Option<u64>) -> Self {
        let mut s = BigDlStream::new(seed);
        let pair = pending_pair.filter(|&at| at.checked_add(2).is_some_and(|end| end <= words));
        if let Some(at) = pair {
            s.skip(at);
            s.normal(0.0, 1.0);
        }
        s.skip(words - s.words);
        s
    }

    fn skip(&mut self, words: u64) {
        for _ in 0..words {
            self.next_u32();
        }
    }

    /// The next raw word.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        self.words += 1;
        self.mt.next_u32()
    }

    /// BigDL's `uniform(0, 1)`: `word * 2^-32`.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        f64::from(self.next_u32()) * (1.0 / 4_294_967_296.0)
    }

    /// BigDL's `bernoulli(q)`: `uniform() <= q`.
    ///
    /// One word is consumed for every call. `q <= 0` is always false (BigDL would keep an
    /// element whose word is 0, which for `p = 1` divides by zero; dropkit's p = 1 drops all).
    #[inline]
    pub fn bernoulli(&mut self, q: f64) -> bool {
        let u = self.uniform();
        q > 0.0 && u <= q
    }

    /// BigDL's `normal(mean, stddev)`: cached Box-Muller in `f64`.
    #[inline]
    pub fn normal(&mut self, mean: f64, stddev: f64) -> f64 {
        let n = match self.cached.take() {
            Some(second) => second,
            None => {
                self.pending_at = Some(self.words);
                let x = self.uniform();
                let y = self.uniform();
                let rho = (-2.0 * (1.0 - y).ln()).sqrt();
                let angle = 2.0 * std::f64::consts::PI * x;
                self.cached = Some(rho * angle.sin());
                rho * angle.cos()
            }
        };
        n * stddev + mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words of numpy's legacy `RandomState(seed)`; see `tests/data/README.md` for the command.
    fn numpy_words(seed: u64) -> Vec<u32> {
        let text = include_str!("../../tests/data/mt19937_numpy.txt");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(&format!("seed {seed}:")) {
                return rest
                    .split_whitespace()
                    .map(|w| w.parse().unwrap())
                    .collect();
            }
        }
        panic!("no reference words for seed {seed}");
    }

    #[test]
    fn raw_words_equal_numpy_legacy_random_state() {
        for seed in [0u64, 1, 100, 5489, 4_294_967_295] {
            let want = numpy_words(seed);
            assert!(want.len() >= 1000, "reference too short for {seed}");
            let mut s = BigDlStream::new(seed);
            let got: Vec<u32> = (0..want.len()).map(|_| s.next_u32()).collect();
            assert_eq!(got, want, "seed {seed}");
        }
    }

    #[test]
    fn only_low_32_bits_of_the_seed_count() {
        let mut a = BigDlStream::new(100);
        let mut b = BigDlStream::new(100 + (7 << 32));
        for _ in 0..10 {
            assert_eq!(a.next_u32(), b.next_u32());
        }
    }

    #[test]
    fn seed_document_spatial_dropout_1d_mask() {
        // RNG.setSeed(100); SpatialDropout1D(0.7) on (3, 4, 5): one draw per (sample, channel).
        let mut s = BigDlStream::new(100);
        let keep: Vec<u8> = (0..15).map(|_| u8::from(s.bernoulli(1.0 - 0.7))).collect();
        assert_eq!(keep, [0, 0, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 0]);
    }

    #[test]
    fn normal_pairs_share_two_words_and_positions_replay() {
        let mut s = BigDlStream::new(7);
        let a = s.normal(0.0, 1.0);
        assert_eq!((s.words(), s.pending_pair()), (2, Some(0)));
        let b = s.normal(0.0, 1.0);
        assert_eq!((s.words(), s.pending_pair()), (2, None));
        let mut t = BigDlStream::new(7);
        let (x, y) = (t.uniform(), t.uniform());
        let rho = (-2.0 * (1.0 - y).ln()).sqrt();
        assert_eq!(a, rho * (2.0 * std::f64::consts::PI * x).cos());
        assert_eq!(b, rho * (2.0 * std::f64::consts::PI * x).sin());

        let mut s = BigDlStream::new(9);
        s.next_u32();
        s.normal(1.0, 2.0);
        s.next_u32(); // the pending pair is no longer the last two words
        let mut r = BigDlStream::at_position(9, s.words(), s.pending_pair());
        for _ in 0..5 {
            assert_eq!(s.normal(1.0, 2.0), r.normal(1.0, 2.0));
        }
        // An impossible position is taken without the pending normal, not a panic.
        let r = BigDlStream::at_position(9, 3, Some(u64::MAX));
        assert_eq!((r.words(), r.pending_pair()), (3, None));
    }

    #[test]
    fn bernoulli_of_zero_is_never_true() {
        let mut s = BigDlStream::new(3);
        assert!((0..10_000).all(|_| !s.bernoulli(0.0)));
        let mut s = BigDlStream::new(3);
        assert!((0..10_000).all(|_| s.bernoulli(1.0)));
    }
}

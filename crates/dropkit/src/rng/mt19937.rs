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
//!
//! A position is `(seed, words, pending_pair)`: the words consumed, and where the Box-Muller
//! pair whose second normal is cached starts. [`BigDlStream::at_position`] restores any
//! position bit for bit in milliseconds: below a million words by generating them, above by
//! MT19937 jump-ahead ([`Mt19937::at_word`]), so even `words = 2^63` is immediate. A
//! `pending_pair` must be at most `words - 2` (the pair's two words were consumed).

use crate::error::{Error, Result};

use super::mt_params::{seeded_state, LOWER, M, MATRIX_A, N, UPPER};

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
        Mt19937 {
            state: seeded_state(seed),
            index: N,
        }
    }

    /// The generator seeded with `seed` after it has produced `words` words: bit for bit
    /// what `words` calls of [`Mt19937::next_u32`] leave, in a few milliseconds for any
    /// `words`: above a million words by jump-ahead (the characteristic polynomial of
    /// MT19937's GF(2)-linear transition, computed once per process; `t^words` modulo it,
    /// applied to the seeded state).
    ///
    /// # Example
    /// ```
    /// use dropkit::rng::Mt19937;
    /// let mut a = Mt19937::new(5489);
    /// for _ in 0..1000 {
    ///     a.next_u32();
    /// }
    /// assert_eq!(Mt19937::at_word(5489, 1000).next_u32(), a.next_u32());
    /// let mut far = Mt19937::at_word(5489, 1 << 63); // no 2^63 words generated
    /// far.next_u32();
    /// ```
    pub fn at_word(seed: u32, words: u64) -> Self {
        if words <= super::jump::REPLAY_LIMIT {
            let mut mt = Mt19937::new(seed);
            mt.discard(words);
            mt
        } else {
            Mt19937::jumped(seed, words)
        }
    }

    /// [`Mt19937::at_word`] by jump-ahead whatever `words` is.
    pub(super) fn jumped(seed: u32, words: u64) -> Self {
        let init = seeded_state(seed);
        if words == 0 {
            return Mt19937 {
                state: init,
                index: N,
            };
        }
        let (state, index) = super::jump::state_at(&init, words);
        Mt19937 { state, index }
    }

    /// Advances by `n` words without tempering them: a twist per 624 words.
    fn discard(&mut self, n: u64) {
        let left = (N - self.index) as u64;
        if n <= left {
            self.index += n as usize;
            return;
        }
        let mut n = n - left;
        while n > 0 {
            self.twist();
            let take = n.min(N as u64);
            self.index = take as usize;
            n -= take;
        }
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

    /// How many 32-bit words have been consumed since seeding, modulo 2^64: only a stream
    /// restored near the end of that range ([`BigDlStream::at_position`]) can pass it, and
    /// its count then wraps to 0 (it does not panic; such a position cannot be restored).
    pub fn words(&self) -> u64 {
        self.words
    }

    /// Where the Box-Muller pair whose second normal is still to come starts (the words
    /// consumed before it), if one is pending.
    pub fn pending_pair(&self) -> Option<u64> {
        self.cached.and(self.pending_at)
    }

    /// Rebuilds the stream at a position: seeded with `seed`, `words` words consumed, and a
    /// pending second normal from the Box-Muller pair drawn from the words at positions
    /// `pending_pair` and `pending_pair + 1`. Bit for bit the stream that consumed them, in a
    /// few milliseconds for any position ([`Mt19937::at_word`]).
    ///
    /// # Errors
    /// [`Error::InvalidPendingPair`] unless `pending_pair + 2 <= words`. That is the whole
    /// rule: a pair is drawn from two words, and words taken after it by uniforms or
    /// Bernoulli draws (another layer on the same default generator) keep its second normal
    /// pending, so every `pending_pair <= words - 2` is a position some sequence of calls
    /// reaches.
    pub fn at_position(seed: u64, words: u64, pending_pair: Option<u64>) -> Result<Self> {
        if let Some(at) = pending_pair {
            if at.checked_add(2).is_none_or(|end| end > words) {
                return Err(Error::InvalidPendingPair {
                    pending_pair: at,
                    words,
                });
            }
        }
        let mut s = BigDlStream::new(seed);
        if let Some(at) = pending_pair {
            s.advance_to(at);
            s.normal(0.0, 1.0);
        }
        s.advance_to(words);
        Ok(s)
    }

    /// Consumes words up to position `words` (at or after the current one); a pending
    /// normal stays pending.
    fn advance_to(&mut self, words: u64) {
        let n = words - self.words;
        if n <= super::jump::REPLAY_LIMIT {
            self.mt.discard(n);
        } else {
            self.mt = Mt19937::jumped(self.seed as u32, words);
        }
        self.words = words;
    }

    /// The next raw word.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        self.words = self.words.wrapping_add(1);
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
        let mut r = BigDlStream::at_position(9, s.words(), s.pending_pair()).unwrap();
        for _ in 0..5 {
            assert_eq!(s.normal(1.0, 2.0), r.normal(1.0, 2.0));
        }
    }

    /// Positions either side of the twists (every 624 words), of the replay limit, and far.
    const POSITIONS: [u64; 20] = [
        0,
        1,
        2,
        396,
        397,
        623,
        624,
        625,
        1247,
        1248,
        1249,
        19_936,
        19_937,
        19_938,
        100_003,
        624_000,
        624_001,
        super::super::jump::REPLAY_LIMIT - 1,
        super::super::jump::REPLAY_LIMIT + 1,
        5_000_017,
    ];

    #[test]
    fn jump_ahead_equals_replay_across_twist_boundaries() {
        for seed in [0u32, 5489, u32::MAX] {
            let mut replay = Mt19937::new(seed);
            let mut at = 0;
            for n in POSITIONS {
                (at..n).for_each(|_| {
                    replay.next_u32();
                });
                at = n;
                let mut jumped = Mt19937::jumped(seed, n);
                let mut at_word = Mt19937::at_word(seed, n);
                let mut r = replay.clone();
                for i in 0..1300 {
                    let want = r.next_u32();
                    assert_eq!(jumped.next_u32(), want, "seed {seed} at {n}: word {i}");
                    assert_eq!(at_word.next_u32(), want, "seed {seed} at {n}: word {i}");
                }
            }
        }
    }

    #[test]
    fn far_jumps_agree_with_the_words_before_them() {
        for n in [1u64 << 32, 1 << 63, u64::MAX - 2000] {
            let mut a = Mt19937::jumped(7, n);
            let words: Vec<u32> = (0..2000).map(|_| a.next_u32()).collect();
            for k in [1usize, 622, 623, 624, 625, 1000, 1248] {
                let mut b = Mt19937::at_word(7, n + k as u64);
                for (i, &want) in words[k..].iter().enumerate() {
                    assert_eq!(b.next_u32(), want, "{n} + {k}: word {i}");
                }
            }
        }
        let mut last = Mt19937::at_word(7, u64::MAX);
        last.next_u32();
    }

    #[test]
    fn positions_with_a_pending_pair_replay_across_twist_boundaries() {
        for pair in [0u64, 621, 622, 623, 624, 1246, 1247, 5_000_000] {
            for after in [0u64, 1, 624, 625] {
                let mut s = BigDlStream::new(11);
                (0..pair).for_each(|_| {
                    s.next_u32();
                });
                s.normal(0.0, 1.0);
                (0..after).for_each(|_| {
                    s.next_u32();
                });
                assert_eq!(s.pending_pair(), Some(pair));
                let mut r = BigDlStream::at_position(11, s.words(), s.pending_pair()).unwrap();
                assert_eq!((r.words(), r.pending_pair()), (s.words(), s.pending_pair()));
                for i in 0..5 {
                    let want = s.normal(1.0, 2.0).to_bits();
                    assert_eq!(r.normal(1.0, 2.0).to_bits(), want, "{pair} + {after}: {i}");
                    assert_eq!(r.next_u32(), s.next_u32());
                }
            }
        }
    }

    #[test]
    fn the_word_count_wraps_past_the_last_position() {
        let mut s = BigDlStream::at_position(1, u64::MAX, None).unwrap();
        let mut t = BigDlStream::at_position(1, u64::MAX - 1, None).unwrap();
        t.next_u32();
        assert_eq!(s.next_u32(), t.next_u32());
        assert_eq!(s.words(), 0);
    }

    #[test]
    fn impossible_pending_pairs_are_refused() {
        for (words, pair) in [
            (0, 0),
            (1, 0),
            (3, 2),
            (3, u64::MAX),
            (u64::MAX, u64::MAX - 1),
        ] {
            let e = BigDlStream::at_position(1, words, Some(pair)).unwrap_err();
            assert_eq!(
                e,
                Error::InvalidPendingPair {
                    pending_pair: pair,
                    words
                }
            );
            assert!(
                e.to_string().starts_with(&format!(
                    "pending_pair = {pair} is impossible with words = {words}: "
                )),
                "{e}"
            );
        }
        for (words, pair) in [(2, 0), (3, 1), (3, 0), (u64::MAX, u64::MAX - 2)] {
            let s = BigDlStream::at_position(1, words, Some(pair)).unwrap();
            assert_eq!((s.words(), s.pending_pair()), (words, Some(pair)));
        }
    }

    #[test]
    fn bernoulli_of_zero_is_never_true() {
        let mut s = BigDlStream::new(3);
        assert!((0..10_000).all(|_| !s.bernoulli(0.0)));
        let mut s = BigDlStream::new(3);
        assert!((0..10_000).all(|_| s.bernoulli(1.0)));
    }
}

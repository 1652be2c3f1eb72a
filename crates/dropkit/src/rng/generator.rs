//! Seeds, draws and the process-wide default generator.
//!
//! A [`Generator`] is either Philox (counter-based: a draw is the pair `(seed, draw index)`,
//! random access, any thread count) or the BigDL-compatible MT19937 stream (sequential).
//! Every training forward of a layer takes exactly one draw from its generator: the layer's
//! own one if it was given a seed, else the process default ([`set_seed`]), atomically.

use std::sync::{Mutex, MutexGuard};

use super::mt19937::BigDlStream;

/// Which random algorithm a generator runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum GeneratorKind {
    /// Philox4x32-10 with dropkit's `(seed, draw, element)` mapping: the default.
    #[default]
    Philox,
    /// BigDL's single-threaded MT19937 stream, bit for bit.
    BigDl,
}

impl GeneratorKind {
    /// The name used by the Python package and in messages: `"philox"` or `"bigdl"`.
    pub fn name(self) -> &'static str {
        match self {
            GeneratorKind::Philox => "philox",
            GeneratorKind::BigDl => "bigdl",
        }
    }
}

impl std::str::FromStr for GeneratorKind {
    type Err = crate::Error;

    /// Parses `"philox"` or `"bigdl"`, case-insensitively.
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "philox" => Ok(GeneratorKind::Philox),
            "bigdl" => Ok(GeneratorKind::BigDl),
            _ => Err(crate::Error::UnknownGenerator {
                value: s.to_string(),
            }),
        }
    }
}

/// A generator's position, enough to rebuild it exactly (and so replay any past draw).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(tag = "generator", rename_all = "lowercase")
)]
pub enum GeneratorState {
    /// Philox: the seed and the draw index the next training forward will use.
    Philox {
        /// The 64-bit key.
        seed: u64,
        /// The next draw index.
        draw: u64,
    },
    /// BigDL's MT19937 stream: the seed, the 32-bit words consumed so far, and where the
    /// Box-Muller pair whose second normal is pending starts, if one is.
    BigDl {
        /// The seed (only its low 32 bits are used, as in BigDL).
        seed: u64,
        /// Words consumed since seeding.
        words: u64,
        /// The words consumed before the pair whose cached normal is pending, if any.
        pending_pair: Option<u64>,
    },
}

/// A random generator: Philox or BigDL's stream.
#[derive(Clone, Debug)]
pub enum Generator {
    /// Counter-based Philox4x32-10.
    Philox {
        /// The key.
        seed: u64,
        /// The draw index of the next training forward.
        next_draw: u64,
    },
    /// BigDL's sequential MT19937 stream.
    BigDl(BigDlStream),
}

impl Generator {
    /// A fresh generator of `kind` seeded with `seed` (draw index 0 / stream start).
    pub fn new(kind: GeneratorKind, seed: u64) -> Self {
        match kind {
            GeneratorKind::Philox => Generator::Philox { seed, next_draw: 0 },
            GeneratorKind::BigDl => Generator::BigDl(BigDlStream::new(seed)),
        }
    }

    /// Which algorithm this generator runs.
    pub fn kind(&self) -> GeneratorKind {
        match self {
            Generator::Philox { .. } => GeneratorKind::Philox,
            Generator::BigDl(_) => GeneratorKind::BigDl,
        }
    }

    /// The current position.
    pub fn state(&self) -> GeneratorState {
        match self {
            Generator::Philox { seed, next_draw } => GeneratorState::Philox {
                seed: *seed,
                draw: *next_draw,
            },
            Generator::BigDl(s) => GeneratorState::BigDl {
                seed: s.seed(),
                words: s.words(),
                pending_pair: s.pending_pair(),
            },
        }
    }

    /// A generator at `state` (the algorithm comes with the state). A BigDL stream is
    /// rebuilt by jump-ahead, in a few milliseconds for any `words`
    /// ([`BigDlStream::at_position`]).
    ///
    /// # Errors
    /// [`crate::Error::InvalidPendingPair`] for a BigDL `pending_pair` that cannot exist with
    /// `words` (it must be at most `words - 2`).
    pub fn from_state(state: GeneratorState) -> crate::Result<Self> {
        Ok(match state {
            GeneratorState::Philox { seed, draw } => Generator::Philox {
                seed,
                next_draw: draw,
            },
            GeneratorState::BigDl {
                seed,
                words,
                pending_pair,
            } => Generator::BigDl(BigDlStream::at_position(seed, words, pending_pair)?),
        })
    }

    /// Takes one draw and runs `f` with its randomness; returns what `f` returned and the
    /// draw, which can replay the same randomness later ([`Draw::replay`]).
    pub(crate) fn draw<R>(&mut self, f: impl FnOnce(&mut Randomness<'_>) -> R) -> (R, Draw) {
        match self {
            Generator::Philox { seed, next_draw } => {
                let draw = Draw::Philox {
                    seed: *seed,
                    draw: *next_draw,
                };
                *next_draw = next_draw.wrapping_add(1);
                (draw.replay(f), draw)
            }
            Generator::BigDl(stream) => {
                let snapshot = Box::new(stream.clone());
                let r = f(&mut Randomness::Stream(stream));
                (r, Draw::BigDl(snapshot))
            }
        }
    }
}

/// One training forward's randomness, kept so backward (or a non-resampling forward) can
/// regenerate the same mask or noise.
#[derive(Clone, Debug)]
pub enum Draw {
    /// Philox: the key and the draw index; element `i` uses block `i / 4`.
    Philox {
        /// The key.
        seed: u64,
        /// The draw index.
        draw: u64,
    },
    /// BigDL: the stream as it was before the forward drew from it.
    BigDl(Box<BigDlStream>),
}

impl Draw {
    /// An identity of this draw: equal for two draws that give the same randomness.
    pub(crate) fn key(&self) -> (bool, u64, u64, Option<u64>) {
        match self {
            Draw::Philox { seed, draw } => (false, *seed, *draw, None),
            Draw::BigDl(s) => (true, s.seed(), s.words(), s.pending_pair()),
        }
    }

    /// Runs `f` again on exactly the randomness this draw gave.
    pub(crate) fn replay<R>(&self, f: impl FnOnce(&mut Randomness<'_>) -> R) -> R {
        match self {
            Draw::Philox { seed, draw } => f(&mut Randomness::Philox {
                seed: *seed,
                draw: *draw,
            }),
            Draw::BigDl(snapshot) => f(&mut Randomness::Stream(&mut snapshot.as_ref().clone())),
        }
    }
}

/// Randomness handed to a kernel: random access (Philox) or a sequential stream (BigDL).
pub(crate) enum Randomness<'a> {
    /// Counter-based: any element in any order.
    Philox { seed: u64, draw: u64 },
    /// Sequential: elements in row-major order, one at a time.
    Stream(&'a mut BigDlStream),
}

impl Randomness<'_> {
    /// Consumes `n` normals without using them: a BigDL stream advances as if it had drawn
    /// them (as BigDL does for zero noise); Philox needs nothing.
    pub(crate) fn skip_normals(&mut self, n: usize) {
        if let Randomness::Stream(stream) = self {
            for _ in 0..n {
                stream.normal(0.0, 0.0);
            }
        }
    }
}

/// The process-wide default generator.
static DEFAULT: Mutex<Option<Generator>> = Mutex::new(None);

/// The seed the default generator has before any [`set_seed`].
pub const DEFAULT_SEED: u64 = 0x5EED_D0D0_C0DE_1234;

fn default_generator() -> MutexGuard<'static, Option<Generator>> {
    // A panic while holding the lock cannot leave a Generator half-updated in a way that
    // matters (every update is a single assignment), so a poisoned lock is recovered.
    DEFAULT.lock().unwrap_or_else(|e| e.into_inner())
}

/// Seeds the process-wide default generator with `seed` and makes it run `kind`
/// (BigDL's `RNG.setSeed(seed)`, PyTorch's `manual_seed`). Layers without a seed of their
/// own take their draws from it.
///
/// # Example
/// ```
/// use dropkit::{set_seed, GeneratorKind, Dropout, Module};
/// let x = ndarray::Array::from_elem((4, 4), 1.0f32);
/// set_seed(7, GeneratorKind::Philox);
/// let a = Dropout::new(0.5)?.forward(&x)?;
/// set_seed(7, GeneratorKind::Philox);
/// let b = Dropout::new(0.5)?.forward(&x)?;
/// assert_eq!(a, b);
/// # Ok::<(), dropkit::Error>(())
/// ```
pub fn set_seed(seed: u64, kind: GeneratorKind) {
    *default_generator() = Some(Generator::new(kind, seed));
}

/// The default generator's position.
pub fn default_state() -> GeneratorState {
    with_default(|g| g.state())
}

/// Moves the default generator to `state` (which also selects its algorithm). The generator
/// is rebuilt before the default generator's lock is taken, so draws on other threads never
/// wait for the rebuild.
///
/// # Errors
/// As [`Generator::from_state`]; the default generator is unchanged then.
pub fn set_default_state(state: GeneratorState) -> crate::Result<()> {
    let generator = Generator::from_state(state)?;
    *default_generator() = Some(generator);
    Ok(())
}

/// Takes the default generator's next Philox draw, `(seed, draw)`, and moves it past that
/// draw, in one step under its lock: what a layer without a seed of its own does at a
/// training forward, for callers (framework bindings) that run the draw themselves through
/// [`crate::functional`]. `None`, with nothing taken, when the default generator is BigDL's
/// (a sequential stream has no `(seed, draw)` key).
pub fn take_default_philox_draw() -> Option<(u64, u64)> {
    with_default(|g| match g {
        Generator::Philox { seed, next_draw } => {
            let draw = *next_draw;
            *next_draw = draw.wrapping_add(1);
            Some((*seed, draw))
        }
        Generator::BigDl(_) => None,
    })
}

/// Runs `f` on the default generator with its lock held: a Philox draw holds it only for
/// the index increment when `f` is [`Generator::draw`]'s quick part, a BigDL draw for the
/// whole generation (the stream is sequential).
pub(crate) fn with_default<R>(f: impl FnOnce(&mut Generator) -> R) -> R {
    let mut guard = default_generator();
    let g = guard.get_or_insert_with(|| Generator::new(GeneratorKind::Philox, DEFAULT_SEED));
    f(g)
}

/// Where a layer takes its draws from.
#[derive(Clone, Debug, Default)]
pub enum RngSource {
    /// The process-wide default generator.
    #[default]
    Default,
    /// A generator of the layer's own.
    Own(Generator),
}

impl RngSource {
    /// Takes one draw from this source and runs `f` on its randomness. For the default
    /// Philox generator the lock is released before `f` runs.
    pub(crate) fn draw<R>(&mut self, f: impl FnOnce(&mut Randomness<'_>) -> R) -> (R, Draw) {
        match self {
            RngSource::Own(g) => g.draw(f),
            RngSource::Default => {
                let mut f = Some(f);
                let philox = with_default(|g| match g {
                    Generator::Philox { seed, next_draw } => {
                        let d = Draw::Philox {
                            seed: *seed,
                            draw: *next_draw,
                        };
                        *next_draw = next_draw.wrapping_add(1);
                        Ok(d)
                    }
                    Generator::BigDl(_) => Err(g.draw(f.take().expect("f unused"))),
                });
                match philox {
                    Ok(draw) => (draw.replay(f.take().expect("f unused")), draw),
                    Err(done) => done,
                }
            }
        }
    }

    /// The position of the generator this source uses.
    pub fn state(&self) -> GeneratorState {
        match self {
            RngSource::Own(g) => g.state(),
            RngSource::Default => default_state(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philox_draws_count_up_and_state_round_trips() {
        let mut g = Generator::new(GeneratorKind::Philox, 11);
        let (_, d0) = g.draw(|_| ());
        let (_, d1) = g.draw(|_| ());
        assert!(matches!(d0, Draw::Philox { seed: 11, draw: 0 }));
        assert!(matches!(d1, Draw::Philox { seed: 11, draw: 1 }));
        assert_eq!(g.state(), GeneratorState::Philox { seed: 11, draw: 2 });
        let h = Generator::from_state(GeneratorState::Philox { seed: 11, draw: 0 }).unwrap();
        assert_eq!(h.state(), GeneratorState::Philox { seed: 11, draw: 0 });
    }

    #[test]
    fn bigdl_draw_replays_the_same_words() {
        let mut g = Generator::new(GeneratorKind::BigDl, 5);
        let take = |r: &mut Randomness<'_>| match r {
            Randomness::Stream(s) => (0..10).map(|_| s.next_u32()).collect::<Vec<_>>(),
            Randomness::Philox { .. } => unreachable!(),
        };
        let (a, d) = g.draw(take);
        assert_eq!(d.replay(take), a);
        let (b, _) = g.draw(take);
        assert_ne!(a, b);
        assert_eq!(
            g.state(),
            GeneratorState::BigDl {
                seed: 5,
                words: 20,
                pending_pair: None
            }
        );
    }

    #[test]
    fn kind_names_parse_case_insensitively() {
        assert_eq!(
            "PhiLox".parse::<GeneratorKind>().unwrap(),
            GeneratorKind::Philox
        );
        assert_eq!(
            "BIGDL".parse::<GeneratorKind>().unwrap(),
            GeneratorKind::BigDl
        );
        let e = "mt".parse::<GeneratorKind>().unwrap_err();
        assert!(e.to_string().contains("\"mt\""), "{e}");
    }
}

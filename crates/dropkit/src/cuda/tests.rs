//! Host-side tests of the CUDA backend: they need no GPU.
//!
//! The arithmetic of `kernels.cu` (Philox, the normals, the element operations, the mask
//! maps) is compiled as host C++ (`host_emulation.cpp`) and compared bit for bit with the
//! Rust reference. What only a GPU can check (loads, stores, warp packing, launches) is in
//! `tests/cuda.rs`, run by `scripts/gpu-check.sh`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::ops::{Kept, MaskMap};
use crate::rng::{self, normal};
use crate::Element;

/// Compiles the harness with the first C++ compiler found (once per process, reused across
/// runs while the sources are unchanged), or says why not.
fn harness() -> Result<PathBuf, String> {
    static HARNESS: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    HARNESS.get_or_init(|| build_harness(&[])).clone()
}

/// The harness with `defines` (`-D` options, e.g. the kernels' tuning macros).
fn build_harness(defines: &[&str]) -> Result<PathBuf, String> {
    // The build's path, or (a binary carried to another machine) the checkout's.
    let built = concat!(env!("CARGO_MANIFEST_DIR"), "/cuda/host_emulation.cpp");
    let src = [built, "crates/dropkit/cuda/host_emulation.cpp"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("host_emulation.cpp not found")?;
    let cu = Path::new(src).with_file_name("kernels.cu");
    let text = std::fs::read_to_string(src).map_err(|e| e.to_string())?
        + &std::fs::read_to_string(&cu).map_err(|e| e.to_string())?;
    let exe = std::env::temp_dir().join(format!(
        "dropkit-host-emulation-{:016x}",
        super::source::fnv1a64(&(text + &defines.join(" ")))
    ));
    if exe.exists() {
        return Ok(exe);
    }
    // Unique per build: tests of one process may build the same harness at once.
    static BUILDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let build = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = exe.with_extension(format!("tmp{}-{build}", std::process::id()));
    let compilers: Vec<String> = std::env::var("CXX")
        .ok()
        .into_iter()
        .chain(["c++", "g++", "clang++"].map(String::from))
        .collect();
    for cxx in &compilers {
        let out = Command::new(cxx)
            .args([
                "-O2",
                "-std=c++17",
                "-ffp-contract=off",
                "-fno-strict-aliasing",
                "-Wno-unknown-pragmas",
            ])
            .args(defines.iter().map(|d| format!("-D{d}")))
            .args(["-pthread", "-o"])
            .arg(&tmp)
            .arg(src)
            .output();
        match out {
            Ok(o) if o.status.success() => {
                std::fs::rename(&tmp, &exe).map_err(|e| e.to_string())?;
                return Ok(exe);
            }
            Ok(o) => {
                return Err(format!(
                    "{cxx} failed on host_emulation.cpp:\n{}",
                    String::from_utf8_lossy(&o.stderr)
                ))
            }
            Err(_) => continue,
        }
    }
    Err(format!("no C++ compiler found (tried {compilers:?})"))
}

/// Runs the harness on `requests` (one per line) and returns its answer lines.
fn ask_lines(exe: &Path, requests: &[String]) -> Vec<String> {
    let mut child = Command::new(exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("running the harness");
    let mut input = requests.join("\n");
    input.push('\n');
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("harness output");
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "the harness failed: {:?}", out.status);
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), requests.len());
    for l in &lines {
        assert!(!l.starts_with("error"), "{l}");
    }
    lines
}

/// Hex fields of an answer.
fn hex(text: &str) -> Vec<u64> {
    text.split_whitespace()
        .map(|h| u64::from_str_radix(h, 16).unwrap())
        .collect()
}

/// Runs the harness on `requests` and returns its answers as numbers.
fn ask(exe: &Path, requests: &[String]) -> Vec<Vec<u64>> {
    ask_lines(exe, requests).iter().map(|l| hex(l)).collect()
}

/// SplitMix64: test inputs.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Interesting f32 and f64 inputs: signed zeros, denormals, extremes, NaN, infinities.
fn f32_inputs(state: &mut u64) -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1e-45,
        -1e-45,
        1.2e-38,
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        3.0e38,
    ];
    v.extend((0..400).map(|_| f32::from_bits(splitmix(state) as u32)));
    v.extend((0..400).map(|_| (splitmix(state) % 20_000) as f32 * 0.013 - 130.0));
    v
}

#[test]
fn kernels_cu_arithmetic_matches_the_rust_reference_bit_for_bit() {
    let exe = match harness() {
        Ok(exe) => exe,
        Err(why) => {
            eprintln!("skipped: the CUDA source's host emulation needs a C++ compiler: {why}");
            return;
        }
    };
    let mut state = 0x1234_5678_9abc_def0_u64;

    // Philox blocks and their normals, over seeds, draws and block indices past 2^32.
    let mut blocks = Vec::new();
    for seed in [0, 1, 42, 0x0123_4567_89ab_cdef, u64::MAX] {
        for draw in [0, 1, 7, (1 << 32) + 3, u64::MAX] {
            for block in (0..64).chain([(1 << 32) - 1, 1 << 32, (1 << 40) + 5, u64::MAX / 4]) {
                blocks.push((seed, draw, block));
            }
        }
    }
    blocks.extend((0..3000).map(|_| {
        (
            splitmix(&mut state),
            splitmix(&mut state),
            splitmix(&mut state) >> 2,
        )
    }));
    let req: Vec<String> = blocks
        .iter()
        .map(|(s, d, b)| format!("B {s:x} {d:x} {b:x}"))
        .collect();
    for ((seed, draw, block), got) in blocks.iter().zip(ask(&exe, &req)) {
        let w = rng::block(*seed, *draw, *block);
        let n = normal::normals4(w);
        let want: Vec<u64> = w
            .iter()
            .map(|&x| u64::from(x))
            .chain(n.iter().map(|x| u64::from(x.to_bits())))
            .collect();
        assert_eq!(got, want, "block {block} of draw {draw}, seed {seed}");
    }

    // Normals of edge words (the ends of the uniform, quarter turns) and random words.
    let edges = [
        0u32,
        1,
        0x1ff,
        0x200,
        0xff,
        0x100,
        0x3f_ffff,
        0x40_0000,
        0x3fff_ffff,
        0x4000_0000,
        0x7fff_ffff,
        0x8000_0000,
        0xbfff_ffff,
        0xc000_0000,
        0xffff_feff,
        0xffff_ffff,
    ];
    let mut quads: Vec<[u32; 4]> = Vec::new();
    for &a in &edges {
        for &b in &edges {
            quads.push([a, b, b, a]);
        }
    }
    quads.extend((0..20_000).map(|_| {
        let (x, y) = (splitmix(&mut state), splitmix(&mut state));
        [x as u32, (x >> 32) as u32, y as u32, (y >> 32) as u32]
    }));
    let req: Vec<String> = quads
        .iter()
        .map(|w| format!("N {:x} {:x} {:x} {:x}", w[0], w[1], w[2], w[3]))
        .collect();
    for (w, got) in quads.iter().zip(ask(&exe, &req)) {
        let want: Vec<u64> = normal::normals4(*w)
            .iter()
            .map(|x| u64::from(x.to_bits()))
            .collect();
        assert_eq!(got, want, "normals of {w:x?}");
    }

    // Kept elements: x / T(1 - p), x * T(1 / (1 - p)), identity, AlphaDropout's
    // x * T(a) + T(b), in f32 and f64.
    let ps = [0.0, 0.1, 0.25, 1.0 / 3.0, 0.5, 0.7, 0.9, 0.999_999];
    let xs = f32_inputs(&mut state);
    let mut req = Vec::new();
    let mut want = Vec::new();
    for &p in &ps {
        let rules: [(Kept<f32>, Kept<f64>); 4] = [
            (Kept::Div(f32::from_f64(1.0 - p)), Kept::Div(1.0 - p)),
            (
                Kept::Mul(f32::from_f64(1.0 / (1.0 - p))),
                Kept::Mul(1.0 / (1.0 - p)),
            ),
            (Kept::Identity, Kept::Identity),
            (
                crate::ops::alpha_forward_kept(p.max(0.01)),
                crate::ops::alpha_forward_kept(p.max(0.01)),
            ),
        ];
        for (kept32, kept64) in rules {
            let (mode, k32, add32, _) = kept_arg(kept32);
            let (_, k64, add64, _) = kept_arg(kept64);
            for &x in &xs {
                req.push(format!("K32 {:x} {mode:x} {k32:x} {add32:x}", x.to_bits()));
                want.push(u64::from(kept32.apply(x).to_bits()));
                let x64 = f64::from(x) * 1.000_000_1;
                req.push(format!(
                    "K64 {:x} {mode:x} {k64:x} {add64:x}",
                    x64.to_bits()
                ));
                want.push(kept64.apply(x64).to_bits());
            }
        }
    }
    for ((r, got), want) in req.iter().zip(ask(&exe, &req)).zip(want) {
        assert_eq!(got, vec![want], "{r}");
    }

    // Noise values: x * (T(mean) + T(stddev) * T(n)) and x + (...), as reference.rs does.
    let mut req = Vec::new();
    let mut want = Vec::new();
    for (mean, stddev) in [
        (1.0, (0.3f64 / 0.7).sqrt()),
        (0.0, 0.2),
        (0.0, 1.0),
        (1.0, 3.0),
    ] {
        for (i, &x) in xs.iter().enumerate() {
            let n = normal::normals4(rng::block(9, 3, i as u64))[i % 4];
            for op in [0u32, 1] {
                let (m, s) = (f32::from_f64(mean), f32::from_f64(stddev));
                let e = m + s * n;
                let y = if op == 0 { x * e } else { x + e };
                req.push(format!(
                    "G32 {:x} {:x} {:x} {:x} {op:x}",
                    x.to_bits(),
                    m.to_bits(),
                    s.to_bits(),
                    n.to_bits()
                ));
                want.push(u64::from(y.to_bits()));
                let x64 = f64::from(x);
                let e64 = mean + stddev * f64::from(n);
                let y64 = if op == 0 { x64 * e64 } else { x64 + e64 };
                req.push(format!(
                    "G64 {:x} {:x} {:x} {:x} {op:x}",
                    x64.to_bits(),
                    mean.to_bits(),
                    stddev.to_bits(),
                    n.to_bits()
                ));
                want.push(y64.to_bits());
            }
        }
    }
    for ((r, got), want) in req.iter().zip(ask(&exe, &req)).zip(want) {
        assert_eq!(got, vec![want], "{r}");
    }

    // Mask maps of the Spatial layers, including sizes that cross 2^32.
    let mut req = Vec::new();
    let mut want = Vec::new();
    let shapes: [(u64, u64); 8] = [
        (1, 1),
        (1, 3),
        (2, 3),
        (3, 5),
        (7, 1),
        (16384, 256),
        (5, 1 << 20),
        (1 << 31, 3),
    ];
    for (inner, channels) in shapes {
        let starts = (0..40u64).map(|g| 4 * g).chain([
            (inner * channels * 3).saturating_sub(4),
            (1 << 32) - 4,
            (1 << 32) + 8,
            1 << 40,
        ]);
        for i0 in starts {
            let (inner, channels) = (inner as usize, channels as usize);
            for (map, f) in [
                (
                    MaskMap::ChannelsFirst { inner },
                    &(|i: u64| i / inner as u64) as &dyn Fn(u64) -> u64,
                ),
                (MaskMap::ChannelsLast { channels, inner }, &|i: u64| {
                    let (inner, channels) = (inner as u64, channels as u64);
                    (i / (inner * channels)) * channels + i % channels
                }),
            ] {
                req.push(format!("M {} {i0:x}", map_spec(map)));
                want.push((0..4).map(|j| f(i0 + j)).collect::<Vec<u64>>());
            }
        }
    }
    // The general broadcast map against ops.rs's (BroadcastMap::index): 3 to 8 groups, sizes
    // that carry across several groups within four elements, and data past 2^32 elements.
    let one = Some(1);
    let alternating = |dims: &[usize], first: Option<usize>| -> (Vec<usize>, Vec<Option<usize>>) {
        let noise = (0..dims.len())
            .map(|k| if k % 2 == 0 { first } else { first.xor(one) })
            .collect();
        (dims.to_vec(), noise)
    };
    let shapes = [
        alternating(&[3, 5, 7], one),
        alternating(&[2, 3, 4, 5], None),
        alternating(&[1 << 12, 3, 1 << 10, 5, 1 << 9], one),
        alternating(&[2, 1, 3, 1, 2, 3, 2, 3, 2, 3], None),
        alternating(&[2, 3, 2, 3, 2, 3, 2, 3], one),
        alternating(&[5, 1 << 20, 3, 1 << 12], None),
        alternating(&[7, 2, 2, 3, 1, 2, 2, 3, 2], one),
    ];
    for (shape, noise) in &shapes {
        let at = crate::ops::broadcast_layout("L", "input", shape, noise).unwrap();
        let MaskMap::Broadcast(b) = at.map else {
            panic!(
                "{shape:?} {noise:?} is not a general broadcast: {:?}",
                at.map
            )
        };
        assert!((3..=8).contains(&b.groups), "{b:?}");
        let total = shape.iter().product::<usize>() as u64;
        let starts = (0..80u64)
            .map(|g| 4 * g)
            .chain((1..40).filter_map(|g| total.checked_sub(4 * g)))
            .chain([(1 << 32) - 4, (1 << 32) + 8, 1 << 33])
            .filter(|&i0| i0 + 4 <= total);
        for i0 in starts {
            req.push(format!("M {} {i0:x}", map_spec(at.map)));
            want.push(
                (0..4)
                    .map(|j| crate::ops::mask_index(at.map, (i0 + j) as usize) as u64)
                    .collect(),
            );
        }
    }
    for ((r, got), want) in req.iter().zip(ask(&exe, &req)).zip(want) {
        assert_eq!(got, want, "{r}");
    }
}

/// A mask map as the harness's requests write it (`MAP` in host_emulation.cpp).
fn map_spec(map: MaskMap) -> String {
    super::launch::DeviceMap::new(map)
        .fields()
        .iter()
        .map(|v| format!("{v:x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The inputs of the harness's kernel requests (`input` in host_emulation.cpp): values of
/// the compute type rounded to `T`, with NaN, infinities, a signed zero, a denormal and the
/// largest finite values (which overflow when a kept element is scaled up).
fn kernel_input<T: Element>(n: usize) -> Vec<T> {
    let c = |v: f64| T::narrow(T::Compute::from_f64(v));
    let mut x: Vec<T> = (0..n)
        .map(|i| c(((i as u64 * 7919) % 2003) as f64 * 0.0137 - 13.0))
        .collect();
    let specials = [
        T::narrow(<T::Compute as num_traits::Float>::nan()),
        c(f64::INFINITY),
        c(-0.0),
        c(1e-40),
        T::max_value(),
        T::min_value(),
    ];
    for (j, s) in specials.into_iter().enumerate() {
        if 3 + 4 * j < n {
            x[3 + 4 * j] = s;
        }
    }
    x
}

/// Element types as the harness names and prints them.
trait HostBits: Element {
    const TAG: &'static str;
    fn bits(self) -> u64;
}
impl HostBits for half::f16 {
    const TAG: &'static str = "f16";
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}
impl HostBits for half::bf16 {
    const TAG: &'static str = "bf16";
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}
impl HostBits for f32 {
    const TAG: &'static str = "f32";
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}
impl HostBits for f64 {
    const TAG: &'static str = "f64";
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

/// A mask's words as the kernels lay them out: 32-bit words, low half of each u64 first.
fn words32(mask: &crate::BitMask) -> Vec<u64> {
    mask.words()
        .iter()
        .flat_map(|&w| [w & 0xffff_ffff, w >> 32])
        .collect()
}

/// `(mode, k, add, dropped)` of a kept rule, as the kernels take them (values of the compute
/// type `T`, as bits).
fn kept_arg<T: HostBits>(kept: Kept<T>) -> (u32, u64, u64, u64) {
    let (zero, dropped) = (T::zero().bits(), kept.dropped().bits());
    match kept {
        Kept::Identity => (0, T::one().bits(), zero, dropped),
        Kept::Div(k) => (1, k.bits(), zero, dropped),
        Kept::Mul(k) => (2, k.bits(), zero, dropped),
        Kept::Affine { mul, add, .. } => (3, mul.bits(), add.bits(), dropped),
    }
}

/// Launch shapes (grid, block): one pass or several, one warp per block or more.
const LAUNCHES: [(u32, u32); 4] = [(1, 32), (2, 64), (3, 96), (1, 256)];
const KERNEL_SIZES: [usize; 16] = [
    1, 2, 3, 4, 5, 31, 32, 33, 127, 128, 129, 130, 255, 1000, 1027, 3001,
];

/// Every kernel of kernels.cu, run on the host (threads for GPU threads, a barrier for the
/// warp shuffle), against the CPU reference kernels: outputs and mask words bit for bit.
/// Hex fields joined by spaces, as the harness answers.
fn join(v: &[u64]) -> String {
    v.iter()
        .map(|b| format!("{b:x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a CPU kernel on `x` as a copy and in place, checks that both give the same bits, and
/// returns them.
fn run<T: HostBits>(x: &[T], f: &mut dyn FnMut(crate::ops::FlatIo<'_, T>)) -> Vec<u64> {
    use crate::ops::FlatIo;
    let mut y = vec![T::zero(); x.len()];
    f(FlatIo::Copy {
        src: x,
        dst: &mut y,
    });
    let mut z = x.to_vec();
    f(FlatIo::InPlace(&mut z));
    assert_eq!(
        y.iter().map(|v| v.bits()).collect::<Vec<_>>(),
        z.iter().map(|v| v.bits()).collect::<Vec<_>>()
    );
    y.iter().map(|v| v.bits()).collect::<Vec<u64>>()
}

fn kernels_case<T: HostBits>(exe: &Path)
where
    T::Compute: HostBits,
{
    use crate::kernels;
    use crate::ops::NoiseOp;
    use crate::rng::Randomness;

    let (seed, draw) = (0x0123_4567_89ab_cdef_u64, 0x1_0000_0003_u64);
    let mut req = Vec::new();
    let mut want: Vec<String> = Vec::new();
    for (si, &n) in KERNEL_SIZES.iter().enumerate() {
        let (grid, block) = LAUNCHES[si % LAUNCHES.len()];
        let x = kernel_input::<T>(n);
        let inplace = si % 2;
        // Dropout with fresh randomness, with and without the mask.
        for (p, kept) in [
            (0.3, Kept::Div(T::Compute::from_f64(0.7))),
            (0.5, Kept::Mul(T::Compute::from_f64(2.0))),
            (0.0, Kept::Identity),
            (1.0, Kept::Div(<T::Compute as num_traits::Zero>::zero())),
            (0.3, crate::ops::alpha_forward_kept(0.3)),
            (0.9, crate::ops::alpha_forward_kept(0.9)),
        ] {
            let threshold = rng::keep_threshold(p);
            let (mode, k, add, dropped) = kept_arg(kept);
            let mut mask = None;
            let y = run(&x, &mut |io| {
                mask = kernels::dropout(io, &mut Randomness::Philox { seed, draw }, p, kept, true)
                    .unwrap()
            });
            for masked in [0, 1] {
                req.push(format!(
                    "KD {} {grid:x} {block:x} {inplace:x} {masked:x} {n:x} {seed:x} {draw:x} \
                     {threshold:x} {mode:x} {k:x} {add:x} {dropped:x}",
                    T::TAG
                ));
                let mut w = join(&y);
                if masked == 1 {
                    w = format!("{w} | {}", join(&words32(mask.as_ref().unwrap())));
                }
                want.push(w);
            }
        }
        // A stored mask through each map (the Spatial layers' shapes have inner * C | n).
        for (map, len) in [
            (MaskMap::Elementwise, n),
            (MaskMap::ChannelsFirst { inner: 1 }, n),
            (MaskMap::ChannelsFirst { inner: 3 }, n.div_ceil(3)),
            (MaskMap::ChannelsFirst { inner: 64 }, n.div_ceil(64)),
            (
                MaskMap::ChannelsLast {
                    channels: 5,
                    inner: 2,
                },
                n.div_ceil(10) * 5,
            ),
            (
                MaskMap::ChannelsLast {
                    channels: 1,
                    inner: 7,
                },
                n.div_ceil(7),
            ),
        ] {
            let mask =
                kernels::keep_bits(&mut Randomness::Philox { seed, draw }, len, 0.5).unwrap();
            for kept in [
                Kept::Div(T::Compute::from_f64(0.5)),
                crate::ops::alpha_forward_kept(0.5),
            ] {
                let (mode, k, add, dropped) = kept_arg(kept);
                let y = run(&x, &mut |io| kernels::apply_mask(io, &mask, map, kept));
                req.push(format!(
                    "KA {} {grid:x} {block:x} {inplace:x} {n:x} {} {mode:x} {k:x} {add:x} \
                     {dropped:x} {}",
                    T::TAG,
                    map_spec(map),
                    join(&words32(&mask))
                ));
                want.push(join(&y));
            }
        }
        // Noise.
        for (mean, stddev, op, opk) in [
            (1.0, (0.3f64 / 0.7).sqrt(), NoiseOp::Mul, 0),
            (0.0, 0.2, NoiseOp::Add, 1),
        ] {
            let y = run(&x, &mut |io| {
                kernels::noise(io, &mut Randomness::Philox { seed, draw }, mean, stddev, op)
            });
            req.push(format!(
                "KN {} {grid:x} {block:x} {inplace:x} {n:x} {seed:x} {draw:x} {:x} {:x} {opk:x}",
                T::TAG,
                T::Compute::from_f64(mean).bits(),
                T::Compute::from_f64(stddev).bits()
            ));
            want.push(join(&y));
        }
        // Scale.
        let k = T::Compute::from_f64(0.7);
        let y = run(&x, &mut |io| kernels::scale(io, Some(k)));
        req.push(format!(
            "KS {} {grid:x} {block:x} {inplace:x} {n:x} {:x}",
            T::TAG,
            k.bits()
        ));
        want.push(join(&y));
        // The mask alone.
        if T::TAG == "f32" {
            let mask = kernels::keep_bits(&mut Randomness::Philox { seed, draw }, n, 0.3).unwrap();
            req.push(format!(
                "KB {grid:x} {block:x} {n:x} {seed:x} {draw:x} {:x}",
                rng::keep_threshold(0.3)
            ));
            want.push(join(&words32(&mask)));
        }
    }
    for ((r, got), want) in req.iter().zip(ask_lines(exe, &req)).zip(want) {
        assert_eq!(got, want, "{r}");
    }
}

/// Keras-style noise shapes (ops.rs `broadcast_layout`): Spatial-shaped ones (the
/// channels-first and channels-last maps) and general ones of 3 to 8 alternating groups, with
/// size-1 axes, on lengths that are and are not multiples of 4.
fn noise_shapes() -> Vec<(Vec<usize>, Vec<Option<usize>>)> {
    let one = Some(1);
    let alternating = |dims: &[usize], first: Option<usize>| {
        let noise = (0..dims.len())
            .map(|k| if k % 2 == 0 { first } else { first.xor(one) })
            .collect::<Vec<_>>();
        (dims.to_vec(), noise)
    };
    vec![
        (vec![3, 5, 7], vec![None, None, one]),
        (vec![2, 7, 3, 5], vec![None, one, one, None]),
        alternating(&[3, 5, 7], one),
        alternating(&[2, 3, 4, 5], None),
        alternating(&[3, 2, 3, 2, 3], one),
        alternating(&[2, 3, 2, 3, 2, 3], None),
        alternating(&[3, 2, 3, 2, 3, 2, 3], one),
        alternating(&[2, 3, 2, 3, 2, 3, 2, 3], None),
        (
            vec![2, 1, 3, 1, 5, 3],
            vec![None, one, one, None, None, one],
        ),
        (vec![1, 7, 1, 11, 13], vec![one, one, None, None, one]),
        alternating(&[7, 3, 11, 13], one),
        alternating(&[5, 3, 3, 2, 7, 2, 3], None),
    ]
}

/// GaussianDropout's and GaussianNoise's noise shapes and Dropout's general mask map on the
/// emulated threads, against the CPU kernels bit for bit: the noise values over the noise
/// shape (`dk_noise_values_*`), their broadcast (`dk_noise_broadcast_*`, copy and in place)
/// and a stored mask through the same map (`dk_apply_mask_*`), one to several blocks.
fn broadcast_case<T: HostBits>(exe: &Path)
where
    T::Compute: HostBits,
{
    use crate::kernels;
    use crate::ops::{broadcast_layout, FlatIo, NoiseOp};
    use crate::rng::Randomness;

    let (seed, draw) = (0x0fed_cba9_8765_4321_u64, 0x2_0000_0001_u64);
    let mut req = Vec::new();
    let mut want: Vec<String> = Vec::new();
    let mut general = 0;
    for (ci, (shape, noise)) in noise_shapes().into_iter().enumerate() {
        let at = broadcast_layout("L", "input", &shape, &noise).unwrap();
        general += usize::from(matches!(at.map, MaskMap::Broadcast(_)));
        let n: usize = shape.iter().product();
        let x = kernel_input::<T>(n);
        for (mean, stddev, op, opk) in [
            (1.0, (0.3f64 / 0.7).sqrt(), NoiseOp::Mul, 0),
            (0.0, 0.2, NoiseOp::Add, 1),
        ] {
            let (m, s) = (
                T::Compute::from_f64(mean).bits(),
                T::Compute::from_f64(stddev).bits(),
            );
            let r = || Randomness::Philox { seed, draw };
            // The values alone: the unbroadcast noise kernel on ones (or zeros).
            let identity = match op {
                NoiseOp::Mul => <T::Compute as num_traits::One>::one(),
                NoiseOp::Add => <T::Compute as num_traits::Zero>::zero(),
            };
            let mut values = vec![identity; at.len];
            kernels::noise(FlatIo::InPlace(&mut values), &mut r(), mean, stddev, op);
            let (grid, block) = LAUNCHES[ci % LAUNCHES.len()];
            req.push(format!(
                "KV {} {grid:x} {block:x} {:x} {seed:x} {draw:x} {m:x} {s:x} {opk:x}",
                T::TAG,
                at.len
            ));
            want.push(join(&values.iter().map(|v| v.bits()).collect::<Vec<u64>>()));
            let y = run(&x, &mut |io| {
                kernels::noise_broadcast(io, &mut r(), (mean, stddev, op), at.len, at.map).unwrap()
            });
            for inplace in [0, 1] {
                let (grid, block) = LAUNCHES[(ci + inplace + 1) % LAUNCHES.len()];
                req.push(format!(
                    "KG {} {grid:x} {block:x} {inplace:x} {n:x} {:x} {seed:x} {draw:x} {m:x} \
                     {s:x} {opk:x} {}",
                    T::TAG,
                    at.len,
                    map_spec(at.map)
                ));
                want.push(join(&y));
            }
        }
        // A stored mask through the same map (Dropout with this noise shape).
        let mask = kernels::keep_bits(&mut Randomness::Philox { seed, draw }, at.len, 0.5).unwrap();
        for (inplace, kept) in [
            (0, Kept::Div(T::Compute::from_f64(0.7))),
            (1, crate::ops::alpha_forward_kept(0.5)),
        ] {
            let (mode, k, add, dropped) = kept_arg(kept);
            let y = run(&x, &mut |io| kernels::apply_mask(io, &mask, at.map, kept));
            let (grid, block) = LAUNCHES[(ci + inplace) % LAUNCHES.len()];
            req.push(format!(
                "KA {} {grid:x} {block:x} {inplace:x} {n:x} {} {mode:x} {k:x} {add:x} \
                 {dropped:x} {}",
                T::TAG,
                map_spec(at.map),
                join(&words32(&mask))
            ));
            want.push(join(&y));
        }
    }
    assert_eq!(general, 10, "the general map's cases");
    for ((r, got), want) in req.iter().zip(ask_lines(exe, &req)).zip(want) {
        assert_eq!(got, want, "{r}");
    }
}

/// Runs every kernel case (f32, f64, f16, bf16) on the harness built with `defines`, or says why it
/// cannot be built.
fn kernel_cases_with(defines: &[&str]) {
    match build_harness(defines) {
        Ok(exe) => {
            kernels_case::<f32>(&exe);
            kernels_case::<f64>(&exe);
            kernels_case::<half::f16>(&exe);
            kernels_case::<half::bf16>(&exe);
            broadcast_case::<f32>(&exe);
            broadcast_case::<f64>(&exe);
            broadcast_case::<half::f16>(&exe);
            broadcast_case::<half::bf16>(&exe);
        }
        Err(why) => {
            eprintln!("skipped: the CUDA source's host emulation needs a C++ compiler: {why}");
        }
    }
}

#[test]
fn kernels_cu_kernels_match_the_cpu_reference_on_emulated_threads() {
    kernel_cases_with(&[]);
}

/// The tuning variants `scripts/gpu-tune.sh` measures compute the same bits.
#[test]
fn kernels_cu_tuning_variants_match_the_cpu_reference() {
    for unroll in ["DK_UNROLL=1", "DK_UNROLL=4"] {
        kernel_cases_with(&[unroll]);
    }
}

/// The kernels' half-precision conversions (integer operations) against the `half` crate's,
/// which the CPU path uses: widening every 16-bit pattern, and rounding every `f32` that
/// lies at, next to or between the midpoints of two neighbouring half values (where ties to
/// even, overflow, subnormals and NaN payloads are decided), plus random `f32` patterns.
#[test]
fn kernels_cu_half_conversions_match_the_half_crate() {
    use half::{bf16, f16};
    let exe = match harness() {
        Ok(exe) => exe,
        Err(why) => {
            eprintln!("skipped: the CUDA source's host emulation needs a C++ compiler: {why}");
            return;
        }
    };
    let req: Vec<String> = (0..=u16::MAX).map(|h| format!("W {h:x}")).collect();
    for (h, got) in (0..=u16::MAX).zip(ask(&exe, &req)) {
        let want = vec![
            u64::from(f16::from_bits(h).to_f32().to_bits()),
            u64::from(bf16::from_bits(h).to_f32().to_bits()),
        ];
        assert_eq!(got, want, "widening {h:#06x}");
    }

    let mut xs: Vec<u32> = Vec::new();
    for h in 0..=u16::MAX {
        // f16: the f32 midpoint between h and h + 1 (as magnitudes), and its neighbours.
        let (a, b) = (
            f16::from_bits(h).to_f32(),
            f16::from_bits(h.wrapping_add(1)).to_f32(),
        );
        if a.is_finite() && b.is_finite() && a.is_sign_positive() == b.is_sign_positive() {
            let mid = ((f64::from(a) + f64::from(b)) / 2.0) as f32;
            for d in [-1i64, 0, 1] {
                xs.push((i64::from(mid.to_bits()) + d) as u32);
            }
        }
        // bf16: the midpoint's f32 pattern is h's followed by 0x8000.
        let m = (u32::from(h) << 16) | 0x8000;
        xs.extend([m - 1, m, m + 1, u32::from(h) << 16]);
    }
    let mut state = 0x0bad_cafe_u64;
    xs.extend((0..20_000).map(|_| splitmix(&mut state) as u32));
    let specials = [
        0x7fc0_0000u32,
        0xffc0_0000,
        0x7f80_0001,
        0x7fa0_2000,
        0x7f80_0000,
    ];
    xs.extend(specials);
    xs.extend([
        0x477f_efff,
        0x477f_f000,
        0x4780_0000,
        0x3300_0000,
        0x3300_0001,
        0x3880_0000,
    ]);
    let req: Vec<String> = xs.iter().map(|x| format!("H {x:x}")).collect();
    for (x, got) in xs.iter().zip(ask(&exe, &req)) {
        let f = f32::from_bits(*x);
        let want = vec![
            u64::from(f16::from_f32(f).to_bits()),
            u64::from(bf16::from_f32(f).to_bits()),
        ];
        assert_eq!(got, want, "rounding {x:#010x}");
    }
}

//! Host-side tests of the CUDA backend: they need no GPU.
//!
//! The arithmetic of `kernels.cu` (Philox, the normals, the element operations, the mask
//! maps) is compiled as host C++ (`host_emulation.cpp`) and compared bit for bit with the
//! Rust reference. What only a GPU can check (loads, stores, warp packing, launches) is in
//! `tests/cuda.rs`, run by `scripts/gpu-check.sh`.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::kernels::Kept;
use crate::rng::{self, normal};
use crate::Element;

/// Compiles the harness with the first C++ compiler found, or says why not.
fn build_harness() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("dropkit-host-emulation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let exe = dir.join("host_emulation");
    // The build's path, or (a binary carried to another machine) the checkout's.
    let built = concat!(env!("CARGO_MANIFEST_DIR"), "/src/cuda/host_emulation.cpp");
    let src = [built, "crates/dropkit/src/cuda/host_emulation.cpp"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or("host_emulation.cpp not found")?;
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
                "-Wno-unknown-pragmas",
                "-o",
            ])
            .arg(&exe)
            .arg(src)
            .output();
        match out {
            Ok(o) if o.status.success() => return Ok(exe),
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

/// Runs the harness on `requests` (one per line) and returns its answers.
fn ask(exe: &std::path::Path, requests: &[String]) -> Vec<Vec<u64>> {
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
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let answers: Vec<Vec<u64>> = text
        .lines()
        .map(|l| {
            assert!(!l.starts_with("error"), "{l}");
            l.split_whitespace()
                .map(|h| u64::from_str_radix(h, 16).unwrap())
                .collect()
        })
        .collect();
    assert_eq!(answers.len(), requests.len());
    answers
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
    let exe = match build_harness() {
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

    // Kept elements: x / T(1 - p), x * T(1 / (1 - p)), identity, in f32 and f64.
    let ps = [0.0, 0.1, 0.25, 1.0 / 3.0, 0.5, 0.7, 0.9, 0.999_999];
    let xs = f32_inputs(&mut state);
    let mut req = Vec::new();
    let mut want = Vec::new();
    for &p in &ps {
        for (mode, k32, k64) in [
            (1u32, f32::from_f64(1.0 - p), 1.0 - p),
            (2, f32::from_f64(1.0 / (1.0 - p)), 1.0 / (1.0 - p)),
            (0, 1.0, 1.0),
        ] {
            let (kept32, kept64) = match mode {
                1 => (Kept::Div(k32), Kept::Div(k64)),
                2 => (Kept::Mul(k32), Kept::Mul(k64)),
                _ => (Kept::Identity, Kept::Identity),
            };
            for &x in &xs {
                req.push(format!(
                    "K32 {:x} {mode:x} {:x}",
                    x.to_bits(),
                    k32.to_bits()
                ));
                want.push(u64::from(kept32.apply(x).to_bits()));
                let x64 = f64::from(x) * 1.000_000_1;
                req.push(format!(
                    "K64 {:x} {mode:x} {:x}",
                    x64.to_bits(),
                    k64.to_bits()
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
            for (map, f) in [
                (1u32, &(|i: u64| i / inner) as &dyn Fn(u64) -> u64),
                (2, &|i: u64| {
                    (i / (inner * channels)) * channels + i % channels
                }),
            ] {
                req.push(format!("M {map:x} {inner:x} {channels:x} {i0:x}"));
                want.push((0..4).map(|j| f(i0 + j)).collect::<Vec<u64>>());
            }
        }
    }
    for ((r, got), want) in req.iter().zip(ask(&exe, &req)).zip(want) {
        assert_eq!(got, want, "{r}");
    }
    let _ = std::fs::remove_dir_all(exe.parent().unwrap());
}

//! A forked child process (Python's `os.fork`, multiprocessing's "fork" context, PyTorch
//! DataLoader workers) inherits the parent's thread pool without its threads: its parallel
//! calls must build a pool of their own, and give the parent's results. Alone in its test
//! binary, so that no other test's thread holds a lock at the fork.
#![cfg(target_os = "linux")]

use dropkit::{GaussianNoise, GeneratorKind, Module};

/// A forward large enough to run on the pool (256 Ki elements or more).
fn noise(seed: u64) -> Vec<f32> {
    let mut layer = GaussianNoise::new(0.1).unwrap();
    layer.set_seed(seed, GeneratorKind::Philox);
    layer
        .forward(&ndarray::Array1::<f32>::ones(1 << 19))
        .unwrap()
        .to_vec()
}

/// How long the parent waits for the child before calling it hung: a guard so that a hang
/// fails the test instead of blocking it forever, not a measurement.
const HANG_GUARD_MS: i32 = 120_000;

#[test]
fn a_forked_child_builds_its_own_pool_and_gives_the_parents_results() {
    dropkit::set_num_threads(2).unwrap();
    let _ = noise(0); // the parent's pool is running
    let want = [noise(1), noise(2)];

    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a writable array of two ints, as pipe(2) requires.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let [read_end, write_end] = fds;
    // SAFETY: the child only computes with dropkit, writes one byte and leaves by `_exit`,
    // never returning into the test harness; no other test runs in this binary.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let same = std::panic::catch_unwind(|| [noise(1), noise(2)] == want).unwrap_or(false);
        let status = [u8::from(same)];
        // SAFETY: `write_end` is the pipe's open write end; `status` is one readable byte.
        unsafe { libc::write(write_end, status.as_ptr().cast(), 1) };
        // SAFETY: ends the child at once, without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    // SAFETY: the parent's copy of the write end is open and not used again.
    unsafe { libc::close(write_end) };

    let mut poll_fd = libc::pollfd {
        fd: read_end,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(&mut poll_fd, 1, HANG_GUARD_MS) };
    if ready == 0 {
        // SAFETY: `pid` is our child; killing and reaping it leaves no zombie behind.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        panic!("the forked child's forward never returned (it used the parent's pool)");
    }
    let mut status = [0u8; 1];
    // SAFETY: `read_end` is open; `status` is one writable byte.
    let n = unsafe { libc::read(read_end, status.as_mut_ptr().cast(), 1) };
    let mut wait_status = 0;
    // SAFETY: `pid` is our child, which has written its byte or exited.
    unsafe {
        libc::waitpid(pid, &mut wait_status, 0);
        libc::close(read_end);
    }
    assert_eq!(n, 1, "the forked child exited without a result");
    assert_eq!(
        status[0], 1,
        "the forked child's results differ from the parent's"
    );
}

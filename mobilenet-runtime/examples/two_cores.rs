//! What a second core can add on this machine, independent of our code:
//! the FMA peak of one core alone and of both at once (two vCPUs that are
//! hyperthreads of one physical core share its FMA units, and the second
//! would add nothing to FMA-bound kernels), and the bandwidth of streaming
//! reads from memory and from L3 on one core and on two.
//!
//! `taskset -c 0,1 cargo run --release -p mobilenet-runtime --example two_cores`

use std::time::Instant;

/// GB/s of summing `buf` `reps` times on each of `threads` threads (each
/// its own buffer).
fn read_bandwidth(len: usize, reps: usize, threads: usize) -> f64 {
    let bufs: Vec<Vec<f32>> = (0..threads).map(|t| vec![1.0 + t as f32; len]).collect();
    let start = Instant::now();
    std::thread::scope(|s| {
        for b in &bufs {
            s.spawn(move || {
                let mut acc = [0.0f32; 16];
                for _ in 0..reps {
                    for c in b.chunks_exact(16) {
                        for (a, v) in acc.iter_mut().zip(c) {
                            *a += v;
                        }
                    }
                }
                std::hint::black_box(acc);
            });
        }
    });
    (threads * len * 4 * reps) as f64 / start.elapsed().as_secs_f64() / 1e9
}

fn main() {
    let one = mobilenet_runtime::kernels::peak_gfma_per_s();
    let both: Vec<f64> = std::thread::scope(|s| {
        let h: Vec<_> = (0..2).map(|_| s.spawn(mobilenet_runtime::kernels::peak_gfma_per_s)).collect();
        h.into_iter().map(|h| h.join().expect("peak thread")).collect()
    });
    println!("kernels: {}", mobilenet_runtime::kernels::Isa::detect());
    println!("FMA peak, one core alone: {one:.1} GFMA/s");
    println!(
        "FMA peak, both cores at once: {:.1} + {:.1} = {:.1} GFMA/s ({:.2}x one core)",
        both[0],
        both[1],
        both[0] + both[1],
        (both[0] + both[1]) / one
    );
    for (what, mb, reps) in [("memory (256 MB per thread)", 256, 3), ("L3 (8 MB per thread)", 8, 60)] {
        let len = mb << 18;
        let (b1, b2) = (read_bandwidth(len, reps, 1), read_bandwidth(len, reps, 2));
        println!("read bandwidth from {what}: one core {b1:.1} GB/s, two cores {b2:.1} GB/s ({:.2}x)", b2 / b1);
    }
}

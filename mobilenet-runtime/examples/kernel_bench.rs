//! Times single kernels on MobileNet shapes (hot caches), for kernel work:
//! `cargo run --release -p mobilenet-runtime --example kernel_bench`.

use mobilenet_runtime::exec::Serial;
use mobilenet_runtime::kernels::{self, Act, ConvGeom, Epilogue, Isa, PointwiseGeom, pack};

fn time(what: &str, macs: usize, mut f: impl FnMut()) {
    // `ONLY=stem`: just the kernels whose name contains it (for profilers).
    if std::env::var("ONLY").is_ok_and(|only| !what.contains(&only)) {
        return;
    }
    let rounds = if std::env::var("ONLY").is_ok() { 500 } else { 7 };
    f();
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let iters = 20;
        let t = std::time::Instant::now();
        for _ in 0..iters {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / iters as f64);
    }
    println!("{what:40} {:8.3} ms {:6.1} GMAC/s", best * 1e3, macs as f64 / best / 1e9);
}

/// A zeroed buffer of `n` floats starting on a 64-byte boundary, as the
/// arena and weight buffers of generated code are laid out.
fn aligned(n: usize) -> &'static mut [f32] {
    let v = vec![0.0f32; n + 16].leak();
    let skip = v.as_ptr().align_offset(64);
    &mut v[skip..skip + n]
}

fn main() {
    let isa = std::env::args().nth(1).and_then(|n| Isa::by_name(&n)).unwrap_or_else(Isa::detect);
    println!("kernels: {isa}");
    block_bench(isa);
    for (h, c, k, s) in [
        (112, 32, 3, 1),
        (112, 96, 3, 2),
        (56, 144, 3, 1),
        (28, 192, 3, 1),
        (14, 384, 3, 1),
        (7, 960, 3, 1),
        (28, 72, 5, 2),
        (14, 672, 5, 1),
    ] {
        let pad = (k - 1) / 2;
        let oh = (h + 2 * pad - k) / s + 1;
        let g = ConvGeom::new([h, h, c], [oh, oh, c], [k, k], [s, s], [pad, pad]);
        let x = aligned(h * h * c);
        x.fill(0.5);
        let w = aligned(pack::depthwise_len(k * k, c));
        pack::depthwise(isa, &vec![0.1; k * k * c], k * k, c, w);
        let b = vec![0.0; pack::depthwise_bias_len(c)];
        let y = aligned(oh * oh * c);
        time(&format!("depthwise {h}x{h}x{c} k{k} s{s}"), oh * oh * c * k * k, || {
            kernels::depthwise(&Serial, isa, &g, x, w, Epilogue::new(&b, Some(Act::Relu6), None), y)
        });
    }
    for (m, k, n) in [
        (12544, 16, 96),
        (3136, 144, 24),
        (3136, 128, 128),
        (3136, 64, 128),
        (56, 64, 128),
        (56, 128, 128),
        (616, 128, 128),
        (784, 256, 256),
        (196, 512, 512),
        (49, 1024, 1024),
        (196, 96, 576),
        (49, 320, 1280),
        (49, 960, 320),
        (1, 1280, 1000),
        (1, 1024, 10),
        // n = 24: a 16-wide panel and an 8-wide one (v2 block_1/2 project).
        (3136, 96, 24),
        (3136, 96, 32),
    ] {
        let x = vec![0.5f32; m * k];
        // `COLD=24`: rotate over copies of the weights (24 MB in all) so that
        // they come from L3 (or, with more MB than L3 holds, memory), as in a
        // whole network, not from L2.
        let cold_mb = std::env::var("COLD").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        let copies = (cold_mb << 20) / (4 * k * n) + 1;
        let mut w = vec![0.0; pack::gemm_len(k, n)];
        pack::gemm(isa, &vec![0.01; k * n], k, n, &mut w);
        let ws = vec![w; copies];
        let b = vec![0.0; pack::gemm_bias_len(n)];
        // `COLD_OUT=24`: the same for the outputs (the worst case: in a
        // network most outputs are written to lines still in L2).
        let out_mb = std::env::var("COLD_OUT").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        let mut ys = vec![vec![0.0; m * n]; (out_mb << 20) / (4 * m * n) + 1];
        let mut i = 0;
        time(&format!("pointwise {m}x{k}->{n}"), m * k * n, || {
            i += 1;
            let len = ys.len();
            let y = &mut ys[i % len];
            let epi = Epilogue::new(&b, Some(Act::Relu6), None);
            kernels::pointwise(&Serial, isa, &PointwiseGeom::new(m, k, n), &x, &ws[i % copies], epi, y)
        });
    }
    let g = ConvGeom::new([224, 224, 3], [112, 112, 32], [3, 3], [2, 2], [0, 0]);
    let x = vec![0.5f32; 224 * 224 * 3];
    let mut w = vec![0.0; pack::gemm_len(27, 32)];
    pack::gemm(isa, &vec![0.01; 27 * 32], 27, 32, &mut w);
    let b = vec![0.0; pack::gemm_bias_len(32)];
    let mut y = vec![0.0; 112 * 112 * 32];
    time("conv2d stem 224x224x3 -> 32", 112 * 112 * 32 * 27, || {
        kernels::conv2d(&Serial, isa, &g, &x, &w, Epilogue::new(&b, Some(Act::Relu6), None), &mut y)
    });
}

fn block_bench(isa: Isa) {
    use kernels::{BlockGeom, ExpandConv, Expansion, Stage, Stages, block};
    // (h, cin, e, cout, k, s, stem): `stem` expands with v1/v2's 3x3
    // stride-2 conv over a 2h x 2h image instead of a 1x1 conv.
    for (h, cin, e, cout, k, s, stem) in [
        (112, 16, 96, 24, 3, 2, false),
        (56, 24, 144, 24, 3, 1, false),
        (14, 96, 576, 96, 3, 1, false),
        (7, 160, 960, 160, 3, 1, false),
        (56, 128, 128, 128, 3, 1, false),
        // v1's conv_pw_2 -> conv_dw_3 -> conv_pw_3.
        (56, 64, 128, 128, 3, 1, false),
        // v2's Conv1 -> expanded_conv_depthwise -> expanded_conv_project.
        (112, 3, 32, 16, 3, 1, true),
    ] {
        let expand = cin != e;
        let pad = (k - 1) / 2;
        let (pt, pl) = if s == 2 { (pad - 1, pad - 1) } else { (pad, pad) };
        let oh = (h + 2 * pad - k) / s + 1;
        let expansion = match (stem, expand) {
            (true, _) => Expansion::Conv(ExpandConv { h: 2 * h, w: 2 * h, k: 3, s: 2, pad_top: 0, pad_left: 0 }),
            (false, true) => Expansion::Pointwise,
            (false, false) => Expansion::None,
        };
        let g = BlockGeom {
            h,
            w: h,
            cin,
            e,
            oh,
            ow: oh,
            cout,
            k,
            s,
            pad_top: pt,
            pad_left: pl,
            expand: expansion,
            project: true,
        };
        let x = aligned(g.input_len());
        let ek = if stem { 9 * cin } else { cin };
        let ew = aligned(pack::gemm_len(ek, e));
        pack::gemm(isa, &vec![0.01; ek * e], ek, e, ew);
        let dw = aligned(pack::depthwise_len(k * k, e));
        pack::depthwise(isa, &vec![0.1; k * k * e], k * k, e, dw);
        let pw = aligned(pack::gemm_len(e, cout));
        pack::gemm(isa, &vec![0.01; e * cout], e, cout, pw);
        let b = vec![0.0; 2048];
        let scratch = aligned(g.scratch_len());
        let y = aligned(oh * oh * cout);
        let macs = if expand { h * h * ek * e } else { 0 } + oh * oh * e * k * k + oh * oh * e * cout;
        let what = if stem { "stem " } else { "" };
        time(&format!("block {what}{h}x{h}x{cin} e{e} k{k} s{s} -> {cout} (band {})", g.band()), macs, || {
            block(
                &Serial,
                isa,
                &g,
                x,
                &Stages {
                    expand: expand.then_some(Stage { w: ew, epi: Epilogue::new(&b, Some(Act::Relu6), None) }),
                    depthwise: Stage { w: dw, epi: Epilogue::new(&b, Some(Act::Relu6), None) },
                    project: Some(Stage { w: pw, epi: Epilogue::new(&b, None, None) }),
                },
                scratch,
                y,
            )
        });
    }
}

//! A whole inverted-residual (or depthwise-separable) block in one call:
//! expand (1x1) -> depthwise -> project (1x1), streamed over bands of
//! output rows so that the expanded tensor never exists in full.
//!
//! Expanded rows go to a ring buffer in the scratch space, each computed
//! once, kept while a depthwise window still needs it; the depthwise output
//! of a band goes to a band buffer that the projection GEMM reads (adding the
//! residual). Both buffers are sized to stay in L2. Either 1x1 may be absent
//! (v1 blocks have no expansion; squeeze-excite blocks stop after the
//! depthwise conv, whose output the gate needs whole). Before the first
//! depthwise conv, the network's stem (a 3x3 stride-2 conv over the image)
//! takes the expansion's place: its rows go to the ring like expanded ones.

use super::BlockGeom;
use super::gemm::{self, Gemm};
use super::{Epilogue, Isa, conv, dwconv, par};
use crate::exec::Exec;

/// One conv of a block: its packed kernel and its epilogue.
#[derive(Debug, Clone, Copy)]
pub struct Stage<'a> {
    pub w: &'a [f32],
    pub epi: Epilogue<'a>,
}

/// The convs of a fused block. Only the projection's epilogue may have a
/// residual (the block's skip connection, added after the projection).
#[derive(Debug, Clone, Copy)]
pub struct Stages<'a> {
    pub expand: Option<Stage<'a>>,
    pub depthwise: Stage<'a>,
    pub project: Option<Stage<'a>>,
}

/// Runs a fused block. Output rows are split between the parts of `e`,
/// each with its own `g.scratch_len()` floats of `scratch` (so `scratch`
/// holds one such piece per thread of `e`); a part recomputes the few
/// expanded rows its windows share with the previous part.
pub fn block(
    e: &dyn Exec,
    isa: Isa,
    g: &BlockGeom,
    x: &[f32],
    stages: &Stages<'_>,
    scratch: &mut [f32],
    y: &mut [f32],
) {
    let Stages { expand, depthwise, project } = *stages;
    assert!(g.expands() == expand.is_some() && g.project == project.is_some(), "stages match the geometry");
    assert!(g.expands() || g.e == g.cin, "without expansion the depthwise conv reads the input");
    assert!(g.k <= dwconv::MAX_K);
    assert!(x.len() >= g.input_len() && y.len() >= g.oh * g.ow * if g.project { g.cout } else { g.e });
    if let Some(c) = g.expand_conv() {
        let k = c.kh * c.kw * c.cin;
        assert!(
            k <= super::conv::IM2COL,
            "a {}x{}x{} expansion window does not fit the im2col buffer",
            c.kh,
            c.kw,
            c.cin
        );
    }
    assert!(
        expand.is_none_or(|s| s.epi.residual.is_none()) && depthwise.epi.residual.is_none(),
        "the residual is added by the projection"
    );
    let residual = project.and_then(|p| p.epi.residual);
    assert!(residual.is_none_or(|r| r.len() >= g.oh * g.ow * g.cout));
    let taps = g.k * g.k;
    assert!(depthwise.w.len() >= super::pack::depthwise_len(taps, g.e));
    assert!(depthwise.epi.bias.len() >= super::pack::depthwise_bias_len(g.e));
    let blk = Blk { g, x, stages: *stages };
    let out_c = if g.project { g.cout } else { g.e };
    let (b, parts) = par::bounds(g.oh, e.threads(), 1);
    let row = g.ow * out_c;
    par::run_with_scratch(e, &mut y[..g.oh * row], &b, parts, row, scratch, g.scratch_len(), &|part, y, s| {
        run(isa, &blk, b[part]..b[part + 1], s, y)
    });
}

struct Blk<'a> {
    g: &'a BlockGeom,
    x: &'a [f32],
    stages: Stages<'a>,
}

/// The band loop. The GEMMs and depthwise rows it calls are each their own
/// `#[target_feature]` function (inlining all of them into one body makes
/// a function too large for the register allocator to do well).
/// Output rows `rows`; `y` starts at row `rows.start`.
fn run(isa: Isa, b: &Blk<'_>, rows: core::ops::Range<usize>, scratch: &mut [f32], y: &mut [f32]) {
    let g = b.g;
    let first = rows.start;
    let (band, ring) = (g.band(), if g.expands() { g.ring() } else { 0 });
    let expand_conv = g.expand_conv();
    let ring_len = ring * g.w * g.e;
    let (ring_buf, band_buf) = scratch.split_at_mut(ring_len);
    let dw = g.depthwise();
    let out_c = if g.project { g.cout } else { g.e };
    // Next input row to expand into the ring: the first the part reads.
    let mut next = (rows.start * g.s).saturating_sub(g.pad_top);
    let mut oy0 = rows.start;
    while oy0 < rows.end {
        let oy1 = (oy0 + band).min(rows.end);
        // Expand every input row the band's windows reach, once, in order.
        if let Some(ex) = &b.stages.expand {
            let last = ((oy1 - 1) * g.s + g.k).saturating_sub(g.pad_top).min(g.h);
            while next < last {
                let slot = next % ring;
                let out = &mut ring_buf[slot * g.w * g.e..(slot + 1) * g.w * g.e];
                match &expand_conv {
                    // A stem: one row of its conv over the block's input.
                    Some(c) => conv::conv2d_rows(isa, c, next..next + 1, b.x, ex.w, ex.epi, out),
                    None => {
                        let gm = Gemm {
                            m: g.w,
                            k: g.cin,
                            n: g.e,
                            ldc: g.e,
                            x: &b.x[next * g.w * g.cin..(next + 1) * g.w * g.cin],
                            lda: g.cin,
                            koff: None,
                            w: ex.w,
                            epi: ex.epi,
                        };
                        gemm::gemm(isa, &gm, out);
                    }
                }
                next += 1;
            }
        }
        // Depthwise, row by row, into the band buffer (or the output).
        for oy in oy0..oy1 {
            let top = (oy * g.s) as isize - g.pad_top as isize;
            let mut rows = [core::ptr::null(); dwconv::MAX_K];
            for (ky, r) in rows.iter_mut().enumerate().take(g.k) {
                let iy = top + ky as isize;
                if iy >= 0 && (iy as usize) < g.h {
                    let iy = iy as usize;
                    *r = if g.expands() {
                        ring_buf[(iy % ring) * g.w * g.e..].as_ptr()
                    } else {
                        b.x[iy * g.w * g.e..].as_ptr()
                    };
                }
            }
            let out = if g.project {
                band_buf[(oy - oy0) * g.ow * g.e..][..g.ow * g.e].as_mut_ptr()
            } else {
                y[(oy - first) * g.ow * out_c..][..g.ow * out_c].as_mut_ptr()
            };
            let d = &b.stages.depthwise;
            // SAFETY: the rows are `w * e` floats of the ring or the input,
            // `out` is `ow * e` floats, the weights were checked.
            unsafe { dwconv::row_dispatch(isa, &dw, &rows[..g.k], d.w.as_ptr(), d.epi.bias.as_ptr(), d.epi.act, out) };
        }
        // Project the band.
        if let Some(pr) = &b.stages.project {
            let pixels = (oy1 - oy0) * g.ow;
            let at = (oy0 - first) * g.ow * g.cout;
            let res_at = oy0 * g.ow * g.cout;
            let gm = Gemm {
                m: pixels,
                k: g.e,
                n: g.cout,
                ldc: g.cout,
                x: &band_buf[..pixels * g.e],
                lda: g.e,
                koff: None,
                w: pr.w,
                epi: pr.epi.range(res_at, pixels * g.cout),
            };
            gemm::gemm(isa, &gm, &mut y[at..at + pixels * g.cout]);
        }
        oy0 = oy1;
    }
}

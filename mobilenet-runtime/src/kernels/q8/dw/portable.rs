//! The portable int8 depthwise kernel: plain loops on `[taps][c]` weights,
//! the zero point subtracted per tap, taps in the padding skipped.

use super::{Job, Rows};
use crate::kernels::q8::requant::requant_run;
use crate::kernels::window::taps_inside;

/// Output rows `rows`; `y` and the residual start at row `rows.start`.
pub(super) fn run(job: &Job<'_, '_>, rows: Rows, y: &mut [u8]) {
    const CHUNK: usize = 64;
    let Job { g, x, w, q } = *job;
    let c = g.cin;
    let first = rows.start;
    for oy in rows {
        for ox in 0..g.ow {
            let at = ((oy - first) * g.ow + ox) * c;
            let mut c0 = 0;
            while c0 < c {
                let cw = CHUNK.min(c - c0);
                let mut acc = [0i32; CHUNK];
                let acc = &mut acc[..cw];
                acc.copy_from_slice(&q.bias[c0..c0 + cw]);
                for (t, p) in taps_inside(g, oy, ox) {
                    let xs = &x[p * c + c0..][..cw];
                    let ws = &w[t * c + c0..][..cw];
                    for ((a, &xv), &wv) in acc.iter_mut().zip(xs).zip(ws) {
                        *a += (xv as i32 - q.x_zp) * wv;
                    }
                }
                requant_run(acc, q, c0, at + c0, &mut y[at + c0..at + c0 + cw]);
                c0 += cw;
            }
        }
    }
}

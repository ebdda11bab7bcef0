//! The portable int8 depthwise kernel: plain loops on weights packed in
//! blocks of channels ([`QLayout::depthwise_lanes`]), the zero point
//! subtracted per tap, taps in the padding skipped.

use mobilenet_layout::q8pack::QLayout;

use super::{Job, Rows};
use crate::kernels::q8::requant::requant_run;
use crate::kernels::window::taps_inside;

/// Output rows `rows` for weights packed for `layout`; `y` and the residual
/// start at row `rows.start`.
pub(super) fn run(job: &Job<'_, '_>, layout: QLayout, rows: Rows, y: &mut [u8]) {
    const L: usize = 16;
    let Job { g, x, w, q } = *job;
    let (c, taps) = (g.cin, g.kh * g.kw);
    let lanes = layout.depthwise_lanes();
    debug_assert!(lanes <= L);
    let first = rows.start;
    for oy in rows {
        for ox in 0..g.ow {
            let at = ((oy - first) * g.ow + ox) * c;
            for c0 in (0..c).step_by(lanes) {
                let cw = lanes.min(c - c0);
                let mut acc = [0i32; L];
                let acc = &mut acc[..cw];
                acc.copy_from_slice(&q.bias[c0..c0 + cw]);
                // The block's weights: tap `t` at `(block * (taps + 1) + t) * lanes`, the 16-bit pattern of
                // an i8 in each i32 lane.
                let block = &w[c0 / lanes * (taps + 1) * lanes..][..taps * lanes];
                for (t, p) in taps_inside(g, oy, ox) {
                    let xs = &x[p * c + c0..][..cw];
                    let ws = &block[t * lanes..][..cw];
                    for ((a, &xv), &wv) in acc.iter_mut().zip(xs).zip(ws) {
                        *a += (i32::from(xv) - q.x_zp) * i32::from(wv as u16 as i16);
                    }
                }
                requant_run(acc, q, c0, at + c0, &mut y[at + c0..at + c0 + cw]);
            }
        }
    }
}

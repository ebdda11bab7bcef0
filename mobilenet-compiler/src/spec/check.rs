//! Semantic checks that YAML typing cannot express: values in range, and the
//! fields each family uses. What depends on shapes (a resolution too small,
//! a channel count rounded to zero) is checked by lowering.

use serde_saphyr::Spanned;

use super::{BlockRow, Family, Framework, Head, HeadLayer, Spec, SpecError};

/// Keras' `obtain_input_shape(min_size=32)` and MobileNetV3's own check.
pub const MIN_INPUT_SIZE: u32 = 32;

// Upper limits, far above any MobileNet, that keep every size the compiler
// derives from a spec within its integer types and the cost of compiling a
// spec within reason (lowering makes nodes per block, not per channel).

/// The largest input height and width.
pub const MAX_INPUT_SIZE: u32 = 16_384;
/// The largest channel count a spec writes: input channels, the `c` and `e`
/// of the stem, rows and last conv, `classes`, `hidden` and dense `units`.
pub const MAX_CHANNELS: u32 = 1 << 20;
/// The largest kernel size and stride.
pub const MAX_KERNEL: u32 = 255;
/// The largest depthwise kernel the generated code runs.
pub const MAX_DEPTHWISE_KERNEL: u32 = mobilenet_layout::geom::MAX_KERNEL as u32;
/// The most inputs of the stem's window (`k * k * input channels`) the
/// generated code runs.
pub use mobilenet_layout::geom::MAX_WINDOW;
/// The largest expansion factor `t` and depth multiplier.
pub const MAX_EXPANSION: u32 = 1024;
/// The most blocks a spec may have: the sum of its rows' `n`.
pub const MAX_BLOCKS: u32 = 1024;

pub(super) fn check(spec: &Spec) -> Result<(), SpecError> {
    let m = &spec.model;
    let fam = m.family;
    let err = |at: serde_saphyr::Location, msg: String| Err(spec.error_at(at, msg));

    if let Some(f) = &m.framework
        && f.value == Framework::Torchvision
        && fam == Family::V1
    {
        return err(
            f.referenced,
            "torchvision has no MobileNetV1 (torchvision.models has mobilenet_v2, mobilenet_v3_large and \
             mobilenet_v3_small); use `framework: keras` for a keras.applications MobileNet"
                .into(),
        );
    }

    let alpha = &m.alpha;
    if !alpha.value.is_finite() || alpha.value <= 0.0 {
        return err(alpha.referenced, format!("alpha must be a finite number > 0, found {}", alpha.value));
    }
    if let Some(d) = &m.depth_multiplier {
        if fam != Family::V1 {
            return err(d.referenced, format!("depth_multiplier is a v1 option; family {fam} has none"));
        }
        if d.value == 0 {
            return err(d.referenced, "depth_multiplier must be at least 1".into());
        }
        if d.value > MAX_EXPANSION {
            return err(d.referenced, format!("depth_multiplier must be at most {MAX_EXPANSION}, found {}", d.value));
        }
    }
    if let Some(r) = &m.se_ratio {
        if !fam.is_v3() {
            return err(r.referenced, format!("se_ratio is a v3 option; family {fam} has no squeeze-excite"));
        }
        if !r.value.is_finite() || r.value <= 0.0 {
            return err(r.referenced, format!("se_ratio must be a finite number > 0, found {}", r.value));
        }
    }
    if let Some(e) = &m.bn_epsilon
        && (!e.value.is_finite() || e.value <= 0.0)
    {
        return err(e.referenced, format!("bn_epsilon must be a finite number > 0, found {}", e.value));
    }

    let input = &m.input;
    let (h, w) = (input.value.height, input.value.width);
    if h < MIN_INPUT_SIZE || w < MIN_INPUT_SIZE {
        return err(
            input.referenced,
            format!(
                "input {h}x{w} is too small for the network's strides: Keras MobileNets need at least \
                 {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}"
            ),
        );
    }
    if h > MAX_INPUT_SIZE || w > MAX_INPUT_SIZE {
        return err(
            input.referenced,
            format!("input {h}x{w} is too large: the compiler takes at most {MAX_INPUT_SIZE}x{MAX_INPUT_SIZE}"),
        );
    }
    if input.value.channels == 0 {
        return err(input.referenced, "input channels must be at least 1".into());
    }
    if input.value.channels > MAX_CHANNELS {
        return err(
            input.referenced,
            format!("input channels must be at most {MAX_CHANNELS}, found {}", input.value.channels),
        );
    }
    if input.value.include_preprocessing && m.framework() == Framework::Torchvision {
        return err(
            input.referenced,
            "include_preprocessing is a Keras option; torchvision models take normalized images".into(),
        );
    }
    if input.value.include_preprocessing && !fam.is_v3() {
        return err(
            input.referenced,
            format!("include_preprocessing is a v3 option; Keras' {fam} has no Rescaling layer"),
        );
    }

    let stem = &m.stem;
    if stem.value.c == 0 || stem.value.k == 0 || stem.value.s == 0 {
        return err(stem.referenced, "stem c, k and s must be at least 1".into());
    }
    if stem.value.c > MAX_CHANNELS {
        return err(stem.referenced, format!("stem c must be at most {MAX_CHANNELS}, found {}", stem.value.c));
    }
    if stem.value.k > MAX_KERNEL || stem.value.s > MAX_KERNEL {
        return err(
            stem.referenced,
            format!("stem k and s must be at most {MAX_KERNEL}, found k {} and s {}", stem.value.k, stem.value.s),
        );
    }
    let window = u64::from(stem.value.k).pow(2) * u64::from(input.value.channels);
    if window > MAX_WINDOW as u64 {
        return err(
            stem.referenced,
            format!(
                "the stem's {k}x{k} window over {c} input channels has {window} inputs; generated code takes at \
                 most {MAX_WINDOW}",
                k = stem.value.k,
                c = input.value.channels
            ),
        );
    }
    match (fam.is_v3(), stem.value.nl) {
        (true, None) => return err(stem.referenced, "a v3 stem needs its nonlinearity `nl`".into()),
        (false, Some(_)) => {
            return err(stem.referenced, format!("family {fam} fixes the stem nonlinearity (relu6); remove `nl`"));
        }
        _ => {}
    }

    let rows = &m.blocks;
    if rows.value.is_empty() {
        return err(rows.referenced, "blocks must list at least one row".into());
    }
    let mut blocks = 0u32;
    for (i, row) in rows.value.iter().enumerate() {
        check_row(spec, fam, m.framework(), i, row)?;
        blocks = blocks.saturating_add(row.value.n);
        if blocks > MAX_BLOCKS {
            return err(
                row.referenced,
                format!(
                    "block row {}: the rows so far have {blocks} blocks; a spec may have at most {MAX_BLOCKS}",
                    i + 1
                ),
            );
        }
    }

    match (&m.last_conv, fam) {
        (Some(l), Family::V1) => return err(l.referenced, "v1 has no last_conv".into()),
        (None, Family::V2) => return err(m.head.referenced, "v2 needs `last_conv: {c: ...}`".into()),
        (None, _) if fam.is_v3() => {
            return err(m.head.referenced, "v3 needs `last_conv: {t: ..., nl: ...}`".into());
        }
        (Some(l), Family::V2) => {
            let lc = &l.value;
            if lc.t.is_some() || lc.nl.is_some() || lc.c.is_none_or(|c| c == 0) {
                return err(l.referenced, "v2 last_conv takes only `c` (channels, at least 1)".into());
            }
            if let Some(c) = lc.c.filter(|&c| c > MAX_CHANNELS) {
                return err(l.referenced, format!("last_conv c must be at most {MAX_CHANNELS}, found {c}"));
            }
        }
        (Some(l), _) => {
            let lc = &l.value;
            if lc.c.is_some() || lc.nl.is_none() || lc.t.is_none_or(|t| !t.value().is_finite() || t.value() <= 0.0) {
                return err(
                    l.referenced,
                    "v3 last_conv takes `t` (a multiple of the last block's channels, > 0) and `nl`".into(),
                );
            }
            if let Some(t) = lc.t.filter(|t| t.value() > f64::from(MAX_EXPANSION)) {
                return err(l.referenced, format!("last_conv t must be at most {MAX_EXPANSION}, found {t}"));
            }
        }
        (None, _) => {}
    }

    let head = &m.head;
    match &head.value {
        Head::Classifier(c) => {
            if c.classes.value == 0 {
                return err(c.classes.referenced, "classes must be at least 1".into());
            }
            if c.classes.value > MAX_CHANNELS {
                return err(
                    c.classes.referenced,
                    format!("classes must be at most {MAX_CHANNELS}, found {}", c.classes.value),
                );
            }
            if c.dropout.is_some_and(|d| !(0.0..1.0).contains(&d)) {
                return err(head.referenced, "dropout must be in [0, 1)".into());
            }
            match (fam.is_v3(), c.hidden, c.hidden_nl) {
                (true, Some(0), _) => return err(head.referenced, "hidden must be at least 1".into()),
                (true, Some(h), _) if h > MAX_CHANNELS => {
                    return err(head.referenced, format!("hidden must be at most {MAX_CHANNELS}, found {h}"));
                }
                (true, Some(_), Some(_)) => {}
                (true, _, _) => {
                    return err(
                        head.referenced,
                        "a v3 classifier needs `hidden` (conv_2 channels) and `hidden_nl`".into(),
                    );
                }
                (false, None, None) => {}
                (false, _, _) => {
                    return err(head.referenced, format!("family {fam} has no hidden classifier layer"));
                }
            }
        }
        Head::Features(_) => {}
        Head::Custom(c) => {
            let layers = &c.layers;
            if !layers.value.iter().any(|l| matches!(l.value, HeadLayer::Dense(_))) {
                return err(layers.referenced, "a custom head needs at least one dense layer".into());
            }
            for l in &layers.value {
                match &l.value {
                    HeadLayer::Dense(d) if d.units == 0 => {
                        return err(l.referenced, "dense units must be at least 1".into());
                    }
                    HeadLayer::Dense(d) if d.units > MAX_CHANNELS => {
                        return err(
                            l.referenced,
                            format!("dense units must be at most {MAX_CHANNELS}, found {}", d.units),
                        );
                    }
                    HeadLayer::BatchNorm(bn) if bn.epsilon.is_some_and(|e| !e.is_finite() || e <= 0.0) => {
                        return err(l.referenced, "batch_norm epsilon must be a finite number > 0".into());
                    }
                    HeadLayer::Dropout(d) if !(0.0..1.0).contains(&d.rate) => {
                        return err(l.referenced, format!("dropout rate must be in [0, 1), found {}", d.rate));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

fn check_row(
    spec: &Spec,
    fam: Family,
    framework: Framework,
    i: usize,
    row: &Spanned<BlockRow>,
) -> Result<(), SpecError> {
    let r = &row.value;
    let at = row.referenced;
    let fail = |msg: String| Err(spec.error_at(at, format!("block row {}: {msg}", i + 1)));
    if r.c == 0 || r.n == 0 {
        return fail("c and n must be at least 1".into());
    }
    if r.c > MAX_CHANNELS {
        return fail(format!("c must be at most {MAX_CHANNELS}, found {}", r.c));
    }
    if !(1..=2).contains(&r.s) {
        return fail(format!("stride s must be 1 or 2, found {}", r.s));
    }
    let torch = framework == Framework::Torchvision;
    let used: &[&str] = match fam {
        Family::V1 => &["c", "n", "s"],
        Family::V2 => &["t", "c", "n", "s"],
        Family::V3Large | Family::V3Small if torch => &["k", "e", "c", "n", "s", "se", "nl"],
        Family::V3Large | Family::V3Small => &["k", "t", "c", "n", "s", "se", "nl"],
    };
    let present = [
        ("t", r.t.is_some()),
        ("e", r.e.is_some()),
        ("k", r.k.is_some()),
        ("se", r.se.is_some()),
        ("nl", r.nl.is_some()),
    ];
    for (field, is_set) in present {
        if is_set && !used.contains(&field) {
            let whose = if torch { format!("torchvision's {fam}") } else { format!("family {fam}") };
            return fail(format!("`{field}` is not a column of {whose} (its rows have {})", used.join(", ")));
        }
    }
    if fam == Family::V1 {
        return Ok(());
    }
    if fam.is_v3() && torch {
        match r.e {
            Some(0) | None => return fail("needs the expanded channels `e` (at least 1)".into()),
            Some(e) if e > MAX_CHANNELS => {
                return fail(format!("expanded channels e must be at most {MAX_CHANNELS}, found {e}"));
            }
            Some(_) => {}
        }
        return check_v3_columns(r, fail);
    }
    let Some(t) = r.t else { return fail("needs the expansion factor `t`".into()) };
    let tv = t.value();
    if !tv.is_finite() || tv <= 0.0 {
        return fail(format!("expansion t must be > 0, found {t}"));
    }
    if tv > f64::from(MAX_EXPANSION) {
        return fail(format!("expansion t must be at most {MAX_EXPANSION}, found {t}"));
    }
    if fam == Family::V2 && tv.fract() != 0.0 {
        return fail(format!("v2 expansion t must be an integer (Keras multiplies channels by it), found {t}"));
    }
    if i == 0 && tv != 1.0 && !torch {
        return fail(format!("the first block has no expansion conv in Keras, so its t must be 1, found {t}"));
    }
    if fam.is_v3() {
        return check_v3_columns(r, fail);
    }
    Ok(())
}

/// The depthwise kernel and nonlinearity every v3 row needs.
fn check_v3_columns(r: &BlockRow, fail: impl Fn(String) -> Result<(), SpecError>) -> Result<(), SpecError> {
    match r.k {
        Some(k) if k > MAX_DEPTHWISE_KERNEL => {
            return fail(format!(
                "depthwise kernel k must be at most {MAX_DEPTHWISE_KERNEL} (the generated code's limit), found {k}"
            ));
        }
        Some(k) if k % 2 == 1 => {}
        Some(k) => return fail(format!("depthwise kernel k must be odd, found {k}")),
        None => return fail("needs the depthwise kernel size `k`".into()),
    }
    if r.nl.is_none() {
        return fail("needs the nonlinearity `nl`".into());
    }
    Ok(())
}

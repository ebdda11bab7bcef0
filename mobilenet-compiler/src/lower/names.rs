//! Keras' automatic layer names.
//!
//! Layers created without a name are called after their class in snake case
//! with a process-wide counter per prefix: `re_lu`, `re_lu_1`, ... Only some
//! MobileNet layers are unnamed (v3's ReLU and hard-swish `Activation`
//! layers, the ops of its hard-sigmoid, pooling and `Flatten` in heads), but
//! their names are what Keras intermediates are keyed by, so lowering
//! replays the same counters in the same creation order as a fresh Keras
//! process does.

use std::collections::HashMap;

#[derive(Debug, Default)]
pub struct KerasNames {
    counters: HashMap<&'static str, u32>,
}

impl KerasNames {
    /// The next automatic name for `prefix` (`prefix`, `prefix_1`, ...).
    pub fn next(&mut self, prefix: &'static str) -> String {
        let n = self.counters.entry(prefix).or_insert(0);
        let name = if *n == 0 { prefix.to_string() } else { format!("{prefix}_{n}") };
        *n += 1;
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_prefix() {
        let mut k = KerasNames::default();
        assert_eq!(k.next("re_lu"), "re_lu");
        assert_eq!(k.next("activation"), "activation");
        assert_eq!(k.next("re_lu"), "re_lu_1");
        assert_eq!(k.next("re_lu"), "re_lu_2");
        assert_eq!(k.next("activation"), "activation_1");
    }
}

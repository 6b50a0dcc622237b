//! PACL's progressive schedule (Section 3.3.5, Eq. 15-17) and the four sub-batches of a
//! step (released code: every step holds four equal sub-batches, one per partition).

use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::losses::LossKind;
use super::partition::Partition;

/// Which losses an epoch uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// First third of the epochs: L1 only (Eq. 15).
    Strong,
    /// Second third: L1 + L2 + L3 (Eq. 16).
    Partial,
    /// Last third: L1 + L2 + L3 + L4 (Eq. 17).
    All,
}

impl Phase {
    /// The phase of 0-based `epoch` out of `epochs`: epochs with `3 * epoch < epochs` are
    /// the first third, `3 * epoch < 2 * epochs` the second, the rest the last (30
    /// epochs: 0-9, 10-19, 20-29).
    pub fn of(epoch: usize, epochs: usize) -> Phase {
        if 3 * epoch < epochs {
            Phase::Strong
        } else if 3 * epoch < 2 * epochs {
            Phase::Partial
        } else {
            Phase::All
        }
    }

    /// The losses of this phase.
    pub fn losses(self) -> &'static [LossKind] {
        match self {
            Phase::Strong => &[LossKind::L1],
            Phase::Partial => &[LossKind::L1, LossKind::L2, LossKind::L3],
            Phase::All => &[LossKind::L1, LossKind::L2, LossKind::L3, LossKind::L4],
        }
    }
}

/// The partition whose samples a loss uses.
pub fn partition_of(kind: LossKind) -> Partition {
    match kind {
        LossKind::L1 => Partition::Strong,
        LossKind::L2 => Partition::PartialEmotional,
        LossKind::L3 => Partition::PartialFactual,
        LossKind::L4 => Partition::Weak,
    }
}

/// Endless, reshuffled-per-pass sampling of one partition's sample indices.
#[derive(Debug, Clone)]
pub struct Cycler {
    items: Vec<usize>,
    order: Vec<usize>,
    pos: usize,
    rng: rand_chacha::ChaCha8Rng,
}

impl Cycler {
    /// Cycles over `items`, shuffled with `seed`.
    pub fn new(items: Vec<usize>, seed: u64) -> Self {
        let mut c = Cycler {
            order: Vec::new(),
            items,
            pos: 0,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        };
        c.reshuffle();
        c
    }

    fn reshuffle(&mut self) {
        self.order = self.items.clone();
        self.order.shuffle(&mut self.rng);
        self.pos = 0;
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True without items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The next `n` distinct items (fewer when the partition is smaller than `n`).
    pub fn take(&mut self, n: usize) -> Vec<usize> {
        let n = n.min(self.items.len());
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.pos >= self.order.len() {
                self.reshuffle();
            }
            let x = self.order[self.pos];
            self.pos += 1;
            if !out.contains(&x) {
                out.push(x);
            }
        }
        out
    }

    /// The next items whose `key` (e.g. the painting of a pair) differs, up to `n`;
    /// items skipped because their key is taken are consumed (they come back in the next
    /// pass). At most one full pass is scanned.
    pub fn take_distinct(&mut self, n: usize, key: impl Fn(usize) -> usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(n);
        let mut keys = std::collections::HashSet::new();
        let mut scanned = 0;
        while out.len() < n && scanned < self.items.len() {
            if self.pos >= self.order.len() {
                self.reshuffle();
            }
            let x = self.order[self.pos];
            self.pos += 1;
            scanned += 1;
            if !out.contains(&x) && keys.insert(key(x)) {
                out.push(x);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_switches_at_thirds() {
        let phases: Vec<Phase> = (0..30).map(|e| Phase::of(e, 30)).collect();
        assert!(phases[..10].iter().all(|&p| p == Phase::Strong));
        assert!(phases[10..20].iter().all(|&p| p == Phase::Partial));
        assert!(phases[20..].iter().all(|&p| p == Phase::All));
        assert_eq!(
            (0..3).map(|e| Phase::of(e, 3)).collect::<Vec<_>>(),
            [Phase::Strong, Phase::Partial, Phase::All]
        );
        // 4 epochs: 3*0, 3*1 < 4 (strong); 3*2 < 8 (partial); 3*3 >= 8 (all).
        assert_eq!(
            (0..4).map(|e| Phase::of(e, 4)).collect::<Vec<_>>(),
            [Phase::Strong, Phase::Strong, Phase::Partial, Phase::All]
        );
        assert_eq!(Phase::All.losses().len(), 4);
        assert_eq!(partition_of(LossKind::L3), Partition::PartialFactual);
    }

    #[test]
    fn cycler_draws_distinct_items_and_covers_all() {
        let mut c = Cycler::new((0..10).collect(), 3);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..5 {
            let b = c.take(4);
            assert_eq!(b.len(), 4);
            let set: std::collections::BTreeSet<_> = b.iter().collect();
            assert_eq!(set.len(), 4);
            seen.extend(b);
        }
        assert_eq!(seen.len(), 10);
        assert_eq!(Cycler::new(vec![1, 2], 1).take(5).len(), 2);
        // Keys: item / 2, so at most one of {0,1}, {2,3}, ... per draw.
        let mut c = Cycler::new((0..10).collect(), 4);
        let b = c.take_distinct(5, |x| x / 2);
        let keys: std::collections::BTreeSet<_> = b.iter().map(|x| x / 2).collect();
        assert_eq!(keys.len(), b.len());
        assert!(b.len() >= 3);
    }
}

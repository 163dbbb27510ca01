//! Linear warmup to the peak learning rate, then linear decay to 0 (HF `get_linear_schedule_with_warmup`).

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearSchedule {
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub peak_lr: f32,
}

impl LinearSchedule {
    /// The learning rate of update number `step` (0-based: the first update is step 0):
    /// `peak·step/warmup` while `step < warmup`, then `peak·(total − step)/(total − warmup)`, never below 0.
    pub fn lr(&self, step: u64) -> f32 {
        if step < self.warmup_steps {
            return self.peak_lr * step as f32 / self.warmup_steps as f32;
        }
        let left = self.total_steps.saturating_sub(step) as f32;
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f32;
        self.peak_lr * left / span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_then_decays_to_zero() {
        let s = LinearSchedule { warmup_steps: 10, total_steps: 110, peak_lr: 1e-3 };
        assert_eq!(s.lr(0), 0.0);
        assert!((s.lr(5) - 5e-4).abs() < 1e-9);
        assert!((s.lr(10) - 1e-3).abs() < 1e-9);
        assert!((s.lr(60) - 5e-4).abs() < 1e-9);
        assert_eq!(s.lr(110), 0.0);
        assert_eq!(s.lr(500), 0.0);
        let no_warmup = LinearSchedule { warmup_steps: 0, total_steps: 4, peak_lr: 1.0 };
        assert_eq!((no_warmup.lr(0), no_warmup.lr(2)), (1.0, 0.5));
    }
}

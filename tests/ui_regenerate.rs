//! Regenerate on the Painting tab (issue 16, item 7): while a new explanation is
//! generated, the previous emotion distribution stays on screen and the side panel keeps
//! its width (before, the distribution vanished and the panel changed width). Runs on the
//! shipped demo SEVLM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{shipped_app, wait_for, H};
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;

fn percent_rows(h: &H<'_>) -> usize {
    h.query_all_by(|n| {
        n.value().or(n.label()).is_some_and(|v| {
            v.len() <= 4 && v.ends_with('%') && v[..v.len() - 1].parse::<u32>().is_ok()
        })
    })
    .count()
}

fn panel_left(h: &H<'_>) -> f32 {
    h.get_by_label("Emotion and explanation (SEVLM)")
        .rect()
        .min
        .x
}

#[test]
fn regenerate_keeps_the_distribution_and_the_panel_width() {
    common::hermetic_user_data();
    let mut h = shipped_app([1400.0, 900.0]);
    wait_for(&mut h, "the collection", |h| {
        h.query_by_label_contains("paintings (").is_some()
    });
    h.key_press_modifiers(Modifiers::COMMAND, Key::Num2);
    wait_for(&mut h, "the first explanation", |h| {
        percent_rows(h) > 0 && h.query_by_label("Regenerate").is_some()
    });
    // Let the first analysis finish (its button is enabled again).
    for _ in 0..400 {
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let rows = percent_rows(&h);
    let left = panel_left(&h);
    h.get_by_label("nucleus sampling").click();
    h.run_steps(2);
    h.get_by_label("Regenerate").click();
    for k in 0..30 {
        h.step();
        assert!(
            percent_rows(&h) >= rows.min(1),
            "frame {k}: the distribution disappeared while regenerating"
        );
        let now = panel_left(&h);
        assert!(
            (now - left).abs() < 1.0,
            "frame {k}: the side panel moved from x={left} to x={now}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

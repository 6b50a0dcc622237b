//! The run views' curves: three plots side by side (training loss, validation loss,
//! validation metrics), each a titled `egui_plot` over the step axis. SEVLM's and EmoSEM's
//! runs name their series; drawing them is shared.

use egui::{Color32, RichText};
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

/// One plot's size.
#[derive(Debug, Clone, Copy)]
pub(super) struct Size {
    w: f32,
    h: f32,
}

/// Lays out a row of three plots (`draw` adds them).
pub(super) fn row(ui: &mut egui::Ui, draw: impl FnOnce(&mut egui::Ui, Size)) {
    let size = Size {
        w: ((ui.available_width() - 16.0) / 3.0).max(160.0),
        h: 190.0,
    };
    ui.horizontal(|ui| draw(ui, size));
}

/// A line of the training-loss plot.
pub(super) struct Curve<'a> {
    /// Its legend entry.
    pub name: &'a str,
    /// (step, value) points.
    pub points: Vec<[f64; 2]>,
    /// Its colour.
    pub color: Color32,
    /// Drawn (and listed in the legend) even while empty.
    pub always: bool,
}

/// A titled plot of training curves (lines only: one point per step).
pub(super) fn lines(ui: &mut egui::Ui, size: Size, id: &str, title: &str, curves: Vec<Curve>) {
    titled(ui, size, title, |ui| {
        plot(id, size, false).show(ui, |p| {
            for c in curves {
                if c.always || !c.points.is_empty() {
                    p.line(Line::new(c.name, PlotPoints::from(c.points)).color(c.color));
                }
            }
        });
    });
}

/// A validation metric of a plot: its key in the evaluation records, its legend entry, a
/// scale applied to its values, its colour.
pub(super) type Metric<'a> = (&'a str, &'a str, f64, Color32);

/// A titled plot of validation metrics (lines with a marker per evaluation; `zero`: the
/// y axis includes 0); `points(key, scale)` reads a metric's (step, value) points.
pub(super) fn metrics(
    ui: &mut egui::Ui,
    size: Size,
    id: &str,
    title: &str,
    series: &[Metric],
    zero: bool,
    points: impl Fn(&str, f64) -> Vec<[f64; 2]>,
) {
    titled(ui, size, title, |ui| {
        plot(id, size, zero).show(ui, |p| {
            for (key, label, scale, c) in series {
                let pts = points(key, *scale);
                if !pts.is_empty() {
                    p.line(Line::new(*label, PlotPoints::from(pts.clone())).color(*c));
                    p.points(
                        Points::new(*label, PlotPoints::from(pts))
                            .color(*c)
                            .radius(3.0),
                    );
                }
            }
        });
    });
}

fn titled(ui: &mut egui::Ui, size: Size, title: &str, add: impl FnOnce(&mut egui::Ui)) {
    ui.vertical(|ui| {
        ui.set_width(size.w);
        ui.label(RichText::new(title).strong());
        add(ui);
    });
}

fn plot(id: &str, size: Size, zero: bool) -> Plot<'static> {
    let p = Plot::new(id)
        .height(size.h)
        .legend(Legend::default())
        .x_axis_label("step")
        .allow_scroll(false);
    if zero {
        p.include_y(0.0)
    } else {
        p
    }
}

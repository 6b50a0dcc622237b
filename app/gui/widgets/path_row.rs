//! Form rows: a path field with its Browse button on one line, and a labelled widget.

/// A one-line row laid out right to left (a Browse button first, then a field taking
/// exactly what is left), one widget tall: a bare right-to-left layout would take the
/// whole remaining height and push the rest of the form out of view.
pub fn path_row<R>(ui: &mut egui::Ui, add: impl FnOnce(&mut egui::Ui) -> R) -> R {
    let size = egui::vec2(ui.available_width(), ui.spacing().interact_size.y);
    ui.allocate_ui_with_layout(size, egui::Layout::right_to_left(egui::Align::Center), add)
        .inner
}

/// A grid row: a label and the widget it names (for screen readers too).
pub fn labelled(ui: &mut egui::Ui, text: &str, widget: impl egui::Widget) -> egui::Response {
    let l = ui.label(text);
    ui.add(widget).labelled_by(l.id)
}

//! Markdown (a model card) rendered with `egui_commonmark`: headings, lists, emphasis and
//! tables. Fenced code blocks are drawn here instead, as selectable monospace text: the
//! viewer's copy button on them uses a glyph the default fonts lack.

use egui::RichText;

/// A piece of the document: markdown, or the body of a fenced code block.
#[derive(Debug, PartialEq)]
enum Part<'a> {
    Markdown(String),
    Code(Vec<&'a str>),
}

/// Splits `text` at its fenced code blocks (``` or ~~~, at any indentation).
fn parts(text: &str) -> Vec<Part<'_>> {
    let mut out = Vec::new();
    let mut md = String::new();
    let mut code: Option<(String, Vec<&str>)> = None;
    for line in text.lines() {
        let t = line.trim_start();
        match &mut code {
            Some((fence, body)) => {
                if t.starts_with(fence.as_str())
                    && t.trim_end().chars().all(|c| c == '`' || c == '~')
                {
                    let indent = body
                        .iter()
                        .filter(|l| !l.trim().is_empty())
                        .map(|l| l.len() - l.trim_start().len())
                        .min()
                        .unwrap_or(0);
                    let lines = body.iter().map(|l| l.get(indent..).unwrap_or("")).collect();
                    out.push(Part::Code(lines));
                    code = None;
                } else {
                    body.push(line);
                }
            }
            None => {
                let fence: String = t.chars().take_while(|c| *c == '`' || *c == '~').collect();
                if fence.len() >= 3
                    && fence
                        .chars()
                        .all(|c| c == fence.chars().next().unwrap_or('`'))
                {
                    if !md.trim().is_empty() {
                        out.push(Part::Markdown(std::mem::take(&mut md)));
                    }
                    md.clear();
                    code = Some((fence, Vec::new()));
                } else {
                    md.push_str(line);
                    md.push('\n');
                }
            }
        }
    }
    // An unclosed fence: its lines stay code.
    if let Some((_, body)) = code {
        out.push(Part::Code(body));
    }
    if !md.trim().is_empty() {
        out.push(Part::Markdown(md));
    }
    out
}

/// Draws `text` as markdown; `cache` keeps the viewer's state between frames.
pub fn show(ui: &mut egui::Ui, cache: &mut egui_commonmark::CommonMarkCache, text: &str) {
    for (k, part) in parts(text).into_iter().enumerate() {
        match part {
            Part::Markdown(md) => {
                let id = ui.make_persistent_id(("markdown", k));
                egui_commonmark::CommonMarkViewer::new().show_with_id(id, ui, cache, &md);
            }
            Part::Code(lines) => {
                egui::Frame::group(ui.style())
                    .fill(ui.visuals().code_bg_color)
                    .show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        ui.label(RichText::new(lines.join("\n")).monospace());
                    });
                ui.add_space(4.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_code_blocks_are_split_out_and_dedented() {
        let text = "# Card\n\n- run:\n\n  ```sh\n  artemo eval\n    --out x\n  ```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        let p = parts(text);
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(p[0], Part::Markdown("# Card\n\n- run:\n\n".into()));
        assert_eq!(p[1], Part::Code(vec!["artemo eval", "  --out x"]));
        assert!(matches!(&p[2], Part::Markdown(m) if m.contains("| 1 | 2 |")));
    }

    #[test]
    fn a_table_renders_as_cells() {
        use egui_kittest::kittest::Queryable;
        let mut cache = egui_commonmark::CommonMarkCache::default();
        let mut h = egui_kittest::Harness::builder()
            .with_size([500.0, 300.0])
            .build_ui(move |ui| {
                show(
                    ui,
                    &mut cache,
                    "## Scores\n\n| metric | chance |\n|---|---|\n| ACC | 0.2381 |\n\n```\ncode here\n```\n",
                );
            });
        h.run();
        h.get_by_label("Scores");
        h.get_by_label("metric");
        h.get_by_label("0.2381");
        h.get_by_label("code here");
        assert!(h.query_by_label_contains("|").is_none());
    }
}

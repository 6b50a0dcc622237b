//! Markdown (a model card) rendered with `egui_commonmark`: headings, lists, emphasis and
//! tables. Fenced code blocks are drawn here instead, as selectable monospace text: the
//! viewer's copy button on them uses a glyph the default fonts lack. So are figures (a line
//! that is only `![alt](relative/path.jpg)`, read beside the document): the viewer has no
//! image loader for files, and its "failed" mark is a glyph the fonts lack too.

use std::path::Path;

use egui::RichText;

/// A piece of the document: markdown, the body of a fenced code block, or a figure.
#[derive(Debug, PartialEq)]
enum Part<'a> {
    Markdown(String),
    Code(Vec<&'a str>),
    Figure { alt: &'a str, src: &'a str },
}

/// `![alt](src)` alone on a line.
fn figure(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim().strip_prefix("![")?;
    let (alt, rest) = rest.split_once("](")?;
    let src = rest.strip_suffix(')')?;
    (!src.is_empty() && !src.contains(char::is_whitespace)).then_some((alt, src))
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
                if let Some((alt, src)) = figure(line) {
                    if !md.trim().is_empty() {
                        out.push(Part::Markdown(std::mem::take(&mut md)));
                    }
                    md.clear();
                    out.push(Part::Figure { alt, src });
                } else if fence.len() >= 3
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

/// A figure's texture, or why it could not be shown (kept in egui's memory, so each
/// file is decoded once: the card's figures are small JPEGs, a few milliseconds each).
type Loaded = Result<egui::TextureHandle, String>;

fn figure_texture(ctx: &egui::Context, path: &Path) -> Loaded {
    let id = egui::Id::unique(("markdown-figure", path));
    if let Some(t) = ctx.data(|d| d.get_temp::<Loaded>(id)) {
        return t;
    }
    let loaded = image::open(path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .map(|img| {
            let rgba = img.to_rgba8();
            let ci = egui::ColorImage::from_rgba_unmultiplied(
                [rgba.width() as usize, rgba.height() as usize],
                rgba.as_raw(),
            );
            ctx.load_texture(
                format!("markdown-figure {}", path.display()),
                ci,
                egui::TextureOptions::LINEAR,
            )
        });
    ctx.data_mut(|d| d.insert_temp(id, loaded.clone()));
    loaded
}

/// Draws `text` as markdown; `cache` keeps the viewer's state between frames. Figures are
/// read relative to `base` (the document's folder).
pub fn show(
    ui: &mut egui::Ui,
    cache: &mut egui_commonmark::CommonMarkCache,
    text: &str,
    base: Option<&Path>,
) {
    for (k, part) in parts(text).into_iter().enumerate() {
        match part {
            Part::Figure { alt, src } => {
                let rel = Path::new(src);
                match base.filter(|_| rel.is_relative()) {
                    Some(b) => match figure_texture(ui.ctx(), &b.join(rel)) {
                        Ok(tex) => {
                            let [w, h] = tex.size().map(|v| v as f32);
                            let scale = (ui.available_width() / w).min(1.0);
                            ui.add(
                                egui::Image::new((tex.id(), egui::vec2(w, h) * scale))
                                    .alt_text(alt),
                            );
                        }
                        Err(e) => {
                            ui.weak(format!("[figure {alt}: {e}]"));
                        }
                    },
                    None => {
                        ui.weak(format!("[figure {alt}: {src}]"));
                    }
                }
                ui.add_space(4.0);
            }
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
    fn figure_lines_are_split_out() {
        let text = "# Card\n\n![16499](card/16499.jpg)\n\n- a ![x](y.png) inline\n";
        let p = parts(text);
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(
            p[1],
            Part::Figure {
                alt: "16499",
                src: "card/16499.jpg"
            }
        );
        assert!(matches!(&p[2], Part::Markdown(m) if m.contains("![x](y.png)")));
        assert_eq!(figure("![a](b c.jpg)"), None);
        assert_eq!(figure("![a]()"), None);
    }

    #[test]
    fn figures_are_read_beside_the_document_and_a_missing_one_is_named() {
        use egui_kittest::kittest::Queryable;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("card")).unwrap();
        image::RgbImage::from_pixel(40, 20, image::Rgb([200, 30, 30]))
            .save(dir.path().join("card/a.png"))
            .unwrap();
        let base = dir.path().to_path_buf();
        let mut cache = egui_commonmark::CommonMarkCache::default();
        let mut h = egui_kittest::Harness::builder()
            .with_size([500.0, 300.0])
            .build_ui(move |ui| {
                show(
                    ui,
                    &mut cache,
                    "## Figures\n\n![red square](card/a.png)\n\n![gone](card/none.jpg)\n",
                    Some(&base),
                );
            });
        h.run();
        h.get_by_label("Figures");
        let img = h.get_by_label("red square");
        assert!((img.rect().width() - 40.0).abs() < 0.5, "{:?}", img.rect());
        h.get_by_label_contains("[figure gone:");
        h.get_by_label_contains("none.jpg");
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
                    None,
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

//! Small SVG primitives: a document with a viewBox and a font, rectangles,
//! lines, paths and anchored text, every string XML-escaped. Standalone on
//! purpose (std only, no `crate::` or `super::`), so a tool outside this
//! crate can include the file with `#[path]` instead of writing its own.

use std::fmt::Write as _;

/// Where a text's x coordinate sits on the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// Text and attribute values: `&`, `<`, `>` and both quotes escaped.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An SVG document being written; [`Svg::finish`] closes it.
pub struct Svg {
    out: String,
}

impl Svg {
    /// `width` × `height` user units (viewBox from 0,0), sans-serif text of
    /// `font_size`, on a white background.
    pub fn new(width: f64, height: f64, font_size: f64) -> Self {
        let mut out = String::new();
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="{font_size}">"#
        );
        let _ = writeln!(
            out,
            r#"<rect width="{width}" height="{height}" fill="white"/>"#
        );
        Svg { out }
    }

    /// A rectangle; `fill` "none" leaves it hollow, `stroke` None unframed.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, stroke: Option<&str>) {
        let stroke = stroke.map_or(String::new(), |s| format!(r#" stroke="{}""#, esc(s)));
        let _ = writeln!(
            self.out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{}"{stroke}/>"#,
            esc(fill)
        );
    }

    pub fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), stroke: &str) {
        let _ = writeln!(
            self.out,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{}"/>"#,
            esc(stroke)
        );
    }

    /// An open line through `points`.
    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, width: f64) {
        let paint = format!(
            r#"fill="none" stroke="{}" stroke-width="{width}""#,
            esc(stroke)
        );
        self.path(points, false, &paint);
    }

    /// A filled, closed shape through `points`, without an outline.
    pub fn area(&mut self, points: &[(f64, f64)], fill: &str, opacity: f64) {
        let paint = format!(
            r#"fill="{}" fill-opacity="{opacity}" stroke="none""#,
            esc(fill)
        );
        self.path(points, true, &paint);
    }

    /// `<path d="M x,y L x,y ...[ Z]" PAINT/>`; no points, no element.
    fn path(&mut self, points: &[(f64, f64)], close: bool, paint: &str) {
        if points.is_empty() {
            return;
        }
        let mut d = String::new();
        for (i, (x, y)) in points.iter().enumerate() {
            let _ = write!(d, "{}{x:.1},{y:.1} ", if i == 0 { "M" } else { "L" });
        }
        if close {
            d.push('Z');
        }
        let _ = writeln!(self.out, r#"<path d="{}" {paint}/>"#, d.trim_end());
    }

    pub fn text(&mut self, (x, y): (f64, f64), anchor: Anchor, text: &str) {
        let _ = writeln!(
            self.out,
            r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{}">{}</text>"#,
            anchor.as_str(),
            esc(text)
        );
    }

    /// Bold text of its own size, for a title.
    pub fn heading(&mut self, (x, y): (f64, f64), size: f64, text: &str) {
        let _ = writeln!(
            self.out,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" font-weight="bold">{}</text>"#,
            esc(text)
        );
    }

    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"a <b> & "c" 'd'"#),
            "a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;"
        );
    }

    #[test]
    fn writes_a_closed_document() {
        let mut s = Svg::new(100.0, 50.0, 12.0);
        s.heading((4.0, 14.0), 15.0, "t <1>");
        s.rect(1.0, 2.0, 3.0, 4.0, "none", Some("#333"));
        s.line((0.0, 1.0), (10.0, 1.0), "#ddd");
        s.text((5.0, 6.0), Anchor::End, "25%");
        s.polyline(&[(0.0, 0.0), (1.0, 2.5)], "black", 2.0);
        s.area(&[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)], "#d32f2f", 0.85);
        s.polyline(&[], "black", 2.0);
        let svg = s.finish();
        assert!(svg.starts_with(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50" viewBox="0 0 100 50" font-family="sans-serif" font-size="12">"#
        ));
        assert!(svg.ends_with("</svg>\n"));
        for part in [
            r#"<rect width="100" height="50" fill="white"/>"#,
            r#"font-weight="bold">t &lt;1&gt;</text>"#,
            r##"<rect x="1.0" y="2.0" width="3.0" height="4.0" fill="none" stroke="#333"/>"##,
            r##"<line x1="0.0" y1="1.0" x2="10.0" y2="1.0" stroke="#ddd"/>"##,
            r#"<text x="5.0" y="6.0" text-anchor="end">25%</text>"#,
            r#"<path d="M0.0,0.0 L1.0,2.5" fill="none" stroke="black" stroke-width="2"/>"#,
            r##"<path d="M0.0,0.0 L1.0,0.0 L1.0,1.0 Z" fill="#d32f2f" fill-opacity="0.85" stroke="none"/>"##,
        ] {
            assert!(svg.contains(part), "{part} not in\n{svg}");
        }
        assert_eq!(
            svg.matches("<path").count(),
            2,
            "an empty line draws nothing"
        );
    }
}

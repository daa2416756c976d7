//! Small SVG primitives. No imports from this crate, so another crate can
//! include the file as it is: `#[path = ".../svg_writer.rs"] mod svg_writer;`
//! (the bench report does). Each writes one element without a newline;
//! numbers are written as the caller formatted them.

use std::fmt::{Display, Write as _};

/// Text escaped for SVG content and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The `<svg>` element for a `w` × `h` picture, on a white background.
pub fn header(o: &mut String, w: impl Display, h: impl Display, font_size: u32) {
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="{font_size}">"#
    );
    let _ = writeln!(o, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
}

pub fn footer(o: &mut String) {
    let _ = writeln!(o, "</svg>");
}

/// `<rect>`; `style` is the rest of its attributes (`fill="red"`).
pub fn rect(
    o: &mut String,
    x: impl Display,
    y: impl Display,
    w: impl Display,
    h: impl Display,
    style: &str,
) {
    let _ = write!(
        o,
        r#"<rect x="{x}" y="{y}" width="{w}" height="{h}" {style}/>"#
    );
}

/// `<line>` from (x1, y1) to (x2, y2).
pub fn line(
    o: &mut String,
    (x1, y1): (impl Display, impl Display),
    (x2, y2): (impl Display, impl Display),
    stroke: &str,
) {
    let _ = write!(
        o,
        r#"<line x1="{x1}" x2="{x2}" y1="{y1}" y2="{y2}" stroke="{stroke}"/>"#
    );
}

/// `<text>` with escaped content; `style` is the rest of its attributes.
pub fn text(o: &mut String, x: impl Display, y: impl Display, style: &str, body: &str) {
    let style = if style.is_empty() {
        String::new()
    } else {
        format!(" {style}")
    };
    let _ = write!(o, r#"<text x="{x}" y="{y}"{style}>{}</text>"#, esc(body));
}

/// `<path>` with data `d`; `style` is the rest of its attributes.
pub fn path(o: &mut String, d: &str, style: &str) {
    let _ = write!(o, r#"<path d="{d}" {style}/>"#);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements() {
        let mut o = String::new();
        header(&mut o, 10.0, 20.0, 12);
        rect(&mut o, 1, 2, 3, 4, r#"fill="red""#);
        line(&mut o, (0, 0), (1, 1), "#ddd");
        text(&mut o, 5, 6, r#"text-anchor="end""#, "a <b> & \"c\"");
        path(&mut o, "M0,0 L1,1", r#"fill="none""#);
        footer(&mut o);
        assert!(o.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="20""#));
        assert!(o.contains(r#"<rect x="1" y="2" width="3" height="4" fill="red"/>"#));
        assert!(o.contains(r##"<line x1="0" x2="1" y1="0" y2="1" stroke="#ddd"/>"##));
        assert!(o.contains(
            r#"<text x="5" y="6" text-anchor="end">a &lt;b&gt; &amp; &quot;c&quot;</text>"#
        ));
        assert!(o.trim_end().ends_with("</svg>"));
    }
}

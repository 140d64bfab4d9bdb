//! Each report document as HTML, written beside its Markdown: the site's report page shows the HTML as
//! it is, so the browser parses no Markdown, while GitHub keeps showing the `.md`.
//!
//! CommonMark with pipe tables (what GitHub renders), with two changes for the page: every table sits in
//! a `table-scroll` box (wide tables scroll on a phone instead of widening the page), and raw HTML in the
//! Markdown is shown as text, never passed through (the site's Content-Security-Policy refuses inline
//! scripts and styles, and the reports contain none). Links and image addresses are kept as written,
//! relative to the report folder; the page resolves them.

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

/// The file name of a document's HTML: `d2_lime.md` → `d2_lime.html`.
pub fn file_name(markdown_file: &str) -> String {
    let stem = markdown_file.strip_suffix(".md").unwrap_or(markdown_file);
    format!("{stem}.html")
}

/// The HTML (a fragment: the document's body) of one Markdown document.
pub fn of_markdown(markdown: &str) -> String {
    let events = Parser::new_ext(markdown, Options::ENABLE_TABLES).flat_map(|event| match event {
        Event::Start(Tag::Table(_)) => vec![
            Event::Html(CowStr::from(r#"<div class="table-scroll">"#)),
            event,
        ],
        Event::End(TagEnd::Table) => vec![event, Event::Html(CowStr::from("</div>\n"))],
        Event::Html(raw) | Event::InlineHtml(raw) => vec![Event::Text(raw)],
        other => vec![other],
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_scroll_and_images_links_and_emphasis_render() {
        let html = of_markdown(
            "# D2: **LIME**\n\n| a | b |\n|---|---|\n| 1 | x\\|y |\n\n![chart](fig/agreement.svg)\n\n\
             See [D3](d3_cams.md), `West_Highland_white_terrier`, *em*.\n",
        );
        assert!(
            html.starts_with("<h1>D2: <strong>LIME</strong></h1>\n"),
            "{html}"
        );
        assert!(
            html.contains(r#"<div class="table-scroll"><table><thead><tr><th>a</th>"#),
            "{html}"
        );
        assert!(
            html.contains("<td>x|y</td></tr>\n</tbody></table>\n</div>\n"),
            "{html}"
        );
        assert!(
            html.contains(r#"<img src="fig/agreement.svg" alt="chart" />"#),
            "{html}"
        );
        assert!(html.contains(r#"<a href="d3_cams.md">D3</a>"#), "{html}");
        assert!(
            html.contains("<code>West_Highland_white_terrier</code>, <em>em</em>."),
            "{html}"
        );
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let html = of_markdown("<script>alert(1)</script>\n\nA <b style=\"x\">b</b>.\n");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b "), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn html_files_sit_beside_their_markdown() {
        assert_eq!(file_name("d2_lime.md"), "d2_lime.html");
        assert_eq!(file_name("results.md"), "results.html");
    }
}

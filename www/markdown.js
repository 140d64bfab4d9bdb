// Markdown to HTML for the reports `glassbox report` writes (precomputed/report/*.md), shown by report.html.
//
// Hand-written rather than a vendored library: the reports use a small, fixed subset (headings,
// paragraphs, `-` and `1.` lists, pipe tables, fenced code, images, links, **bold**, *italic*, `code`),
// and the site has no build step and no runtime dependencies to keep up to date. Underscores are never
// emphasis: the reports name files and ImageNet classes like West_Highland_white_terrier. Everything
// else is shown as text (the input is escaped first), so an unknown construct degrades to its source.

const escape = (text) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

/** Inline markup of one escaped line; `link(url)` rewrites every link and image address. */
function inline(text, link) {
  const codes = [];
  // Code spans first, so nothing inside them is read as markup.
  let html = escape(text).replace(/`([^`]+)`/g, (_, code) => `\u0000${codes.push(code) - 1}\u0000`);
  html = html
    .replace(/!\[([^\]]*)\]\(([^)\s]+)\)/g, (_, alt, url) => `<img class="figure" src="${link(url)}" alt="${alt}">`)
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_, label, url) => `<a href="${link(url)}">${label}</a>`)
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, '$1<em>$2</em>');
  return html.replace(/\u0000(\d+)\u0000/g, (_, k) => `<code>${codes[Number(k)]}</code>`);
}

const tableCells = (line) => line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map((c) => c.trim());
const isTableRule = (line) => /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(line);

/** The HTML of a Markdown document. `link(url)` maps each link target (default: unchanged). */
export function renderMarkdown(source, link = (url) => url) {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i += 1;
    } else if (line.startsWith('```')) {
      const code = [];
      for (i += 1; i < lines.length && !lines[i].startsWith('```'); i += 1) code.push(lines[i]);
      i += 1; // the closing fence
      out.push(`<pre><code>${escape(code.join('\n'))}</code></pre>`);
    } else if (/^#{1,6}\s/.test(line)) {
      const level = line.match(/^#+/)[0].length;
      out.push(`<h${level}>${inline(line.slice(level).trim(), link)}</h${level}>`);
      i += 1;
    } else if (line.trim().startsWith('|') && isTableRule(lines[i + 1] ?? '')) {
      const header = tableCells(line).map((c) => `<th>${inline(c, link)}</th>`).join('');
      const rows = [];
      for (i += 2; i < lines.length && lines[i].trim().startsWith('|'); i += 1) {
        rows.push(`<tr>${tableCells(lines[i]).map((c) => `<td>${inline(c, link)}</td>`).join('')}</tr>`);
      }
      out.push(`<div class="table-scroll"><table><thead><tr>${header}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`);
    } else if (/^\s*([-*]|\d+\.)\s/.test(line)) {
      const ordered = /^\s*\d+\./.test(line);
      const item = ordered ? /^\s*\d+\.\s/ : /^\s*[-*]\s/;
      const items = [];
      for (; i < lines.length && item.test(lines[i]); i += 1) {
        items.push(`<li>${inline(lines[i].replace(/^\s*([-*]|\d+\.)\s+/, ''), link)}</li>`);
      }
      const tag = ordered ? 'ol' : 'ul';
      out.push(`<${tag}>${items.join('')}</${tag}>`);
    } else {
      // The first line belongs to the paragraph whatever it looks like (e.g. a `|` line with no table rule).
      const paragraph = [line.trim()];
      for (i += 1; i < lines.length && lines[i].trim() && !/^(#{1,6}\s|```|\s*\||\s*([-*]|\d+\.)\s)/.test(lines[i]); i += 1) {
        paragraph.push(lines[i].trim());
      }
      out.push(`<p>${inline(paragraph.join(' '), link)}</p>`);
    }
  }
  return out.join('\n');
}

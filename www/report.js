// Report page: one report of precomputed/report/ (report.html?doc=d2_lime.md) shown as the HTML `glassbox
// report` writes beside each Markdown document (d2_lime.html): the page parses no Markdown.
// Links to other reports stay on this page; figures and data files load from precomputed/report/.
import './config.js'; // the TEST MIRROR banner, when the site has one

const $ = (id) => document.getElementById(id);
const base = new URL('precomputed/report/', location.href);
const doc = new URLSearchParams(location.search).get('doc') ?? 'results.md';

/** Another report → this page; anything else → the file next to the report. Absolute URLs stay. */
function link(url) {
  if (/^[a-z]+:|^#/i.test(url)) return url;
  const target = new URL(url, base);
  const inReports = target.href.startsWith(base.href) && target.pathname.endsWith('.md');
  return inReports ? `report.html?doc=${encodeURIComponent(target.href.slice(base.href.length))}` : target.href;
}

/** The document's elements, with every link and image address mapped by `link` before anything loads. */
function fragment(html) {
  const template = document.createElement('template'); // inert: its images load only once placed
  template.innerHTML = html;
  for (const a of template.content.querySelectorAll('a[href]')) a.setAttribute('href', link(a.getAttribute('href')));
  for (const img of template.content.querySelectorAll('img[src]')) img.setAttribute('src', link(img.getAttribute('src')));
  return template.content;
}

try {
  // Only files of the report folder: a doc like ../../x.md is not this page's to show.
  if (!/^[\w.-]+\.md$/.test(doc)) throw new Error(`"${doc}" is not a report name`);
  const html = doc.replace(/\.md$/, '.html');
  const response = await fetch(new URL(html, base));
  if (!response.ok) throw new Error(`precomputed/report/${html} answered HTTP ${response.status}`);
  $('report').replaceChildren(fragment(await response.text()));
  $('source').textContent = `precomputed/report/${doc}`;
  document.title = `glassbox: ${$('report').querySelector('h1')?.textContent ?? doc}`;
} catch (e) {
  $('error').textContent = `This report is not available (${e.message}). The Comparison page lists the reports of this site.`;
  $('error').hidden = false;
}

// Report page: one Markdown report of precomputed/report/ (report.html?doc=d2_lime.md) rendered as HTML.
// Links to other reports stay on this page; figures and data files load from precomputed/report/.
import './config.js'; // the TEST MIRROR banner, when the site has one
import { renderMarkdown } from './markdown.js';

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

try {
  // Only files of the report folder: a doc like ../../x.md is not this page's to show.
  if (!/^[\w.-]+\.md$/.test(doc)) throw new Error(`"${doc}" is not a report name`);
  const response = await fetch(new URL(doc, base));
  if (!response.ok) throw new Error(`precomputed/report/${doc} answered HTTP ${response.status}`);
  $('report').innerHTML = renderMarkdown(await response.text(), link);
  $('source').textContent = `precomputed/report/${doc}`;
  document.title = `glassbox: ${$('report').querySelector('h1')?.textContent ?? doc}`;
} catch (e) {
  $('error').textContent = `This report is not available (${e.message}). The Comparison page lists the reports of this site.`;
  $('error').hidden = false;
}

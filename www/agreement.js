// The explain page's table of how far each CAM agrees with LIME: rows as `glassbox compare` writes them
// (`cams[]` of an AgreementSet), computed by the worker (Session.agreement); nothing is computed here.
import { METHODS } from './methods.js';

const $ = (id) => document.getElementById(id);

/** One CAM's row of an agreement table (the run's table in run.js uses it too). */
export function appendAgreementRow(body, row) {
  const a = row.agreement;
  const tr = body.insertRow();
  tr.dataset.method = row.method;
  tr.insertCell().textContent = METHODS.find((m) => m.id === row.method).name;
  for (const v of [a.iou_same_count, a.iou_top20, row.iou_at_threshold, a.spearman]) {
    const td = tr.insertCell();
    td.className = 'num';
    td.textContent = v === null || v === undefined ? '–' : v.toFixed(3);
  }
  tr.insertCell().textContent = a.pointing_hit ? 'hit' : 'miss';
}

/** The threshold t the table uses: the number box (the slider snaps to steps of 0.05 and sets the box). */
export function agreementThreshold() {
  const box = $('agreement-threshold-number').value;
  const t = box === '' ? NaN : Number(box);
  return Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0.5;
}

/** Calls `onChange` when the visitor moves the slider or types a threshold, keeping the two in step. */
export function watchThreshold(onChange) {
  $('agreement-threshold').oninput = () => {
    $('agreement-threshold-number').value = $('agreement-threshold').value;
    onChange();
  };
  $('agreement-threshold-number').oninput = () => {
    $('agreement-threshold').value = String(agreementThreshold());
    onChange();
  };
}

export function hideAgreement() {
  $('agreement').hidden = true;
}

/**
 * Shows the worker's reply to an agreement request: `{image, label, agreement: {class, threshold, lime_partial,
 * cams: [...]}, lime: {...}}` at threshold `t`, or its error.
 */
export function showAgreement(reply, t) {
  $('agreement').hidden = false;
  const error = $('agreement-error');
  error.textContent = reply.ok ? '' : reply.error;
  error.hidden = reply.ok;
  const body = $('agreement-table').tBodies[0];
  body.replaceChildren();
  if (!reply.ok) return;
  const { agreement, lime: l, label } = reply.result;
  $('agreement-class').textContent = `(class ${label}, #${agreement.class})`;
  $('agreement-t').textContent = t.toFixed(2);
  const samples = agreement.lime_partial ? `partial: ${l.samples_used} of ${l.samples_requested} samples` : `${l.samples_used} samples`;
  const note = $('agreement-lime');
  note.textContent = `LIME's mask: ${l.mask_superpixels} superpixels, ${l.mask_pixels} pixels (LIME ${samples}).` +
    (agreement.lime_partial ? ' LIME was cancelled: these numbers compare the CAMs with a partial LIME.' : '');
  note.classList.toggle('partial', agreement.lime_partial);
  for (const row of agreement.cams) appendAgreementRow(body, row);
}

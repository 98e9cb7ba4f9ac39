// tanzhen web UI: NER with highlighted entities (long texts stream in piece by piece) and
// fill-mask with probability bars. Plain JavaScript, no dependencies, nothing loaded from
// elsewhere. Offsets are requested in UTF-16 units (JavaScript string indices) and shown to the
// user in characters (code points), like the API's default.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);

const NER_EXAMPLES = [
  '张三在北京的清华大学读书。',
  '李明去了上海浦东新区参加华为公司的发布会。',
  '国务院总理在人民大会堂会见了联合国秘书长。',
  '马云创办的阿里巴巴集团总部位于杭州。',
  // A longer, multi-paragraph text: streamed, rendered progressively.
  '新华社北京三月十五日电，国家主席在人民大会堂会见了来访的法国总统。双方就中法关系交换了意见。\n\n' +
    '随后，两国领导人共同出席了中法企业家委员会的会议。会上，中国银行与法国巴黎银行签署了合作协议。\n\n' +
    '据悉，法国总统还将前往上海和广州访问，并参观复旦大学和广州塔。上海市市长将陪同参观。',
];
const FILL_EXAMPLES = [
  '北京是中国的[MASK]都。',
  '今天天气很[MASK]，我们去公园散步吧。',
  '他是一名优秀的[MASK]生。',
  '我爱吃[MASK]果，尤其是红色的。',
];

// Texts longer than this (or with several paragraphs) are streamed.
const STREAM_MIN_CHARS = 200;

// Fixed colours for the usual types, then a palette by hash for any other label.
const TYPE_COLOURS = { PER: '#ff5cd6', LOC: '#2ee6ff', ORG: '#b4ff3a', GPE: '#ffc23d', MISC: '#b99cff' };
const PALETTE = ['#ffc23d', '#b99cff', '#ff9f5a', '#5cffb0', '#7ab8ff', '#ff8fab', '#e8ff5c'];
function colourFor(type) {
  if (TYPE_COLOURS[type]) return TYPE_COLOURS[type];
  let h = 0;
  for (const ch of type) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

// UTF-16 index -> code-point index, for showing offsets in characters.
function codePointIndex(text) {
  const map = new Int32Array(text.length + 1);
  let cp = 0;
  for (let i = 0; i < text.length; i++) {
    map[i] = cp;
    const c = text.charCodeAt(i);
    if (!(c >= 0xd800 && c <= 0xdbff && i + 1 < text.length)) cp++;
  }
  map[text.length] = cp;
  return (u16) => map[u16];
}

function fmtMs(ms) {
  return ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : Math.round(ms).toString();
}

function setStatus(el, message, isError = false) {
  el.textContent = message;
  el.classList.toggle('error', isError);
}

async function postJson(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  let data = null;
  try {
    data = await res.json();
  } catch (e) {
    throw new Error(`HTTP ${res.status}`);
  }
  if (!res.ok) throw new Error(data && data.error ? `${data.error.code}: ${data.error.message}` : `HTTP ${res.status}`);
  return data;
}

// ------------------------------------------------------------------------------------------
// Tabs

function selectTab(id) {
  for (const tab of document.querySelectorAll('[role="tab"]')) {
    const on = tab.id === id;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $('#' + tab.getAttribute('aria-controls')).hidden = !on;
  }
  const hash = id === 'tab-fill' ? '#fill-mask' : '#ner';
  if (location.hash !== hash) history.replaceState(null, '', hash);
}

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => selectTab(tab.id));
    tab.addEventListener('keydown', (e) => {
      if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
      const next = tabs[(i + (e.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length];
      selectTab(next.id);
      next.focus();
    });
  });
  selectTab(location.hash === '#fill-mask' ? 'tab-fill' : 'tab-ner');
}

function exampleButtons(container, examples, textarea, run) {
  for (const ex of examples) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = ex.length > 24 ? ex.slice(0, 22).replace(/\n/g, ' ') + '…' : ex;
    b.title = ex;
    b.addEventListener('click', () => {
      textarea.value = ex;
      run();
    });
    container.append(b);
  }
}

// ------------------------------------------------------------------------------------------
// NER

const ner = {
  text: '',
  entities: [],
  cp: null,
};

// The text with every entity wrapped in <mark class="ent" data-type data-start data-end>
// (offsets in code points), its type as a small tag.
function renderNerText(text, entities) {
  const out = $('#ner-rendered');
  const frag = document.createDocumentFragment();
  let pos = 0;
  for (const e of entities) {
    if (e.start < pos) continue;  // never overlap (the API does not produce overlaps)
    if (e.start > pos) frag.append(text.slice(pos, e.start));
    const mark = document.createElement('mark');
    mark.className = 'ent';
    mark.dataset.type = e.type;
    mark.dataset.start = String(ner.cp(e.start));
    mark.dataset.end = String(ner.cp(e.end));
    mark.style.setProperty('--c', colourFor(e.type));
    mark.title = `${e.type} · ${(e.score * 100).toFixed(1)}%`;
    const span = document.createElement('span');
    span.className = 'ent-text';
    span.textContent = text.slice(e.start, e.end);
    const tag = document.createElement('span');
    tag.className = 'ent-tag';
    tag.textContent = e.type;
    mark.append(span, tag);
    frag.append(mark);
    pos = e.end;
  }
  if (pos < text.length) frag.append(text.slice(pos));
  out.replaceChildren(frag);
}

function renderLegend(entities) {
  const counts = new Map();
  for (const e of entities) counts.set(e.type, (counts.get(e.type) || 0) + 1);
  const legend = $('#ner-legend');
  legend.replaceChildren();
  for (const [type, n] of [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
    const li = document.createElement('li');
    li.style.setProperty('--c', colourFor(type));
    li.dataset.type = type;
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.setAttribute('aria-hidden', 'true');
    const name = document.createElement('span');
    name.textContent = type;
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = `×${n}`;
    li.append(sw, name, count);
    legend.append(li);
  }
  if (!counts.size) {
    const li = document.createElement('li');
    li.style.setProperty('--c', 'var(--line)');
    li.textContent = 'No entities found';
    legend.append(li);
  }
}

function renderTable(entities) {
  const body = $('#ner-table tbody');
  body.replaceChildren();
  for (const e of entities) {
    const tr = document.createElement('tr');
    const type = document.createElement('td');
    const pill = document.createElement('span');
    pill.className = 'type-pill';
    pill.style.setProperty('--c', colourFor(e.type));
    pill.textContent = e.type;
    type.append(pill);
    const text = document.createElement('td');
    text.textContent = e.text;
    text.lang = 'zh';
    const offsets = document.createElement('td');
    offsets.className = 'num';
    offsets.textContent = `${ner.cp(e.start)}–${ner.cp(e.end)}`;
    const score = document.createElement('td');
    score.className = 'num';
    score.textContent = `${(e.score * 100).toFixed(1)}%`;
    tr.append(type, text, offsets, score);
    body.append(tr);
  }
}

function renderNer() {
  const ents = [...ner.entities].sort((a, b) => a.start - b.start || b.end - a.end);
  renderNerText(ner.text, ents);
  renderLegend(ents);
  renderTable(ents);
}

async function runNer() {
  const text = $('#ner-text').value;
  const status = $('#ner-status');
  const button = $('#ner-run');
  if (!text.trim()) {
    setStatus(status, 'Type or pick a sentence first.', true);
    return;
  }
  const aggregation = $('#ner-aggregation').value;
  const streamed = text.length >= STREAM_MIN_CHARS || /\n\s*\S/.test(text.trim());
  button.disabled = true;
  setStatus(status, streamed ? 'Streaming…' : 'Running…');
  ner.text = text;
  ner.entities = [];
  ner.cp = codePointIndex(text);
  $('#ner-output').hidden = false;
  $('#ner-latency').textContent = '';
  $('#ner-output').dataset.state = 'running';
  const started = performance.now();
  try {
    let serverMs;
    if (streamed) {
      serverMs = await streamNer(text, aggregation);
    } else {
      const data = await postJson('/v1/ner', { text, aggregation, offsets: 'utf16' });
      ner.entities = data.entities;
      serverMs = data.timing_ms;
      renderNer();
    }
    const total = performance.now() - started;
    $('#ner-latency').textContent = `server ${fmtMs(serverMs)} ms · round trip ${fmtMs(total)} ms`;
    setStatus(status, `${ner.entities.length} entit${ner.entities.length === 1 ? 'y' : 'ies'} found.`);
    $('#ner-output').dataset.state = 'done';
  } catch (err) {
    setStatus(status, `Error — ${err.message}`, true);
    $('#ner-output').dataset.state = 'error';
  } finally {
    button.disabled = false;
  }
}

// POST /v1/ner?stream=true: one NDJSON line per piece as the server finishes it; the text is
// shown at once and entities light up as their pieces arrive.
async function streamNer(text, aggregation) {
  const progress = $('#ner-progress');
  const bar = $('#ner-progress-bar');
  progress.hidden = false;
  bar.style.width = '0%';
  renderNer();
  $('#ner-rendered').classList.add('pending');
  const res = await fetch('/v1/ner?stream=true', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ text, aggregation, offsets: 'utf16' }),
  });
  if (!res.ok) {
    progress.hidden = true;
    $('#ner-rendered').classList.remove('pending');
    const data = await res.json().catch(() => null);
    throw new Error(data && data.error ? `${data.error.code}: ${data.error.message}` : `HTTP ${res.status}`);
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  let covered = 0;
  let serverMs = 0;
  let failure = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += decoder.decode(value, { stream: true });
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line.trim()) continue;
      const msg = JSON.parse(line);
      if (msg.done) {
        serverMs = msg.timing_ms;
        if (msg.error) failure = msg.error;
        continue;
      }
      if (msg.error) {
        failure = msg.error;
        continue;
      }
      ner.entities.push(...msg.entities);
      covered += msg.end - msg.start;
      bar.style.width = `${Math.min(100, (100 * covered) / Math.max(1, text.trim().length))}%`;
      renderNer();
    }
  }
  bar.style.width = '100%';
  $('#ner-rendered').classList.remove('pending');
  progress.hidden = true;
  if (failure) throw new Error(`${failure.code}: ${failure.message}`);
  return serverMs;
}

// ------------------------------------------------------------------------------------------
// Fill-mask

async function runFill() {
  const text = $('#fill-text').value;
  const status = $('#fill-status');
  const button = $('#fill-run');
  if (!text.includes('[MASK]')) {
    setStatus(status, 'The sentence needs at least one [MASK].', true);
    return;
  }
  button.disabled = true;
  setStatus(status, 'Running…');
  const started = performance.now();
  try {
    const topK = Number($('#fill-topk').value);
    const data = await postJson('/v1/fill-mask', { text, top_k: topK });
    renderFill(text, data);
    const total = performance.now() - started;
    $('#fill-latency').textContent = `server ${fmtMs(data.timing_ms)} ms · round trip ${fmtMs(total)} ms`;
    setStatus(status, `${data.masks.length} mask${data.masks.length === 1 ? '' : 's'} filled.`);
  } catch (err) {
    setStatus(status, `Error — ${err.message}`, true);
  } finally {
    button.disabled = false;
  }
}

const surface = (token) => (token.startsWith('##') ? token.slice(2) : token);

function renderFill(text, data) {
  $('#fill-output').hidden = false;
  // The sentence with each [MASK] replaced by its best candidate, highlighted.
  const sentence = $('#fill-sentence');
  sentence.replaceChildren();
  const parts = text.split('[MASK]');
  parts.forEach((part, i) => {
    sentence.append(part);
    if (i === parts.length - 1) return;
    const m = data.masks[i];
    const span = document.createElement('span');
    span.className = 'fill';
    span.textContent = m && m.candidates.length ? surface(m.candidates[0].token) : '[MASK]';
    sentence.append(span);
  });
  const masks = $('#fill-masks');
  masks.replaceChildren();
  data.masks.forEach((m, i) => {
    const block = document.createElement('section');
    block.className = 'mask-block';
    const h = document.createElement('h3');
    h.textContent = data.masks.length > 1 ? `[MASK] #${i + 1}` : 'Top candidates';
    const list = document.createElement('ol');
    list.className = 'bars';
    const best = m.candidates.length ? m.candidates[0].score : 1;
    for (const c of m.candidates) {
      const li = document.createElement('li');
      li.className = 'bar-row';
      const tok = document.createElement('span');
      tok.className = 'bar-token';
      tok.lang = 'zh';
      tok.textContent = surface(c.token);
      const track = document.createElement('span');
      track.className = 'bar-track';
      track.setAttribute('role', 'img');
      track.setAttribute('aria-label', `${surface(c.token)}: ${(c.score * 100).toFixed(1)} percent`);
      const fill = document.createElement('span');
      fill.className = 'bar-fill';
      fill.style.display = 'block';
      track.append(fill);
      const pct = document.createElement('span');
      pct.className = 'bar-pct';
      pct.textContent = `${(c.score * 100).toFixed(1)}%`;
      li.append(tok, track, pct);
      list.append(li);
      // Bars are scaled to the best candidate, so that small probabilities stay visible.
      requestAnimationFrame(() => {
        fill.style.width = `${Math.max(1, (100 * c.score) / best)}%`;
      });
    }
    block.append(h, list);
    masks.append(block);
  });
}

function insertMask() {
  const ta = $('#fill-text');
  const start = ta.selectionStart ?? ta.value.length;
  const end = ta.selectionEnd ?? start;
  ta.value = ta.value.slice(0, start) + '[MASK]' + ta.value.slice(end);
  ta.focus();
  ta.selectionStart = ta.selectionEnd = start + 6;
}

// ------------------------------------------------------------------------------------------

async function loadModels() {
  const info = $('#models-info');
  try {
    const res = await fetch('/v1/models');
    const data = await res.json();
    const dtype = (m) => (m.dtype ? `, ${m.dtype}` : '');
    const parts = data.models.map((m) =>
      m.task === 'ner' ? `NER: ${m.name} (${m.labels.length} labels${m.crf ? ', CRF' : ''}${dtype(m)})`
        : `fill-mask: ${m.name} (${m.dtype || 'fp32'})`);
    info.textContent = parts.length ? parts.join(' · ') : 'No models loaded.';
    const tasks = new Set(data.models.map((m) => m.task));
    if (!tasks.has('ner')) setStatus($('#ner-status'), 'No NER model is loaded on this server.', true);
    if (!tasks.has('fill-mask')) setStatus($('#fill-status'), 'No fill-mask model is loaded on this server.', true);
  } catch (err) {
    info.textContent = 'Could not reach the server.';
  }
}

function ctrlEnter(textarea, run) {
  textarea.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    }
  });
}

document.addEventListener('DOMContentLoaded', () => {
  setupTabs();
  exampleButtons($('#ner-examples'), NER_EXAMPLES, $('#ner-text'), runNer);
  exampleButtons($('#fill-examples'), FILL_EXAMPLES, $('#fill-text'), runFill);
  $('#ner-run').addEventListener('click', runNer);
  $('#fill-run').addEventListener('click', runFill);
  $('#fill-insert').addEventListener('click', insertMask);
  ctrlEnter($('#ner-text'), runNer);
  ctrlEnter($('#fill-text'), runFill);
  loadModels();
});

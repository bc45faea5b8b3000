"""The server's web page: one self-contained HTML file (no script, style or font fetched from
elsewhere). Type a sentence; the page asks POST /predict and shows the prediction as `textcls
predict` does: the label and probabilities, each word coloured by its score (green: evidence for
the predicted class, red: against; the score on hover), tags and entities for taggers, and the
run's facts from GET /info. Usable from the keyboard (Enter submits), readable on a phone."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>textcls</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 46rem; padding: 1rem; line-height: 1.5; }
  h1 { font-size: 1.3rem; margin: 0 0 .5rem; }
  #facts { color: #555; font-size: .9rem; margin-bottom: 1rem; }
  form { display: flex; gap: .5rem; flex-wrap: wrap; }
  textarea { flex: 1 1 20rem; font: inherit; padding: .5rem; min-height: 3rem; }
  button { font: inherit; padding: .5rem 1rem; }
  #result { margin-top: 1rem; }
  .label { font-weight: bold; font-size: 1.1rem; }
  .words { margin: .6rem 0; font-size: 1.1rem; }
  .word { padding: .1rem .2rem; border-radius: .2rem; margin: 0 .05rem; display: inline-block; }
  .tag { display: block; font-size: .7rem; color: #333; }
  table { border-collapse: collapse; }
  td { padding: .1rem .6rem .1rem 0; }
  .error { color: #a00; }
</style>
</head>
<body>
<h1>textcls</h1>
<div id="facts">loading the run's facts ...</div>
<form id="form">
  <label for="text" hidden>A sentence</label>
  <textarea id="text" name="text" placeholder="Type a sentence, then Enter" autofocus></textarea>
  <button id="submit" type="submit">Predict</button>
</form>
<div id="result" aria-live="polite"></div>
<script>
const el = (tag, attrs = {}, text = "") => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== "") node.textContent = text;
  return node;
};
const colour = (score, scale) => {
  const a = Math.min(1, Math.abs(score) / (scale || 1));
  return score >= 0 ? `rgba(0, 160, 60, ${0.15 + 0.6 * a})` : `rgba(210, 30, 30, ${0.15 + 0.6 * a})`;
};
fetch("/info").then(r => r.json()).then(info => {
  const labels = info.labels && info.labels.length ? ` · labels: ${info.labels.join(", ")}` : "";
  document.getElementById("facts").textContent =
    `${info.task} · ${info.model} · ${info.backend} backend${labels} · run ${info.run} · textcls ${info.textcls}`;
});
const text = document.getElementById("text");
text.addEventListener("keydown", e => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); document.getElementById("form").requestSubmit(); }
});
document.getElementById("form").addEventListener("submit", async e => {
  e.preventDefault();
  const out = document.getElementById("result");
  out.replaceChildren();
  if (!text.value.trim()) return;
  const response = await fetch("/predict", {
    method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({texts: [text.value], word_scores: true, top_k: 5}),
  });
  const body = await response.json();
  if (!response.ok) { out.append(el("p", {class: "error"}, body.error)); return; }
  const r = body.results[0];
  if (r.label !== undefined) out.append(el("div", {class: "label", id: "label"}, r.label));
  if (r.labels !== undefined) out.append(el("div", {class: "label", id: "label"}, r.labels.join(", ") || "(no label)"));
  for (const key of ["value", "score"]) {
    if (r[key] !== undefined) out.append(el("div", {class: "label", id: "label"}, `${key} ${r[key]}`));
  }
  if (r.tokens) {
    const words = el("div", {class: "words", id: "words"});
    const scores = r.token_scores || [];
    const scale = Math.max(...scores.map(Math.abs), 1e-9);
    r.tokens.forEach((token, i) => {
      const word = el("span", {class: "word", tabindex: "0"}, token);
      if (scores.length) {
        word.style.background = colour(scores[i], scale);
        word.title = `score ${scores[i]}`;
      }
      if (r.tags) {
        word.append(el("span", {class: "tag"}, r.tags[i]));
        word.title = `${r.tags[i]}, probability ${r.probabilities[i]}`;
      }
      words.append(word);
    });
    out.append(words);
  }
  if (r.entities && r.entities.length) {
    out.append(el("div", {}, "entities: " + r.entities.map(x => `${x.text} (${x.type})`).join(", ")));
  }
  const probabilities = r.top_k ? r.top_k.map(x => [x.label, x.probability])
    : (r.probabilities && !Array.isArray(r.probabilities) ? Object.entries(r.probabilities) : []);
  if (probabilities.length) {
    const table = el("table", {id: "probabilities"});
    for (const [label, p] of probabilities) {
      const row = el("tr"); row.append(el("td", {}, label), el("td", {}, p.toFixed(3))); table.append(row);
    }
    out.append(table);
  }
});
</script>
</body>
</html>
"""

"""A real browser on Doccano's UI: what an annotator sees after `annotate push --prelabel rules`.

Headless Chromium from Debian's ``chromium`` package (``make test`` installs it when missing),
driven by Playwright for Python (its own browser download is not used). The test logs in as an
annotator on the suite's fixture server through the login form, opens the project's first
document on the annotation page (``/projects/{id}/sequence-labeling?page=1``; Doccano 1.8.4's
Nuxt route), and checks what the page draws: every rendered line of the document's text, and
every pre-annotated span overlapping those lines underlined in its label's colour with its label
name, mapped back to character offsets through the SVG text's glyph positions. A screenshot goes
to ``test-artifacts/doccano-annotation.png``.

It FAILS (never skips) when the browser is missing or cannot start.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from annotate import doccano
from annotate.schema import load_labels

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = ROOT / "corpus" / "documents.jsonl"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PROJECT = "browser-test"
ANNOTATOR = "annotator1"

# Each document line is one <svg id="svgA:B"> holding <text id="A:B"> (the line's text, UTF-16 offsets A-B)
# and, per span on it, a <g> with an underline <line x1 x2 stroke=colour> and the label's <text>
# (a span continued from the previous line has no label). Map each underline to the characters it
# covers with the glyph positions of the line's text.
READ_LINES = r"""
() => [...document.querySelectorAll('svg[id^="svg"]')].map(svg => {
  const t = svg.querySelector('text[id]');
  const [a, b] = t.id.split(':').map(Number);
  const n = t.getNumberOfChars();
  const starts = [], ends = [];
  for (let i = 0; i < n; i++) { starts.push(t.getStartPositionOfChar(i).x); ends.push(t.getEndPositionOfChar(i).x); }
  const spans = [...t.parentNode.querySelectorAll(':scope > g')]
    .filter(g => g.querySelector(':scope > line'))
    .map(g => {
      const l = g.querySelector(':scope > line');
      const x1 = +l.getAttribute('x1'), x2 = +l.getAttribute('x2');
      const s = starts.findIndex(x => x >= x1 - 4);
      let e = 0; ends.forEach((x, i) => { if (x <= x2 + 4) e = i + 1; });
      const label = g.querySelector('text');
      return {start: a + s, end: a + e, label: label ? label.textContent.trim() : null, color: l.getAttribute('stroke')};
    });
  return {start: a, end: b, text: t.textContent, spans};
})
"""


@pytest.fixture(scope="module")
def pushed(doccano_server):
    """The seeds pushed with rule pre-annotations to one annotator; the first document and its spans."""
    doccano_server.add_users(ANNOTATOR)
    res = doccano.push(DOCUMENTS, PROJECT, [ANNOTATOR], "rules")
    assert res["failed"] == 0
    admin = doccano.Client(doccano_server.url, username=doccano_server.username, password=doccano_server.password)
    pid = res["projects"][f"{PROJECT}{doccano.SEPARATOR}{ANNOTATOR}"]["project_id"]
    first = admin.get(f"projects/{pid}/examples", limit=1, offset=0)["results"][0]  # what page=1 shows
    names = {t["id"]: t["text"] for t in admin.get(f"projects/{pid}/span-types")}
    om = doccano.OffsetMap(first["text"])
    spans = admin.get(f"projects/{pid}/examples/{first['id']}/spans")
    admin_id = admin.get("me")["id"]
    assert spans and all(s["user"] == admin_id for s in spans)  # pre-annotations: the importer's spans
    return {"project_id": pid, "text": first["text"], "omap": om,
            "spans": sorted((om.to_cp(s["start_offset"]), om.to_cp(s["end_offset"]), names[s["label"]]) for s in spans)}


def _launch(playwright, user_data_dir: Path):
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (`make test` does: apt-get install -y chromium)",
                    pytrace=False)
    try:
        return playwright.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=CHROMIUM, args=ARGS, headless=True,
            viewport={"width": 1400, "height": 2400})
    except Exception as e:  # fail loudly, naming the browser: never skip
        pytest.fail(f"headless Chromium ({CHROMIUM}) could not start: {e}", pytrace=False)


def test_annotator_sees_document_and_pre_annotations(doccano_server, pushed, tmp_path):
    from playwright.sync_api import sync_playwright

    password = doccano_server.add_users(ANNOTATOR)[ANNOTATOR]
    colours = {lab["name"]: lab["color"].lower() for lab in load_labels().span_labels}
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "doccano-annotation.png"
    shot.unlink(missing_ok=True)
    with sync_playwright() as p:
        browser = _launch(p, tmp_path / "chromium-profile")
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{doccano_server.url}/auth", wait_until="networkidle")
            page.get_by_label("Username").fill(ANNOTATOR)
            page.get_by_label("Password").fill(password)
            page.locator("main").get_by_role("button", name="Login", exact=True).click()
            page.wait_for_url("**/projects")  # logged in: the project list
            page.goto(f"{doccano_server.url}/projects/{pushed['project_id']}/sequence-labeling?page=1",
                      wait_until="networkidle")
            page.wait_for_selector('svg[id^="svg"] text[id]')
            page.wait_for_timeout(500)  # let the label row of the last span settle before the screenshot
            page.screenshot(path=str(shot))
            header = page.get_by_role("banner").inner_text()
            lines = page.evaluate(READ_LINES)
        finally:
            browser.close()

    assert f"{PROJECT}{doccano.SEPARATOR}{ANNOTATOR}" in header
    assert shot.stat().st_size > 10_000
    text, om = pushed["text"], pushed["omap"]
    lines = [ln for ln in lines if ln["end"] > ln["start"]]  # "⮐" marks an empty line
    assert len(lines) >= 8, f"only {len(lines)} lines of the document rendered"
    assert lines[0]["start"] == 0
    checked = 0
    for ln in lines:
        a, b = om.to_cp(ln["start"]), om.to_cp(ln["end"])
        assert ln["text"] == text[a:b], f"line {a}-{b} shows {ln['text']!r}"
        want = sorted((max(s, a), min(e, b), lab, s < a) for s, e, lab in pushed["spans"] if s < b and e > a)
        got = sorted((om.to_cp(s["start"]), om.to_cp(s["end"]), s["label"], s["color"].lower()) for s in ln["spans"])
        assert len(got) == len(want), f"line {a}-{b}: drawn {got}, pre-annotated {want}"
        for (gs, ge, glabel, gcolour), (ws, we, wlabel, continued) in zip(got, want):
            # a span running on past the line end is underlined to the end of the line (trailing space included)
            assert (gs, text[gs:ge].rstrip()) == (ws, text[ws:we].rstrip()), f"line {a}-{b}: {text[gs:ge]!r} vs {text[ws:we]!r}"
            assert gcolour == colours[wlabel]
            assert glabel == (None if continued else wlabel)
            checked += 1
    assert checked >= 10, f"only {checked} pre-annotated spans on the rendered lines"

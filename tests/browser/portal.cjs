// Drives headless Chromium over the portal for tests/portal.rs: opens each page type, saves a
// screenshot, runs axe-core, and reports what the page shows as JSON on stdout (the Rust test
// makes the assertions). Usage:
//   node portal.cjs BASE_URL SCREENSHOT_DIR CHROMIUM NODE_MODULES PAGES_JSON
// PAGES_JSON: [["name", "/path"], …]
"use strict";
const path = require("path");
const [, , base, outDir, chromium, modules, pagesJson] = process.argv;
const puppeteer = require(path.join(modules, "puppeteer-core"));
const axeSource = require("fs").readFileSync(path.join(modules, "axe-core", "axe.min.js"), "utf8");

async function inspect(page) {
  return page.evaluate(() => {
    const text = (el) => (el ? el.innerText.trim() : null);
    return {
      title: document.title,
      lang: document.documentElement.lang,
      h1: text(document.querySelector("h1")),
      tables: [...document.querySelectorAll("table")].map((t) => ({
        caption: text(t.querySelector("caption")),
        header: [...t.querySelectorAll("thead th")].map(text),
        rows: [...t.querySelectorAll("tbody tr")].map((r) => [...r.children].map(text)),
      })),
      links: [...document.querySelectorAll("main a[href]")].map((a) => a.getAttribute("href")),
      svgPaths: document.querySelectorAll("svg.map path").length,
      chartPoints: document.querySelectorAll("svg.chart circle, svg.chart rect").length,
      downloads: [...document.querySelectorAll(".downloads a[href]")].map((a) => a.getAttribute("href")),
    };
  });
}

(async () => {
  const browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--lang=fr-FR"],
  });
  const out = { pages: {}, suggestions: null, noScriptSearch: null };
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    for (const [name, p] of JSON.parse(pagesJson)) {
      const resp = await page.goto(base + p, { waitUntil: "load" });
      await page.screenshot({ path: path.join(outDir, name + ".png"), fullPage: true });
      const info = await inspect(page);
      await page.evaluate(axeSource);
      const axe = await page.evaluate(async () => {
        const r = await window.axe.run(document, { resultTypes: ["violations"] });
        return r.violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          nodes: v.nodes.length,
          target: v.nodes[0] && v.nodes[0].target.join(" "),
        }));
      });
      out.pages[name] = { status: resp.status(), url: page.url(), ...info, axe };
    }

    // Suggestions as you type (JavaScript on).
    await page.goto(base + "/", { waitUntil: "load" });
    await page.type("#q", "saint-denis");
    await page.waitForSelector("ul.suggestions li a", { timeout: 10000 });
    out.suggestions = await page.$$eval("ul.suggestions li a", (as) =>
      as.map((a) => ({ href: a.getAttribute("href"), text: a.innerText })),
    );
    await page.screenshot({ path: path.join(outDir, "suggestions.png") });

    // The same search with JavaScript off: the form still works.
    const plain = await browser.newPage();
    await plain.setJavaScriptEnabled(false);
    await plain.goto(base + "/", { waitUntil: "load" });
    await plain.type("#q", "saint-denis");
    await Promise.all([plain.waitForNavigation({ waitUntil: "load" }), plain.keyboard.press("Enter")]);
    out.noScriptSearch = { url: plain.url(), ...(await inspect(plain)) };
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});

// End-to-end test of the embedded admin in Debian's Chromium, driven by
// playwright-core (no browser download). It expects a running
// `relance dev` (E2E_URL, default http://localhost:8080) with its simulated
// dev store, ideally with TIME_SCALE=3600 so the first step's 1 h delay
// takes a second; `make e2e` starts one on ports of its own.
//
// The journey: open the admin for the dev store, make sure checkout
// abandonment is on, put a Liquid variable in the first step's subject, see
// the backend preview render it, save the draft, publish (moving waiting
// shoppers), post a signed checkouts/create webhook for a fresh shopper, and
// wait until the outbox holds that shopper's email with the new subject.
// The same draft changes the re-entry rule and turns the "not interested"
// exit on; the offer step's discount tiers get a second tier (after a 422
// shown next to the percent). Then Settings (a field error, a per-product
// replenishment override, the sending-domain card and its 409 without
// Resend) and the Quiz page (save a one-question quiz, see it reload).
// Every page is photographed into docs/screenshots/.
import { createHmac, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const BASE = (process.env.E2E_URL ?? 'http://localhost:8080').replace(/\/$/, '');
const SHOP = process.env.E2E_SHOP ?? 'relance-dev.myshopify.com';
const SECRET = process.env.E2E_WEBHOOK_SECRET ?? 'relance-dev-secret';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = resolve(dirname(fileURLToPath(import.meta.url)), '../../docs/screenshots');
const FLOW = 'checkout_abandonment';
const WAIT_API_MS = Number(process.env.E2E_WAIT_API_MS ?? 120_000);
const WAIT_EMAIL_MS = Number(process.env.E2E_WAIT_EMAIL_MS ?? 120_000);

const t0 = Date.now();
const log = (msg) => console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Failure extends Error {}
function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}

// --- Backend helpers (the test's own view, beside the browser's) ----------

async function devToken() {
  const res = await fetch(`${BASE}/dev/session-token?shop=${encodeURIComponent(SHOP)}`);
  check(res.ok, `GET /dev/session-token: ${res.status}`);
  return (await res.json()).token;
}

async function apiGet(path) {
  const res = await fetch(BASE + path, { headers: { Authorization: `Bearer ${await devToken()}`, Accept: 'application/json' } });
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text() };
}

/** waitForApi polls until the app is ready and the admin API answers for the dev shop. */
async function waitForApi() {
  const deadline = Date.now() + WAIT_API_MS;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const ready = await fetch(`${BASE}/readyz`);
      if (ready.ok) {
        const flows = await apiGet('/api/flows');
        if (flows.status === 200 && Array.isArray(flows.body.items) && flows.body.items.some((f) => f.key === FLOW)) return flows.body.items;
        last = `/api/flows → ${flows.status}`;
      } else last = `/readyz → ${ready.status}`;
    } catch (e) {
      last = String(e.cause?.code ?? e.message);
    }
    await sleep(1000);
  }
  throw new Failure(`the admin API did not answer at ${BASE} within ${WAIT_API_MS / 1000}s (last: ${last})`);
}

/** postWebhook sends a webhook signed as Shopify signs them (base64 HMAC-SHA256 of the raw body). */
async function postWebhook(topic, payload) {
  const body = JSON.stringify(payload);
  const hmac = createHmac('sha256', SECRET).update(body, 'utf8').digest('base64');
  const res = await fetch(`${BASE}/webhooks/shopify`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Shopify-Topic': topic,
      'X-Shopify-Shop-Domain': SHOP,
      'X-Shopify-Hmac-Sha256': hmac,
      'X-Shopify-Webhook-Id': randomUUID(),
      'X-Shopify-Event-Id': randomUUID(),
      'X-Shopify-Triggered-At': new Date().toISOString(),
    },
    body,
  });
  check(res.status >= 200 && res.status < 300, `POST /webhooks/shopify (${topic}): ${res.status}`);
  return res.status;
}

// --- Browser helpers --------------------------------------------------------

const adminURL = (path = '/', extra = '') => `${BASE}${path}?shop=${encodeURIComponent(SHOP)}${extra}`;

/** emailText waits until the sandboxed preview iframe has painted its email, and returns its text. */
async function emailText(page) {
  await page.getByTestId('preview-frame').waitFor();
  let text = '';
  for (let i = 0; i < 50 && text.trim() === ''; i++) {
    const frame = page.frames().find((f) => f.url() === 'about:srcdoc');
    text = frame ? await frame.evaluate(() => document.body?.innerText ?? '').catch(() => '') : '';
    if (text.trim() === '') await sleep(100);
  }
  check(text.trim() !== '', 'the email preview iframe shows nothing');
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  return text;
}

async function shot(page, name) {
  const file = join(SHOTS, `${name}.png`);
  // A full-page capture resizes the page behind Chromium's back and the
  // sandboxed (out-of-process) preview iframe may not repaint in time; make
  // the viewport as tall as the page instead, let it paint, then restore it.
  const vp = page.viewportSize();
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: vp.width, height: Math.max(vp.height, Math.min(height, 6000)) });
  await page.evaluate(() => new Promise((r) => setTimeout(() => requestAnimationFrame(() => requestAnimationFrame(r)), 300)));
  await page.screenshot({ path: file });
  await page.setViewportSize(vp);
  log(`screenshot docs/screenshots/${name}.png`);
}

/** fitsWidth checks the page does not scroll sideways (narrow admin widths). */
async function fitsWidth(page, name) {
  const { scroll, client } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  check(scroll <= client + 1, `${name}: content is ${scroll}px wide in a ${client}px viewport`);
}

async function noErrorBanner(page, where) {
  // Polaris critical banners carry role=alert or the critical tone class.
  const n = await page.locator('.Polaris-Banner--toneCritical, [class*="Polaris-Banner"][class*="critical"]').count();
  if (n > 0) {
    const text = await page.locator('.Polaris-Banner--toneCritical, [class*="Polaris-Banner"][class*="critical"]').first().innerText();
    throw new Failure(`${where}: error banner: ${text}`);
  }
}

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  log(`waiting for the admin API at ${BASE} (shop ${SHOP})`);
  const flowsBefore = await waitForApi();
  const before = flowsBefore.find((f) => f.key === FLOW);
  log(`API up: ${flowsBefore.length} flows; ${FLOW} enabled=${before.enabled} v${before.version}`);

  const profile = mkdtempSync(join(tmpdir(), 'relance-e2e-chromium-'));
  // A fresh profile directory each run (playwright passes it as --user-data-dir).
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
  });
  const pageErrors = [];
  try {
    // The closed network can't reach Shopify's CDN; outside the admin the
    // page works without App Bridge, so fail that request at once.
    await context.route(/^https:\/\/cdn\.shopify\.com\//, (r) => r.abort());
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.setDefaultTimeout(20_000);

    // 1. Home.
    await page.goto(adminURL('/'));
    await page.getByRole('heading', { name: 'Performance' }).waitFor();
    await page.getByText('Emails sent', { exact: true }).first().waitFor();
    await page.getByRole('heading', { name: 'Setup' }).waitFor();
    await page.getByRole('list', { name: 'Setup' }).waitFor();
    await noErrorBanner(page, 'Home');
    await shot(page, 'home');
    log('home: KPI cards, charts and setup checklist shown');

    // 2. Sequences: checkout abandonment on.
    await page.getByRole('navigation', { name: 'Relance' }).getByRole('link', { name: 'Sequences' }).click();
    const sw = page.getByRole('switch', { name: 'Turn Checkout abandonment on or off' });
    await sw.waitFor();
    if ((await sw.getAttribute('aria-checked')) !== 'true') {
      await sw.click();
      log('sequences: switched checkout abandonment on');
    } else {
      // Dev mode enables the default flows; switch it off and on again so
      // the toggle itself is exercised.
      await sw.click();
      await page.waitForFunction((el) => el.getAttribute('aria-checked') === 'false' && el.getAttribute('aria-disabled') !== 'true', await sw.elementHandle());
      check((await apiGet('/api/flows')).body.items.find((f) => f.key === FLOW).enabled === false, 'the switch turned the flow off in the UI but not on the server');
      await sw.click();
      log('sequences: checkout abandonment was on; switched it off and on again');
    }
    await page.waitForFunction((el) => el.getAttribute('aria-checked') === 'true' && el.getAttribute('aria-disabled') !== 'true', await sw.elementHandle());
    check((await apiGet('/api/flows')).body.items.find((f) => f.key === FLOW).enabled === true, 'the server does not have checkout abandonment enabled');
    await noErrorBanner(page, 'Sequences');
    await shot(page, 'sequences');

    // 3. Editor: a Liquid variable in the first step's subject, rendered by the preview.
    await page.getByRole('link', { name: 'Checkout abandonment' }).click();
    const subject = page.getByLabel('Subject', { exact: true });
    await subject.waitFor();
    const firstStep = page.getByRole('list', { name: 'Steps' }).getByRole('button').first();
    await firstStep.click();
    const oldSubject = await subject.inputValue();
    await page.getByTestId('preview-subject').waitFor();
    const marker = `E2E ${Date.now().toString(36)}`;
    await subject.fill(`${marker} for `);
    await subject.press('End');
    await page.getByLabel('Insert variable').selectOption('shop.name');
    const typed = await subject.inputValue();
    check(typed === `${marker} for {{ shop.name }}`, `subject after inserting the variable: ${JSON.stringify(typed)}`);
    log(`editor: first step subject ${JSON.stringify(oldSubject)} → ${JSON.stringify(typed)}`);
    await page.waitForFunction(
      (m) => {
        const s = document.querySelector('[data-testid="preview-subject"]')?.textContent ?? '';
        return s.startsWith(m) && !s.includes('{{');
      },
      marker,
      { timeout: 15_000 },
    );
    const rendered = (await page.getByTestId('preview-subject').textContent()).trim();
    check(rendered !== `${marker} for`, `the preview rendered {{ shop.name }} as nothing: ${JSON.stringify(rendered)}`);
    const frameHTML = await page.getByTestId('preview-frame').getAttribute('srcdoc');
    check(frameHTML && frameHTML.length > 100, 'the preview iframe has no rendered HTML');
    const previewText = await emailText(page);
    log(`editor: preview rendered the subject as ${JSON.stringify(rendered)} (${frameHTML.length} bytes of HTML; the iframe shows ${previewText.trim().split(/\s+/).length} words)`);
    await shot(page, 'sequence-editor');
    await page.getByRole('button', { name: 'Mobile' }).click();
    await page.locator('[data-testid="preview-frame"][data-width="mobile"]').waitFor();
    const frameWidth = await page.getByTestId('preview-frame').evaluate((el) => el.getBoundingClientRect().width);
    check(frameWidth <= 376, `mobile preview is ${frameWidth}px wide`);
    log(`editor: mobile preview ${Math.round(frameWidth)}px wide`);

    // Send a test email (to the shop's reply-to, the only inbox allowed).
    const to = page.getByLabel('Send to');
    if ((await to.inputValue()) !== '') {
      await page.getByRole('button', { name: 'Send test' }).click();
      await page.getByText(/^Test email sent to /).waitFor();
      log(`editor: test email sent to ${await to.inputValue()}`);
    } else {
      log('editor: no reply-to set, test email skipped');
    }

    // Exit and re-entry rules, saved with the same draft: a cool-down of a
    // few days, and the "not interested" exit on.
    const cooldownDays = 2 + (before.version % 5);
    await page.getByLabel('Yes, but not within a few days').check();
    await page.getByLabel('Days before they can enter again').fill(String(cooldownDays));
    await page.getByLabel('The shopper says they are not interested').check();
    const emptiedBox = page.getByLabel('The cart is emptied or the checkout deleted');
    check((await emptiedBox.isChecked()) && (await emptiedBox.isDisabled()), 'the emptied exit should be shown on and fixed');
    log(`editor: re-entry after ${cooldownDays} days, "not interested" exit on`);

    // Save the draft, then publish, moving waiting shoppers.
    await page.getByRole('button', { name: 'Save draft' }).click();
    await page.getByText(/^Draft saved\./).waitFor();
    const draft = await apiGet(`/api/flows/${FLOW}`);
    check(draft.body.has_draft === true, `after saving, GET /api/flows/${FLOW} has has_draft=${draft.body.has_draft}`);
    log('editor: draft saved (has_draft=true)');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Move them to the new version').check();
    await dialog.getByRole('button', { name: 'Publish' }).click();
    await page.getByText(/^Published\./).waitFor();
    const published = (await apiGet(`/api/flows/${FLOW}`)).body;
    check(published.version > before.version, `version did not move: v${before.version} → v${published.version}`);
    check(published.steps[0].subject === typed, `published first subject is ${JSON.stringify(published.steps[0].subject)}`);
    check(
      published.reentry.once === false && published.reentry.cooldown_days === cooldownDays,
      `published re-entry is ${JSON.stringify(published.reentry)}, want a ${cooldownDays}-day cool-down`,
    );
    check(published.exits.includes('leave') && published.exits.includes('emptied'), `published exits are ${JSON.stringify(published.exits)}`);
    await page.getByTestId('versions').getByText(`v${published.version}`, { exact: true }).waitFor();
    log(`editor: published v${published.version} (was v${before.version}); version history lists it`);
    await emailText(page);
    await shot(page, 'sequence-editor-published');

    // Discount tiers of the offer step (checkout's third reminder): a wrong
    // percent is refused next to its field, then two tiers are saved.
    const offerStep = published.steps.find((s) => s.offer);
    check(offerStep, `${FLOW} has no step with an offer`);
    await page.getByRole('list', { name: 'Steps' }).getByRole('button').nth(published.steps.indexOf(offerStep)).click();
    const tiers = page.getByRole('form', { name: 'Discount by cart value' });
    await tiers.waitFor();
    const resetOffer = tiers.getByRole('button', { name: 'Use the default offer' });
    if (await resetOffer.count()) {
      await resetOffer.click();
      await tiers.getByText('This email makes the default offer again.').waitFor();
      log('discount: a previous run left tiers; back to the default offer');
    }
    const percentBox = tiers.getByLabel('Percent off').first();
    await percentBox.fill('150');
    await tiers.getByRole('button', { name: 'Save tiers' }).click();
    await page.waitForFunction((el) => el.getAttribute('aria-invalid') === 'true', await percentBox.elementHandle(), { timeout: 10_000 });
    const percentError = await page.locator(`[id="${await percentBox.getAttribute('id')}Error"]`).innerText();
    log(`discount: 150% refused with ${JSON.stringify(percentError)} next to the field`);
    await percentBox.fill('15');
    await tiers.getByLabel('Up to (excluded)').first().fill('80');
    await tiers.getByRole('button', { name: 'Add tier' }).click();
    check((await tiers.getByLabel('Carts from').nth(1).inputValue()) === '80', 'the new tier does not start where the first one ends');
    await tiers.getByLabel('Offer').nth(1).selectOption('free_shipping');
    await tiers.getByRole('button', { name: 'Save tiers' }).click();
    await tiers.getByText('Discount tiers saved.').waitFor();
    const offer = (await apiGet(`/api/flows/${FLOW}/steps/${encodeURIComponent(offerStep.key)}/discount`)).body;
    check(offer.custom === true && offer.table.tiers.length === 2, `stored tiers: ${JSON.stringify(offer)}`);
    check(
      offer.table.tiers[0].percent === 15 && offer.table.tiers[0].to === '80.00' && offer.table.tiers[1].kind === 'free_shipping' && offer.table.tiers[1].from === '80.00',
      `stored tiers: ${JSON.stringify(offer.table.tiers)}`,
    );
    await tiers.scrollIntoViewIfNeeded();
    await shot(page, 'sequence-editor-discount');
    log(`discount: step ${offerStep.key} saved with 2 tiers in ${offer.currency} (15% under 80, free shipping from 80)`);

    // 4. A fresh simulated checkout uses the new version.
    const id = Date.now();
    const email = `e2e-${id}@example.com`;
    const now = new Date().toISOString();
    const token = randomUUID().replace(/-/g, '');
    const status = await postWebhook('checkouts/create', {
      id,
      token,
      cart_token: randomUUID().replace(/-/g, ''),
      email,
      buyer_accepts_marketing: true,
      created_at: now,
      updated_at: now,
      completed_at: null,
      currency: 'EUR',
      presentment_currency: 'EUR',
      customer_locale: 'en',
      total_price: '59.00',
      line_items: [{ product_id: 9001, variant_id: 9101, quantity: 1, title: 'E2E Mug', variant_title: 'Blue', price: '59.00' }],
      abandoned_checkout_url: `https://checkout.local/checkouts/${token}/recover?key=e2e`,
      customer: { id: id + 1, email, first_name: 'Eve', last_name: 'Tester', locale: 'en' },
    });
    log(`webhook: checkouts/create for ${email} accepted (${status}); waiting for the email in the outbox`);
    const deadline = Date.now() + WAIT_EMAIL_MS;
    let got = null;
    while (Date.now() < deadline && !got) {
      const r = await apiGet('/api/outbox?limit=50');
      check(r.status === 200, `GET /api/outbox: ${r.status}`);
      got = r.body.items.find((m) => m.to === email) ?? null;
      if (!got) await sleep(1000);
    }
    check(got, `no email to ${email} in the outbox after ${WAIT_EMAIL_MS / 1000}s (is TIME_SCALE set?)`);
    check(got.subject === rendered, `the outbox email has subject ${JSON.stringify(got.subject)}, want the new version's ${JSON.stringify(rendered)}`);
    log(`outbox: email #${got.id} to ${email} with subject ${JSON.stringify(got.subject)}`);

    // 5. Outbox pages in the UI.
    await page.getByRole('navigation', { name: 'Relance' }).getByRole('link', { name: 'Outbox' }).click();
    const link = page.getByTestId('outbox-list').getByRole('link', { name: got.subject }).first();
    await link.waitFor();
    await shot(page, 'outbox');
    await link.click();
    await page.getByRole('heading', { name: got.subject }).waitFor();
    const shown = await emailText(page);
    check(shown.includes('E2E Mug') && shown.includes('Eve'), `the rendered outbox email lacks the shopper's cart: ${JSON.stringify(shown.slice(0, 200))}`);
    await shot(page, 'outbox-email');
    log('outbox: listed, and rendered in the admin with the shopper\'s name and cart (Eve, E2E Mug)');

    // 6. Activity, searched by email, and the contact's timeline.
    await page.getByRole('navigation', { name: 'Relance' }).getByRole('link', { name: 'Activity' }).click();
    await page.getByRole('heading', { name: 'Activity' }).waitFor();
    await page.getByPlaceholder('Search by email').fill(email);
    // Wait for the filtered answer: every row is this shopper's.
    await page.waitForFunction(
      (e) => {
        const rows = [...document.querySelectorAll('[data-testid="activity-list"] > li')];
        return rows.length > 0 && rows.every((li) => li.textContent.includes(e));
      },
      email,
      { timeout: 20_000 },
    );
    const contactLink = page.getByTestId('activity-list').getByRole('link', { name: email }).first();
    const rows = await page.getByTestId('activity-list').locator(':scope > li').count();
    const decisions = await page.getByTestId('activity-list').locator(':scope > li').allInnerTexts();
    await shot(page, 'activity');
    await contactLink.click();
    await page.getByRole('heading', { name: 'Timeline' }).waitFor();
    await shot(page, 'contact');
    log(`activity: search by email kept ${rows} row(s), all ${email}: ${decisions.map((d) => d.replace(/\s+/g, ' ').replace(email, '').trim()).join(' | ')}; contact timeline shown`);

    // 7. Settings: a bad reply-to comes back as a field error next to the field.
    await page.getByRole('navigation', { name: 'Relance' }).getByRole('link', { name: 'Settings' }).click();
    const reply = page.getByLabel('Reply-to address');
    await reply.waitFor();
    await shot(page, 'settings');
    const goodReply = await reply.inputValue();
    await reply.fill('not-an-email');
    await page.getByRole('button', { name: 'Save', exact: true }).first().click();
    await page.waitForFunction(() => document.querySelector('input[type="email"]')?.getAttribute('aria-invalid') === 'true', null, { timeout: 10_000 });
    const fieldError = await page.locator(`[id="${await reply.getAttribute('id')}Error"]`).innerText();
    const stored = (await apiGet('/api/settings')).body.reply_to;
    check(stored === goodReply, `the invalid reply-to was stored: ${stored}`);
    log(`settings: invalid reply-to refused with ${JSON.stringify(fieldError)} shown next to the field`);
    await shot(page, 'settings-error');

    // 7a. Settings: a per-product usable life for replenishment.
    const lifeDays = 40 + (before.version % 20);
    await page.getByLabel('Product', { exact: true }).fill('https://admin.shopify.com/store/relance-dev/products/9001');
    await page.getByLabel('Runs out after (days)').fill(String(lifeDays));
    await page.getByRole('button', { name: 'Set', exact: true }).click();
    await page.getByText(new RegExp(`^Saved: .* runs out after ${lifeDays} days\\.$`)).waitFor();
    const lives = (await apiGet('/api/replenishment/products')).body.items;
    check(lives.some((p) => p.product_id === 9001 && p.days === lifeDays), `stored overrides: ${JSON.stringify(lives)}`);
    await page.getByTestId('product-lives').scrollIntoViewIfNeeded();
    await shot(page, 'settings-replenishment');
    log(`settings: product 9001 runs out after ${lifeDays} days (pasted as an admin URL)`);

    // 7b. Settings: the sending-domain card. Without Resend (dev) adding a
    // domain is refused with a 409 whose explanation is shown as is.
    await page.getByRole('heading', { name: 'Sending domain' }).waitFor();
    const domainState = (await apiGet('/api/sending-domain')).body;
    const fromShown = await page.getByTestId('domain-from').innerText();
    check(fromShown.includes(domainState.from_email), `the card shows ${JSON.stringify(fromShown)}, the API says from ${domainState.from_email}`);
    if (!domainState.available && !domainState.domain) {
      await page.getByLabel('Domain', { exact: true }).fill('mail.e2e-shop.example');
      await page.getByRole('button', { name: 'Add domain' }).click();
      const note = page.getByTestId('domain-notice');
      await note.getByText(/sending domains need Resend/).waitFor();
      check((await apiGet('/api/sending-domain')).body.domain === null, 'a domain was stored although Resend is not configured');
      await note.scrollIntoViewIfNeeded();
      log(`sending domain: from ${domainState.from_email}; Add domain answered 409, shown: ${JSON.stringify((await note.innerText()).replace(/\s+/g, ' ').trim())}`);
    } else {
      log(`sending domain: Resend configured (available=${domainState.available}, domain=${domainState.domain?.name ?? 'none'}); 409 path not exercised`);
      if (domainState.domain) await page.getByTestId('dns-records').waitFor();
    }
    await shot(page, 'settings-sending-domain');

    // 7c. Quiz: save a one-question quiz (after a 422 shown next to the
    // empty question), with a recommended product, and see it reload.
    await page.getByRole('navigation', { name: 'Relance' }).getByRole('link', { name: 'Quiz' }).click();
    await page.getByLabel('Title', { exact: true }).waitFor();
    const removeQ = page.getByRole('button', { name: /^Remove question \d+$/ });
    while ((await removeQ.count()) > 1) await removeQ.last().click();
    if ((await removeQ.count()) === 0) await page.getByRole('button', { name: 'Add question' }).click();
    const question = page.getByLabel('Question', { exact: true });
    await question.fill('');
    await page.getByRole('button', { name: 'Save', exact: true }).first().click();
    await page.waitForFunction(() => document.querySelector('[data-testid="quiz-questions"] input')?.getAttribute('aria-invalid') === 'true', null, { timeout: 10_000 });
    const qError = await page.locator(`[id="${await question.getAttribute('id')}Error"]`).innerText();
    log(`quiz: empty question refused with ${JSON.stringify(qError)} next to the field`);
    const qText = `E2E question ${Date.now().toString(36)}?`;
    await question.fill(qText);
    await page.getByLabel('Answer 1', { exact: true }).fill('Everyday essentials');
    await page.getByLabel('Answer 2', { exact: true }).fill('Something special');
    const firstSegment = await page.getByLabel('Segment of answer 1').locator('option').nth(1).getAttribute('value');
    await page.getByLabel('Segment of answer 1').selectOption(firstSegment);
    if ((await page.getByLabel('Product title').count()) === 0) await page.getByRole('button', { name: 'Add product' }).first().click();
    await page.getByLabel('Product title').first().fill('E2E Mug');
    await page.getByLabel('Product ID').first().fill('9001');
    await page.getByLabel('Product URL').first().fill('/products/e2e-mug');
    await page.getByRole('button', { name: 'Save', exact: true }).first().click();
    await page.getByText(/^Quiz saved\./).waitFor();
    const storedQuiz = (await apiGet('/api/quiz')).body;
    check(storedQuiz.saved === true && storedQuiz.definition.questions.length === 1, `after saving, GET /api/quiz: saved=${storedQuiz.saved}, ${storedQuiz.definition.questions.length} question(s)`);
    check(storedQuiz.definition.questions[0].text === qText, `stored question: ${JSON.stringify(storedQuiz.definition.questions[0].text)}`);
    check(storedQuiz.definition.questions[0].answers[0].segment === firstSegment, `answer 1 → ${storedQuiz.definition.questions[0].answers[0].segment}, want ${firstSegment}`);
    await page.reload();
    await page.getByLabel('Title', { exact: true }).waitFor();
    check((await page.getByLabel('Question', { exact: true }).count()) === 1, 'the reloaded quiz does not have exactly one question');
    check((await page.getByLabel('Question', { exact: true }).inputValue()) === qText, 'the reloaded quiz lost the question');
    check((await page.getByLabel('Product URL').first().inputValue()) === '/products/e2e-mug', 'the reloaded quiz lost the product');
    const subs = await page.getByTestId('quiz-submissions').innerText();
    await noErrorBanner(page, 'Quiz');
    await shot(page, 'quiz');
    log(`quiz: 1-question quiz saved (answer 1 → segment ${firstSegment}, product E2E Mug) and reloaded; stats: ${subs}`);

    // 8. French, following the admin locale; and a narrow (360 px) admin.
    const fr = await context.newPage();
    fr.on('pageerror', (e) => pageErrors.push(String(e)));
    await fr.goto(adminURL('/sequences', '&locale=fr'));
    await fr.getByRole('heading', { name: 'Séquences' }).waitFor();
    await fr.getByRole('switch', { name: 'Activer ou désactiver Paiement abandonné' }).waitFor();
    await fr.getByRole('link', { name: 'Navigation abandonnée' }).waitFor();
    await shot(fr, 'sequences-fr');
    await fr.getByRole('link', { name: 'Paiement abandonné' }).click();
    await fr.getByRole('heading', { name: 'Paiement abandonné' }).waitFor();
    await fr.getByText('Un client peut-il refaire cette séquence ?').waitFor();
    await shot(fr, 'sequence-editor-fr');
    log('i18n: French admin (locale=fr) shown, sequence names in French');
    await fr.close();

    const n = await context.newPage();
    await n.setViewportSize({ width: 360, height: 780 });
    n.on('pageerror', (e) => pageErrors.push(String(e)));
    for (const [path, ready, name] of [
      ['/', () => n.getByRole('heading', { name: 'Performance' }).waitFor(), 'home'],
      ['/sequences', () => n.getByRole('switch').first().waitFor(), 'sequences'],
      [`/sequences/${FLOW}`, () => n.getByTestId('preview-subject').waitFor(), 'editor'],
      ['/activity', () => n.getByRole('heading', { name: 'Activity' }).waitFor(), 'activity'],
      ['/settings', () => n.getByTestId('domain-from').waitFor(), 'settings'],
      ['/quiz', () => n.getByTestId('quiz-submissions').waitFor(), 'quiz'],
      ['/outbox', () => n.getByTestId('outbox-list').waitFor(), 'outbox'],
    ]) {
      await n.goto(adminURL(path));
      await ready();
      await fitsWidth(n, `${name} at 360px`);
    }
    await n.goto(adminURL(`/sequences/${FLOW}`));
    await n.getByTestId('preview-subject').waitFor();
    await emailText(n);
    await shot(n, 'sequence-editor-360');
    await n.getByRole('list', { name: 'Steps' }).getByRole('button').last().click();
    await n.getByRole('form', { name: 'Discount by cart value' }).getByLabel('Percent off').first().waitFor();
    await fitsWidth(n, 'editor with discount tiers at 360px');
    await n.goto(adminURL('/quiz'));
    await n.getByTestId('quiz-submissions').waitFor();
    await shot(n, 'quiz-360');
    await n.close();
    log('narrow: every page fits 360px without sideways scrolling');

    // Keyboard: the sequence switch is reachable and operable with the keyboard.
    await page.goto(adminURL('/sequences'));
    const ksw = page.getByRole('switch', { name: 'Turn Checkout abandonment on or off' });
    await ksw.waitFor();
    await ksw.focus();
    await page.keyboard.press('Space');
    await page.waitForFunction((el) => el.getAttribute('aria-checked') === 'false' && el.getAttribute('aria-disabled') !== 'true', await ksw.elementHandle());
    check(await ksw.evaluate((el) => el === document.activeElement), 'the switch lost the keyboard focus after toggling');
    await page.keyboard.press('Enter');
    await page.waitForFunction((el) => el.getAttribute('aria-checked') === 'true' && el.getAttribute('aria-disabled') !== 'true', await ksw.elementHandle());
    log('keyboard: Space and Enter toggled the switch off and on');

    check(pageErrors.length === 0, `uncaught errors in the page: ${pageErrors.join(' | ')}`);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  log('e2e: ok');
}

main().catch((e) => {
  log(`e2e: FAILED: ${e instanceof Failure ? e.message : e.stack ?? e}`);
  process.exit(1);
});

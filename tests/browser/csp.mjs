// Records every Content-Security-Policy violation Chromium reports in any
// page of any context of `browser`, so a suite can fail on them: the
// server's policy allows no inline script or style on its pages, and a
// page that needs one would break silently for users.

const violations = [];

export function watchCsp(browser) {
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (...args) => {
    const ctx = await newContext(...args);
    ctx.on('console', (msg) => {
      if (msg.type() === 'error' && msg.text().includes('Content Security Policy')) {
        violations.push(`${msg.location().url}: ${msg.text()}`);
      }
    });
    return ctx;
  };
}

export function cspViolations() {
  return violations;
}
